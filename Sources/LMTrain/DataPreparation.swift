// `lmkit prepare`: text → DIR/train.bin + DIR/val.bin + tokenizer file + meta.json, as nanoGPT's
// data/shakespeare_char/prepare.py (split the text at int(n·0.9) characters, then encode each part) and
// data/shakespeare/prepare.py (the same with a BPE tokenizer). Does not download anything.
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

    /// Tokenizes `inputPath` with `tokenizer` ("char" builds the vocabulary from the text; anything else is a BPE
    /// tokenizer file) and writes the data directory `outputDirectory` (created if missing).
    public static func prepare(tokenizer spec: String, inputPath: String, outputDirectory: String,
                               valFraction: Double = 0.1) throws -> Summary {
        guard valFraction >= 0 && valFraction < 1 else {
            throw TrainError.invalidInput("--val-fraction must be in [0, 1), got \(valFraction)")
        }
        guard let data = FileManager.default.contents(atPath: inputPath) else {
            throw TrainError.invalidInput("\(inputPath): cannot read the input text (missing or unreadable)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TrainError.invalidInput("\(inputPath): not valid UTF-8 text")
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
        let tokenizer: TextTokenizer
        let tokenizerPath: String
        if spec == "char" {
            let vocabulary = try CharTokenizer(corpus: text)
            tokenizerPath = (outputDirectory as NSString).appendingPathComponent(TextTokenizer.charVocabularyFileName)
            try vocabulary.write(to: tokenizerPath)
            tokenizer = TextTokenizer(.char(vocabulary), source: tokenizerPath)
        } else {
            tokenizer = try TextTokenizer.loadFile(spec)
            guard case .bytePair(let bpe) = tokenizer.kind else { preconditionFailure("loadFile returns BPE") }
            tokenizerPath = (outputDirectory as NSString).appendingPathComponent(TextTokenizer.bytePairFileName)
            try bpe.writeTokenizerJSON(to: tokenizerPath)
        }
        let trainIDs = try tokenizer.encode(trainText), valIDs = try tokenizer.encode(valText)
        let trainPath = (outputDirectory as NSString).appendingPathComponent("train.bin")
        let valPath = (outputDirectory as NSString).appendingPathComponent("val.bin")
        try TokenFile.write(trainIDs, vocabularySize: tokenizer.vocabularySize, to: trainPath)
        try TokenFile.write(valIDs, vocabularySize: tokenizer.vocabularySize, to: valPath)
        let meta = DataMeta(tokenizer: tokenizer.kindName, tokenizerFile: (tokenizerPath as NSString).lastPathComponent,
                            vocabSize: tokenizer.vocabularySize, trainTokens: trainIDs.count, valTokens: valIDs.count,
                            source: inputPath, trainCharacters: split, valCharacters: scalarCount - split)
        try writeAtomically(Array(meta.jsonData()) + [0x0A], to: DataMeta.path(directory: outputDirectory))
        return Summary(meta: meta, trainPath: trainPath, valPath: valPath, tokenizerPath: tokenizerPath)
    }
}
