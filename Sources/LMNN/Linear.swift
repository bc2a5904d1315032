// Linear layer y = x Wᵀ + b with torch's layout (weight [out, in]) and torch's default initialisation.
// One fused op (LMTensor `linear`): W is read in place by BLAS, the bias is added inside the product, and the
// parameter gradients are accumulated straight into `.grad`.

import LMTensor

/// A fully connected layer: `y = x · weightᵀ + bias` over the last axis, for inputs of shape [..., inputSize].
///
/// Default initialisation is torch's `nn.Linear.reset_parameters`: `kaiming_uniform_(weight, a=√5)`, which is
/// U(-1/√in, 1/√in), and bias U(-1/√in, 1/√in). GPT-style models re-initialise with `Init.normal(std: 0.02)`.
public final class Linear: Module, UnaryLayer {
    /// [outputSize, inputSize].
    public let weight: Tensor
    /// [outputSize], or nil for `bias: false`.
    public let bias: Tensor?

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    /// A layer with torch's default initialisation drawn from `generator`.
    public init(_ inputSize: Int, _ outputSize: Int, bias: Bool = true, generator: Generator) {
        precondition(inputSize > 0 && outputSize > 0, "Linear: sizes must be positive, got in \(inputSize), out \(outputSize)")
        weight = Tensor(zeros: [outputSize, inputSize], requiresGrad: true)
        Init.kaimingUniform(weight, nonlinearity: .leakyReLU(negativeSlope: 5.0.squareRoot()), generator: generator)
        if bias {
            let b = Tensor(zeros: [outputSize], requiresGrad: true)
            let bound = 1 / Double(inputSize).squareRoot()
            self.bias = Init.uniform(b, low: -bound, high: bound, generator: generator)
        } else {
            self.bias = nil
        }
    }

    /// A layer holding the given tensors (weight [out, in], bias [out]); they become trainable parameters.
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        if let bias { precondition(bias.shape == [weight.shape[0]], "Linear: bias shape \(bias.shape) for weight \(weight.shape); expected [\(weight.shape[0])]") }
        self.weight = weight.requiringGrad()
        self.bias = bias?.requiringGrad()
    }

    /// [..., inputSize] -> [..., outputSize].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == inputSize,
                     "Linear: input shape \(x.shape) does not end in \(inputSize) (weight \(weight.shape))")
        let rows = x.rank == 2 ? x : x.reshape([-1, inputSize])
        let y = rows.linear(weight, bias: bias)
        return x.rank == 2 ? y : y.reshape(Array(x.shape.dropLast()) + [outputSize])
    }
}
