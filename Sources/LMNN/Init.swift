// Parameter initialisers, filling an existing tensor in place from a seeded `Generator` (torch.nn.init formulas:
// calculate_gain, _calculate_fan_in_and_fan_out, xavier_*, kaiming_*). The random streams are LMKit's Philox, so
// values match torch's distributions and bounds, not torch's exact numbers.
import Foundation
import LMTensor

/// The non-linearity a layer is followed by, for `Init.gain` (torch.nn.init.calculate_gain).
public enum Nonlinearity: Sendable, Equatable {
    case linear, sigmoid, tanh, relu, selu
    /// Leaky ReLU with the given negative slope (torch's default is 0.01).
    case leakyReLU(negativeSlope: Double)
}

/// Which fan `kaiming*` preserves: `fanIn` keeps the forward variance, `fanOut` the backward variance.
public enum FanMode: String, Sendable { case fanIn = "fan_in", fanOut = "fan_out" }

/// In-place initialisers. Each fills a contiguous tensor (float32 or float64) and returns it.
public enum Init {
    /// torch.nn.init.calculate_gain: 1 (linear, sigmoid), 5/3 (tanh), √2 (ReLU), √(2/(1+slope²)) (leaky ReLU), 3/4 (SELU).
    public static func gain(_ nonlinearity: Nonlinearity) -> Double {
        switch nonlinearity {
        case .linear, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .selu: return 0.75
        case .leakyReLU(let slope): return (2.0 / (1 + slope * slope)).squareRoot()
        }
    }

    /// (fan_in, fan_out) as torch computes them: a weight [out, in, k…] has fan_in = in·∏k and fan_out = out·∏k.
    /// Tensors with fewer than 2 dimensions have no fan; asking for one stops with the shape.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        precondition(shape.count >= 2, "Init: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (shape \(shape))")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Writes `values` (row-major) into `tensor`'s storage.
    static func fill(_ tensor: Tensor, _ values: [Double]) {
        precondition(tensor.isContiguous, "Init: tensor of shape \(tensor.shape) is a non-contiguous view; initialise its base tensor")
        precondition(values.count == tensor.count)
        switch tensor.dtype {
        case .float32:
            let p = tensor.pointer(Float.self)
            for i in values.indices { p[i] = Float(values[i]) }
        case .float64:
            let p = tensor.pointer(Double.self)
            for i in values.indices { p[i] = values[i] }
        default: unsupportedDType()
        }
    }

    /// Fills with `value`.
    @discardableResult public static func constant(_ tensor: Tensor, _ value: Double) -> Tensor {
        fill(tensor, [Double](repeating: value, count: tensor.count)); return tensor
    }

    /// Fills with 0.
    @discardableResult public static func zeros(_ tensor: Tensor) -> Tensor { constant(tensor, 0) }

    /// Fills with 1.
    @discardableResult public static func ones(_ tensor: Tensor) -> Tensor { constant(tensor, 1) }

    /// Fills with U(low, high).
    @discardableResult
    public static func uniform(_ tensor: Tensor, low: Double = 0, high: Double = 1, generator: Generator) -> Tensor {
        fill(tensor, generator.uniform(tensor.count).map { low + (high - low) * $0 }); return tensor
    }

    /// Fills with N(mean, std²). GPT-2 / nanoGPT use `normal(w, std: 0.02)`.
    @discardableResult
    public static func normal(_ tensor: Tensor, mean: Double = 0, std: Double = 1, generator: Generator) -> Tensor {
        fill(tensor, generator.normal(tensor.count).map { mean + std * $0 }); return tensor
    }

    /// Glorot uniform: U(-a, a) with a = gain·√(6 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierUniform(_ tensor: Tensor, gain: Double = 1, generator: Generator) -> Tensor {
        let (fanIn, fanOut) = fans(tensor.shape)
        let bound = 3.0.squareRoot() * gain * (2.0 / Double(fanIn + fanOut)).squareRoot()
        return uniform(tensor, low: -bound, high: bound, generator: generator)
    }

    /// Glorot normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierNormal(_ tensor: Tensor, gain: Double = 1, generator: Generator) -> Tensor {
        let (fanIn, fanOut) = fans(tensor.shape)
        return normal(tensor, std: gain * (2.0 / Double(fanIn + fanOut)).squareRoot(), generator: generator)
    }

    /// The standard deviation kaiming init targets: gain(nonlinearity) / √fan.
    public static func kaimingStd(_ shape: [Int], mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fanIn, fanOut) = fans(shape)
        let fan = mode == .fanIn ? fanIn : fanOut
        precondition(fan > 0, "Init: kaiming init of a tensor with zero fan (shape \(shape))")
        return gain(nonlinearity) / Double(fan).squareRoot()
    }

    /// He uniform: U(-b, b) with b = √3 · gain / √fan. torch's defaults are `a = 0` with leaky ReLU (gain √2);
    /// `nn.Linear` uses `a = √5`, which gives b = 1/√fan_in.
    @discardableResult
    public static func kaimingUniform(_ tensor: Tensor, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyReLU(negativeSlope: 0), generator: Generator) -> Tensor {
        let bound = 3.0.squareRoot() * kaimingStd(tensor.shape, mode: mode, nonlinearity: nonlinearity)
        return uniform(tensor, low: -bound, high: bound, generator: generator)
    }

    /// He normal: N(0, std²) with std = gain / √fan.
    @discardableResult
    public static func kaimingNormal(_ tensor: Tensor, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyReLU(negativeSlope: 0), generator: Generator) -> Tensor {
        normal(tensor, std: kaimingStd(tensor.shape, mode: mode, nonlinearity: nonlinearity), generator: generator)
    }
}
