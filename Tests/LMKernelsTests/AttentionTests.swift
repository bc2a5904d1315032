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
            // 6 key/value heads: backward runs one item per head (the shapes above split each head's query tiles)
            (AttentionShape(batch: 2, heads: 6, kvHeads: 3, queryLength: 80, keyLength: 80, headSize: 16, causal: true), false),
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

    /// Runs `body` with keys read in place (`true`) or through the Kᵀ/Vᵀ copies (`false`), whatever the query length.
    func withKeyPath(inPlace: Bool, _ body: () -> Void) {
        let saved = Attention.inPlaceQueryLength
        defer { Attention.inPlaceQueryLength = saved }
        Attention.inPlaceQueryLength = inPlace ? Int.max : 0
        body()
    }

    var paddedShapes: [(AttentionShape, Bool)] {
        [(AttentionShape(batch: 3, heads: 2, kvHeads: 1, queryLength: 9, keyLength: 9, headSize: 4, causal: true, keyLengths: [0, 9, 5]), false),
         (AttentionShape(batch: 3, heads: 2, kvHeads: 2, queryLength: 6, keyLength: 11, headSize: 3, causal: false, keyLengths: [11, 0, 4]), true),
         (AttentionShape(batch: 2, heads: 2, kvHeads: 1, queryLength: 10, keyLength: 10, headSize: 4, causal: true, window: 3), false),
         (AttentionShape(batch: 2, heads: 1, kvHeads: 1, queryLength: 4, keyLength: 12, headSize: 5, causal: true, keyLengths: [7, 12], window: 5), true),
         (AttentionShape(batch: 2, heads: 2, kvHeads: 1, queryLength: 1, keyLength: 13, headSize: 4, causal: true, keyLengths: [13, 6], window: 4), false),
         (AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 12, keyLength: 7, headSize: 3, causal: true, keyLengths: [5], window: 2), false)]
    }

    /// Key lengths (a 0-length row, full rows, padded rows) with causal or bidirectional attention, a sliding window,
    /// and both together, Tq = Tk, Tq < Tk (decoding) and Tq > Tk: forward on both key paths and every tile size equals
    /// the naive reference, and a row that sees no key gives zeros.
    func testKeyLengthsAndWindowForwardEqualsNaive() {
        for (s, masked) in paddedShapes {
            let (q, k, v, mask) = inputs(s, masked: masked, Float.self)
            var expected = [Float](repeating: 0, count: q.count)
            Attention.naiveForward(s, q: q, k: k, v: v, mask: mask, out: &expected)
            if s.keyLengths?[0] == 0 { XCTAssertTrue(expected[0..<s.heads * s.queryLength * s.headSize].allSatisfy { $0 == 0 }) }
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
                    for (tq, tk) in [(1, 1), (2, 3), (4, 4), (16, 5), (64, 64)] {
                        var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: 0, count: q.count / s.headSize)
                        Attention.forward(s, q: q, k: k, v: v, mask: mask, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                        for i in out.indices {
                            XCTAssertEqual(out[i], expected[i], accuracy: 1e-5, "\(s.keyLengths ?? []) w \(s.window ?? 0) in place \(inPlace), tiles \(tq)x\(tk), element \(i)")
                        }
                    }
                }
            }
        }
    }

    /// The same shapes backward, in float64, against central differences of the naive reference.
    func testKeyLengthsAndWindowBackwardMatchesFiniteDifferences() {
        for (s, masked) in paddedShapes {
            let (q, k, v, mask) = inputs(s, masked: masked, Double.self)
            let w = random(q.count, 4, Double.self)
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                var out = [Double](repeating: 0, count: q.count)
                Attention.naiveForward(s, q: q, k: k, v: v, mask: mask, out: &out)
                return zip(out, w).map(*).reduce(0, +)
            }
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
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
                                XCTAssertEqual(analytic[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric),
                                               "\(name)[\(i)], \(s.keyLengths ?? []) w \(s.window ?? 0) in place \(inPlace), tiles \(tq)x\(tk)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Block-causal shapes (block diffusion): Tq = Tk with blocks that do and do not divide T, Tq < Tk (a block of
    /// queries after a cached prefix), GQA, key lengths, an additive mask on top.
    var blockCausalShapes: [(AttentionShape, Bool)] {
        [(AttentionShape(batch: 2, heads: 2, kvHeads: 1, queryLength: 10, keyLength: 10, headSize: 4, causal: false, blockLength: 3), false),
         (AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: 8, keyLength: 8, headSize: 3, causal: false, blockLength: 4), true),
         (AttentionShape(batch: 2, heads: 1, kvHeads: 1, queryLength: 4, keyLength: 12, headSize: 5, causal: false, keyLengths: [12, 9], blockLength: 4), false),
         (AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 7, keyLength: 7, headSize: 4, causal: false, blockLength: 1), false)]
    }

    /// The oracle for block-causal attention: the same shape without the block rule, with the rule materialized as an
    /// additive [Tq, Tk] mask (0 or −∞, added to the case's own mask), through the naive reference.
    func blockCausalReference<T: KernelScalar>(_ s: AttentionShape, q: [T], k: [T], v: [T], mask: [T]?, out: inout [T]) {
        let plain = AttentionShape(batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, queryLength: s.queryLength, keyLength: s.keyLength,
                                   headSize: s.headSize, scale: s.scale, causal: false, keyLengths: s.keyLengths)
        let n = s.blockLength!, offset = s.keyLength - s.queryLength
        var blockMask = [T](repeating: 0, count: s.queryLength * s.keyLength)
        for i in 0..<s.queryLength { for j in 0..<s.keyLength where j / n > (i + offset) / n { blockMask[i * s.keyLength + j] = -T.infinity } }
        if let mask { for e in blockMask.indices { blockMask[e] += mask[e] } }
        Attention.naiveForward(plain, q: q, k: k, v: v, mask: blockMask, out: &out)
    }

    func testBlockCausalForwardEqualsMaterializedMask() {
        for (s, masked) in blockCausalShapes {
            let (q, k, v, mask) = inputs(s, masked: masked, Float.self)
            var expected = [Float](repeating: 0, count: q.count)
            blockCausalReference(s, q: q, k: k, v: v, mask: mask, out: &expected)
            if s.blockLength == 1 && !masked {  // one-token blocks are causal attention
                let causal = AttentionShape(batch: s.batch, heads: s.heads, kvHeads: s.kvHeads, queryLength: s.queryLength,
                                            keyLength: s.keyLength, headSize: s.headSize, causal: true)
                var out = [Float](repeating: 0, count: q.count)
                Attention.naiveForward(causal, q: q, k: k, v: v, mask: nil, out: &out)
                for i in out.indices { XCTAssertEqual(out[i], expected[i], accuracy: 1e-6) }
            }
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
                    for (tq, tk) in [(1, 1), (2, 3), (4, 4), (16, 5), (64, 64)] {
                        var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: 0, count: q.count / s.headSize)
                        Attention.forward(s, q: q, k: k, v: v, mask: mask, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                        for i in out.indices {
                            XCTAssertEqual(out[i], expected[i], accuracy: 1e-5, "block \(s.blockLength!) in place \(inPlace), tiles \(tq)x\(tk), element \(i)")
                        }
                    }
                }
            }
        }
    }

    /// Block-causal backward, in float64, against central differences of the materialized-mask reference.
    func testBlockCausalBackwardMatchesFiniteDifferences() {
        for (s, masked) in blockCausalShapes {
            let (q, k, v, mask) = inputs(s, masked: masked, Double.self)
            let w = random(q.count, 4, Double.self)
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                var out = [Double](repeating: 0, count: q.count)
                blockCausalReference(s, q: q, k: k, v: v, mask: mask, out: &out)
                return zip(out, w).map(*).reduce(0, +)
            }
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
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
                                XCTAssertEqual(analytic[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric),
                                               "\(name)[\(i)], block \(s.blockLength!) in place \(inPlace), tiles \(tq)x\(tk)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// Keys read in place (decoding) and through the transposed copies give the same results within rounding (the dot
    /// products over D are summed in another order: differences up to ~4e-6 relative seen), for a few query rows
    /// against several key tiles (GQA, padding, window).
    func testInPlaceKeysMatchTransposedKeys() {
        for s in [AttentionShape(batch: 2, heads: 4, kvHeads: 2, queryLength: 1, keyLength: 600, headSize: 64, causal: true, keyLengths: [600, 313]),
                  AttentionShape(batch: 1, heads: 3, kvHeads: 1, queryLength: 7, keyLength: 300, headSize: 40, causal: true, window: 100),
                  AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: 5, keyLength: 270, headSize: 19, causal: false)] {
            let (q, k, v, _) = inputs(s, masked: false, Float.self)
            let dOut = random(q.count, 5, Float.self)
            var results: [[Float]] = []
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
                    XCTAssertEqual(Attention.readsKeysInPlace(s), inPlace)
                    var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: .nan, count: q.count / s.headSize)
                    Attention.forward(s, q: q, k: k, v: v, mask: nil, out: &out, lse: &lse)
                    var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count), dv = dk
                    Attention.backward(s, q: q, k: k, v: v, mask: nil, out: out, lse: lse, dOut: dOut, dQ: &dq, dK: &dk, dV: &dv)
                    results.append(out + lse + dq + dk + dv)
                }
            }
            let worst = zip(results[0], results[1]).map { abs($0 - $1) / (1 + abs($0)) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-5, "in place vs transposed keys, Tq \(s.queryLength) Tk \(s.keyLength)")
            XCTAssertFalse(results[1].contains { $0.isNaN })
        }
        XCTAssertTrue(Attention.readsKeysInPlace(AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 1, keyLength: 4096,
                                                                headSize: 64, causal: true)), "one decoded token must not copy the cache")
    }

    /// q, k and v read through strides give the same bits as contiguous copies, forward and backward, on both key
    /// paths: decoding from a KV cache [B, Hkv, capacity, D] viewed up to its length (NaN past it, so a read there would
    /// show), with q sliced out of a fused [B, T, H + 2·Hkv, D] projection; and training with q, k, v all from it.
    func testStridedInputsEqualContiguousBitwise() {
        let B = 2, H = 4, Hkv = 2, D = 16, heads = H + 2 * Hkv
        for (Tq, Tk, capacity) in [(3, 37, 50), (70, 70, 0)] {
            let s = AttentionShape(batch: B, heads: H, kvHeads: Hkv, queryLength: Tq, keyLength: Tk, headSize: D, causal: true,
                                   keyLengths: [Tk, Tk / 2])
            let fused = random(B * Tq * heads * D, 7, Float.self)  // the projection's rows (keys/values too without a cache)
            var cacheK = [Float](repeating: .nan, count: B * Hkv * capacity * D), cacheV = cacheK
            let kv = random(2 * B * Hkv * Tk * D, 8, Float.self)
            for b in 0..<B { for h in 0..<Hkv { for t in 0..<Tk { for d in 0..<D where capacity > 0 {
                cacheK[((b * Hkv + h) * capacity + t) * D + d] = kv[((b * Hkv + h) * Tk + t) * D + d]
                cacheV[((b * Hkv + h) * capacity + t) * D + d] = kv[B * Hkv * Tk * D + ((b * Hkv + h) * Tk + t) * D + d]
            } } } }
            let qStrides = AttentionStrides(batch: Tq * heads * D, head: D, row: heads * D)  // [B, T, heads, D] transposed
            let kStrides = capacity > 0 ? AttentionStrides(batch: Hkv * capacity * D, head: capacity * D, row: D) : qStrides
            let layout = AttentionLayout(s, q: qStrides, k: kStrides, v: kStrides)
            // Contiguous gathers of the same values.
            func gather(_ src: [Float], _ st: AttentionStrides, heads n: Int, length: Int, base: Int) -> [Float] {
                var out = [Float]()
                for b in 0..<B { for h in 0..<n { for t in 0..<length { for d in 0..<D { out.append(src[base + b * st.batch + h * st.head + t * st.row + d]) } } } }
                return out
            }
            let q = gather(fused, qStrides, heads: H, length: Tq, base: 0)
            let k = capacity > 0 ? gather(cacheK, kStrides, heads: Hkv, length: Tk, base: 0) : gather(fused, kStrides, heads: Hkv, length: Tk, base: H * D)
            let v = capacity > 0 ? gather(cacheV, kStrides, heads: Hkv, length: Tk, base: 0) : gather(fused, kStrides, heads: Hkv, length: Tk, base: (H + Hkv) * D)
            let dOut = random(q.count, 9, Float.self)
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
                    var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: .nan, count: q.count / D)
                    Attention.forward(s, q: q, k: k, v: v, mask: nil, out: &out, lse: &lse)
                    var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count), dv = dk
                    Attention.backward(s, q: q, k: k, v: v, mask: nil, out: out, lse: lse, dOut: dOut, dQ: &dq, dK: &dk, dV: &dv)

                    var sOut = [Float](repeating: .nan, count: q.count), sLse = [Float](repeating: .nan, count: lse.count)
                    var sdq = sOut, sdk = [Float](repeating: .nan, count: k.count), sdv = sdk
                    fused.withUnsafeBufferPointer { f in cacheK.withUnsafeBufferPointer { ck in cacheV.withUnsafeBufferPointer { cv in
                        let qp = f.baseAddress!
                        let kp = capacity > 0 ? ck.baseAddress! : qp + H * D, vp = capacity > 0 ? cv.baseAddress! : qp + (H + Hkv) * D
                        Attention.forward(s, q: qp, k: kp, v: vp, mask: nil, out: &sOut, lse: &sLse, layout: layout)
                        Attention.backward(s, q: qp, k: kp, v: vp, mask: nil, out: sOut, lse: sLse, dOut: dOut, dQ: &sdq, dK: &sdk, dV: &sdv,
                                           layout: layout)
                    } } }
                    let label = "Tq \(Tq) Tk \(Tk) capacity \(capacity), in place \(inPlace)"
                    XCTAssertEqual(sOut, out, "out, \(label)")
                    XCTAssertEqual(sLse, lse, "lse, \(label)")
                    XCTAssertEqual(sdq, dq, "dQ, \(label)"); XCTAssertEqual(sdk, dk, "dK, \(label)"); XCTAssertEqual(sdv, dv, "dV, \(label)")
                    XCTAssertFalse((out + dq + dk + dv).contains { $0.isNaN }, label)
                }
            }
        }
    }
}
