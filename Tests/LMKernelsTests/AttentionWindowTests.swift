// Sliding windows with global tokens and ALiBi in the fused kernel, against the naive reference beside it (which
// applies `AttentionShape.visible` and `alibiBias` to a full score row): forward for every tile size and both key
// paths, backward against float64 central differences; a window covering every key is bitwise full causal attention;
// the tiles visited under a window grow as T·(window + global tokens), not T². The PyTorch check of the same rules is
// in LMNNTests/PositionEncodingTests (Tests/Fixtures/tensor/window_alibi.json).
import Foundation
@testable import LMKernels
import XCTest

final class AttentionWindowTests: XCTestCase {
    func random<T: KernelScalar>(_ n: Int, _ seed: Int, _: T.Type) -> [T] {
        (0..<n).map { T(sin(Double($0 * 7919 + seed * 104729) * 0.001) * 1.7) }
    }

    static func slopes(_ n: Int) -> [Double] { (1...n).map { Foundation.pow(2, -8 * Double($0) / Double(n)) } }

    /// Global prefixes shorter and longer than the window, reaching past Tq, with key lengths, GQA, decoding shapes,
    /// ALiBi alone, ALiBi with a key gap (a rolled cache), and a bidirectional ALiBi call.
    var shapes: [AttentionShape] {
        [AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 17, keyLength: 17, headSize: 4, causal: true, window: 3, globalTokens: 2),
         AttentionShape(batch: 2, heads: 2, kvHeads: 2, queryLength: 12, keyLength: 12, headSize: 3, causal: true, keyLengths: [12, 7], window: 2,
                        globalTokens: 5),
         AttentionShape(batch: 1, heads: 3, kvHeads: 3, queryLength: 4, keyLength: 15, headSize: 4, causal: true, window: 4, globalTokens: 3,
                        alibiSlopes: Self.slopes(3)),
         AttentionShape(batch: 2, heads: 4, kvHeads: 2, queryLength: 10, keyLength: 10, headSize: 5, causal: true, alibiSlopes: Self.slopes(4)),
         AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 2, keyLength: 9, headSize: 4, causal: true, window: 3, globalTokens: 2,
                        alibiSlopes: Self.slopes(2), keyGap: 6),
         AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: 7, keyLength: 9, headSize: 3, causal: false, alibiSlopes: Self.slopes(2))]
    }

    func withKeyPath(inPlace: Bool, _ body: () -> Void) {
        let saved = Attention.inPlaceQueryLength
        defer { Attention.inPlaceQueryLength = saved }
        Attention.inPlaceQueryLength = inPlace ? Int.max : 0
        body()
    }

    func testGlobalTokensAndALiBiForwardEqualsNaive() {
        for s in shapes {
            let q = random(s.batch * s.heads * s.queryLength * s.headSize, 1, Float.self)
            let k = random(s.batch * s.kvHeads * s.keyLength * s.headSize, 2, Float.self)
            let v = random(k.count, 3, Float.self)
            var expected = [Float](repeating: 0, count: q.count)
            Attention.naiveForward(s, q: q, k: k, v: v, mask: nil, out: &expected)
            for inPlace in [false, true] {
                withKeyPath(inPlace: inPlace) {
                    for (tq, tk) in [(1, 1), (2, 3), (4, 4), (3, 2), (64, 64)] {
                        var out = [Float](repeating: .nan, count: q.count), lse = [Float](repeating: 0, count: q.count / s.headSize)
                        Attention.forward(s, q: q, k: k, v: v, mask: nil, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                        for i in out.indices {
                            XCTAssertEqual(out[i], expected[i], accuracy: 1e-5,
                                           "w \(s.window ?? 0) g \(s.globalTokens) alibi \(s.alibiSlopes != nil) tiles \(tq)x\(tk) in place \(inPlace) [\(i)]")
                        }
                    }
                }
            }
        }
    }

    /// In both orders of backward's tile pairs (query tile by query tile, and key tile by key tile as long heads use).
    func testGlobalTokensAndALiBiBackwardMatchesFiniteDifferences() {
        let saved = Attention.keyOrderElements
        defer { Attention.keyOrderElements = saved }
        for keyOrder in [Int.max, 0] {
            Attention.keyOrderElements = keyOrder
            checkBackwardAgainstFiniteDifferences()
        }
    }

    func checkBackwardAgainstFiniteDifferences() {
        for s in shapes {
            let q = random(s.batch * s.heads * s.queryLength * s.headSize, 1, Double.self)
            let k = random(s.batch * s.kvHeads * s.keyLength * s.headSize, 2, Double.self)
            let v = random(k.count, 3, Double.self), w = random(q.count, 4, Double.self)
            func loss(_ q: [Double], _ k: [Double], _ v: [Double]) -> Double {
                var out = [Double](repeating: 0, count: q.count)
                Attention.naiveForward(s, q: q, k: k, v: v, mask: nil, out: &out)
                return zip(out, w).map(*).reduce(0, +)
            }
            for (tq, tk) in [(1, 2), (3, 3), (64, 64)] {
                var out = [Double](repeating: 0, count: q.count), lse = [Double](repeating: 0, count: q.count / s.headSize)
                Attention.forward(s, q: q, k: k, v: v, mask: nil, out: &out, lse: &lse, tileQ: tq, tileK: tk)
                var dq = [Double](repeating: .nan, count: q.count), dk = [Double](repeating: .nan, count: k.count), dv = dk
                Attention.backward(s, q: q, k: k, v: v, mask: nil, out: out, lse: lse, dOut: w, dQ: &dq, dK: &dk, dV: &dv, tileQ: tq, tileK: tk)
                let eps = 1e-6
                for (name, analytic, which) in [("dQ", dq, 0), ("dK", dk, 1), ("dV", dv, 2)] {
                    for i in analytic.indices {
                        var a = [q, k, v], b = [q, k, v]
                        a[which][i] += eps; b[which][i] -= eps
                        let numeric = (loss(a[0], a[1], a[2]) - loss(b[0], b[1], b[2])) / (2 * eps)
                        XCTAssertEqual(analytic[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric),
                                       "\(name)[\(i)] w \(s.window ?? 0) g \(s.globalTokens) alibi \(s.alibiSlopes != nil) tiles \(tq)x\(tk) " +
                                       "key order from \(Attention.keyOrderElements)")
                    }
                }
            }
        }
    }

    /// window ≥ T (with or without global tokens) visits the same tiles with the same masks as no window: same bits.
    func testWindowCoveringEveryKeyIsFullCausalBitwise() {
        for (T, window, globals) in [(70, 70, 0), (70, 500, 3), (9, 9, 9)] {
            let full = AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: T, keyLength: T, headSize: 8, causal: true)
            let windowed = AttentionShape(batch: 1, heads: 2, kvHeads: 2, queryLength: T, keyLength: T, headSize: 8, causal: true,
                                          window: window, globalTokens: globals)
            let q = random(2 * T * 8, 1, Float.self), k = random(q.count, 2, Float.self), v = random(q.count, 3, Float.self)
            let dOut = random(q.count, 4, Float.self)
            var results: [[Float]] = []
            for s in [full, windowed] {
                var out = [Float](repeating: 0, count: q.count), lse = [Float](repeating: 0, count: 2 * T)
                Attention.forward(s, q: q, k: k, v: v, mask: nil, out: &out, lse: &lse, tileQ: 16, tileK: 32)
                var dq = [Float](repeating: 0, count: q.count), dk = dq, dv = dq
                Attention.backward(s, q: q, k: k, v: v, mask: nil, out: out, lse: lse, dOut: dOut, dQ: &dq, dK: &dk, dV: &dv, tileQ: 16, tileK: 32)
                results.append(out + dq + dk + dv)
            }
            XCTAssertEqual(results[0], results[1], "T \(T) window \(window) globals \(globals)")
        }
    }

    /// The keys forward and backward visit (`keySpans` per query tile) stay within window + global tokens + one query
    /// tile (+ 15, the span starts on a 16-key panel) per query tile and contain every visible key; past the first window the count grows linearly in T (each
    /// doubling adds twice what the previous one did), and at T = 8192 it is under 1/20 of full causal attention's.
    func testWindowVisitsLinearlyManyKeys() {
        let tileQ = 64, window = 256, globals = 4
        func visited(_ T: Int) -> Int {
            let s = AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: T, keyLength: T, headSize: 1, causal: true, window: window,
                                   globalTokens: globals)
            var total = 0
            for i0 in stride(from: 0, to: T, by: tileQ) {
                let rows = i0..<min(T, i0 + tileQ), spans = s.keySpans(batch: 0, rows: rows)
                XCTAssertLessThanOrEqual(spans.globals.count + spans.window.count, window + tileQ + globals + 15)
                for i in [rows.lowerBound, rows.upperBound - 1] {
                    for j in 0..<T where s.visible(batch: 0, i, j) {
                        XCTAssertTrue(spans.globals.contains(j) || spans.window.contains(j), "T \(T) row \(i) key \(j) not visited")
                    }
                }
                total += spans.globals.count + spans.window.count
            }
            return total
        }
        let (t2k, t4k, t8k) = (visited(2048), visited(4096), visited(8192))
        XCTAssertEqual(t8k - t4k, 2 * (t4k - t2k))
        XCTAssertLessThan(t8k * 20, 8192 * 8192 / 2)
    }
}
