// Token-by-token decoding that never splits a UTF-8 character: bytes of an incomplete trailing sequence are held
// back until the tokens that complete it arrive, so streamed output has no U+FFFD for a character split across
// tokens (exo-explore/exo#1691, IAPark/tiktoken_ruby#123). Bytes that can never become valid UTF-8 are emitted
// as U+FFFD at once, as `decode` would. Works for every tokenizer: byte-level BPE gives raw bytes, a character
// vocabulary and WordPiece give whole characters (WordPiece keeps its spacing state, so the concatenated output equals
// `decode`). Not thread-safe: one decoder per stream.

/// Incremental decoder: `push` ids, get the text that is complete so far; `finish` flushes the rest.
public struct StreamingDecoder {
    private enum Source {
        case byteLevel(ByteLevelBPE)
        case characters(CharTokenizer)
        /// `atStart`: no token has produced text yet (the first WordPiece token gets no leading space).
        case wordPiece(WordPiece, atStart: Bool)
        case custom((Int, inout [UInt8]) throws -> Void)
    }

    private var source: Source
    private var pending: [UInt8] = []

    /// A decoder for a byte-level BPE: special tokens contribute their text, as in `ByteLevelBPE.decode`.
    public init(_ tokenizer: ByteLevelBPE) { source = .byteLevel(tokenizer) }

    /// A decoder for a character vocabulary.
    public init(_ tokenizer: CharTokenizer) { source = .characters(tokenizer) }

    /// A decoder for WordPiece with `WordPiece.decode`'s rules (specials skipped, `##` joins, a space otherwise).
    public init(_ tokenizer: WordPiece) { source = .wordPiece(tokenizer, atStart: true) }

    /// A decoder for any other tokenizer: `appendBytes(id, &bytes)` appends the UTF-8 bytes that `id` adds to the text.
    public init(appendingBytes appendBytes: @escaping (Int, inout [UInt8]) throws -> Void) { source = .custom(appendBytes) }

    /// Adds one token and returns the newly complete text (possibly empty).
    public mutating func push(_ id: Int) throws -> String {
        switch source {
        case let .byteLevel(tokenizer): try tokenizer.appendBytes(of: id, to: &pending)
        case let .characters(tokenizer): pending.append(contentsOf: try tokenizer.decode([id]).utf8)
        case let .wordPiece(tokenizer, atStart):
            if let piece = try tokenizer.decodedPiece(id, atStart: atStart, skipSpecialTokens: true) {
                pending.append(contentsOf: piece.utf8)
                source = .wordPiece(tokenizer, atStart: false)
            }
        case let .custom(appendBytes): try appendBytes(id, &pending)
        }
        let keep = StreamingDecoder.incompleteSuffixLength(pending)
        let ready = pending.count - keep
        if ready == 0 { return "" }
        let text = String(decoding: pending[0..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Returns whatever is held back (an unfinished sequence becomes U+FFFD) and resets the decoder.
    public mutating func finish() -> String {
        defer {
            pending.removeAll()
            if case let .wordPiece(tokenizer, _) = source { source = .wordPiece(tokenizer, atStart: true) }
        }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes currently held back (0...3).
    public var heldBackByteCount: Int { pending.count }

    /// Length of the suffix of `bytes` that is a proper prefix of a valid UTF-8 sequence (0 if none).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var k = 1
        while k <= min(3, n) {
            let b = bytes[n - k]
            if b & 0xC0 != 0x80 {  // a lead byte (or ASCII)
                let need: Int
                switch b {
                case 0xC2...0xDF: need = 2
                case 0xE0...0xEF: need = 3
                case 0xF0...0xF4: need = 4
                default: return 0
                }
                guard k < need else { return 0 }
                // The second byte's range depends on the lead (no overlongs, surrogates or > U+10FFFF).
                if k >= 2 {
                    let second = bytes[n - k + 1]
                    let lo: UInt8 = b == 0xE0 ? 0xA0 : (b == 0xF0 ? 0x90 : 0x80)
                    let hi: UInt8 = b == 0xED ? 0x9F : (b == 0xF4 ? 0x8F : 0xBF)
                    if second < lo || second > hi { return 0 }
                }
                return k
            }
            k += 1
        }
        return 0
    }
}
