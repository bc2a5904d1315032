// The one interface every LMKit tokenizer offers to training, evaluation and sampling: text -> ids, ids -> text,
// token-at-a-time decoding, special tokens and the vocabulary size. Format-specific features (tiktoken's
// allowed/disallowed specials, BERT pairs and padding, file writers) stay on the concrete types. `encode` never
// produces special ids, so a corpus that spells "<|endoftext|>" stays plain text (tiktoken's `encode_ordinary`).
// Conformers: CharTokenizer, ByteLevelBPE, WordPiece; `loadTokenizer(_:)` picks one from a file or directory.
// Shape follows huggingface/swift-transformers: Sources/Tokenizers/Tokenizer.swift (one protocol, many models).
import Foundation

/// A text <-> ids mapping.
public protocol Tokenizer: Sendable {
    /// Number of ids: one past the largest id, ordinary or special (the model's smallest `vocab_size`).
    var vocabularySize: Int { get }

    /// Special tokens by their text, e.g. `["<|endoftext|>": 50256]`; empty when the tokenizer has none.
    var specialTokenIDs: [String: Int] { get }

    /// The special token that ends a document, when the tokenizer has one: the first of `<|endoftext|>`,
    /// `<|end_of_text|>`, `</s>`, `<eos>` among `specialTokenIDs` (BERT's `[SEP]` is a separator, not an end).
    var endOfTextID: Int? { get }

    /// The ids of `text` alone: no special tokens are added (no BOS, `[CLS]` or `[SEP]`) and special-token text in
    /// `text` is encoded as ordinary text. Throws when the text cannot be encoded (a character outside a character
    /// vocabulary). Byte-level BPE drops bytes its vocabulary has no token for, as HF `tokenizers` does.
    func encode(_ text: String) throws -> [Int]

    /// The text of `ids`; throws `TokenizerError.unknownTokenID` for an id outside the vocabulary. Byte-level BPE
    /// writes special tokens as their text and invalid UTF-8 as U+FFFD; WordPiece skips special tokens (HF).
    func decode(_ ids: [Int]) throws -> String

    /// A decoder that takes one id at a time and returns the text completed so far (never half a character); the
    /// concatenation of its outputs and `finish()` equals `decode` of all the ids.
    func streamingDecoder() -> StreamingDecoder
}

/// Special tokens that end a document, most common first (`Tokenizer.endOfTextID`).
let endOfTextTokenNames = ["<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"]

extension Tokenizer {
    public var endOfTextID: Int? {
        let specials = specialTokenIDs
        return endOfTextTokenNames.lazy.compactMap { specials[$0] }.first
    }
}

// MARK: - Conformances

extension CharTokenizer: Tokenizer {
    /// A character vocabulary has no special tokens.
    public var specialTokenIDs: [String: Int] { [:] }

    public func streamingDecoder() -> StreamingDecoder { StreamingDecoder(self) }
}

extension ByteLevelBPE: Tokenizer {
    public var specialTokenIDs: [String: Int] {
        Dictionary(specialTokens.map { ($0.token, $0.id) }, uniquingKeysWith: { first, _ in first })
    }

    /// `encodeOrdinary(text)`: special-token text is ordinary text; bytes without a token are dropped.
    public func encode(_ text: String) throws -> [Int] { encodeOrdinary(text) }

    public func streamingDecoder() -> StreamingDecoder { StreamingDecoder(self) }
}

extension WordPiece: Tokenizer {
    /// The special tokens present in the vocabulary (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` for BERT).
    public var specialTokenIDs: [String: Int] {
        Dictionary(specialTokens.compactMap { token in id(for: token).map { (token, $0) } }, uniquingKeysWith: { first, _ in first })
    }

    /// `tokenize(text, splittingSpecialTokens: false)`: no `[CLS]`/`[SEP]`, and `[MASK]` in the text is ordinary
    /// text. `encode(_:pair:...)` is BERT's encoding with specials, pairs, truncation and padding.
    public func encode(_ text: String) throws -> [Int] { tokenize(text, splittingSpecialTokens: false) }

    /// `decode(ids, skipSpecialTokens: true)`, HF's default.
    public func decode(_ ids: [Int]) throws -> String { try decode(ids, skipSpecialTokens: true) }

    public func streamingDecoder() -> StreamingDecoder { StreamingDecoder(self) }
}
