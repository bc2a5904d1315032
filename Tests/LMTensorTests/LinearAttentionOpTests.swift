// The linear attention op: equal to the quadratic masked reference for every chunk size, float64 gradchecks (causal and
// not, through both feature maps), the recurrent step form equal to the parallel form, and forward values and gradients
// equal to the PyTorch reference of Scripts/fixtures/linear_attention_fixture.py (fast-transformers semantics).
import LMTensor
import XCTest
import _TestSupport

final class LinearAttentionOpTests: XCTestCase {
    let (B, H, L, D, E) = (2, 2, 10, 3, 4)

    func inputs(seed: UInt64, dtype: DType = .float64) -> [Tensor] {
        let g = Generator(seed: seed)
        return [[B, H, L, D], [B, H, L, D], [B, H, L, E]].map { Tensor.randn($0, generator: g, dtype: dtype).requiringGrad() }
    }

    func reference(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool) -> [Double] {
        var out = [Double](repeating: 0, count: B * H * L * E)
        let (qd, kd, vd) = (q.toDoubles(), k.toDoubles(), v.toDoubles())
        out.withUnsafeMutableBufferPointer { o in
            LinearAttention.referenceForward(q: qd, k: kd, v: vd, out: o.baseAddress!, BH: B * H, T: L, D: D, E: E, causal: causal, eps: 1e-6)
        }
        return out
    }

    func testEqualsQuadraticReferenceForEveryChunk() {
        let x = inputs(seed: 1)
        let q = x[0].linearAttentionFeatures(.elu), k = x[1].linearAttentionFeatures(.elu)
        for causal in [true, false] {
            let expected = reference(q, k, x[2], causal: causal)
            for chunk in [1, 3, 4, 10, 64] {  // 3 and 4 leave a partial last chunk
                assertClose(Tensor.linearAttention(q, k, x[2], causal: causal, chunk: chunk), expected, rtol: 1e-12, atol: 1e-12,
                            "causal \(causal) chunk \(chunk)")
            }
        }
    }

    func testGradcheck() {
        for (causal, map, chunk) in [(true, LinearAttentionFeatureMap.elu, 3), (true, .elu, 16), (false, .elu, 4), (true, .relu, 4)] {
            gradcheck("linear attention causal \(causal) \(map) chunk \(chunk)", inputs(seed: 2)) { t in
                Tensor.linearAttention(t[0].linearAttentionFeatures(map), t[1].linearAttentionFeatures(map), t[2], causal: causal, chunk: chunk)
            }
        }
    }

    /// Float32 values and gradients do not depend on the chunk beyond rounding (the kernel's float32 path).
    func testChunkDoesNotChangeFloat32Results() {
        let x = inputs(seed: 5, dtype: .float32)
        let w = Tensor.randn([B, H, L, E], generator: Generator(seed: 6))
        var results: [[[Double]]] = []
        for chunk in [2, 5, 64] {
            for t in x { t.grad = nil }
            let y = Tensor.linearAttention(x[0].linearAttentionFeatures(.elu), x[1].linearAttentionFeatures(.elu), x[2], causal: true, chunk: chunk)
            (y * w).sum().backward()
            results.append([y.toDoubles()] + x.map { $0.grad!.toDoubles() })
        }
        for r in results.dropFirst() { for (a, b) in zip(r, results[0]) { assertClose(a, b, rtol: 1e-5, atol: 1e-5, "chunk invariance") } }
    }

    func testStepByStepEqualsParallelCausalForm() {
        let x = inputs(seed: 3).map { $0.linearAttentionFeatures(.elu).detach() }
        let full = Tensor.linearAttention(x[0], x[1], x[2], causal: true, chunk: 4).toDoubles()
        let state = Tensor(zeros: [B, H, D, E + 1], dtype: .float64)
        var pieces: [Tensor] = []
        for (lo, hi) in [(0, 5), (5, 6), (6, 7), (7, 10)] {  // a prefill of 5, two single steps, then 3 more
            pieces.append(Tensor.linearAttentionStep(x[0].slice(2, lo, hi), x[1].slice(2, lo, hi), x[2].slice(2, lo, hi), state: state, chunk: 2))
        }
        assertClose(Tensor.concat(pieces, axis: 2), full, rtol: 1e-12, atol: 1e-12, "recurrent == parallel")
    }

    /// φ = relu can zero a query's features: the eps keeps the row finite (its output is 0), as in fast-transformers.
    func testReluZeroRowIsFinite() {
        let q = Tensor(zeros: [1, 1, 3, 2], dtype: .float64), k = Tensor.randn([1, 1, 3, 2], generator: Generator(seed: 1), dtype: .float64)
        let v = Tensor.randn([1, 1, 3, 2], generator: Generator(seed: 2), dtype: .float64)
        let y = Tensor.linearAttention(q.linearAttentionFeatures(.relu), k.linearAttentionFeatures(.relu), v, causal: true)
        XCTAssertEqual(y.toDoubles(), [Double](repeating: 0, count: 6))
    }

