// `meta.json` of a data directory made by `lmkit prepare` (Docs/Formats.md "Data directory"): which tokenizer file
// the ids came from, token and character counts, the source text. Read strictly (unknown keys are errors). The
// tokenizer itself is loaded by LMTokenizers' `loadTokenizer(directory)`, which reads the same file.
import Foundation

/// `meta.json` of a prepared data directory (Docs/Formats.md "Data directory").
public struct DataMeta: Codable, Equatable {
    public var format = "lmkit-data"
    public var version = 1
    /// "char", "bpe" or "wordpiece": the kind of `tokenizerFile` (`loadTokenizer` checks that they agree).
    public var tokenizer: String
    /// File of the tokenizer inside the directory.
    public var tokenizerFile: String
    public var vocabSize: Int
    public var trainTokens: Int
    public var valTokens: Int
    /// The text file the tokens came from, as given to `lmkit prepare`.
    public var source: String
    /// Unicode scalars (Python characters) of the train and val text, for bits per character.
    public var trainCharacters: Int
    public var valCharacters: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, version, tokenizer, tokenizerFile = "tokenizer_file", vocabSize = "vocab_size"
        case trainTokens = "train_tokens", valTokens = "val_tokens", source
        case trainCharacters = "train_characters", valCharacters = "val_characters"
    }

    public init(tokenizer: String, tokenizerFile: String, vocabSize: Int, trainTokens: Int, valTokens: Int, source: String,
                trainCharacters: Int, valCharacters: Int) {
        self.tokenizer = tokenizer
        self.tokenizerFile = tokenizerFile
        self.vocabSize = vocabSize
        self.trainTokens = trainTokens
        self.valTokens = valTokens
        self.source = source
        self.trainCharacters = trainCharacters
        self.valCharacters = valCharacters
    }

    public static func path(directory: String) -> String { (directory as NSString).appendingPathComponent("meta.json") }

    /// Reads `directory/meta.json`; errors name the file and field.
    public static func load(directory: String) throws -> DataMeta {
        let path = Self.path(directory: directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainError.invalidInput("\(path): missing; `lmkit prepare --input TEXT --out \(directory)` writes it")
        }
        let meta: DataMeta
        do {
            meta = try StrictJSON.decode(DataMeta.self, from: data, allowedKeys: CodingKeys.allCases.map(\.rawValue), source: path)
        } catch let error as ConfigError {
            throw TrainError.invalidInput(error.description)
        } catch {
            throw TrainError.invalidInput("\(path): \(error)")
        }
        guard meta.format == "lmkit-data" else { throw TrainError.invalidInput("\(path): format is \"\(meta.format)\", expected \"lmkit-data\"") }
        guard meta.version == 1 else { throw TrainError.invalidInput("\(path): version \(meta.version) is not supported (this build reads 1)") }
        guard ["char", "bpe", "wordpiece"].contains(meta.tokenizer) else {
            throw TrainError.invalidInput("\(path): tokenizer is \"\(meta.tokenizer)\", expected \"char\", \"bpe\" or \"wordpiece\"")
        }
        return meta
    }

    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Every field is a string or an integer: encoding cannot fail.
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }
}
