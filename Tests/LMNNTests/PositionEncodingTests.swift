// Positions and windows against PyTorch (Tests/Fixtures/tensor/window_alibi.json, written by
// Scripts/fixtures/window_alibi_fixture.py): ALiBi slopes as the paper's code and HF Bloom compute them, the sinusoidal
// table of the PyTorch tutorial, and attention with ALiBi / sliding windows / global tokens (forward and gradients,
// float32 and float64) against torch's SDPA with the equivalent dense mask; float64 gradchecks of the same options
// through both ops; the materialized (dropout) path against the fused kernel.
import Foundation
@testable import LMNN
import LMTensor
import XCTest
import _TestSupport

final class PositionEncodingTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            let name: String
            let batch: Int, heads: Int, kv_heads: Int, query_length: Int, key_length: Int, head_size: Int
            let window: Int?, global_tokens: Int, alibi: Bool, causal: Bool, key_gap: Int
            let q: [Double], k: [Double], v: [Double], d_out: [Double], out: [Double], dq: [Double], dk: [Double], dv: [Double]
        }
        struct Table: Decodable { let length: Int, width: Int, table: [Double] }
        let magic: String, version: Int
        let alibi_slopes: [String: [Double]]
        let cases: [Case]
        let sinusoidal: Table
    }

    func fixture() throws -> Fixture {
        let f = try loadFixture("tensor/window_alibi.json", as: Fixture.self)
        XCTAssertEqual(f.magic, "lmkit-window-alibi"); XCTAssertEqual(f.version, 1)
        return f
    }

    /// 8 heads: 2^-1 … 2^-8 (the paper's power-of-two rule); 12 heads: those of 8, then every other slope of 16
    /// (2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5); and 1…16 heads equal the reference code's values.
    func testALiBiSlopesEqualTheReference() throws {
        XCTAssertEqual(PositionEncoding.alibiSlopes(heads: 8), (1...8).map { pow(2, -Double($0)) })
        let twelve = PositionEncoding.alibiSlopes(heads: 12)
        for (a, e) in zip(twelve, (1...8).map { pow(2, -Double($0)) } + [0.5, 1.5, 2.5, 3.5].map { pow(2, -$0) }) {
            XCTAssertEqual(a, e, accuracy: 1e-15)
        }
        for (n, expected) in try fixture().alibi_slopes {
            assertClose(PositionEncoding.alibiSlopes(heads: Int(n)!), expected, rtol: 1e-14, atol: 0, "\(n) heads")
        }
    }

    /// The table equals the closed form at several positions and dimensions, and PyTorch's tutorial table.
    func testSinusoidalTableEqualsFormulaAndPyTorch() throws {
        let f = try fixture().sinusoidal
        let table = PositionEncoding.sinusoidalTable(length: f.length, width: f.width).toDoubles()
        for (p, i) in [(0, 0), (1, 0), (1, 1), (5, 4), (16, 10), (16, 11), (9, 7)] {
            let angle = Double(p) / pow(10000, Double(i - i % 2) / Double(f.width))
            XCTAssertEqual(table[p * f.width + i], i % 2 == 0 ? sin(angle) : cos(angle), accuracy: 1e-6, "position \(p) dim \(i)")
        }
        assertClose(table, f.table, rtol: 0, atol: 1e-6, "PyTorch tutorial table")
    }

    /// Every fixture case through `scaledDotProductAttention` (ALiBi in the kernel, window and global keys skipped per
    /// tile) in float32 and float64: output and dQ/dK/dV of sum(out · dOut) equal PyTorch's dense masked SDPA.
    func testAttentionOptionsMatchPyTorch() throws {
        for c in try fixture().cases {
            for dtype in [DType.float32, .float64] {
                func tensor(_ values: [Double], _ shape: [Int]) -> Tensor {
                    let t = Tensor(doubles: values, shape: shape)
                    return (dtype == .float64 ? t : t.to(DType.float32)).requiringGrad()
                }
                let q = tensor(c.q, [c.batch, c.heads, c.query_length, c.head_size])
                let k = tensor(c.k, [c.batch, c.kv_heads, c.key_length, c.head_size])
                let v = tensor(c.v, [c.batch, c.kv_heads, c.key_length, c.head_size])
                let out = Tensor.scaledDotProductAttention(q, k, v, causal: c.causal, window: c.window, globalTokens: c.global_tokens,
                                                           alibiSlopes: c.alibi ? PositionEncoding.alibiSlopes(heads: c.heads) : nil,
                                                           keyGap: c.key_gap)
                out.backward(Tensor(doubles: c.d_out, shape: out.shape).to(dtype))
                let (rtol, atol) = dtype == .float64 ? (1e-10, 1e-12) : (1e-4, 1e-5)
                assertClose(out, c.out, rtol: rtol, atol: atol, "\(c.name) \(dtype) out")
                assertClose(q.grad!, c.dq, rtol: rtol, atol: atol, "\(c.name) \(dtype) dq")
                assertClose(k.grad!, c.dk, rtol: rtol, atol: atol, "\(c.name) \(dtype) dk")
                assertClose(v.grad!, c.dv, rtol: rtol, atol: atol, "\(c.name) \(dtype) dv")
            }
        }
    }

    /// Float64 finite differences through ALiBi, a window with global tokens, GQA, decoding shapes and the packed op.
    func testALiBiAndGlobalTokensGradcheck() {
        let g = Generator(seed: 21)
        let slopes = PositionEncoding.alibiSlopes(heads: 6)
        let q = Tensor.randn([2, 6, 9, 3], generator: g, dtype: .float64).requiringGrad()
        let k = Tensor.randn([2, 2, 9, 3], generator: g, dtype: .float64).requiringGrad()
        let v = Tensor.randn([2, 2, 9, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("sdpa alibi", [q, k, v]) { Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, alibiSlopes: slopes) }
        gradcheck("sdpa window globals alibi", [q, k, v]) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, keyLengths: [9, 6], window: 2, globalTokens: 3, alibiSlopes: slopes)
        }
        let decodeQ = Tensor.randn([2, 6, 2, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("sdpa decode window globals alibi gap", [decodeQ, k, v]) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, window: 3, globalTokens: 2, alibiSlopes: slopes, keyGap: 5)
        }
        let qkv = Tensor.randn([2, 7, 4 + 2 * 2, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("packed window globals alibi", [qkv]) {
            Tensor.packedSelfAttention($0[0], heads: 4, kvHeads: 2, causal: true, window: 2, globalTokens: 2,
                                       alibiSlopes: PositionEncoding.alibiSlopes(heads: 4))
        }
    }

    /// The path attention dropout takes (scores materialized, window / global / ALiBi terms added as tensors) equals
    /// the fused kernel with dropout 0.
    func testMaterializedPathMatchesKernelWithGlobalsAndALiBi() {
        let g = Generator(seed: 4)
        for (window, globals, alibi) in [(3, 2, true), (2, 0, false), (4, 1, false)] as [(Int, Int, Bool)] {
            let slopes = alibi ? PositionEncoding.alibiSlopes(heads: 4) : nil
            let attention = SelfAttention(width: 8, heads: 4, kvHeads: 2, causal: true, window: window, globalTokens: globals, bias: true, dropout: 0,
                                          rotaryLayout: nil, alibiSlopes: slopes, outputStd: 0.1, generator: g, dropoutGenerator: g).eval()
            let q = Tensor.randn([2, 4, 8, 2], generator: g), k = Tensor.randn([2, 2, 8, 2], generator: g), v = Tensor.randn([2, 2, 8, 2], generator: g)
            let fused = noGrad { Tensor.scaledDotProductAttention(q, k, v, causal: true, window: window, globalTokens: globals, alibiSlopes: slopes) }
            let materialized = noGrad { attention.attentionWithDropout(q, k, v, keyLengths: nil) }
            assertClose(fused.toDoubles(), materialized.toDoubles(), rtol: 1e-5, atol: 1e-6, "window \(window) globals \(globals) alibi \(alibi)")
        }
    }
}
