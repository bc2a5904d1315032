// Activation functions as modules (torch.nn.GELU/ReLU/SiLU/Tanh/Sigmoid), so they can sit in Sequential and MLP.
// One class with a kind rather than one class per function: LMTensor already exports structs named GELU, ReLU,
// SiLU, Tanh and Sigmoid (its differentiable unary functions), and same-named classes here would be ambiguous.

import LMTensor

/// An elementwise activation layer without parameters.
public final class Activation: Module, UnaryLayer {
    /// The function applied.
    public enum Kind: Sendable, Equatable {
        /// GELU, `.tanh` (GPT-2, torch approximate="tanh") or `.erf` (torch's default exact form).
        case gelu(GELU.Approximation)
        case relu, silu, tanh, sigmoid
    }

    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public static func gelu(_ approximation: GELU.Approximation = .erf) -> Activation { Activation(.gelu(approximation)) }
    public static var relu: Activation { Activation(.relu) }
    public static var silu: Activation { Activation(.silu) }
    public static var tanh: Activation { Activation(.tanh) }
    public static var sigmoid: Activation { Activation(.sigmoid) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .gelu(let approximation): return x.gelu(approximation)
        case .relu: return x.relu()
        case .silu: return x.silu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        }
    }
}
