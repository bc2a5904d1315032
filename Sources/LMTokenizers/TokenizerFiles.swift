// Reading and writing byte-level BPE files: tiktoken rank files, GPT-2 vocab.json + merges.txt, and HF
// tokenizer.json (BPE model, ByteLevel pre-tokenizer/decoder, optional Digits and Split steps, added_tokens). Errors
// name the file and line or JSON field. Writes are atomic (temp file in the same directory, fsync, rename: _LMSupport).
// Formats: Docs/Formats.md; tiktoken/load.py, huggingface/tokenizers: tokenizers/src/tokenizer/serialization.rs.
import _LMSupport
import Foundation

// MARK: - Atomic file helpers

/// Reads a whole file, with an error that names it.
func readFile(_ path: String) throws -> Data {
    // A FIFO or device would block or never end: refuse anything but a regular file first.
    do { try FileReading.checkRegularFile(path) } catch let error as FileError {
        throw TokenizerError.io(path: path, reason: error.message)
    }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            throw TokenizerError.io(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw TokenizerError.io(path: path, reason: "is a directory, expected a file") }
        throw TokenizerError.io(path: path, reason: "cannot be read (\(error.localizedDescription))")
    }
}

/// Writes `data` to `path` atomically (_LMSupport's `AtomicFile`: temporary file in the same directory, fsync,
/// rename, fsync of the directory); a failure is `TokenizerError.io` naming the file and the failed system call.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    try rethrowingFileErrors(as: { TokenizerError.io(path: path, reason: $0.message) }) { try AtomicFile.write(data, to: path) }
}

