// BERT WordPiece: BertNormalizer (clean text, CJK padding, accent stripping, lowercase), BertPreTokenizer (whitespace
// + punctuation), greedy longest-match-first with `##` continuations, `[UNK]` for unmatchable or over-long words,
// `[CLS] A [SEP] B [SEP]` with token type ids and attention masks, longest-first truncation and padding.
// Reads vocab.txt and HF tokenizer.json (WordPiece model); writes tokenizer.json. Follows huggingface/tokenizers:
// normalizers/bert.rs, pre_tokenizers/bert.rs, models/wordpiece/mod.rs, processors/bert.rs.
import Foundation

/// The result of encoding one sequence or a pair.
public struct WordPieceEncoding: Equatable {
    public var ids: [Int]
    public var tokens: [String]
    /// 0 for the first sequence (with `[CLS]` and its `[SEP]`), 1 for the second.
    public var typeIDs: [Int]
    /// 1 for real tokens, 0 for padding.
    public var attentionMask: [Int]
}

/// A BERT WordPiece tokenizer. Immutable and thread-safe.
public final class WordPiece: @unchecked Sendable {
    /// BERT's special tokens in the order HF's BertWordPieceTokenizer trains them.
    public static let bertSpecialTokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    public let vocabulary: [String]
    private let idOf: [String: Int]
    public let lowercase: Bool
    public let stripAccents: Bool
    public let handleChineseCharacters: Bool
    public let cleanText: Bool
    public let unknownToken: String
    public let continuingSubwordPrefix: String
    public let maxInputCharactersPerWord: Int
    /// Special tokens present in the vocabulary (never split, skipped by `decode`).
    public let specialTokens: [String]

    public var vocabularySize: Int { vocabulary.count }

    public init(vocabulary: [String], lowercase: Bool = true, stripAccents: Bool? = nil, handleChineseCharacters: Bool = true,
                cleanText: Bool = true, unknownToken: String = "[UNK]", continuingSubwordPrefix: String = "##",
                maxInputCharactersPerWord: Int = 100, specialTokens: [String]? = nil, source: String = "vocabulary") throws {
        var ids: [String: Int] = [:]
        for (i, t) in vocabulary.enumerated() where ids[t] == nil { ids[t] = i }
        guard ids[unknownToken] != nil else {
            throw TokenizerError.malformed(location: source, expected: "the unknown token \(unknownToken.debugDescription) in the vocabulary")
        }
        self.vocabulary = vocabulary
        self.idOf = ids
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.handleChineseCharacters = handleChineseCharacters
        self.cleanText = cleanText
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.maxInputCharactersPerWord = maxInputCharactersPerWord
        self.specialTokens = (specialTokens ?? WordPiece.bertSpecialTokens).filter { ids[$0] != nil }
    }

    public func id(for token: String) -> Int? { idOf[token] }

    /// Ids of word-continuation pieces (tokens starting with `continuingSubwordPrefix`, `##`): the tokens whole-word
    /// masking keeps with the token before them.
    public var continuationIDs: Set<Int> {
        Set(vocabulary.indices.filter { vocabulary[$0].hasPrefix(continuingSubwordPrefix) && vocabulary[$0] != continuingSubwordPrefix })
    }

    // MARK: Files

    /// Reads BERT's vocab.txt: one token per line, id = line number - 1.
    public static func load(vocabTXT path: String, lowercase: Bool = true) throws -> WordPiece {
        let text = String(decoding: try readFile(path), as: UTF8.self)
        var tokens = text.components(separatedBy: "\n").map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
        if tokens.last == "" { tokens.removeLast() }
        if tokens.isEmpty { throw TokenizerError.malformed(location: path, expected: "one token per line") }
        if let blank = tokens.firstIndex(of: "") {
            throw TokenizerError.malformed(location: "\(path):\(blank + 1)", expected: "a token (the line is empty)")
        }
        return try WordPiece(vocabulary: tokens, lowercase: lowercase, source: path)
    }

    /// Reads a HF tokenizer.json whose model is WordPiece (normalizer settings from its BertNormalizer).
    public static func load(tokenizerJSON path: String) throws -> WordPiece {
        try load(tokenizerJSONRoot: parseJSONObject(path), path: path)
    }

