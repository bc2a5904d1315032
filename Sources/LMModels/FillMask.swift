// Fill-mask with a masked-LM BERT, as transformers' fill-mask pipeline: the text with [CLS]/[SEP], one forward pass,
// then for each [MASK] position the softmax over the vocabulary and its top-k ids with their probabilities and
// `decode([id])` strings (special tokens kept, as the pipeline does). Not implemented: `targets`, batching several texts.
import Foundation
import LMTensor
import LMTokenizers

/// One candidate for a [MASK] position.
public struct FillMaskPrediction: Equatable, Sendable {
    public var id: Int
    /// `decode([id])` with special tokens kept (the pipeline's `token_str`).
    public var token: String
    public var probability: Double
}

extension BERT {
    /// The `topK` most probable tokens for each `[MASK]` of `text` (in text order), best first (ties by id).
    /// Errors when the model has no masked-LM head, or the text has no `[MASK]`.
    public func fillMask(_ text: String, tokenizer: WordPiece, topK: Int = 5) throws -> [[FillMaskPrediction]] {
        guard config.head == .maskedLM else {
            throw TokenizerError.invalidArgument(name: "model", expected: "a masked-LM BERT (BertForMaskedLM), got head \(config.head.rawValue)")
        }
        guard let mask = tokenizer.id(for: "[MASK]") else {
            throw TokenizerError.invalidArgument(name: "tokenizer", expected: "a vocabulary with [MASK]")
        }
        let ids = try tokenizer.encode(text).ids
        let positions = ids.indices.filter { ids[$0] == mask }
        guard !positions.isEmpty else { throw TokenizerError.invalidArgument(name: "text", expected: "at least one [MASK], got \(text.debugDescription)") }
        let V = config.vocabSize
        let logits = noGrad { self.logits(ids, batch: 1, length: ids.count) }.toArray()   // [1, T, V]
        return try positions.map { p in
            let row = logits[(p * V)..<((p + 1) * V)].map(Double.init)
            let top = row.max()!
            let exps = row.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            let best = exps.indices.sorted { exps[$0] > exps[$1] || (exps[$0] == exps[$1] && $0 < $1) }.prefix(topK)
            return try best.map { FillMaskPrediction(id: $0, token: try tokenizer.decode([$0], skipSpecialTokens: false), probability: exps[$0] / total) }
        }
    }
}
