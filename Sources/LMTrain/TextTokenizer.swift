// The tokenizer a training run uses for text: nanoGPT's character vocabulary (`char`, stored in the data directory)
// or a byte-level BPE file (HF tokenizer.json, a directory holding one, or a tiktoken rank file). One type so
// `prepare`, `train`, `eval` and sampling share a single way of naming and loading it. Specials are never parsed
// out of training text (tiktoken's encode_ordinary), so a corpus containing "<|endoftext|>" stays plain text.
import Foundation
import LMTokenizers

/// A text ↔ ids mapping for training and evaluation.
public final class TextTokenizer: @unchecked Sendable {
    public enum Kind {
        case char(CharTokenizer)
        case bytePair(ByteLevelBPE)
    }

    public let kind: Kind
    /// How the tokenizer was named: "char" or the file it was read from.
    public let source: String

    public init(_ kind: Kind, source: String) {
        self.kind = kind
        self.source = source
    }

    /// The file name of a character vocabulary inside a data directory.
    public static let charVocabularyFileName = "char_vocab.json"
    /// The file name of a BPE tokenizer copied into a data directory.
    public static let bytePairFileName = "tokenizer.json"

    /// Loads a tokenizer FILE: an LMKit character vocabulary (char_vocab.json), a BPE `tokenizer.json`, a directory
    /// containing one, or a tiktoken rank file
    /// (`gpt2`/`r50k_base`/`cl100k_base`/`o200k_base.tiktoken` get that encoding's pattern and specials; any other
    /// rank file gets the GPT-2 pattern and no specials).
    public static func loadFile(_ path: String) throws -> TextTokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainError.invalidInput("\(path): no such tokenizer file or directory (expected `char`, a tokenizer.json, a directory with one, or a .tiktoken rank file)")
        }
        if isDirectory.boolValue {
            let inner = (path as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: inner) else {
                throw TrainError.invalidInput("\(path): a directory without tokenizer.json")
            }
            return TextTokenizer(.bytePair(try ByteLevelBPE.load(tokenizerJSON: inner)), source: inner)
        }
        if path.hasSuffix(".json") {
            if let data = FileManager.default.contents(atPath: path),
               let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               object["format"] as? String == CharTokenizer.formatName {
                return TextTokenizer(.char(try CharTokenizer.decode(data, source: path)), source: path)
            }
            return TextTokenizer(.bytePair(try ByteLevelBPE.load(tokenizerJSON: path)), source: path)
        }
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        if ["gpt2", "r50k_base", "cl100k_base", "o200k_base"].contains(stem) {
            return TextTokenizer(.bytePair(try ByteLevelBPE.load(encoding: stem, rankFile: path)), source: path)
        }
        return TextTokenizer(.bytePair(try ByteLevelBPE.load(rankFile: path, pattern: .gpt2)), source: path)
    }

    /// The tokenizer `lmkit prepare` stored in `directory` (named by its meta.json).
    public static func load(dataDirectory directory: String) throws -> TextTokenizer {
        let meta = try DataMeta.load(directory: directory)
        let file = (directory as NSString).appendingPathComponent(meta.tokenizerFile)
        switch meta.tokenizer {
        case "char": return TextTokenizer(.char(try CharTokenizer.load(file)), source: file)
        default: return try loadFile(file)
        }
    }

    /// Number of ids (ordinary and special).
    public var vocabularySize: Int {
        switch kind {
        case .char(let c): return c.vocabularySize
        case .bytePair(let b): return b.vocabularySize
        }
    }

    /// "char" or "bpe".
    public var kindName: String {
        if case .char = kind { return "char" }
        return "bpe"
    }

    /// Ids of `text`; specials in the text are encoded as ordinary text.
    public func encode(_ text: String) throws -> [Int] {
        switch kind {
        case .char(let c): return try c.encode(text)
        case .bytePair(let b): return b.encodeOrdinary(text)
        }
    }

    /// Text of `ids` (invalid UTF-8 from byte-level tokens becomes U+FFFD, as in tiktoken's `decode`).
    public func decode(_ ids: [Int]) throws -> String {
        switch kind {
        case .char(let c): return try c.decode(ids)
        case .bytePair(let b): return try b.decode(ids)
        }
    }

    /// A decoder for token-at-a-time output that never splits a UTF-8 character.
    public func streamingDecoder() -> TextStreamingDecoder {
        switch kind {
        case .char(let c): return TextStreamingDecoder(char: c)
        case .bytePair(let b): return TextStreamingDecoder(bytePair: StreamingDecoder(b))
        }
    }
}

/// Incremental decoding for either tokenizer kind (`TextTokenizer.streamingDecoder()`).
public struct TextStreamingDecoder {
    private var char: CharTokenizer?
    private var bytePair: StreamingDecoder?

    init(char: CharTokenizer) { self.char = char }
    init(bytePair: StreamingDecoder) { self.bytePair = bytePair }

    /// Adds one id; returns the text completed by it (possibly empty).
    public mutating func push(_ id: Int) throws -> String {
        if let char { return try char.decode([id]) }
        return try bytePair!.push(id)
    }

    /// Flushes held-back bytes (an unfinished character becomes U+FFFD).
    public mutating func finish() -> String { bytePair?.finish() ?? "" }
}

/// `meta.json` of a prepared data directory (Docs/Formats.md "Data directory").
public struct DataMeta: Codable, Equatable {
    public var format = "lmkit-data"
    public var version = 1
    /// "char" or "bpe".
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
        guard meta.tokenizer == "char" || meta.tokenizer == "bpe" else {
            throw TrainError.invalidInput("\(path): tokenizer is \"\(meta.tokenizer)\", expected \"char\" or \"bpe\"")
        }
        return meta
    }

    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try! encoder.encode(self)
    }
}

/// A user-facing error of LMTrain (bad files, flags, configs); the message names what is wrong and where.
public enum TrainError: Error, CustomStringConvertible, Equatable {
    case invalidInput(String)
    public var description: String {
        switch self {
        case .invalidInput(let message): return message
        }
    }
}