    /// `load(tokenizerJSON:)` on an already parsed file.
    static func load(tokenizerJSONRoot root: [String: Any], path: String) throws -> WordPiece {
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "WordPiece" else {
            throw TokenizerError.malformed(location: "\(path): model.type", expected: "\"WordPiece\"")
        }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformed(location: "\(path): model.vocab", expected: "an object {token: id}")
        }
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < vocab.count else {
                throw TokenizerError.malformed(location: "\(path): model.vocab[\(token.debugDescription)]", expected: "an id in 0..<\(vocab.count)")
            }
            tokens[id] = token
        }
        let normalizer = root["normalizer"] as? [String: Any] ?? [:]
        if let type = normalizer["type"] as? String, type != "BertNormalizer" {
            throw TokenizerError.unsupported(location: "\(path): normalizer.type", feature: "\(type.debugDescription) with WordPiece (BertNormalizer only)")
        }
        let lowercase = normalizer["lowercase"] as? Bool ?? true
        let specials = (root["added_tokens"] as? [[String: Any]])?.compactMap { $0["content"] as? String }
        return try WordPiece(vocabulary: tokens, lowercase: lowercase, stripAccents: normalizer["strip_accents"] as? Bool,
                             handleChineseCharacters: normalizer["handle_chinese_chars"] as? Bool ?? true,
                             cleanText: normalizer["clean_text"] as? Bool ?? true,
                             unknownToken: model["unk_token"] as? String ?? "[UNK]",
                             continuingSubwordPrefix: model["continuing_subword_prefix"] as? String ?? "##",
                             maxInputCharactersPerWord: (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100,
                             specialTokens: specials, source: path)
    }

    /// Writes vocab.txt.
    public func writeVocabTXT(to path: String) throws {
        try writeFileAtomically(Data((vocabulary.joined(separator: "\n") + "\n").utf8), to: path)
    }

    /// Writes a HF tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece, BERT post-processor, WordPiece decoder).
    /// A vocabulary holding a token twice cannot be written (tokenizer.json maps token -> id); vocab.txt can hold it.
    public func writeTokenizerJSON(to path: String) throws {
        if idOf.count != vocabulary.count, let (second, token) = vocabulary.enumerated().first(where: { idOf[$0.element] != $0.offset }) {
            throw TokenizerError.unsupported(location: path, feature: "a vocabulary with \(token.debugDescription) twice (ids \(idOf[token]!) and \(second)) in tokenizer.json; write vocab.txt")
        }
        let added = specialTokens.map { "{\"id\":\(idOf[$0]!),\"content\":\(jsonString($0)),\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}" }
        let vocab = vocabulary.enumerated().map { jsonString($0.element) + ":\($0.offset)" }.joined(separator: ",")
        let cls = idOf["[CLS]"], sep = idOf["[SEP]"]
        let post = (cls != nil && sep != nil) ? "{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",\(sep!)],\"cls\":[\"[CLS]\",\(cls!)]}" : "null"
        let text = """
        {"version":"1.0","truncation":null,"padding":null,"added_tokens":[\(added.joined(separator: ","))],\
        "normalizer":{"type":"BertNormalizer","clean_text":\(cleanText),"handle_chinese_chars":\(handleChineseCharacters),"strip_accents":\(stripAccents),"lowercase":\(lowercase)},\
        "pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":\(post),\
        "decoder":{"type":"WordPiece","prefix":\(jsonString(continuingSubwordPrefix)),"cleanup":true},\
        "model":{"type":"WordPiece","unk_token":\(jsonString(unknownToken)),"continuing_subword_prefix":\(jsonString(continuingSubwordPrefix)),"max_input_chars_per_word":\(maxInputCharactersPerWord),"vocab":{\(vocab)}}}
        """
        try writeFileAtomically(Data(text.utf8), to: path)
    }

    // MARK: Normalization and pre-tokenization

    static func isChinese(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace }

    /// ASCII punctuation (including symbols such as `$`, `+`, `^`) or any Unicode P* category, as BERT.
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// BertNormalizer: clean text, pad CJK characters with spaces, strip accents (NFD, drop Mn), lowercase.
    public func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars {
            if cleanText {
                if c.value == 0 || c.value == 0xFFFD || WordPiece.isControl(c) { continue }
                if WordPiece.isWhitespace(c) { out.append(" "); continue }
            }
            if handleChineseCharacters && WordPiece.isChinese(c.value) { out.append(" "); out.append(c); out.append(" "); continue }
            out.append(c)
        }
        var s = String(out)
        if stripAccents {
            s = String(String.UnicodeScalarView(s.decomposedStringWithCanonicalMapping.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }))
        }
        if lowercase { s = s.lowercased() }
        return s
    }

    /// BertPreTokenizer: split on whitespace, every punctuation character is a word of its own.
    public func preTokenize(_ normalized: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for c in normalized.unicodeScalars {
            if WordPiece.isWhitespace(c) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else if WordPiece.isPunctuation(c) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
                words.append(String(c))
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }

    /// Greedy longest-match-first pieces of one word; the whole word is `[UNK]` if any part has no match.
    public func wordPieces(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        let unk = idOf[unknownToken]!
        if scalars.count > maxInputCharactersPerWord { return [unk] }
        var pieces: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int? = nil
            while start < end {
                var sub = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { sub = continuingSubwordPrefix + sub }
                if let id = idOf[sub] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unk] }
            pieces.append(id)
            start = end
        }
        return pieces
    }

    /// Ids of one text without `[CLS]`/`[SEP]`; special tokens written in the text (e.g. `[MASK]`) stay whole unless
    /// `splittingSpecialTokens` is false (then they are ordinary text: `[`, `mask`, `]`).
    public func tokenize(_ text: String, splittingSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        for segment in splittingSpecialTokens ? splitSpecial(text) : [(text, nil)] {
            if let special = segment.special { ids.append(idOf[special]!); continue }
            for word in preTokenize(normalize(segment.text)) { ids.append(contentsOf: wordPieces(word)) }
        }
        return ids
    }

    private func splitSpecial(_ text: String) -> [(text: String, special: String?)] {
        guard !specialTokens.isEmpty, specialTokens.contains(where: { text.contains($0) }) else { return [(text, nil)] }
        var out: [(String, String?)] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            var best: (Range<Substring.Index>, String)? = nil
            for s in specialTokens {
                if let r = rest.range(of: s), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, s) }
            }
            guard let (r, s) = best else { out.append((String(rest), nil)); break }
            if r.lowerBound > rest.startIndex { out.append((String(rest[..<r.lowerBound]), nil)) }
            out.append(("", s))
            rest = rest[r.upperBound...]
        }
        return out
    }

    /// Padding choices.
    public enum Padding: Equatable { case none, toMaxLength }

    /// BERT encoding: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`; with `maxLength`, the longer sequence loses tokens
    /// from its end first (HF `longest_first`), and `padding: .toMaxLength` pads with `[PAD]` (mask 0, type 0).
    public func encode(_ text: String, pair: String? = nil, addSpecialTokens: Bool = true, maxLength: Int? = nil,
                       padding: Padding = .none) throws -> WordPieceEncoding {
        var a = tokenize(text)
        var b = pair.map { tokenize($0) }
        if let maxLength {
            let specials = addSpecialTokens ? (b == nil ? 2 : 3) : 0
            guard maxLength >= specials else {
                throw TokenizerError.invalidArgument(name: "maxLength", expected: "at least \(specials) (room for the special tokens), got \(maxLength)")
            }
            let budget = maxLength - specials
            if var second = b, a.count + second.count > budget {
                // HF longest_first: the shorter sequence (the first on a tie) keeps min(its length, ⌊budget/2⌋),
                // the other gets the rest; both lose tokens from their ends.
                let firstIsShorter = a.count <= second.count
                let shorter = min(a.count, second.count)
                let keepShorter = min(shorter, budget / 2), keepLonger = budget - keepShorter
                if firstIsShorter { a.removeLast(a.count - keepShorter); second.removeLast(second.count - keepLonger) }
                else { second.removeLast(second.count - keepShorter); a.removeLast(a.count - keepLonger) }
                b = second
            } else if b == nil, a.count > budget {
                a.removeLast(a.count - budget)
            }
        }
        var ids: [Int] = [], types: [Int] = []
        if addSpecialTokens {
            guard let cls = idOf["[CLS]"], let sep = idOf["[SEP]"] else {
                throw TokenizerError.invalidArgument(name: "addSpecialTokens", expected: "[CLS] and [SEP] in the vocabulary")
            }
            ids = [cls] + a + [sep]; types = [Int](repeating: 0, count: ids.count)
            if let b { ids += b + [sep]; types += [Int](repeating: 1, count: b.count + 1) }
        } else {
            ids = a + (b ?? []); types = [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b?.count ?? 0)
        }
        var mask = [Int](repeating: 1, count: ids.count)
        if padding == .toMaxLength, let maxLength, ids.count < maxLength {
            guard let pad = idOf["[PAD]"] else { throw TokenizerError.invalidArgument(name: "padding", expected: "[PAD] in the vocabulary") }
            let n = maxLength - ids.count
            ids += [Int](repeating: pad, count: n); types += [Int](repeating: 0, count: n); mask += [Int](repeating: 0, count: n)
        }
        return WordPieceEncoding(ids: ids, tokens: ids.map { vocabulary[$0] }, typeIDs: types, attentionMask: mask)
    }

    /// HF's WordPiece decoder: special tokens skipped; each later token gets a leading space unless it starts with
    /// `##` (then the prefix is dropped); BERT's cleanup (" ." -> ".", " 's" -> "'s", …) runs on each token
    /// separately, as HF's `decode_chain` does, so only single-token patterns ever apply.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) throws -> String {
        var out = ""
        var first = true
        for id in ids {
            guard let piece = try decodedPiece(id, atStart: first, skipSpecialTokens: skipSpecialTokens) else { continue }
            first = false
            out += piece
        }
        return out
    }

    /// The text one token adds in `decode` (nil for a skipped special token); `atStart`: no text was produced yet.
    func decodedPiece(_ id: Int, atStart: Bool, skipSpecialTokens: Bool) throws -> String? {
        guard id >= 0, id < vocabulary.count else { throw TokenizerError.unknownTokenID(id) }
        var token = vocabulary[id]
        if skipSpecialTokens && specialTokens.contains(token) { return nil }
        if !atStart {
            // Compare scalars, not Characters: "##" + a combining mark is one grapheme, so hasPrefix would miss it.
            if token.unicodeScalars.starts(with: continuingSubwordPrefix.unicodeScalars) {
                token = String(token.unicodeScalars.dropFirst(continuingSubwordPrefix.unicodeScalars.count))
            } else { token = " " + token }
        }
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                           (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            token = token.replacingOccurrences(of: from, with: to)
        }
        return token
    }
}
