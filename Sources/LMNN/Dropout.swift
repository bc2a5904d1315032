// Dropout module: inverted dropout in training mode, identity in eval mode (torch.nn.Dropout). The mask comes from
// the module's own seeded Generator, so a run is reproducible and the generator offset can be checkpointed.

import LMTensor

/// Zeroes each element with probability `p` and scales the rest by 1/(1 − p) while training; identity in eval.
public final class Dropout: Module, UnaryLayer {
    public let p: Double
    /// The source of dropout masks. Its `offset` is the stream position; save it to resume bit-identically.
    public let generator: Generator

    public init(_ p: Double = 0.5, generator: Generator) {
        precondition(p >= 0 && p <= 1, "Dropout: probability \(p) outside [0, 1]")
        self.p = p
        self.generator = generator
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.dropout(p, training: isTraining, generator: generator) }
}
