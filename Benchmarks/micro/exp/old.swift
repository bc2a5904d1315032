// The three exp forms LMKit had before SIMDMath+Exp.swift (scalar Float.fastExp, the 16-lane non-FMA SIMDMath.exp of
// GELU, SIMDMath.sum for the old softmax row), kept verbatim so run.sh can time them against the current one.
enum Old {
    typealias V = SIMD16<Float>
    @inline(__always) static func fastExp(_ x0: Float) -> Float {
        let x = x0 < -87.3 ? -87.3 : (x0 > 88.3 ? 88.3 : (x0 == x0 ? x0 : 0))
        let k = (x * 1.44269504088896341).rounded(.toNearestOrEven)
        let r = (x - k * 0.693145751953125) - k * 1.428606765330187045e-06
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: Int32(k) &+ 127) << 23)
        let y = x0 < -87.3 ? 0 : p * scale
        return x0.isNaN ? x0 : y
    }
    @inline(__always) static func exp(_ x0: V) -> V {
        let lo = V(repeating: -87.3), hi = V(repeating: 88.3)
        var x = x0.replacing(with: lo, where: x0 .< lo)
        x = x.replacing(with: hi, where: x .> hi)
        let k = (x * 1.44269504088896341).rounded(.toNearestOrEven)
        let r = (x - k * 0.693145751953125) - k * 1.428606765330187045e-06
        var p = V(repeating: 1.0 / 5040)
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let big = k + 12582912.0
        let bits = (unsafeBitCast(big, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let y = p * unsafeBitCast(bits, to: V.self)
        return y.replacing(with: 0, where: x0 .< lo)
    }
    @inline(__always) static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 32 <= n { a0 += UnsafeRawPointer(p + i).loadUnaligned(as: V.self); a1 += UnsafeRawPointer(p + i + 16).loadUnaligned(as: V.self); i += 32 }
        if i + 16 <= n { a0 += UnsafeRawPointer(p + i).loadUnaligned(as: V.self); i += 16 }
        var s = (a0 + a1).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }
}
