// LayerNorm and RMSNorm modules over the last axis (torch.nn.LayerNorm, torch.nn.RMSNorm), wrapping the fused
// LMTensor ops. Only a single normalized trailing dimension is supported (torch also allows several).

import LMTensor

/// Layer normalization over the last axis: (x − mean) / √(var + eps) · weight + bias, biased variance.
/// weight starts at 1, bias at 0 (torch defaults).
public final class LayerNorm: Module, UnaryLayer {
    /// [size], or nil without `elementwiseAffine`.
    public let weight: Tensor?
    /// [size], or nil with `bias: false` or without `elementwiseAffine`.
    public let bias: Tensor?
    public let size: Int
    public let eps: Double

    public init(_ size: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        precondition(size > 0, "LayerNorm: size must be positive, got \(size)")
        self.size = size
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones([size]).requiringGrad() : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros([size]).requiringGrad() : nil
    }

    /// [..., size] -> [..., size].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == size, "LayerNorm: input shape \(x.shape) does not end in \(size)")
        return x.layerNorm(weight: weight, bias: bias, eps: eps)
    }
}

/// Root-mean-square normalization over the last axis: x / √(mean(x²) + eps) · weight; weight starts at 1.
/// `eps: nil` uses the machine epsilon of the input dtype, as torch.nn.RMSNorm does with `eps=None`.
public final class RMSNorm: Module, UnaryLayer {
    /// [size], or nil without `elementwiseAffine`.
    public let weight: Tensor?
    public let size: Int
    public let eps: Double?

    public init(_ size: Int, eps: Double? = nil, elementwiseAffine: Bool = true) {
        precondition(size > 0, "RMSNorm: size must be positive, got \(size)")
        self.size = size
        self.eps = eps
        weight = elementwiseAffine ? Tensor.ones([size]).requiringGrad() : nil
    }

    /// [..., size] -> [..., size].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 1 && x.shape[x.rank - 1] == size, "RMSNorm: input shape \(x.shape) does not end in \(size)")
        let e = eps ?? (x.dtype == .float32 ? Double(Float.ulpOfOne) : Double.ulpOfOne)
        return x.rmsNorm(weight: weight, eps: e)
    }
}
