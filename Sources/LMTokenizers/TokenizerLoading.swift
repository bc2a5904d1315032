// `loadTokenizer(path)`: the one place that decides what kind of tokenizer a file or directory holds, by its
// contents first and its name only where the contents cannot tell (a tiktoken rank file carries no pattern, so its
// encoding comes from the name or the caller). Used by `lmkit prepare`, `train`, `eval`, `sample` and `tokenizer`.
// It reads a data directory's meta.json itself (only `format`, `tokenizer` and `tokenizer_file`): LMTokenizers
// cannot import LMTrain, which owns that file (Docs/Formats.md "Data directory").
import Foundation

/// File names LMKit looks for inside a directory (a data directory of `lmkit prepare`, a model directory).
public enum TokenizerFileName {
    /// HF tokenizer.json (byte-level BPE or WordPiece); also what `lmkit prepare` writes for them.
    public static let huggingFace = "tokenizer.json"
    /// An LMKit character vocabulary (`CharTokenizer`).
    public static let characterVocabulary = "char_vocab.json"
    /// BERT's WordPiece vocab.txt.
    public static let wordPieceVocabulary = "vocab.txt"
    /// GPT-2's vocab.json and merges.txt, read together.
    public static let gpt2Vocabulary = "vocab.json", gpt2Merges = "merges.txt"
    /// The meta.json of a data directory made by `lmkit prepare`.
    public static let dataMeta = "meta.json"
}

/// The tiktoken encodings whose pattern and special tokens LMKit knows (`ByteLevelBPE.load(encoding:rankFile:)`).
let knownEncodings = ["gpt2", "r50k_base", "cl100k_base", "o200k_base"]

/// Loads the tokenizer at `path`:
/// - a directory: a data directory of `lmkit prepare` (its meta.json names the tokenizer file), else the first of
///   tokenizer.json, char_vocab.json, vocab.txt, vocab.json + merges.txt inside it;
/// - a JSON file: an LMKit character vocabulary (`"format": "lmkit-char-vocab"`), or a HF tokenizer.json whose
///   `model.type` is `BPE` (byte-level; also when `type` is absent but `merges` is present) or `WordPiece`;
/// - a tiktoken rank file (`.tiktoken`, or lines `<base64> <rank>`): its encoding is `encoding` when given, else the
///   file's name (`gpt2`, `r50k_base`, `cl100k_base`, `o200k_base`; any other name is an error, since the pattern
///   decides the ids and a rank file does not record it);
/// - a `.txt` file: a WordPiece vocab.txt.
/// Errors name the file and what was expected there.
public func loadTokenizer(_ path: String, encoding: String? = nil) throws -> any Tokenizer {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw TokenizerError.io(path: path, reason: "no such file or directory (expected a tokenizer: \(expectedKinds))")
    }
    if let encoding {
        if isDirectory.boolValue { throw TokenizerError.io(path: path, reason: "is a directory, but an encoding (\(encoding)) needs a rank file") }
        return try ByteLevelBPE.load(encoding: encoding, rankFile: path)
    }
    if isDirectory.boolValue { return try loadTokenizer(directory: path) }
    return try loadTokenizer(file: path)
}

private let expectedKinds = "tokenizer.json, char_vocab.json, vocab.txt, a .tiktoken rank file, or a directory holding one"

