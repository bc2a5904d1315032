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

    /// y[i] = f(x[i]) over n elements, split across threads for large n.
    @inlinable public static func map<T: KernelScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ f: (T) -> T) {
        let block = 4096
        Parallel.forRows((n + block - 1) / block, workPerRow: block) { range in
            for b in range {
                let lo = b * block, hi = min(n, lo + block)
                for i in lo..<hi { y[i] = f(x[i]) }
            }
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
