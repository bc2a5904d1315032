// The one hook truncated backpropagation through time needs from a model: a training loss that starts from state
// carried over from the previous window and returns the state to carry into the next one. The trainer treats the
// state as opaque named tensors: it stores them between steps and in checkpoints (so resume is bit-identical) and
// drops them when the data stream restarts; it knows nothing about what they hold (an RNN's h and c, an SSM's scan state).

import LMTensor

/// A language model whose training loss can continue from carried state (truncated BPTT, word_language_model style).
public protocol CarriedStateTraining: LanguageModel {
    /// The loss on `batch` starting from `carried` (empty = a fresh start), and the state after its last position,
    /// detached from the graph (gradients stop at the window boundary). Row b of the batch continues row b of the
    /// previous call.
    func loss(_ batch: TokenBatch, generator: Generator, carried: [String: Tensor]) -> (loss: Tensor, carried: [String: Tensor])
}
