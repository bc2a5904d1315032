// Elementwise activation kernels with their derivatives, side by side. Float uses the polynomial exp
// (`Float.fastExp`) and a polynomial erf so the loops vectorize; Double uses libm through RealModule.
import RealModule

public enum Activations {
    @usableFromInline static let sqrt2OverPi = 0.7978845608028654
    @usableFromInline static let invSqrt2 = 0.7071067811865476
    @usableFromInline static let invSqrt2Pi = 0.3989422804014327

    /// tanh computed from exp, with a series near 0 where 1 - 2/(e^{2x}+1) would cancel.
    @inlinable @inline(__always) public static func tanh<T: KernelScalar>(_ x: T) -> T {
        if T.self == Double.self { return T.tanh(x) }
        let x2 = x * x
        let series = x * (1 - x2 * (1.0 / 3 - x2 * (2.0 / 15)))
        let viaExp = 1 - 2 / (T.kernelExp(2 * x) + 1)
        return x.magnitude < 0.0625 ? series : viaExp
    }

    /// erf: Double uses libm; Float uses its Maclaurin series below 0.5 and Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
    /// with fastExp above.
    @inlinable @inline(__always) public static func erf<T: KernelScalar>(_ x: T) -> T {
        if T.self == Double.self { return T.erf(x) }
        let a = x.magnitude
        let t = 1 / (1 + 0.3275911 * a)
        let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
        let tail = 1 - poly * T.kernelExp(-a * a)
        // Near 0 the subtraction above cancels (error ~4e-7 in Float); the Maclaurin series is exact to ~1e-8 there.
        let x2 = x * x
        var series: T = 1.0 / 216 - x2 / 1320
        series = 1.0 / 42 - x2 * series
        series = 1.0 / 10 - x2 * series
        series = 1.0 / 3 - x2 * series
        series = 1.1283791670955126 * x * (1 - x2 * series)
        return a < 0.5 ? series : (x < 0 ? -tail : tail)
    }

    @inlinable @inline(__always) public static func sigmoid<T: KernelScalar>(_ x: T) -> T { 1 / (1 + T.kernelExp(-x)) }

    /// GELU, tanh form: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    @inlinable @inline(__always) public static func geluTanh<T: KernelScalar>(_ x: T) -> T {
        let u = T(sqrt2OverPi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + tanh(u))
    }
    @inlinable @inline(__always) public static func geluTanhDerivative<T: KernelScalar>(_ x: T) -> T {
        let u = T(sqrt2OverPi) * (x + 0.044715 * x * x * x)
        let th = tanh(u)
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * T(sqrt2OverPi) * (1 + 3 * 0.044715 * x * x)
    }
    /// GELU, exact form: 0.5·x·(1 + erf(x/√2)).
    @inlinable @inline(__always) public static func geluErf<T: KernelScalar>(_ x: T) -> T {
        0.5 * x * (1 + erf(x * T(invSqrt2)))
    }
    @inlinable @inline(__always) public static func geluErfDerivative<T: KernelScalar>(_ x: T) -> T {
        0.5 * (1 + erf(x * T(invSqrt2))) + x * T(invSqrt2Pi) * T.kernelExp(-0.5 * x * x)
    }

    /// z[i] = x[i] ∘ y[i] for the four arithmetic operations, split across threads for large n. A loop per operation
    /// (not a closure per element, as `map2` takes) so the compiler vectorizes it: residual adds, bias adds and gradient
    /// accumulation run through here (`Activations.map2` was 6 % of a GPT training step).
    @inlinable public static func arithmetic<T: KernelScalar>(_ operation: ArithmeticOperation, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>,
                                                            _ z: UnsafeMutablePointer<T>, _ n: Int) {
        let block = 4096
        Parallel.forRows((n + block - 1) / block, workPerRow: block) { range in
            let lo = range.lowerBound * block, hi = Swift.min(n, range.upperBound * block)
            arithmeticRow(operation, x + lo, y + lo, z + lo, hi - lo)
        }
    }

    /// One thread's z[i] = x[i] ∘ y[i] for i in 0..<n.
    @inlinable @inline(__always)
    public static func arithmeticRow<T: KernelScalar>(_ operation: ArithmeticOperation, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>,
                                                      _ z: UnsafeMutablePointer<T>, _ n: Int) {
        switch operation {
        case .add: for i in 0..<n { z[i] = x[i] + y[i] }
        case .subtract: for i in 0..<n { z[i] = x[i] - y[i] }
        case .multiply: for i in 0..<n { z[i] = x[i] * y[i] }
        case .divide: for i in 0..<n { z[i] = x[i] / y[i] }
        }
    }

    /// z[i] = f(x[i], y[i]) over n elements, split across threads for large n.
    @inlinable public static func map2<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ z: UnsafeMutablePointer<T>, _ n: Int, _ f: (T, T) -> T) {
        let block = 4096
        Parallel.forRows((n + block - 1) / block, workPerRow: block) { range in
            for b in range {
                let lo = b * block, hi = min(n, lo + block)
                for i in lo..<hi { z[i] = f(x[i], y[i]) }
            }
        }
    }
}

/// GELU over whole buffers, forward and backward, tanh form by default and erf form (`erf: true`, BERT's "gelu").
/// Float runs 16 lanes at a time with `SIMDMath.exp` (the generic per-element path did not vectorize: measured 0.55×
/// PyTorch on 8192×768 for tanh; for erf, the per-element path was 31 % of MiniLM's `lmkit embed` under perf); Double
/// and the tails use the scalar definitions above, so both paths compute the same formula.
public enum GELUKernel {
    @usableFromInline static let c: Float = 0.7978845608028654

