// Embedding table lookup (torch.nn.Embedding): weight [V, D], N(0, 1) init, scatter-add gradient (LMTensor).
// padding_idx as torch: that row starts at zero and receives no gradient. Not implemented: max_norm, sparse gradients.

import LMTensor

/// A lookup table mapping token ids in [0, vocabularySize) to rows of `weight` ([vocabularySize, embeddingSize]).
public final class Embedding: Module {
    /// [vocabularySize, embeddingSize].
    public let weight: Tensor

    /// The id whose row is excluded from gradients (torch `padding_idx`, normalised to be non-negative), if any.
    public let paddingIndex: Int?

    public var vocabularySize: Int { weight.shape[0] }
    public var embeddingSize: Int { weight.shape[1] }

    /// A table initialised N(0, 1) as torch does (GPT-2 uses `Init.normal(std: 0.02)` instead). With `paddingIndex`
    /// (negative counts from the end), that row starts at zero and never receives a gradient.
    public init(_ vocabularySize: Int, _ embeddingSize: Int, paddingIndex: Int? = nil, generator: Generator) {
        precondition(vocabularySize > 0 && embeddingSize > 0, "Embedding: sizes must be positive, got \(vocabularySize) x \(embeddingSize)")
        weight = Init.normal(Tensor(zeros: [vocabularySize, embeddingSize], requiresGrad: true), generator: generator)
        self.paddingIndex = Embedding.normalizedPadding(paddingIndex, vocabularySize)
        if let row = self.paddingIndex {
            weight.pointer(Float.self).advanced(by: row * embeddingSize).update(repeating: 0, count: embeddingSize)
        }
    }

    /// A layer holding the given [V, D] table as a trainable parameter (its padding row is used as given, as torch
    /// does for `from_pretrained`).
    public init(weight: Tensor, paddingIndex: Int? = nil) {
        precondition(weight.rank == 2, "Embedding: weight must be [vocabularySize, embeddingSize], got \(weight.shape)")
        self.weight = weight.requiringGrad()
        self.paddingIndex = Embedding.normalizedPadding(paddingIndex, weight.shape[0])
    }

    static func normalizedPadding(_ index: Int?, _ vocabularySize: Int) -> Int? {
        guard let index else { return nil }
        precondition(index >= -vocabularySize && index < vocabularySize,
                     "Embedding: padding index \(index) out of range [-\(vocabularySize), \(vocabularySize))")
        return index < 0 ? index + vocabularySize : index
    }

    /// Rows for `ids` (row-major with `shape`): output shape `shape + [embeddingSize]`. Ids outside
    /// [0, vocabularySize) stop with the offending id.
    public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
        for id in ids where id < 0 || id >= vocabularySize {
            preconditionFailure("Embedding: token id \(id) out of range [0, \(vocabularySize))")
        }
        let rows = weight.embedding(ids, shape: shape)
        guard let pad = paddingIndex, ids.contains(pad) else { return rows }
        // Padding positions take the same values from a detached lookup, so no gradient reaches the padding row.
        let isPadding = Tensor(ids.map { $0 == pad ? 1 : 0 }, shape: shape + [1])
        return Tensor.where(isPadding, noGrad { rows.detach() }, rows)
    }

    /// Rows for a flat list of ids: [ids.count, embeddingSize].
    public func callAsFunction(_ ids: [Int]) -> Tensor { self(ids, shape: [ids.count]) }
}
