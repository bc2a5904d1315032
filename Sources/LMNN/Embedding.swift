// Embedding table lookup (torch.nn.Embedding): weight [V, D], N(0, 1) init, scatter-add gradient (LMTensor).
// Not implemented: padding_idx, max_norm and sparse gradients.

import LMTensor

/// A lookup table mapping token ids in [0, vocabularySize) to rows of `weight` ([vocabularySize, embeddingSize]).
public final class Embedding: Module {
    /// [vocabularySize, embeddingSize].
    public let weight: Tensor

    public var vocabularySize: Int { weight.shape[0] }
    public var embeddingSize: Int { weight.shape[1] }

    /// A table initialised N(0, 1) as torch does (GPT-2 uses `Init.normal(std: 0.02)` instead).
    public init(_ vocabularySize: Int, _ embeddingSize: Int, generator: Generator) {
        precondition(vocabularySize > 0 && embeddingSize > 0, "Embedding: sizes must be positive, got \(vocabularySize) x \(embeddingSize)")
        weight = Init.normal(Tensor(zeros: [vocabularySize, embeddingSize], requiresGrad: true), generator: generator)
    }

    /// A layer holding the given [V, D] table as a trainable parameter.
    public init(weight: Tensor) {
        precondition(weight.rank == 2, "Embedding: weight must be [vocabularySize, embeddingSize], got \(weight.shape)")
        self.weight = weight.requiringGrad()
    }

    /// Rows for `ids` (row-major with `shape`): output shape `shape + [embeddingSize]`. Ids outside
    /// [0, vocabularySize) stop with the offending id.
    public func callAsFunction(_ ids: [Int], shape: [Int]) -> Tensor {
        for id in ids where id < 0 || id >= vocabularySize {
            preconditionFailure("Embedding: token id \(id) out of range [0, \(vocabularySize))")
        }
        return weight.embedding(ids, shape: shape)
    }

    /// Rows for a flat list of ids: [ids.count, embeddingSize].
    public func callAsFunction(_ ids: [Int]) -> Tensor { self(ids, shape: [ids.count]) }
}