/// JSON string literal with the escapes JSON requires, plus U+FEFF: Foundation's JSONSerialization on Linux drops a
/// raw U+FEFF inside a string (a corpus starting with a byte-order mark had a character vocabulary that did not load).
func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 || c.value == 0x7F || c.value == 0xFEFF { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

// MARK: - tiktoken rank files

extension ByteLevelBPE {
    /// Reads a tiktoken rank file (`<base64 token> <rank>` per line, as `tiktoken.load.load_tiktoken_bpe`).
    public static func readRankFile(_ path: String) throws -> [(bytes: [UInt8], id: Int)] {
        let data = try readFile(path)
        var tokens: [(bytes: [UInt8], id: Int)] = []
        tokens.reserveCapacity(data.count / 12)
        var lineNumber = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            var start = 0
            while start < b.count {
                var end = start
                while end < b.count && b[end] != 0x0A { end += 1 }
                lineNumber += 1
                var lineEnd = end
                if lineEnd > start && b[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                if lineEnd > start {
                    var space = start
                    while space < lineEnd && b[space] != 0x20 { space += 1 }
                    let line = { String(decoding: UnsafeBufferPointer(rebasing: b[start..<lineEnd]), as: UTF8.self) }
                    guard space < lineEnd else {
                        throw TokenizerError.malformed(location: "\(path):\(lineNumber)", expected: "`<base64 token> <rank>`, got \(line().debugDescription)")
                    }
                    let token64 = String(decoding: UnsafeBufferPointer(rebasing: b[start..<space]), as: UTF8.self)
                    let rankText = String(decoding: UnsafeBufferPointer(rebasing: b[(space + 1)..<lineEnd]), as: UTF8.self)
                    guard let decoded = Data(base64Encoded: token64), !decoded.isEmpty else {
                        throw TokenizerError.malformed(location: "\(path):\(lineNumber)", expected: "a base64 token before the space, got \(token64.debugDescription)")
                    }
                    guard let rank = Int(rankText), rank >= 0 else {
                        throw TokenizerError.malformed(location: "\(path):\(lineNumber)", expected: "a non-negative integer rank after the space, got \(rankText.debugDescription)")
                    }
                    tokens.append((Array(decoded), rank))
                }
                start = end + 1
            }
        }
        if tokens.isEmpty { throw TokenizerError.malformed(location: path, expected: "at least one `<base64 token> <rank>` line") }
        return tokens
    }

    /// Loads a tiktoken rank file as a tokenizer with the given pattern and specials (`.ranks` merge rule).
    public static func load(rankFile path: String, pattern: SplitPattern,
                            specialTokens: [(String, Int)] = []) throws -> ByteLevelBPE {
        try ByteLevelBPE(tokens: readRankFile(path), merges: nil, specialTokens: specialTokens, pattern: pattern, source: path)
    }

    /// The named tiktoken encodings' patterns and special tokens, loaded from a local rank file.
    public static func load(encoding name: String, rankFile path: String) throws -> ByteLevelBPE {
        switch name {
        case "gpt2", "r50k_base":
            return try load(rankFile: path, pattern: .gpt2, specialTokens: [("<|endoftext|>", 50256)])
        case "cl100k_base":
            return try load(rankFile: path, pattern: .cl100k, specialTokens: [
                ("<|endoftext|>", 100257), ("<|fim_prefix|>", 100258), ("<|fim_middle|>", 100259),
                ("<|fim_suffix|>", 100260), ("<|endofprompt|>", 100276)])
        case "o200k_base":
            return try load(rankFile: path, pattern: .o200k, specialTokens: [("<|endoftext|>", 199999), ("<|endofprompt|>", 200018)])
        default:
            throw TokenizerError.invalidArgument(name: "encoding", expected: "gpt2, r50k_base, cl100k_base or o200k_base, got \(name.debugDescription)")
        }
    }

    /// Writes the ordinary tokens as a tiktoken rank file (only for `.ranks` tokenizers, where id = rank).
    public func writeRankFile(to path: String) throws {
        guard mergeRule == .ranks else {
            throw TokenizerError.unsupported(location: path, feature: "a rank file for a merges-list tokenizer (its merge order is not its id order); write tokenizer.json or vocab.json + merges.txt")
        }
        guard missingBytes.isEmpty, !splitsDigits else {
            throw TokenizerError.unsupported(location: path, feature: "a rank file for a tokenizer \(splitsDigits ? "that isolates digits" : "without a token for every byte") (tiktoken cannot express it); write tokenizer.json")
        }
        var out = ""
        out.reserveCapacity(vocabularySize * 16)
        for id in 0..<vocabularySize where !isSpecial(id) {
            guard let bytes = bytes(forID: id) else { continue }
            out += Data(bytes).base64EncodedString() + " \(id)\n"
        }
        try writeFileAtomically(Data(out.utf8), to: path)
    }
}

// MARK: - GPT-2 vocab.json + merges.txt

extension ByteLevelBPE {
    /// Reads GPT-2's `encoder.json`/`vocab.json` and `vocab.bpe`/`merges.txt` (`.merges` rule, GPT-2 pattern).
    public static func load(vocabJSON vocabPath: String, merges mergesPath: String,
                            specialTokens: [String] = ["<|endoftext|>"]) throws -> ByteLevelBPE {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: try readFile(vocabPath)) } catch let e as TokenizerError { throw e } catch {
            throw TokenizerError.malformed(location: vocabPath, expected: "a JSON object {token: id} (\(error.localizedDescription))")
        }
        guard let vocab = json as? [String: Any] else {
            throw TokenizerError.malformed(location: vocabPath, expected: "a JSON object {token: id}")
        }
        var tokens: [(bytes: [UInt8], id: Int)] = []
        var specials: [(String, Int)] = []
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue else {
                throw TokenizerError.malformed(location: "\(vocabPath): \(token.debugDescription)", expected: "an integer id")
            }
            if specialTokens.contains(token) { specials.append((token, id)); continue }
            guard let bytes = ByteLevelAlphabet.decode(token) else {
                throw TokenizerError.malformed(location: "\(vocabPath): \(token.debugDescription)", expected: "a token in GPT-2's byte-level alphabet")
            }
            tokens.append((bytes, id))
        }
        let merges = try readMergesText(mergesPath)
        return try ByteLevelBPE(tokens: tokens, merges: merges, specialTokens: specials, pattern: .gpt2, allowsMissingBytes: true,
                                source: vocabPath)
    }

    static func readMergesText(_ path: String) throws -> [([UInt8], [UInt8])] {
        let text = String(decoding: try readFile(path), as: UTF8.self)
        var merges: [([UInt8], [UInt8])] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let l = ByteLevelAlphabet.decode(String(parts[0])), let r = ByteLevelAlphabet.decode(String(parts[1])),
                  !l.isEmpty, !r.isEmpty else {
                throw TokenizerError.malformed(location: "\(path):\(index + 1)", expected: "two byte-level tokens separated by one space, got \(String(line).debugDescription)")
            }
            merges.append((l, r))
        }
        return merges
    }

    /// Writes GPT-2 style `vocab.json` (specials included) and `merges.txt` (`#version: 0.2` header).
    public func writeVocabAndMerges(vocabJSON vocabPath: String, merges mergesPath: String) throws {
        try writeFileAtomically(Data(vocabJSONObject().utf8), to: vocabPath)
        var merges = "#version: 0.2\n"
        for (l, r, _) in orderedMerges {
            merges += ByteLevelAlphabet.encode(bytes(forID: Int(l))!) + " " + ByteLevelAlphabet.encode(bytes(forID: Int(r))!) + "\n"
        }
        try writeFileAtomically(Data(merges.utf8), to: mergesPath)
    }

    /// `{"token": id, ...}` in id order, specials included.
    func vocabJSONObject() -> String {
        var out = "{"
        var first = true
        for id in 0..<vocabularySize {
            guard let b = bytes(forID: id) else { continue }
            let text = isSpecial(id) ? String(decoding: b, as: UTF8.self) : ByteLevelAlphabet.encode(b)
            out += (first ? "" : ",") + jsonString(text) + ":\(id)"
            first = false
        }
        return out + "}"
    }
}

