// Multi-layer perceptron: Linear → activation (→ dropout) … → Linear. Keys are `layers.<i>.weight`/`bias` for the
// i-th Linear; activations and dropout have no parameters. nanoGPT's block MLP is MLP(C, [4C], C, gelu tanh).

import LMTensor

/// A stack of Linear layers with an activation (and optional dropout) between consecutive layers.
public final class MLP: Module, UnaryLayer {
    public let layers: [Linear]
    public let activation: Activation
    public let dropout: Dropout?

    /// `inputSize → hiddenSizes[0] → … → outputSize`, with torch's default Linear initialisation from `generator`.
    public init(inputSize: Int, hiddenSizes: [Int], outputSize: Int, activation: Activation.Kind = .gelu(.tanh),
                bias: Bool = true, dropout: Double = 0, generator: Generator) {
        let sizes = [inputSize] + hiddenSizes + [outputSize]
        layers = (0..<sizes.count - 1).map { Linear(sizes[$0], sizes[$0 + 1], bias: bias, generator: generator) }
        self.activation = Activation(activation)
        self.dropout = dropout > 0 ? Dropout(dropout, generator: generator) : nil
    }

    /// An MLP over the given Linear layers (at least one).
    public init(layers: [Linear], activation: Activation.Kind = .gelu(.tanh), dropout: Dropout? = nil) {
        precondition(!layers.isEmpty, "MLP: needs at least one Linear layer")
        for (a, b) in zip(layers, layers.dropFirst()) {
            precondition(a.outputSize == b.inputSize, "MLP: layer output \(a.outputSize) does not feed next layer input \(b.inputSize)")
        }
        self.layers = layers
        self.activation = Activation(activation)
        self.dropout = dropout
    }

    /// [..., inputSize] -> [..., outputSize].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer(h)
            if i < layers.count - 1 {
                h = activation(h)
                if let dropout { h = dropout(h) }
            }
        }
        return h
    }
}
