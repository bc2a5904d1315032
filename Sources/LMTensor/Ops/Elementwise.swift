// Elementwise ops. Unary ops are small values conforming to `UnaryFunction`: the forward f(x) and the derivative
// f'(x) (given x and y = f(x)) sit side by side, and one generic driver runs them for float32 and float64.
// Binary ops broadcast with NumPy rules; their gradients are summed back to each input's shape.

/// A differentiable scalar function: `value` is f(x); `derivative` is f'(x) given x and y = f(x).
public protocol UnaryFunction {
    var name: String { get }
    func value<T: KernelScalar>(_ x: T) -> T
    func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T
}

extension Tensor {
    /// Applies `f` elementwise, recording its derivative for backward.
    public func apply<F: UnaryFunction>(_ f: F) -> Tensor {
        let x = contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            // f.value called in the loop itself, as in backward: through a closure argument (the former `Activations.map`), the loop
            // that runs on a worker thread (threads > 1) made an opaque call per element (ELU+1 and exp ran ~10×
            // slower on 2 threads than on 1, `perf`, BENCHMARKS.md "Linear attention and FLASH").
            let xp = x.pointer(T.self), yp = y.pointer(T.self), n = count, block = 4096
            Parallel.forRows((n + block - 1) / block, workPerRow: block) { range in
                for i in range.lowerBound * block..<min(n, range.upperBound * block) { yp[i] = f.value(xp[i]) }
            }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let saved = y.detach()  // not `y`: a closure holding its own output is a cycle that only backward() breaks
        return Tensor.record(f.name, inputs: [x], output: y) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                let xp = x.pointer(T.self), yp = saved.pointer(T.self), gp = g.pointer(T.self), dp = dx.pointer(T.self)
                let n = x.count, block = 4096
                Parallel.forRows((n + block - 1) / block, workPerRow: block) { range in
                    for b in range {
                        for i in b * block..<min(n, b * block + block) { dp[i] = gp[i] * f.derivative(xp[i], yp[i]) }
                    }
                }
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx]
        }
    }
}

// MARK: - Unary functions

