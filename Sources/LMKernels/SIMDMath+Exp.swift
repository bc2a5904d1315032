// e^x in Float for every kernel: one formula (Cody-Waite reduction with a two-constant ln 2, degree-7 Taylor polynomial
// in FMA Horner steps, 2^k from the 1.5·2²³ rounding trick) written out twice, for 8 lanes and for one lane. The two are
// bitwise equal (ExpTests); 16 lanes are two 8-lane halves. Accuracy: max relative error ~2e-7 on [-87.3, 88.3].
// Below -87.3 (and -inf) the result is 0, above 88.3 it saturates at ~2.2e38 instead of reaching inf, NaN stays NaN.
// Double uses libm (`Double.kernelExp`). Source: swift-on-this-machine.md §5 (`vexp`), Cody & Waite 1980.

extension SIMDMath {
    /// e^x on 8 lanes (one AVX2 register with -march=x86-64-v3). Written with `addingProduct`: `a * b + c` on SIMD types
    /// is never fused, and the unfused form (the former 16-lane GELU exp) measured slower in attention's score rows.
    /// `@_transparent`, not `@inline(__always)`: with the latter the optimizer still left 7 out-of-line calls (the GELU
    /// kernels, with the polynomial in 128-bit halves); inlined, GELU fwd+bwd is ~15 % faster (BENCHMARKS.md).
    @_transparent public static func exp(_ x0: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        // No NaN case: comparisons with NaN are false, so a NaN lane passes the clamps and every step stays NaN.
        let under = x0 .< -87.3
        var x = x0.replacing(with: -87.3, where: under)
        x.replace(with: 88.3, where: x .> 88.3)
        let kShifted = x * 1.44269504088896341 + 12582912  // + 1.5·2²³ rounds k to an integer held in the low mantissa bits
        let k = kShifted - 12582912
        let r = x.addingProduct(k, V(repeating: -0.693145751953125)).addingProduct(k, V(repeating: -1.428606765330187045e-06))
        var p = V(repeating: 1.0 / 5040)
        p = V(repeating: 1.0 / 720).addingProduct(p, r)
        p = V(repeating: 1.0 / 120).addingProduct(p, r)
        p = V(repeating: 1.0 / 24).addingProduct(p, r)
        p = V(repeating: 1.0 / 6).addingProduct(p, r)
        p = V(repeating: 0.5).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        p = V(repeating: 1).addingProduct(p, r)
        // 2^k: k sits in kShifted's bits as 0x4B400000 + k; move k + 127 into the exponent field.
        let scaleBits = (unsafeBitCast(kShifted, to: SIMD8<Int32>.self) &- SIMD8<Int32>(repeating: 0x4B40_0000 - 127)) &<< 23
        return (p * unsafeBitCast(scaleBits, to: V.self)).replacing(with: 0, where: under)
    }

    /// e^x on 16 lanes: the 8-lane form on each half (the same two registers the 16-lane type occupies under AVX2).
    @_transparent public static func exp(_ x: V) -> V {
        V(lowHalf: exp(x.lowHalf), highHalf: exp(x.highHalf))
    }

    /// y[c] = e^(x[c] − shift) for c < n, returning Σ y[c]; `x` and `y` may be the same buffer. The softmax and
    /// attention-score inner loop: 8 lanes at a time, then the scalar form for the tail (same values).
    @inlinable @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, by shift: Float) -> Float {
        let m = SIMD8<Float>(repeating: shift)
        var total = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let e = exp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - m)
            UnsafeMutableRawPointer(y + i).storeBytes(of: e, as: SIMD8<Float>.self)
            total += e
            i += 8
        }
        var sum = total.sum()
        while i < n { let e = Float.fastExp(x[i] - shift); y[i] = e; sum += e; i += 1 }
        return sum
    }
}

extension Float {
    /// e^x, the one-lane form of `SIMDMath.exp` (same operations, so the same bits). Plain scalar code, so loops that
    /// call it (sigmoid, erf, tanh maps) still vectorize.
    @inlinable @inline(__always) public static func fastExp(_ x0: Float) -> Float {
        let x = x0 < -87.3 ? -87.3 : (x0 > 88.3 ? 88.3 : x0)  // NaN passes (both comparisons false) and stays NaN
        let kShifted = x * 1.44269504088896341 + 12582912
        let k = kShifted - 12582912
        let r = x.addingProduct(k, -0.693145751953125).addingProduct(k, -1.428606765330187045e-06)
        var p: Float = 1.0 / 5040
        p = (1.0 / 720 as Float).addingProduct(p, r)
        p = (1.0 / 120 as Float).addingProduct(p, r)
        p = (1.0 / 24 as Float).addingProduct(p, r)
        p = (1.0 / 6 as Float).addingProduct(p, r)
        p = (0.5 as Float).addingProduct(p, r)
        p = (1 as Float).addingProduct(p, r)
        p = (1 as Float).addingProduct(p, r)
        let scale = Float(bitPattern: (kShifted.bitPattern &- (0x4B40_0000 - 127)) &<< 23)
        return x0 < -87.3 ? 0 : p * scale
    }
}
