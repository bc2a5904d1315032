// Deterministic random numbers: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
// a counter-based generator. Element i of a draw uses counter (offset + i/4), so the values depend only on the seed
// and the draw order — never on thread count or chunking.
import Foundation

public final class Generator: @unchecked Sendable {
    public let seed: UInt64
    /// Number of 128-bit Philox blocks consumed so far; saving and restoring it resumes the stream exactly.
    public var offset: UInt64

    public init(seed: UInt64, offset: UInt64 = 0) {
        self.seed = seed
        self.offset = offset
    }

    /// One Philox4x32-10 block for `counter` under this generator's key.
    @inline(__always) func block(_ counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        var c0 = UInt32(truncatingIfNeeded: counter), c1 = UInt32(truncatingIfNeeded: counter >> 32), c2: UInt32 = 0, c3: UInt32 = 0
        var k0 = UInt32(truncatingIfNeeded: seed), k1 = UInt32(truncatingIfNeeded: seed >> 32)
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0), p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let n0 = UInt32(truncatingIfNeeded: p1 >> 32) ^ c1 ^ k0
            let n2 = UInt32(truncatingIfNeeded: p0 >> 32) ^ c3 ^ k1
            c1 = UInt32(truncatingIfNeeded: p1); c3 = UInt32(truncatingIfNeeded: p0)
            c0 = n0; c2 = n2
            k0 &+= 0x9E37_79B9; k1 &+= 0xBB67_AE85
        }
        return (c0, c1, c2, c3)
    }

    /// `n` raw 32-bit words, advancing the stream.
    public func nextWords(_ n: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: n)
        let blocks = (n + 3) / 4
        for b in 0..<blocks {
            let (x0, x1, x2, x3) = block(offset &+ UInt64(b))
            let words = [x0, x1, x2, x3]
            for j in 0..<4 where b * 4 + j < n { out[b * 4 + j] = words[j] }
        }
        offset &+= UInt64(blocks)
        return out
    }

    /// `n` uniform doubles in [0, 1) with 32 random bits each.
    public func uniform(_ n: Int) -> [Double] { nextWords(n).map { Double($0) * 0x1p-32 } }

    /// `n` standard normal doubles (Box–Muller on pairs of uniforms in (0, 1]).
    public func normal(_ n: Int) -> [Double] {
        let u = nextWords(2 * ((n + 1) / 2))
        var out = [Double](repeating: 0, count: n)
        for i in stride(from: 0, to: n, by: 2) {
            let u1 = (Double(u[i]) + 1) * 0x1p-32, u2 = Double(u[i + 1]) * 0x1p-32
            let r = (-2 * Foundation.log(u1)).squareRoot()
            out[i] = r * Foundation.cos(2 * .pi * u2)
            if i + 1 < n { out[i + 1] = r * Foundation.sin(2 * .pi * u2) }
        }
        return out
    }

    /// `n` integers uniform in [low, high) (multiply-shift on 64 random bits; bias below 2⁻³²).
    public func integers(_ n: Int, low: Int, high: Int) -> [Int] {
        precondition(high > low, "randint: empty range [\(low), \(high))")
        let span = UInt64(high - low)
        let w = nextWords(2 * n)
        return (0..<n).map { i in
            let r = UInt64(w[2 * i]) << 32 | UInt64(w[2 * i + 1])
            return low + Int(r.multipliedFullWidth(by: span).high)
        }
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        let draws = integers(n - 1, low: 0, high: Int.max)
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, draws[n - 1 - i] % (i + 1)) }
        return p
    }

    /// `samples` category indices drawn from unnormalized non-negative `weights`, with or without replacement
    /// (torch.multinomial).
    public func multinomial(_ weights: [Double], samples: Int, replacement: Bool = true) -> [Int] {
        precondition(weights.allSatisfy { $0 >= 0 && $0.isFinite } && weights.contains { $0 > 0 },
                     "multinomial: weights must be finite, non-negative and not all zero")
        precondition(replacement || samples <= weights.filter { $0 > 0 }.count,
                     "multinomial: \(samples) samples without replacement from \(weights.filter { $0 > 0 }.count) non-zero categories")
        var w = weights
        var out: [Int] = []
        for _ in 0..<samples {
            let total = w.reduce(0, +)
            let u = uniform(1)[0] * total
            var acc = 0.0, pick = w.lastIndex { $0 > 0 }!
            for (i, wi) in w.enumerated() where wi > 0 {
                acc += wi
                if u < acc { pick = i; break }
            }
            out.append(pick)
            if !replacement { w[pick] = 0 }
        }
        return out
    }
}

extension Tensor {
    /// Uniform values in [low, high).
    public static func rand(_ shape: [Int], low: Double = 0, high: Double = 1, generator: Generator, dtype: DType = .float32) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(doubles: generator.uniform(n).map { low + (high - low) * $0 }, shape: shape).to(dtype)
    }

    /// Normal values with the given mean and standard deviation.
    public static func randn(_ shape: [Int], mean: Double = 0, std: Double = 1, generator: Generator, dtype: DType = .float32) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(doubles: generator.normal(n).map { mean + std * $0 }, shape: shape).to(dtype)
    }

    /// 1 with probability p, else 0.
    public static func bernoulli(_ shape: [Int], p: Double, generator: Generator, dtype: DType = .float32) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(doubles: generator.uniform(n).map { $0 < p ? 1 : 0 }, shape: shape).to(dtype)
    }
}