public struct Negate: UnaryFunction {
    public var name: String { "neg" }
    public func value<T: KernelScalar>(_ x: T) -> T { -x }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { -1 }
}
public struct Exp: UnaryFunction {
    public var name: String { "exp" }
    public func value<T: KernelScalar>(_ x: T) -> T { T.kernelExp(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { y }
}
public struct Log: UnaryFunction {
    public var name: String { "log" }
    public func value<T: KernelScalar>(_ x: T) -> T { T.log(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { 1 / x }
}
public struct Sqrt: UnaryFunction {
    public var name: String { "sqrt" }
    public func value<T: KernelScalar>(_ x: T) -> T { x.squareRoot() }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { 0.5 / y }
}
public struct Rsqrt: UnaryFunction {
    public var name: String { "rsqrt" }
    public func value<T: KernelScalar>(_ x: T) -> T { 1 / x.squareRoot() }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { -0.5 * y * y * y }
}
/// |x|; derivative sign(x), 0 at 0 (as torch).
public struct Abs: UnaryFunction {
    public var name: String { "abs" }
    public func value<T: KernelScalar>(_ x: T) -> T { x.magnitude }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
/// x^p for a constant exponent p.
public struct PowScalar: UnaryFunction {
    public let exponent: Double
    public var name: String { "pow" }
    public func value<T: KernelScalar>(_ x: T) -> T { exponent == 2 ? x * x : T.pow(x, T(exponent)) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T {
        exponent == 2 ? 2 * x : T(exponent) * T.pow(x, T(exponent - 1))
    }
}
/// min(max(x, lower), upper); gradient 1 inside [lower, upper] (inclusive, as torch), else 0.
public struct Clamp: UnaryFunction {
    public let lower: Double, upper: Double
    public var name: String { "clamp" }
    public func value<T: KernelScalar>(_ x: T) -> T { x < T(lower) ? T(lower) : (x > T(upper) ? T(upper) : x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { x >= T(lower) && x <= T(upper) ? 1 : 0 }
}
public struct Tanh: UnaryFunction {
    public var name: String { "tanh" }
    public func value<T: KernelScalar>(_ x: T) -> T { Activations.tanh(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { 1 - y * y }
}
public struct Sigmoid: UnaryFunction {
    public var name: String { "sigmoid" }
    public func value<T: KernelScalar>(_ x: T) -> T { Activations.sigmoid(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { y * (1 - y) }
}
/// max(x, 0); derivative 0 at 0 (as torch).
public struct ReLU: UnaryFunction {
    public var name: String { "relu" }
    public func value<T: KernelScalar>(_ x: T) -> T { x > 0 ? x : 0 }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { x > 0 ? 1 : 0 }
}
/// GELU: `.tanh` is the GPT-2 approximation (torch approximate="tanh"), `.erf` the exact form (torch default).
public struct GELU: UnaryFunction {
    public enum Approximation: String, Sendable, Codable { case tanh, erf }
    public let approximation: Approximation
    public init(_ approximation: Approximation = .tanh) { self.approximation = approximation }
    public var name: String { "gelu" }
    public func value<T: KernelScalar>(_ x: T) -> T {
        approximation == .tanh ? Activations.geluTanh(x) : Activations.geluErf(x)
    }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T {
        approximation == .tanh ? Activations.geluTanhDerivative(x) : Activations.geluErfDerivative(x)
    }
}
/// x · sigmoid(x).
public struct SiLU: UnaryFunction {
    public var name: String { "silu" }
    public func value<T: KernelScalar>(_ x: T) -> T { x * Activations.sigmoid(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { let s = Activations.sigmoid(x); return s * (1 + x * (1 - s)) }
}
/// log(1 + e^{βx})/β, linear above `threshold` (torch.nn.functional.softplus).
public struct Softplus: UnaryFunction {
    public let beta: Double, threshold: Double
    public var name: String { "softplus" }
    public func value<T: KernelScalar>(_ x: T) -> T {
        let bx = T(beta) * x
        return bx > T(threshold) ? x : T.log(1 + T.exp(bx)) / T(beta)
    }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T {
        let bx = T(beta) * x
        return bx > T(threshold) ? 1 : Activations.sigmoid(bx)
    }
}

extension Tensor {
    public func exp() -> Tensor { apply(Exp()) }
    public func log() -> Tensor { apply(Log()) }
    public func sqrt() -> Tensor { apply(Sqrt()) }
    public func rsqrt() -> Tensor { apply(Rsqrt()) }
    public func abs() -> Tensor { apply(Abs()) }
    public func tanh() -> Tensor { apply(Tanh()) }
    public func sigmoid() -> Tensor { apply(Sigmoid()) }
    public func relu() -> Tensor { apply(ReLU()) }
    /// GELU through the vectorized `GELUKernel`, either form (the same formulas as `GELU`'s scalar definitions).
    public func gelu(_ approximation: GELU.Approximation = .tanh) -> Tensor {
        let x = contiguous(), exact = approximation == .erf
        let y = Tensor(uninitialized: shape, dtype: dtype)
        switch dtype {
        case .float32: GELUKernel.forward(x.pointer(Float.self), y.pointer(Float.self), count, erf: exact)
        case .float64: GELUKernel.forward(x.pointer(Double.self), y.pointer(Double.self), count, erf: exact)
        default: unsupportedDType()
        }
        return Tensor.record("gelu", inputs: [x], output: y) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
            switch x.dtype {
            case .float32: GELUKernel.backward(x.pointer(Float.self), g.pointer(Float.self), dx.pointer(Float.self), x.count, erf: exact)
            case .float64: GELUKernel.backward(x.pointer(Double.self), g.pointer(Double.self), dx.pointer(Double.self), x.count, erf: exact)
            default: unsupportedDType()
            }
            return [dx]
        }
    }
    public func silu() -> Tensor { apply(SiLU()) }
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor { apply(Softplus(beta: beta, threshold: threshold)) }
    public func clamp(min lower: Double = -.infinity, max upper: Double = .infinity) -> Tensor { apply(Clamp(lower: lower, upper: upper)) }
    public func pow(_ exponent: Double) -> Tensor { apply(PowScalar(exponent: exponent)) }
    public static prefix func - (x: Tensor) -> Tensor { x.apply(Negate()) }
}

// MARK: - Binary ops with broadcasting

extension Tensor {
    /// out = f(a, b) elementwise over the broadcast shape, without autograd (callers record their own rule).
    /// `arithmetic` names f when it is one of the four operations with a vectorized kernel.
    static func broadcastMap(_ a: Tensor, _ b: Tensor, _ op: String, arithmetic: ArithmeticOperation? = nil,
                             _ f32: (Float, Float) -> Float, _ f64: (Double, Double) -> Double) -> Tensor {
        precondition(a.dtype == b.dtype, "\(op): dtype mismatch \(a.dtype) vs \(b.dtype) (shapes \(a.shape) and \(b.shape))")
        let shape = broadcastShapes(a.shape, b.shape, op)
        let out = Tensor(uninitialized: shape, dtype: a.dtype)
        func run<T: KernelScalar>(_: T.Type, _ f: (T, T) -> T) {
            let ap = a.pointer(T.self), bp = b.pointer(T.self), op = out.pointer(T.self)
            if a.shape == b.shape && a.isContiguous && b.isContiguous {
                if let arithmetic { Activations.arithmetic(arithmetic, ap, bp, op, out.count) } else { Activations.map2(ap, bp, op, out.count, f) }
                return
            }
            let sa = broadcastStrides(a.shape, a.strides, to: shape), sb = broadcastStrides(b.shape, b.strides, to: shape)
            let n = shape.last ?? 1, ia = sa.last ?? 0, ib = sb.last ?? 0
            forEachRow(shape, sa, sb, out.strides) { oa, ob, oo in
                let pa = ap + oa, pb = bp + ob, po = op + oo
                if ia == 1 && ib == 1 {
                    if let arithmetic { Activations.arithmeticRow(arithmetic, pa, pb, po, n) } else { for i in 0..<n { po[i] = f(pa[i], pb[i]) } }
                }
                else if ia == 1 && ib == 0 { let v = pb[0]; for i in 0..<n { po[i] = f(pa[i], v) } }
                else if ia == 0 && ib == 1 { let v = pa[0]; for i in 0..<n { po[i] = f(v, pb[i]) } }
                else { for i in 0..<n { po[i] = f(pa[i * ia], pb[i * ib]) } }
            }
        }
        switch a.dtype { case .float32: run(Float.self, f32); case .float64: run(Double.self, f64); default: unsupportedDType() }
        return out
    }

    /// A 0-d tensor of this tensor's dtype holding `value`.
    func scalarLike(_ value: Double) -> Tensor { Tensor.full([], value, dtype: dtype) }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastMap(a, b, "add", arithmetic: .add, { $0 + $1 }, { $0 + $1 })
        return record("add", inputs: [a, b], output: out) { g in [g.sumToShape(a.shape), g.sumToShape(b.shape)] }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastMap(a, b, "sub", arithmetic: .subtract, { $0 - $1 }, { $0 - $1 })
        return record("sub", inputs: [a, b], output: out) { g in [g.sumToShape(a.shape), (-g).sumToShape(b.shape)] }
    }
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastMap(a, b, "mul", arithmetic: .multiply, { $0 * $1 }, { $0 * $1 })
        return record("mul", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? (g * b).sumToShape(a.shape) : nil, b.requiresGrad ? (g * a).sumToShape(b.shape) : nil]
        }
    }
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let out = broadcastMap(a, b, "div", arithmetic: .divide, { $0 / $1 }, { $0 / $1 })
        let saved = out.detach()  // the output without its node, so the closure does not keep it alive
        return record("div", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? (g / b).sumToShape(a.shape) : nil, b.requiresGrad ? (-(g * saved) / b).sumToShape(b.shape) : nil]
        }
    }
    /// a^b elementwise with broadcasting; d/db = a^b · log a (NaN for a < 0, as torch).
    public func pow(_ exponent: Tensor) -> Tensor {
        let a = self, b = exponent
        let out = Tensor.broadcastMap(a, b, "pow", { Float.pow($0, $1) }, { Double.pow($0, $1) })
        let saved = out.detach()  // the output without its node, so the closure does not keep it alive
        return Tensor.record("pow", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? (g * b * a.pow(b - b.scalarLike(1))).sumToShape(a.shape) : nil,
             b.requiresGrad ? (g * saved * a.log()).sumToShape(b.shape) : nil]
        }
    }

    public static func + (a: Tensor, s: Double) -> Tensor { a + a.scalarLike(s) }
    public static func - (a: Tensor, s: Double) -> Tensor { a - a.scalarLike(s) }
    public static func * (a: Tensor, s: Double) -> Tensor { a * a.scalarLike(s) }
    public static func / (a: Tensor, s: Double) -> Tensor { a * a.scalarLike(1 / s) }
    public static func + (s: Double, a: Tensor) -> Tensor { a.scalarLike(s) + a }
    public static func - (s: Double, a: Tensor) -> Tensor { a.scalarLike(s) - a }
    public static func * (s: Double, a: Tensor) -> Tensor { a.scalarLike(s) * a }
    public static func / (s: Double, a: Tensor) -> Tensor { a.scalarLike(s) / a }
}
