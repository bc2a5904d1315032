// Character-level tokenizer of nanoGPT's shakespeare_char (data/shakespeare_char/prepare.py): the vocabulary is the
// sorted set of Unicode scalars (Python str characters, not Swift grapheme clusters) of a corpus, id = rank.
// Stored as a small JSON file (Docs/Formats.md "Character vocabulary"). No unknown-token fallback: an unknown
// character is an error naming it and its position, as prepare.py's `stoi[c]` would raise a KeyError.
import Foundation

/// A character-level vocabulary: `characters[id]` is the Unicode scalar of token `id`, sorted by code point.
public struct CharTokenizer: Equatable, Sendable {
    /// The vocabulary in id order (ascending code points, no duplicates).
    public let characters: [Unicode.Scalar]
    private let idByScalar: [UInt32: Int]
    /// Ids of ASCII scalars (-1 where absent): the common case without a dictionary lookup.
    private let asciiIDs: [Int]

    /// The file format tag written into and required from vocabulary files.
    public static let formatName = "lmkit-char-vocab"
    public static let formatVersion = 1

    /// A vocabulary from its characters; they must be unique and are used in the given order (ids = positions).
    public init(characters: [Unicode.Scalar]) throws {
        var map: [UInt32: Int] = [:]
        for (id, c) in characters.enumerated() {
            guard map.updateValue(id, forKey: c.value) == nil else {
                throw TokenizerError.invalidArgument(name: "characters", expected: "unique characters, got \(String(c).debugDescription) twice")
            }
        }
        guard !characters.isEmpty else { throw TokenizerError.invalidArgument(name: "characters", expected: "at least one character") }
        self.characters = characters
        self.idByScalar = map
        var ascii = [Int](repeating: -1, count: 128)
        for (id, c) in characters.enumerated() where c.value < 128 { ascii[Int(c.value)] = id }
        self.asciiIDs = ascii
    }

    /// nanoGPT's vocabulary of `text`: `sorted(list(set(data)))`.
    public init(corpus text: String) throws {
        var seen = Set<UInt32>()
        for s in text.unicodeScalars { seen.insert(s.value) }
        guard !seen.isEmpty else { throw TokenizerError.invalidArgument(name: "corpus", expected: "a non-empty text") }
        try self.init(characters: seen.sorted().map { Unicode.Scalar($0)! })
    }

    public static func == (a: CharTokenizer, b: CharTokenizer) -> Bool { a.characters == b.characters }

    /// Number of ids.
    public var vocabularySize: Int { characters.count }

    /// The id of each Unicode scalar of `text`. An unknown character throws, naming it, its 0-based scalar
    /// position and its line:column.
    public func encode(_ text: String) throws -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count)
        var position = 0
        for s in text.unicodeScalars {
            let id = s.value < 128 ? asciiIDs[Int(s.value)] : (idByScalar[s.value] ?? -1)
            if id < 0 { throw unknownCharacter(s, at: position, in: text) }
            ids.append(id)
            position += 1
        }
        return ids
    }

    private func unknownCharacter(_ s: Unicode.Scalar, at position: Int, in text: String) -> TokenizerError {
        var line = 1, column = 1
        for (i, c) in text.unicodeScalars.enumerated() {
            if i == position { break }
            if c == "\n" { line += 1; column = 1 } else { column += 1 }
        }
        let hex = String(s.value, radix: 16, uppercase: true)
        return .invalidArgument(name: "text", expected: "characters of the \(vocabularySize)-character vocabulary; character \(String(s).debugDescription) (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex)) at position \(position) (line \(line), column \(column)) is not in it")
    }

    /// The text of `ids`; an id outside the vocabulary throws `unknownTokenID`.
    public func decode(_ ids: [Int]) throws -> String {
        var scalars = String.UnicodeScalarView()
        for id in ids {
            guard id >= 0 && id < characters.count else { throw TokenizerError.unknownTokenID(id) }
            scalars.append(characters[id])
        }
        return String(scalars)
    }

    // MARK: - File

    /// The vocabulary file: `{"format": "lmkit-char-vocab", "version": 1, "characters": ["\n", " ", "!", …]}`.
    public func jsonData() -> Data {
        let list = characters.map { jsonString(String($0)) }.joined(separator: ", ")
        return Data("{\"format\": \"\(Self.formatName)\", \"version\": \(Self.formatVersion), \"characters\": [\(list)]}\n".utf8)
    }

    /// Writes the vocabulary file atomically.
    public func write(to path: String) throws { try writeFileAtomically(jsonData(), to: path) }

    /// Reads a vocabulary file; errors name the file and the field that is wrong.
    public static func load(_ path: String) throws -> CharTokenizer {
        try decode(readFile(path), source: path)
    }

    /// Parses vocabulary JSON; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> CharTokenizer {
        guard let object = try? JSONSerialization.jsonObject(with: data), let root = object as? [String: Any] else {
            throw TokenizerError.malformed(location: source, expected: "a JSON object (an LMKit character vocabulary)")
        }
        guard root["format"] as? String == formatName else {
            throw TokenizerError.malformed(location: "\(source): format", expected: "\"\(formatName)\", got \(String(describing: root["format"] ?? "nothing"))")
        }
        guard let version = root["version"] as? Int, version == formatVersion else {
            throw TokenizerError.unsupported(location: "\(source): version", feature: "version \(String(describing: root["version"] ?? "missing")) (this build reads version \(formatVersion))")
        }
        guard let list = root["characters"] as? [String] else {
            throw TokenizerError.malformed(location: "\(source): characters", expected: "an array of one-character strings")
        }
        var scalars: [Unicode.Scalar] = []
        for (i, entry) in list.enumerated() {
            let s = Array(entry.unicodeScalars)
            guard s.count == 1 else {
                throw TokenizerError.malformed(location: "\(source): characters[\(i)]", expected: "exactly one character, got \(entry.debugDescription)")
            }
            scalars.append(s[0])
        }
        do { return try CharTokenizer(characters: scalars) } catch let error as TokenizerError {
            throw TokenizerError.malformed(location: "\(source): characters", expected: error.description)
        }
    }
}
