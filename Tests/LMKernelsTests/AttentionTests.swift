// The fused attention kernel against the naive softmax(QKᵀ·scale + mask)V reference kept beside it: forward for
// every tile size, odd lengths, causal and not, GQA, Tq ≠ Tk and an additive mask; backward against central finite
// differences of the reference in float64. Head sizes and lengths large enough to run the micro-kernel's 6×16 and
// 4×16 blocks and their edges are checked against a materialized float64 forward/backward, in both product modes
// and on 1 and 2 threads (bitwise equal).
import Foundation
@testable import LMKernels
import XCTest

final class AttentionTests: XCTestCase {
    struct Case { let shape: AttentionShape; let masked: Bool }

    func random<T: KernelScalar>(_ n: Int, _ seed: Int, _: T.Type) -> [T] {
        (0..<n).map { T(sin(Double($0 * 7919 + seed * 104729) * 0.001) * 1.7) }
    }

    var cases: [Case] {
        [Case(shape: AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: 7, keyLength: 7, headSize: 5, causal: true), masked: false),
         Case(shape: AttentionShape(batch: 2, heads: 4, kvHeads: 2, queryLength: 9, keyLength: 9, headSize: 3, causal: true), masked: true),
         Case(shape: AttentionShape(batch: 1, heads: 3, kvHeads: 1, queryLength: 5, keyLength: 11, headSize: 4, causal: false), masked: true),
         Case(shape: AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 3, keyLength: 8, headSize: 4, scale: 0.3, causal: true), masked: false)]
    }

    func inputs<T: KernelScalar>(_ s: AttentionShape, masked: Bool, _: T.Type) -> (q: [T], k: [T], v: [T], mask: [T]?) {
        let q = random(s.batch * s.heads * s.queryLength * s.headSize, 1, T.self)
        let k = random(s.batch * s.kvHeads * s.keyLength * s.headSize, 2, T.self)
        let v = random(s.batch * s.kvHeads * s.keyLength * s.headSize, 3, T.self)
        let mask: [T]? = masked ? (0..<s.queryLength * s.keyLength).map { $0 % 5 == 1 ? -T.infinity : T(Double($0 % 3) * 0.25) } : nil
        return (q, k, v, mask)
    }

    func testForwardEqualsNaiveForEveryTileSize() {
        for c in cases {
            let s = c.shape
            let (q, k, v, mask) = inputs(s, masked: c.masked, Float.self)
            var expected = [Float](repeating: 0, count: q.count)
            Attention.naiveForward(s, q: q, k: k, v: v, mask: mask, out: &expected)
            for (tq, tk) in [(1, 1), (2, 3), (4, 4), (16, 5), (64, 64)] {
                var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: 0, count: q.count / s.headSize)
                Attention.forward(s, q: q, k: k, v: v, mask: mask, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                for i in out.indices { XCTAssertEqual(out[i], expected[i], accuracy: 1e-5, "tiles \(tq)x\(tk), element \(i)") }
            }
        }
    }

    func testBackwardMatchesFiniteDifferencesOfTheReference() {
        for c in cases {
            let s = c.shape
            let (q, k, v, mask) = inputs(s, masked: c.masked, Double.self)
            let w = random(q.count, 4, Double.self)  // loss = Σ out ⊙ w
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                var out = [Double](repeating: 0, count: q.count)
                Attention.naiveForward(s, q: q, k: k, v: v, mask: mask, out: &out)
                return zip(out, w).map(*).reduce(0, +)
            }
            for (tq, tk) in [(1, 2), (3, 3), (64, 64)] {
                var out = [Double](repeating: 0, count: q.count), lse = [Double](repeating: 0, count: q.count / s.headSize)
                Attention.forward(s, q: q, k: k, v: v, mask: mask, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                var dq = [Double](repeating: .nan, count: q.count), dk = [Double](repeating: .nan, count: k.count), dv = dk
                Attention.backward(s, q: q, k: k, v: v, mask: mask, out: out, lse: lse, dOut: w, dQ: &dq, dK: &dk, dV: &dv,
                                   tileQ: tq, tileK: tk)
                let eps = 1e-6
                for (name, analytic, which) in [("dQ", dq, 0), ("dK", dk, 1), ("dV", dv, 2)] {
                    for i in analytic.indices {
                        var a = [q, k, v], b = [q, k, v]
                        a[which][i] += eps; b[which][i] -= eps
                        let numeric = (loss(a[0], a[1], a[2]) - loss(b[0], b[1], b[2])) / (2 * eps)
                        XCTAssertEqual(analytic[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric), "\(name)[\(i)], tiles \(tq)x\(tk)")
                    }
                }
            }
        }
    }

    func testFullyMaskedRowGivesZerosAndNoNaN() {
        let s = AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 2, keyLength: 3, headSize: 2, causal: false)
        let q: [Float] = [1, 2, 3, 4], k: [Float] = [1, 0, 0, 1, 1, 1], v: [Float] = [1, 2, 3, 4, 5, 6]
        let mask: [Float] = [-.infinity, -.infinity, -.infinity, 0, 0, 0]  // row 0 sees nothing
        var out = [Float](repeating: .nan, count: 4), lse = [Float](repeating: 0, count: 2)
        Attention.forward(s, q: q, k: k, v: v, mask: mask, out: &out, lse: &lse, tileQ: 1, tileK: 2)
        XCTAssertEqual(Array(out[0..<2]), [0, 0])
        XCTAssertEqual(lse[0], -.infinity)
        var dq = [Float](repeating: .nan, count: 4), dk = [Float](repeating: .nan, count: 6), dv = dk
        Attention.backward(s, q: q, k: k, v: v, mask: mask, out: out, lse: lse, dOut: [1, 1, 1, 1], dQ: &dq, dK: &dk, dV: &dv)
        XCTAssertEqual(Array(dq[0..<2]), [0, 0])
        XCTAssertFalse((out + dq + dk + dv).contains { $0.isNaN })
    }

    /// The only scratch the kernels take is per-thread tile storage whose size depends on tiles and D, not on T.
    func testWorkingMemoryDoesNotGrowWithSequenceLength() {
        let perThread = Attention.workspaceElements(tileQ: 64, tileK: 64, headSize: 64)
        XCTAssertEqual(perThread, 64 * (64 + 8) * 2 + 64 * 64 + 64 * 3)  // S/P and dS tiles (padded rows), accumulator, row stats
        for T in [256, 1024, 8192] { XCTAssertLessThan(perThread, T * 64 + T * T / 8, "T = \(T)") }
        XCTAssertLessThan(perThread, 1024 * 1024, "a materialized score matrix at T = 1024 would be T² elements")
    }

    /// Materialized float64 attention forward and backward (P, dP, dS as full matrices), for shapes too large for
    /// finite differences. Returns out, dQ, dK, dV.
    func materialized(_ s: AttentionShape, _ q: [Double], _ k: [Double], _ v: [Double], _ mask: [Double]?, _ dOut: [Double])
        -> (out: [Double], dq: [Double], dk: [Double], dv: [Double]) {
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        var out = [Double](repeating: 0, count: q.count), dq = out
        var dk = [Double](repeating: 0, count: k.count), dv = dk
        for bh in 0..<s.batch * s.heads {
            let kvh = (bh / s.heads) * s.kvHeads + (bh % s.heads) / group
            for i in 0..<Tq {
                var p = [Double](repeating: 0, count: Tk)
                var mx = -Double.infinity
                for j in 0..<Tk where s.causal ? j <= i + Tk - Tq : true {
                    var x = 0.0
                    for d in 0..<D { x += q[(bh * Tq + i) * D + d] * k[(kvh * Tk + j) * D + d] }
                    p[j] = x * s.scale + (mask?[i * Tk + j] ?? 0)
                    mx = max(mx, p[j])
                }
                var total = 0.0
                for j in 0..<Tk {
                    let visible = (s.causal ? j <= i + Tk - Tq : true) && p[j] != -.infinity && mx != -.infinity
                    p[j] = visible ? exp(p[j] - mx) : 0
                    total += p[j]
                }
                if total > 0 { for j in 0..<Tk { p[j] /= total } }
                let o = (bh * Tq + i) * D
                var dp = [Double](repeating: 0, count: Tk), rowDot = 0.0
                for j in 0..<Tk where p[j] != 0 {
                    for d in 0..<D {
                        out[o + d] += p[j] * v[(kvh * Tk + j) * D + d]
                        dp[j] += dOut[o + d] * v[(kvh * Tk + j) * D + d]
                        dv[(kvh * Tk + j) * D + d] += p[j] * dOut[o + d]
                    }
                    rowDot += p[j] * dp[j]
                }
                for j in 0..<Tk where p[j] != 0 {
                    let ds = p[j] * (dp[j] - rowDot) * s.scale
                    for d in 0..<D {
                        dq[o + d] += ds * k[(kvh * Tk + j) * D + d]
                        dk[(kvh * Tk + j) * D + d] += ds * q[o + d]
                    }
                }
            }
        }
        return (out, dq, dk, dv)
    }

    func testLargeHeadsMatchMaterializedFloat64InBothProductModesAndThreadCounts() {
        let shapes: [(AttentionShape, Bool)] = [
            (AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 150, keyLength: 150, headSize: 32, causal: true), false),
            (AttentionShape(batch: 2, heads: 2, kvHeads: 2, queryLength: 70, keyLength: 133, headSize: 24, causal: false), true),
            (AttentionShape(batch: 1, heads: 3, kvHeads: 3, queryLength: 97, keyLength: 97, headSize: 64, causal: true), true),
            // causal with Tq < Tk (diagonal offset) and Tq > Tk (the first 110 query rows see no key: zeros)
            (AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 90, keyLength: 200, headSize: 40, causal: true), false),
            (AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 200, keyLength: 90, headSize: 40, causal: true), true),
        ]
        let savedThreads = Parallel.threadCount, savedMode = Attention.tileProducts
        defer { Parallel.threadCount = savedThreads; Attention.tileProducts = savedMode }
        for (s, masked) in shapes {
            let (q, k, v, mask) = inputs(s, masked: masked, Double.self)
            let dOut = random(q.count, 4, Double.self)
            let expected = materialized(s, q, k, v, mask, dOut)
            let f: ([Double]) -> [Float] = { $0.map(Float.init) }
            var first: [Float]? = nil
            for mode in [Attention.TileProducts.microKernel, .blas] {
                for threads in [1, 2] {
                    Attention.tileProducts = mode
                    Parallel.threadCount = threads
                    var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: .nan, count: q.count / s.headSize)
                    Attention.forward(s, q: f(q), k: f(k), v: f(v), mask: mask.map(f), out: &out, lse: &lse)
                    var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count), dv = dk
                    Attention.backward(s, q: f(q), k: f(k), v: f(v), mask: mask.map(f), out: out, lse: lse, dOut: f(dOut),
                                       dQ: &dq, dK: &dk, dV: &dv)
                    let label = "\(mode) \(threads) thread(s), T \(s.queryLength)x\(s.keyLength) D \(s.headSize)"
                    for (name, got, want) in [("out", out, expected.out), ("dQ", dq, expected.dq), ("dK", dk, expected.dk), ("dV", dv, expected.dv)] {
                        let worst = zip(got, want).map { abs(Double($0) - $1) / (1 + abs($1)) }.max() ?? 0
                        XCTAssertLessThan(worst, 1e-5, "\(name), \(label)")
                    }
                    let all = out + dq + dk + dv
                    if mode == .microKernel {
                        if let first { XCTAssertEqual(all, first, "results depend on the thread count (\(label))") } else { first = all }
                    }
                }
            }
        }
    }

    /// The SIMD exp used for score rows: same accuracy as Float.fastExp, 0 for -inf and below -87.3, NaN kept, sum right.
    func testShiftedExpOfScoreRows() {
        var xs: [Float] = stride(from: -100.0, through: 80.0, by: 0.37).map { Float($0) }
        xs += [-.infinity, .nan, 0, -87.2, -87.4, 1e-8]
        for shift: Float in [0, 3.5, -2.25] {
            var row = xs
            let sum = Attention.expShifted(&row, row.count, by: shift)
            var expected: Double = 0
            for (i, x) in xs.enumerated() {
                let shifted = Double(x - shift)  // the kernel subtracts in Float; compare exp itself
                let want = shifted < -87.3 ? 0 : Foundation.exp(shifted)
                if x.isNaN { XCTAssertTrue(row[i].isNaN, "NaN at \(i)"); continue }
                expected += want
                XCTAssertEqual(Double(row[i]), want, accuracy: 1e-6 * want + 1e-30, "exp(\(x) - \(shift))")
            }
            XCTAssertTrue(sum.isNaN, "a NaN in the row makes the sum NaN")
            var finite = xs.filter { !$0.isNaN }
            let finiteSum = Attention.expShifted(&finite, finite.count, by: shift)
            XCTAssertEqual(Double(finiteSum), expected, accuracy: 1e-6 * expected)
        }
    }
}
