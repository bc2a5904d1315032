// `lmkit prepare`: text → DIR/train.bin + DIR/val.bin + tokenizer file + meta.json, as nanoGPT's
// data/shakespeare_char/prepare.py (split the text at int(n·0.9) characters, then encode each part) and
// data/shakespeare/prepare.py (the same with a BPE tokenizer). Any tokenizer `loadTokenizer` reads can be used; it
// is copied into the directory in a normalized form (char_vocab.json or tokenizer.json). Does not download anything.
import Foundation
import LMTokenizers

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
        guard let data = FileManager.default.contents(atPath: inputPath) else {
            throw TrainError.invalidInput("\(inputPath): cannot read the input text (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TrainError.invalidInput("\(inputPath): not valid UTF-8 text\(firstInvalidUTF8Offset(data).map { " (invalid byte at offset \($0))" } ?? "")")
        }
        // prepare.py: n = len(data); train_data = data[:int(n*0.9)]; val_data = data[int(n*0.9):] — n counts Unicode
        // scalars (Python characters). Counted and split in place: an array of scalars would cost 4 bytes per character.
        let scalarCount = text.unicodeScalars.count
        guard scalarCount >= 2 else { throw TrainError.invalidInput("\(inputPath): the text is empty (need at least 2 characters)") }
        let split = Int(Double(scalarCount) * (1 - valFraction))
        let splitIndex = text.unicodeScalars.index(text.unicodeScalars.startIndex, offsetBy: split)
        let trainText = String(text.unicodeScalars[..<splitIndex]), valText = String(text.unicodeScalars[splitIndex...])

        do {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        } catch {
            throw TrainError.invalidInput("\(outputDirectory): cannot create the output directory (\(error.localizedDescription))")
        }
        let tokenizer: any Tokenizer = spec == "char" ? try CharTokenizer(corpus: text) : try loadTokenizer(spec)
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
        let trainIDs = try tokenizer.encode(trainText), valIDs = try tokenizer.encode(valText)
        let trainPath = (outputDirectory as NSString).appendingPathComponent("train.bin")
        let valPath = (outputDirectory as NSString).appendingPathComponent("val.bin")
        try TokenFile.write(trainIDs, vocabularySize: tokenizer.vocabularySize, to: trainPath)
        try TokenFile.write(valIDs, vocabularySize: tokenizer.vocabularySize, to: valPath)
        let meta = DataMeta(tokenizer: kind, tokenizerFile: (tokenizerPath as NSString).lastPathComponent,
                            vocabSize: tokenizer.vocabularySize, trainTokens: trainIDs.count, valTokens: valIDs.count,
                            source: inputPath, trainCharacters: split, valCharacters: scalarCount - split)
        try writeAtomically(Array(meta.jsonData()) + [0x0A], to: DataMeta.path(directory: outputDirectory))
        return Summary(meta: meta, trainPath: trainPath, valPath: valPath, tokenizerPath: tokenizerPath)
    }
}