    struct Fixture: Decodable {
        struct Case: Decodable {
            let causal: Bool, featureMap: String, chunk: Int
            let shape: [Int], valueSize: Int
            let q: [Double], k: [Double], v: [Double], weight: [Double]
            let out: [Double], dq: [Double], dk: [Double], dv: [Double]
            enum CodingKeys: String, CodingKey {
                case causal, featureMap = "feature_map", chunk, shape, valueSize = "value_size", q, k, v, weight, out, dq, dk, dv
            }
        }
        let cases: [Case]
    }

    /// Shapes that fill the micro-GEMM's 6×16 blocks (D 20; E 35: full panels and an edge column; E 32: the normalizer
    /// column split off the micro-GEMM; 6-, 4- and 1-row blocks, the causal band skipped) at chunk 64 and 48 (a partial
    /// last chunk), float64: values and all three gradients equal the quadratic form composed from autograd ops,
    /// out = ((QKᵀ ⊙ M) V) / ((QKᵀ ⊙ M) 1 + eps), through both product paths (micro-GEMM and BLAS).
    func testLargeChunksEqualComposedQuadraticForm() {
        for (l, d, e) in [(150, 20, 35), (150, 20, 32)] {
            let g = Generator(seed: 11)
            let x = [[1, 2, l, d], [1, 2, l, d], [1, 2, l, e]].map { Tensor.randn($0, generator: g, dtype: .float64).requiringGrad() }
            let w = Tensor.randn([1, 2, l, e], generator: g, dtype: .float64)
            func gradients(_ f: (Tensor, Tensor, Tensor) -> Tensor) -> [[Double]] {
                for t in x { t.grad = nil }
                let y = f(x[0].linearAttentionFeatures(.elu), x[1].linearAttentionFeatures(.elu), x[2])
                (y * w).sum().backward()
                return [y.toDoubles()] + x.map { $0.grad!.toDoubles() }
            }
            let expected = gradients { q, k, v in
                let a = q.matmul(k.transpose(2, 3)) * Tensor.trilMask(l, l, dtype: .float64)
                return a.matmul(v) / (a.sum(axis: 3, keepDim: true) + 1e-6)
            }
            let saved = Attention.tileProducts
            defer { Attention.tileProducts = saved }
            for products in [Attention.TileProducts.microKernel, .blas] {
                Attention.tileProducts = products
                for chunk in [64, 48] {
                    let got = gradients { Tensor.linearAttention($0, $1, $2, causal: true, chunk: chunk) }
                    for (i, name) in ["out", "dq", "dk", "dv"].enumerated() {
                        assertClose(got[i], expected[i], rtol: 1e-10, atol: 1e-10, "E \(e) \(products) chunk \(chunk): \(name)")
                    }
                }
            }
        }
    }

    /// Float32 forward and gradients of φ + linear attention against PyTorch (fast-transformers' formulas).
    func testMatchesPyTorchFixture() throws {
        let fixture = try loadFixture("tensor/linear_attention.json", as: Fixture.self)
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 4)
        for c in fixture.cases {
            let (b, h, t, d) = (c.shape[0], c.shape[1], c.shape[2], c.shape[3])
            let q = Tensor(c.q.map(Float.init), shape: [b, h, t, d]).requiringGrad()
            let k = Tensor(c.k.map(Float.init), shape: [b, h, t, d]).requiringGrad()
            let v = Tensor(c.v.map(Float.init), shape: [b, h, t, c.valueSize]).requiringGrad()
            let map = try XCTUnwrap(LinearAttentionFeatureMap(rawValue: c.featureMap))
            let y = Tensor.linearAttention(q.linearAttentionFeatures(map), k.linearAttentionFeatures(map), v, causal: c.causal, chunk: c.chunk)
            (y * Tensor(c.weight.map(Float.init), shape: y.shape)).sum().backward()
            let name = "causal \(c.causal) \(c.featureMap) chunk \(c.chunk)"
            assertClose(y, c.out, rtol: 1e-4, atol: 1e-5, "\(name): out")
            assertClose(q.grad!, c.dq, rtol: 1e-4, atol: 1e-5, "\(name): dq")
            assertClose(k.grad!, c.dk, rtol: 1e-4, atol: 1e-5, "\(name): dk")
            assertClose(v.grad!, c.dv, rtol: 1e-4, atol: 1e-5, "\(name): dv")
        }
    }
}
