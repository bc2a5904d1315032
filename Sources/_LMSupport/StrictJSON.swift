// Strict configuration decoding shared by every JSON config LMKit reads (GPT and training configs, meta.json):
// Codable silently ignores unknown keys, which turns a typo such as `learning_rat` into a silent default, so the
// top-level keys are checked first and an unknown one is an error naming it, the file, the closest allowed key
// (edit distance ≤ 2) and the full list. `ConfigError` is public because LMModels and LMTrain re-export it.
import Foundation

/// A configuration that cannot be used; the message names the field (or file) and what was expected.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case invalidValue(field: String, String)
    case unknownKeys(file: String, [String], allowed: [String])
    case malformed(file: String, String)

    /// E.g. `train.json: unknown key 'learning_rat' (did you mean 'learning_rate'?); allowed: out_dir, …`.
    public var description: String {
        switch self {
        case let .invalidValue(field, message): return "config field '\(field)' \(message)"
        case let .unknownKeys(file, keys, allowed):
            let named = keys.map { key in
                "'\(key)'" + (StrictJSON.suggestion(for: key, among: allowed).map { " (did you mean '\($0)'?)" } ?? "")
            }
            return "\(file): unknown key\(keys.count == 1 ? "" : "s") \(named.joined(separator: ", ")); allowed: \(allowed.joined(separator: ", "))"
        case let .malformed(file, message): return "\(file): \(message)"
        }
    }
}

/// JSON decoding that rejects keys the type does not know. Used for every configuration file LMKit reads.
public enum StrictJSON {
    /// Decodes `T` from `data`, first checking that the top-level object's keys are all in `allowedKeys`.
    /// `source` (a file path) prefixes every error.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, allowedKeys: [String], source: String) throws -> T {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError.malformed(file: source, "not valid JSON: \(syntaxErrorDescription(error, in: data))")
        }
        try checkDuplicateKeys(data, source: source)
        guard let dict = object as? [String: Any] else { throw ConfigError.malformed(file: source, "expected a JSON object at the top level") }
        let unknown = dict.keys.filter { !allowedKeys.contains($0) }.sorted()
        if !unknown.isEmpty { throw ConfigError.unknownKeys(file: source, unknown, allowed: allowedKeys) }
        do { return try JSONDecoder().decode(T.self, from: data) } catch let error as ConfigError {
            throw ConfigError.malformed(file: source, error.description)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ConfigError.malformed(file: source, "field '\(field)': \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            if field.isEmpty, let culprit = mistypedKey(T.self, in: dict) {
                // Foundation on Linux reports a number of the wrong kind (1.5 for an integer, 1e30 beyond Int) without
                // its key; the key whose removal changes the error is the one.
                throw ConfigError.malformed(file: source, "field '\(culprit)': the value \(describe(dict[culprit]!)) is not of the expected type or range (an integer where one is expected?)")
            }
            throw ConfigError.malformed(file: source, "field '\(field)': \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
            throw ConfigError.malformed(file: source, "field '\(path)' is required")
        }
    }

    /// The top-level key of `dict` whose value makes decoding `T` fail with an unlocated error, found by decoding
    /// without each key in turn; nil when no single key is to blame.
    private static func mistypedKey<T: Decodable>(_ type: T.Type, in dict: [String: Any]) -> String? {
        for key in dict.keys.sorted() {
            var without = dict
            without[key] = nil
            guard let data = try? JSONSerialization.data(withJSONObject: without) else { continue }
            if (try? JSONDecoder().decode(T.self, from: data)) != nil { return key }
        }
        return nil
    }

    private static func describe(_ value: Any) -> String {
        if let data = try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]) {
            return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        }
        return "\(value)"
    }

    /// JSONSerialization's message with its "around character N" turned into a line and column of `data`.
    package static func syntaxErrorDescription(_ error: Error, in data: Data) -> String {
        let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? error.localizedDescription
        guard let range = detail.range(of: "character "),
              let offset = Int(detail[range.upperBound...].prefix(while: { $0.isNumber })) else { return detail }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return "line \(line), column \(column): \(detail)"
    }

    /// Throws naming the key, its object path and line when an object in `data` repeats a key: JSONSerialization
    /// keeps the last one silently, so `{"n_layer": 4, "n_layer": 12}` would quietly train 12 layers. Input that is
    /// not JSON passes (the parser reports it); only objects' keys are checked.
    package static func checkDuplicateKeys(_ data: Data, source: String) throws {
        let bytes = [UInt8](data)
        // One frame per open object or array: the keys seen so far (nil for an array) and the path to it.
        var frames: [(keys: Set<String>?, path: String)] = []
        var expectingKey = false
        var lastKey = ""
        var line = 1
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\n"): line += 1
            case UInt8(ascii: "{"):
                let path = frames.isEmpty ? "" : (frames.last!.keys == nil ? frames.last!.path + "[]" : (frames.last!.path.isEmpty ? lastKey : frames.last!.path + "." + lastKey))
                frames.append((Set<String>(), path))
                expectingKey = true
            case UInt8(ascii: "["):
                let path = frames.isEmpty ? "" : (frames.last!.keys == nil ? frames.last!.path + "[]" : (frames.last!.path.isEmpty ? lastKey : frames.last!.path + "." + lastKey))
                frames.append((nil, path))
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if !frames.isEmpty { frames.removeLast() }
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = frames.last.map { $0.keys != nil } ?? false
            case UInt8(ascii: "\""):
                var j = i + 1
                var raw: [UInt8] = []
                while j < bytes.count && bytes[j] != UInt8(ascii: "\"") {
                    if bytes[j] == UInt8(ascii: "\\") && j + 1 < bytes.count { raw.append(bytes[j]); j += 1 }
                    raw.append(bytes[j])
                    j += 1
                }
                if expectingKey, var keys = frames.last?.keys {
                    // Decode escapes through the real parser so "a" and "\u0061" compare equal.
                    let key = (try? JSONSerialization.jsonObject(with: Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")]),
                                                               options: .fragmentsAllowed)) as? String ?? String(decoding: raw, as: UTF8.self)
                    let path = frames.last!.path
                    if keys.contains(key) {
                        throw ConfigError.malformed(file: source, "line \(line): duplicate key '\(path.isEmpty ? key : path + "." + key)' (JSON objects must not repeat a key; the earlier value would be ignored)")
                    }
                    keys.insert(key)
                    frames[frames.count - 1].keys = keys
                    lastKey = key
                    expectingKey = false
                }
                i = j
            default: break
            }
            i += 1
        }
    }

    /// The candidate closest to a mistyped `key` by Levenshtein distance, if within 2 edits (the first of equally
    /// close ones), for "did you mean". `suggestion(for: "max_iter", among: ["max_iters", "lr"])` is `"max_iters"`.
    package static func suggestion(for key: String, among candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, ca) in a.enumerated() {
                var current = [i + 1]
                for (j, cb) in b.enumerated() { current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))) }
                previous = current
            }
            return previous[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(key), Array($0))) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }
}