// MARK: - HF tokenizer.json

extension ByteLevelBPE {
    /// Writes a HF `tokenizer.json` that Python `tokenizers` loads and that gives the same ids: model BPE with the
    /// merges in priority order (plus `ignore_merges` for `.ranks` tokenizers, tiktoken's whole-token shortcut),
    /// ByteLevel pre-tokenizer (GPT-2 pattern) or Split(pattern) + ByteLevel, preceded by Digits when the tokenizer
    /// isolates digits, ByteLevel decoder, added_tokens.
    public func writeTokenizerJSON(to path: String) throws {
        try writeFileAtomically(Data(tokenizerJSON().utf8), to: path)
    }

    /// The tokenizer.json text (see `writeTokenizerJSON`).
    public func tokenizerJSON() -> String {
        var added: [String] = []
        for (token, id) in specialTokens {
            added.append("{\"id\":\(id),\"content\":\(jsonString(token)),\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}")
        }
        var steps: [String] = []
        if splitsDigits { steps.append("{\"type\":\"Digits\",\"individual_digits\":true}") }
        if pattern != .gpt2 {
            steps.append("{\"type\":\"Split\",\"pattern\":{\"Regex\":\(jsonString(pattern.huggingFaceRegexString))},\"behavior\":\"Isolated\",\"invert\":false}")
        }
        steps.append("{\"type\":\"ByteLevel\",\"add_prefix_space\":\(addPrefixSpace),\"trim_offsets\":true,\"use_regex\":\(pattern == .gpt2)}")
        let preTokenizer = steps.count == 1 ? steps[0] : "{\"type\":\"Sequence\",\"pretokenizers\":[\(steps.joined(separator: ","))]}"
        // Specials go into model.vocab too: HF ignores added_tokens' ids and gives an added token the next free id
        // unless the model vocabulary already has it.
        var vocabText = "{"
        var first = true
        for id in 0..<vocabularySize {
            guard let b = bytes(forID: id) else { continue }
            let text = isSpecial(id) ? String(decoding: b, as: UTF8.self) : ByteLevelAlphabet.encode(b)
            vocabText += (first ? "" : ",") + jsonString(text) + ":\(id)"
            first = false
        }
        vocabText += "}"
        var mergesText = "["
        for (index, (l, r, _)) in orderedMerges.enumerated() {
            mergesText += (index == 0 ? "" : ",") + jsonString(ByteLevelAlphabet.encode(bytes(forID: Int(l))!) + " " + ByteLevelAlphabet.encode(bytes(forID: Int(r))!))
        }
        mergesText += "]"
        return """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.joined(separator: ","))],\
        "normalizer":null,"pre_tokenizer":\(preTokenizer),"post_processor":null,\
        "decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},\
        "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,"end_of_word_suffix":null,\
        "fuse_unk":false,"byte_fallback":false,"ignore_merges":\(mergeRule == .ranks),"vocab":\(vocabText),"merges":\(mergesText)}}
        """
    }

