// The element types kernels run on. Float32 is the product's compute type; Float64 exists so finite-difference
// gradient checks can run the same generic kernels in double precision (STYLE §3 rule 5).
// Each type supplies the few primitives where a generic loop is too slow: exp (libm expf is scalar, so Float uses
// a polynomial) and float sums (the compiler does not reassociate float adds, so Float uses SIMD16 accumulators).
@_exported import RealModule

public protocol KernelScalar: BinaryFloatingPoint, Real, SIMDScalar, Codable, Sendable {
    /// e^x; for Float a polynomial with max relative error ~2e-7 on [-87, 88] (see `Float.fastExp`).
    static func kernelExp(_ x: Self) -> Self
    /// y[i] = e^(x[i] − shift) for i in 0..<n, returning Σ y[i]; x and y may be the same buffer (softmax rows, attention
    /// score rows). Float: `SIMDMath.expShifted`.
    static func kernelExpShifted(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, _ n: Int, by shift: Self) -> Self
    /// Σ p[i] for i in 0..<n.
    static func kernelSum(_ p: UnsafePointer<Self>, _ n: Int) -> Self
    /// Σ p[i] * q[i] for i in 0..<n.
    static func kernelDot(_ p: UnsafePointer<Self>, _ q: UnsafePointer<Self>, _ n: Int) -> Self
    /// max over p[0..<n] (n > 0); NaN propagates.
    static func kernelMax(_ p: UnsafePointer<Self>, _ n: Int) -> Self
}

extension Double: KernelScalar {
    @inlinable public static func kernelExp(_ x: Double) -> Double { Double.exp(x) }
    @inlinable public static func kernelExpShifted(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int,
                                                   by shift: Double) -> Double {
        var sum = 0.0
        for i in 0..<n { y[i] = Double.exp(x[i] - shift); sum += y[i] }
        return sum
    }
    @inlinable public static func kernelSum(_ p: UnsafePointer<Double>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += p[i] }
        return s
    }
    @inlinable public static func kernelDot(_ p: UnsafePointer<Double>, _ q: UnsafePointer<Double>, _ n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += p[i] * q[i] }
        return s
    }
    @inlinable public static func kernelMax(_ p: UnsafePointer<Double>, _ n: Int) -> Double {
        var m = p[0]
        for i in 1..<max(n, 1) where !(p[i] <= m) { m = p[i] }
        return m
    }
}

extension Float: KernelScalar {
    @inlinable public static func kernelExp(_ x: Float) -> Float { fastExp(x) }
    @inlinable public static func kernelExpShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                                                   by shift: Float) -> Float {
        SIMDMath.expShifted(x, y, n, by: shift)
    }
    @inlinable public static func kernelSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float { SIMDMath.sum(p, n) }
    @inlinable public static func kernelDot(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Float { SIMDMath.dot(p, q, n) }
    @inlinable public static func kernelMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float { SIMDMath.max(p, n) }
}

/// Explicit SIMD16 reductions for Float: plain loops over Float are not vectorized (strict FP ordering), so
/// these are 4-5x faster than the obvious loop. Summation order differs from a sequential sum (pairwise-like).
public enum SIMDMath {
    public typealias V = SIMD16<Float>

    @inlinable @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inlinable @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    @inlinable public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 32 <= n { a0 += load(p + i); a1 += load(p + i + 16); i += 32 }
        if i + 16 <= n { a0 += load(p + i); i += 16 }
        var s = (a0 + a1).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    @inlinable public static func dot(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 32 <= n {
            a0 = a0.addingProduct(load(p + i), load(q + i))
            a1 = a1.addingProduct(load(p + i + 16), load(q + i + 16))
            i += 32
        }
        if i + 16 <= n { a0 = a0.addingProduct(load(p + i), load(q + i)); i += 16 }
        var s = (a0 + a1).sum()
        while i < n { s += p[i] * q[i]; i += 1 }
        return s
    }

    /// Max with NaN propagation (like torch.max): a NaN anywhere gives NaN.
    @inlinable public static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = p[0]
        var sawNaN = false
        if n >= 16 {
            var mv = load(p)
            var nanMask = SIMDMask<SIMD16<Int32>>()
            i = 16
            while i + 16 <= n {
                let v = load(p + i)
                mv.replace(with: v, where: v .> mv)
                nanMask = nanMask .| (v .!= v)
                i += 16
            }
            m = mv.max()
            sawNaN = any(nanMask) || mv.max().isNaN
            for j in 0..<16 where p[j].isNaN { sawNaN = true }
        }
        while i < n { if p[i] > m || p[i].isNaN { m = p[i] }; if p[i].isNaN { sawNaN = true }; i += 1 }
        return sawNaN ? .nan : m
    }
}
