// `lmkit prepare`: text → DIR/train.bin + DIR/val.bin + tokenizer file + meta.json, as nanoGPT's
// data/shakespeare_char/prepare.py (split the text at int(n·0.9) characters, then encode each part) and
// data/shakespeare/prepare.py (the same with a BPE tokenizer). Any tokenizer `loadTokenizer` reads can be used; it
// is copied into the directory in a normalized form (char_vocab.json or tokenizer.json). Does not download anything.
import Foundation
import LMTokenizers
import _LMSupport

public enum DataPreparation {
    /// What `prepare` produced.
    public struct Summary {
        public var meta: DataMeta
        public var trainPath: String
        public var valPath: String
        public var tokenizerPath: String
    }

    /// Tokenizes `inputPath` with `tokenizer` ("char" builds the vocabulary from the text; anything else is a path
    /// for `loadTokenizer`: a tokenizer file, a directory holding one, or another data directory) and writes the data
    /// directory `outputDirectory` (created if missing). Special-token text in the input stays ordinary text.
    public static func prepare(tokenizer spec: String, inputPath: String, outputDirectory: String,
                               valFraction: Double = 0.1) throws -> Summary {
        guard valFraction >= 0 && valFraction < 1 else {
            throw TrainError.invalidInput("--val-fraction must be in [0, 1), got \(valFraction)")
        }
        // The input is memory-mapped and encoded piece by piece (`pieces`), so memory holds one piece and its ids, not
        // the whole text and its id array.
        let file: MappedFile
        do { file = try MappedFile(path: inputPath) } catch {
            throw TrainError.invalidInput("\(inputPath): cannot read the input text (\(error))")
        }
        let bytes = file.bytes.bindMemory(to: UInt8.self)
        if let bad = firstInvalidUTF8Offset(bytes) {
            throw TrainError.invalidInput("\(inputPath): not valid UTF-8 text (invalid byte at offset \(bad))")
        }
        // prepare.py: n = len(data); train_data = data[:int(n*0.9)]; val_data = data[int(n*0.9):] — n counts Unicode
        // scalars (Python characters): the bytes that do not continue a UTF-8 sequence.
        let scalarCount = bytes.reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        guard scalarCount >= 2 else { throw TrainError.invalidInput("\(inputPath): the text is empty (need at least 2 characters)") }
        let split = Int(Double(scalarCount) * (1 - valFraction))
        var splitByte = 0, scalarsBefore = 0
        while splitByte < bytes.count {
            if bytes[splitByte] & 0xC0 != 0x80 {
                if scalarsBefore == split { break }
                scalarsBefore += 1
            }
            splitByte += 1
        }

        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw TrainError.invalidInput("\(outputDirectory): cannot create the output directory (\(error.localizedDescription))")
        }
        let tokenizer: any Tokenizer
        if spec == "char" {
            var seen = Set<UInt32>()
            for range in pieces(bytes, 0..<bytes.count) { for s in text(bytes, range).unicodeScalars { seen.insert(s.value) } }
            tokenizer = try CharTokenizer(characters: seen.sorted().map { Unicode.Scalar($0)! })
        } else {
            tokenizer = try loadTokenizer(spec)
        }
        let kind: String, tokenizerPath: String
        switch tokenizer {
        case let vocabulary as CharTokenizer:
            kind = "char"
            tokenizerPath = (outputDirectory as NSString).appendingPathComponent(TokenizerFileName.characterVocabulary)
            try vocabulary.write(to: tokenizerPath)
        case let bpe as ByteLevelBPE:
            kind = "bpe"
            tokenizerPath = (outputDirectory as NSString).appendingPathComponent(TokenizerFileName.huggingFace)
            try bpe.writeTokenizerJSON(to: tokenizerPath)
        case let wordPiece as WordPiece:
            kind = "wordpiece"
            tokenizerPath = (outputDirectory as NSString).appendingPathComponent(TokenizerFileName.huggingFace)
            try wordPiece.writeTokenizerJSON(to: tokenizerPath)
        default:
            throw TrainError.invalidInput("\(spec): a \(type(of: tokenizer)) cannot be stored in a data directory (char, byte-level BPE or WordPiece)")
        }
        let trainPath = (outputDirectory as NSString).appendingPathComponent("train.bin")
        let valPath = (outputDirectory as NSString).appendingPathComponent("val.bin")
        func encode(_ part: Range<Int>, to path: String) throws -> Int {
            let writer = try TokenFileWriter(path: path, vocabularySize: tokenizer.vocabularySize)
            for range in pieces(bytes, part) { try writer.append(try tokenizer.encode(text(bytes, range))) }
            try writer.finish()
            return writer.count
        }
        let trainTokens = try encode(0..<splitByte, to: trainPath), valTokens = try encode(splitByte..<bytes.count, to: valPath)
        let meta = DataMeta(tokenizer: kind, tokenizerFile: (tokenizerPath as NSString).lastPathComponent,
                            vocabSize: tokenizer.vocabularySize, trainTokens: trainTokens, valTokens: valTokens,
                            source: inputPath, trainCharacters: split, valCharacters: scalarCount - split)
        try writeAtomically(Array(meta.jsonData()) + [0x0A], to: DataMeta.path(directory: outputDirectory))
        return Summary(meta: meta, trainPath: trainPath, valPath: valPath, tokenizerPath: tokenizerPath)
    }

    /// The text of `range` (valid UTF-8, checked up front).
    static func text(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// `range` cut into pieces of about `pieceBytes`, each ending just before a newline that follows an ASCII letter or
    /// digit: no tokenizer joins text across that point (a letter or digit piece never takes a newline, the whitespace
    /// run starting there stays whole in the next piece; GPT-2, cl100k, o200k and Llama 3 patterns, WordPiece and
    /// characters), so encoding the pieces gives the ids of the whole range. Text without such a point is one piece.
    static func pieces(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, pieceBytes: Int = 1 << 20) -> [Range<Int>] {
        func isCut(_ i: Int) -> Bool {
            let b = bytes[i - 1]
            return bytes[i] == 0x0A && ((0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b))
        }
        var out: [Range<Int>] = [], start = range.lowerBound
        while range.upperBound - start > pieceBytes {
            let target = start + pieceBytes
            var cut = target
            while cut > start + 1 && !isCut(cut) { cut -= 1 }
            if cut <= start + 1 {
                cut = target
                while cut < range.upperBound && !isCut(cut) { cut += 1 }
                if cut == range.upperBound { break }
            }
            out.append(start..<cut)
            start = cut
        }
        if start < range.upperBound || out.isEmpty { out.append(start..<range.upperBound) }
        return out
    }
}