    /// Reads a HF `tokenizer.json` whose model is byte-level BPE. Unsupported parts (a normalizer, a non-byte-level
    /// vocabulary, a pre-tokenizer other than ByteLevel / Split+ByteLevel, optionally after Digits) are errors naming
    /// the field. The vocabulary may lack single-byte tokens: such bytes are dropped when encoding, as HF does.
    public static func load(tokenizerJSON path: String) throws -> ByteLevelBPE {
        try load(tokenizerJSONRoot: parseJSONObject(path), path: path)
    }

    /// `load(tokenizerJSON:)` on an already parsed file.
    static func load(tokenizerJSONRoot root: [String: Any], path: String) throws -> ByteLevelBPE {
        guard let model = root["model"] as? [String: Any] else {
            throw TokenizerError.malformed(location: "\(path): model", expected: "an object")
        }
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        guard type == "BPE" else {
            throw TokenizerError.unsupported(location: "\(path): model.type", feature: "\(type.debugDescription) in ByteLevelBPE (use WordPiece.load for WordPiece)")
        }
        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            throw TokenizerError.unsupported(location: "\(path): normalizer", feature: "a normalizer in a byte-level BPE tokenizer")
        }
        // Pre-tokenizer: [Digits(individual_digits)] then ByteLevel(use_regex) or Split(Regex) + ByteLevel(use_regex: false),
        // alone or in a Sequence.
        guard let pre = root["pre_tokenizer"] as? [String: Any], let preType = pre["type"] as? String else {
            throw TokenizerError.malformed(location: "\(path): pre_tokenizer", expected: "a ByteLevel or Sequence[Digits, Split, ByteLevel] pre-tokenizer")
        }
        var steps: [(field: String, object: [String: Any])] = [("pre_tokenizer", pre)]
        if preType == "Sequence" {
            guard let list = pre["pretokenizers"] as? [[String: Any]], !list.isEmpty else {
                throw TokenizerError.malformed(location: "\(path): pre_tokenizer.pretokenizers", expected: "a non-empty array of pre-tokenizer objects")
            }
            steps = list.enumerated().map { ("pre_tokenizer.pretokenizers[\($0.offset)]", $0.element) }
        }
        var splitsDigits = false
        if steps.count > 1, steps[0].object["type"] as? String == "Digits" {
            guard steps[0].object["individual_digits"] as? Bool == true else {
                throw TokenizerError.unsupported(location: "\(path): \(steps[0].field).individual_digits", feature: "Digits without individual_digits")
            }
            splitsDigits = true
            steps.removeFirst()
        }
        var pattern = SplitPattern.gpt2
        let hasSplit = steps.count == 2 && steps[0].object["type"] as? String == "Split"
        if hasSplit {
            let split = steps[0]
            guard let regex = (split.object["pattern"] as? [String: Any])?["Regex"] as? String else {
                throw TokenizerError.malformed(location: "\(path): \(split.field).pattern", expected: "{\"Regex\": \"...\"}")
            }
            let behavior = split.object["behavior"] as? String ?? "Isolated"
            guard behavior == "Isolated", (split.object["invert"] as? Bool ?? false) == false else {
                throw TokenizerError.unsupported(location: "\(path): \(split.field).behavior", feature: "Split behavior \(behavior) (only Isolated, invert false)")
            }
            pattern = SplitPattern(regexString: regex)
            steps.removeFirst()
        }
        guard steps.count == 1, steps[0].object["type"] as? String == "ByteLevel" else {
            let types = steps.map { $0.object["type"] as? String ?? "?" }.joined(separator: ", ")
            throw TokenizerError.unsupported(location: "\(path): \(steps[0].field).type",
                                             feature: "\(types.debugDescription) for byte-level BPE (expected ByteLevel, or [Digits,] [Split,] ByteLevel in a Sequence)")
        }
        let byteLevel = steps[0]
        let addPrefixSpace = byteLevel.object["add_prefix_space"] as? Bool ?? false
        let usesRegex = byteLevel.object["use_regex"] as? Bool ?? true
        if usesRegex && hasSplit {
            throw TokenizerError.unsupported(location: "\(path): \(byteLevel.field).use_regex", feature: "ByteLevel use_regex after a Split")
        }
        if !usesRegex && !hasSplit {
            throw TokenizerError.unsupported(location: "\(path): \(byteLevel.field).use_regex", feature: "ByteLevel use_regex false without a Split (the whole text as one piece)")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(location: "\(path): model.vocab", expected: "an object {token: id}")
        }
        var specials: [(String, Int)] = []
        var specialContents = Set<String>()
        if let added = root["added_tokens"] as? [[String: Any]] {
            for (index, entry) in added.enumerated() {
                guard let content = entry["content"] as? String, let id = (entry["id"] as? NSNumber)?.intValue else {
                    throw TokenizerError.malformed(location: "\(path): added_tokens[\(index)]", expected: "\"id\" (integer) and \"content\" (string)")
                }
                specials.append((content, id)); specialContents.insert(content)
            }
        }
        var tokens: [(bytes: [UInt8], id: Int)] = []
        tokens.reserveCapacity(vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue else {
                throw TokenizerError.malformed(location: "\(path): model.vocab[\(token.debugDescription)]", expected: "an integer id")
            }
            if specialContents.contains(token) { continue }
            guard let bytes = ByteLevelAlphabet.decode(token) else {
                throw TokenizerError.unsupported(location: "\(path): model.vocab[\(token.debugDescription)]", feature: "a token outside GPT-2's byte-level alphabet (not a byte-level BPE)")
            }
            tokens.append((bytes, id))
        }
        guard let mergesAny = model["merges"] as? [Any] else {
            throw TokenizerError.malformed(location: "\(path): model.merges", expected: "an array of \"left right\" strings or [left, right] pairs")
        }
        var merges: [([UInt8], [UInt8])] = []
        merges.reserveCapacity(mergesAny.count)
        for (index, m) in mergesAny.enumerated() {
            var parts: [String] = []
            if let s = m as? String { parts = s.split(separator: " ", omittingEmptySubsequences: false).map(String.init) }
            else if let a = m as? [String] { parts = a }
            guard parts.count == 2, let l = ByteLevelAlphabet.decode(parts[0]), let r = ByteLevelAlphabet.decode(parts[1]), !l.isEmpty, !r.isEmpty else {
                throw TokenizerError.malformed(location: "\(path): model.merges[\(index)]", expected: "two byte-level tokens, got \(String(describing: m).debugDescription)")
            }
            merges.append((l, r))
        }
        let ignoreMerges = model["ignore_merges"] as? Bool ?? false
        // ignore_merges (whole-word lookup first) with merges in rank order is exactly tiktoken's rule.
        let useRanks = ignoreMerges && mergesAreInRankOrder(merges, tokens: tokens)
        return try ByteLevelBPE(tokens: tokens, merges: useRanks ? nil : merges, specialTokens: specials, pattern: pattern,
                                addPrefixSpace: addPrefixSpace, splitsDigits: splitsDigits, allowsMissingBytes: true, source: path)
    }

    private static func mergesAreInRankOrder(_ merges: [([UInt8], [UInt8])], tokens: [(bytes: [UInt8], id: Int)]) -> Bool {
        var table = ByteSpanTable(expectedCount: tokens.count)
        for (b, id) in tokens { table.insert(b, value: Int32(id)) }
        var last: Int32 = -1
        for (l, r) in merges {
            let m = table.lookup(l + r)
            if m < last { return false }
            last = m
        }
        return true
    }
}

/// Parses a JSON file whose top level must be an object.
func parseJSONObject(_ path: String) throws -> [String: Any] {
    let data = try readFile(path)
    let json: Any
    do { json = try JSONSerialization.jsonObject(with: data) } catch {
        throw TokenizerError.malformed(location: path, expected: "valid JSON (\(error.localizedDescription))")
    }
    guard let root = json as? [String: Any] else { throw TokenizerError.malformed(location: path, expected: "a JSON object at the top level") }
    return root
}