private func loadTokenizer(directory: String) throws -> any Tokenizer {
    func inside(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
    let exists = { FileManager.default.fileExists(atPath: inside($0)) }
    if exists(TokenizerFileName.dataMeta) { return try loadDataDirectoryTokenizer(directory, meta: inside(TokenizerFileName.dataMeta)) }
    for name in [TokenizerFileName.huggingFace, TokenizerFileName.characterVocabulary, TokenizerFileName.wordPieceVocabulary] where exists(name) {
        return try loadTokenizer(file: inside(name))
    }
    if exists(TokenizerFileName.gpt2Vocabulary) && exists(TokenizerFileName.gpt2Merges) {
        return try ByteLevelBPE.load(vocabJSON: inside(TokenizerFileName.gpt2Vocabulary), merges: inside(TokenizerFileName.gpt2Merges))
    }
    throw TokenizerError.malformed(location: directory, expected: "a tokenizer in the directory (meta.json from `lmkit prepare`, "
        + "tokenizer.json, char_vocab.json, vocab.txt, or vocab.json + merges.txt); it has none of them")
}

/// The tokenizer named by a data directory's meta.json; its kind must be the one meta.json records.
private func loadDataDirectoryTokenizer(_ directory: String, meta path: String) throws -> any Tokenizer {
    let meta = try parseJSONObject(path)
    guard meta["format"] as? String == "lmkit-data" else {
        throw TokenizerError.malformed(location: "\(path): format", expected: "\"lmkit-data\" (a data directory of `lmkit prepare`), got \(String(describing: meta["format"] ?? "nothing"))")
    }
    guard let file = meta["tokenizer_file"] as? String, !file.isEmpty, !file.contains("/") else {
        throw TokenizerError.malformed(location: "\(path): tokenizer_file", expected: "the file name of the tokenizer inside \(directory)")
    }
    let tokenizer = try loadTokenizer(file: (directory as NSString).appendingPathComponent(file))
    let kind = meta["tokenizer"] as? String ?? "?"
    let matches: Bool
    switch kind {
    case "char": matches = tokenizer is CharTokenizer
    case "bpe": matches = tokenizer is ByteLevelBPE
    case "wordpiece": matches = tokenizer is WordPiece
    default:
        throw TokenizerError.malformed(location: "\(path): tokenizer", expected: "\"char\", \"bpe\" or \"wordpiece\", got \(kind.debugDescription)")
    }
    guard matches else {
        throw TokenizerError.malformed(location: "\(path): tokenizer", expected: "the kind of \(file); meta.json says \(kind.debugDescription) but the file holds a \(type(of: tokenizer))")
    }
    return tokenizer
}

private func loadTokenizer(file path: String) throws -> any Tokenizer {
    let data = try readFile(path)
    guard let first = data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else {
        throw TokenizerError.malformed(location: path, expected: "a tokenizer (\(expectedKinds)); the file is empty")
    }
    if first == UInt8(ascii: "{") || path.hasSuffix(".json") { return try loadTokenizer(json: data, path: path) }
    let name = (path as NSString).lastPathComponent
    if path.hasSuffix(".tiktoken") || looksLikeRankFile(data) {
        let stem = (name as NSString).deletingPathExtension
        guard knownEncodings.contains(stem) else {
            throw TokenizerError.malformed(location: path, expected: "a rank file named after its encoding (\(knownEncodings.map { $0 + ".tiktoken" }.joined(separator: ", "))) "
                + "or an explicit encoding (`lmkit tokenizer --encoding NAME`): a tiktoken rank file records no pattern or special tokens, and the pattern decides the ids")
        }
        return try ByteLevelBPE.load(encoding: stem, rankFile: path)
    }
    if path.hasSuffix(".txt") { return try WordPiece.load(vocabTXT: path) }
    throw TokenizerError.malformed(location: path, expected: "a tokenizer (\(expectedKinds)); this file is none of them")
}

private func loadTokenizer(json data: Data, path: String) throws -> any Tokenizer {
    let object: Any
    do { object = try JSONSerialization.jsonObject(with: data) } catch {
        throw TokenizerError.malformed(location: path, expected: "valid JSON (\(error.localizedDescription))")
    }
    guard let root = object as? [String: Any] else { throw TokenizerError.malformed(location: path, expected: "a JSON object at the top level") }
    if let format = root["format"] {
        guard format as? String == CharTokenizer.formatName else {
            throw TokenizerError.malformed(location: "\(path): format", expected: "\"\(CharTokenizer.formatName)\" (an LMKit character vocabulary), got \(format)"
                + (format as? String == "lmkit-data" ? "; this is a data directory's meta.json: pass the directory" : ""))
        }
        return try CharTokenizer.decode(data, source: path)
    }
    if let model = root["model"] as? [String: Any] {
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        switch type {
        case "BPE": return try ByteLevelBPE.load(tokenizerJSONRoot: root, path: path)
        case "WordPiece": return try WordPiece.load(tokenizerJSONRoot: root, path: path)
        default:
            throw TokenizerError.unsupported(location: "\(path): model.type", feature: "\(type.debugDescription) (LMKit reads byte-level \"BPE\" and \"WordPiece\")")
        }
    }
    if !root.isEmpty && root.values.allSatisfy({ $0 is NSNumber }) {
        throw TokenizerError.malformed(location: path, expected: "a whole tokenizer; this looks like a GPT-2 vocab.json, which needs its merges.txt: "
            + "put both in one directory and pass the directory, or use `lmkit tokenizer --vocab \(path) --merges MERGES`")
    }
    throw TokenizerError.malformed(location: path, expected: "a HF tokenizer.json (with a \"model\" object) or an LMKit character vocabulary (\"format\": \"\(CharTokenizer.formatName)\"); "
        + "found neither (keys: \(root.keys.sorted().prefix(8).joined(separator: ", ")))")
}

/// Whether the first non-empty line reads `<base64> <integer>` (a tiktoken rank file).
private func looksLikeRankFile(_ data: Data) -> Bool {
    let line = data.prefix(512).split(separator: 0x0A, omittingEmptySubsequences: true).first ?? []
    let fields = line.split(separator: 0x20, omittingEmptySubsequences: false)
    guard fields.count == 2, !fields[0].isEmpty else { return false }
    let base64 = fields[0].allSatisfy { b in
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2B || b == 0x2F || b == 0x3D
    }
    var rank = fields[1]
    if rank.last == 0x0D { rank = rank.dropLast() }
    return base64 && !rank.isEmpty && rank.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
}