    /// `Activations.erf`'s Float formula on 16 lanes: Maclaurin series below 0.5, Abramowitz & Stegun 7.1.26 above.
    @inlinable @inline(__always) static func erf(_ x: SIMDMath.V) -> SIMDMath.V {
        typealias V = SIMDMath.V
        let one = V(repeating: 1), negative = x .< 0
        let a = x.replacing(with: -x, where: negative)
        let t: V = one / (one + 0.3275911 * a)
        var poly: V = t * 1.061405429 - 1.453152027
        poly = poly * t + 1.421413741
        poly = poly * t - 0.284496736
        poly = poly * t + 0.254829592
        poly = poly * t
        var tail: V = one - poly * SIMDMath.exp(-a * a)
        tail.replace(with: -tail, where: negative)
        let x2 = x * x
        var series: V = V(repeating: 1.0 / 216) - x2 / 1320
        series = V(repeating: 1.0 / 42) - x2 * series
        series = V(repeating: 1.0 / 10) - x2 * series
        series = V(repeating: 1.0 / 3) - x2 * series
        series = 1.1283791670955126 * x * (one - x2 * series)
        return tail.replacing(with: series, where: a .< 0.5)
    }

    public static func forward<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, erf exact: Bool = false) {
        if exact {
            guard T.self == Float.self else { for i in 0..<n { y[i] = Activations.geluErf(x[i]) }; return }
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), yf = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
            blocks(n) { lo, hi in
                var i = lo
                while i + 16 <= hi {
                    let v = SIMDMath.load(xf + i)
                    SIMDMath.store(0.5 * v * (1 + erf(v * Float(Activations.invSqrt2))), yf + i)
                    i += 16
                }
                while i < hi { yf[i] = Activations.geluErf(xf[i]); i += 1 }
            }
            return
        }
        if T.self == Float.self {
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), yf = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
            blocks(n) { lo, hi in
                var i = lo
                while i + 16 <= hi {
                    let v = SIMDMath.load(xf + i)
                    let u = c * (v + 0.044715 * v * v * v)
                    let t = 1 - 2 / (SIMDMath.exp(2 * u) + 1)
                    SIMDMath.store(0.5 * v * (1 + t), yf + i)
                    i += 16
                }
                while i < hi { yf[i] = Activations.geluTanh(xf[i]); i += 1 }
            }
        } else {
            for i in 0..<n { y[i] = Activations.geluTanh(x[i]) }
        }
    }

    /// dx = dy · GELU'(x).
    public static func backward<T: KernelScalar>(_ x: UnsafePointer<T>, _ dy: UnsafePointer<T>, _ dx: UnsafeMutablePointer<T>, _ n: Int,
                                                 erf exact: Bool = false) {
        if exact {
            guard T.self == Float.self else { for i in 0..<n { dx[i] = dy[i] * Activations.geluErfDerivative(x[i]) }; return }
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), gf = UnsafeRawPointer(dy).assumingMemoryBound(to: Float.self)
            let df = UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Float.self)
            blocks(n) { lo, hi in
                var i = lo
                while i + 16 <= hi {
                    let v = SIMDMath.load(xf + i)
                    let cdf: SIMDMath.V = 0.5 * (1 + erf(v * Float(Activations.invSqrt2)))
                    let pdf: SIMDMath.V = Float(Activations.invSqrt2Pi) * SIMDMath.exp(-0.5 * v * v)
                    SIMDMath.store(SIMDMath.load(gf + i) * (cdf + v * pdf), df + i)
                    i += 16
                }
                while i < hi { df[i] = gf[i] * Activations.geluErfDerivative(xf[i]); i += 1 }
            }
            return
        }
        if T.self == Float.self {
            let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), gf = UnsafeRawPointer(dy).assumingMemoryBound(to: Float.self)
            let df = UnsafeMutableRawPointer(dx).assumingMemoryBound(to: Float.self)
            blocks(n) { lo, hi in
                var i = lo
                while i + 16 <= hi {
                    let v = SIMDMath.load(xf + i)
                    let v2 = v * v
                    let u: SIMDMath.V = c * (v + 0.044715 * v2 * v)
                    let t = 1 - 2 / (SIMDMath.exp(2 * u) + 1)
                    let one = SIMDMath.V(repeating: 1)
                    let slope: SIMDMath.V = (one + 0.134145 * v2) * c  // d/dx of c·(x + 0.044715x³)
                    let sech2: SIMDMath.V = one - t * t
                    let d: SIMDMath.V = 0.5 * (one + t) + 0.5 * v * sech2 * slope
                    SIMDMath.store(SIMDMath.load(gf + i) * d, df + i)
                    i += 16
                }
                while i < hi { df[i] = gf[i] * Activations.geluTanhDerivative(xf[i]); i += 1 }
            }
        } else {
            for i in 0..<n { dx[i] = dy[i] * Activations.geluTanhDerivative(x[i]) }
        }
    }

    /// Calls body(lo, hi) over 16-aligned blocks of 0..<n, split across threads for large n.
    @inline(__always) static func blocks(_ n: Int, _ body: (Int, Int) -> Void) {
        let block = 8192
        Parallel.forRows((n + block - 1) / block, workPerRow: block * 4) { range in
            for b in range { body(b * block, Swift.min(n, b * block + block)) }
        }
    }
}

/// The elementwise binary operations with a vectorized kernel (`Activations.arithmetic`).
public enum ArithmeticOperation: Sendable { case add, subtract, multiply, divide }
