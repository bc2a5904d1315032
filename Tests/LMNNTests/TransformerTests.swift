// The reusable Transformer parts: the KV cache's growth, pre- and post-norm blocks against their formulas, the
// sinusoidal table against Vaswani et al.'s definition, and key padding: a padded sequence's outputs equal those of
// the same sequence run alone without its padding.
import Foundation
import LMTensor
import XCTest
import _TestSupport
@testable import LMNN

final class TransformerTests: XCTestCase {
    /// The cache keeps one buffer per layer while it has room and doubles it when full, so decoding T tokens copies
    /// O(T) values; attention reads the filled prefix as a view of that buffer.
    func testKVCacheGrowsByDoubling() {
        let layer = KVCache(layerCount: 1, maximumLength: 100).layers[0]
        func append(_ t: Int) -> Tensor { layer.append(keys: Tensor.zeros([1, 2, t, 4]), values: Tensor.zeros([1, 2, t, 4])).0 }
        let first = append(3)
        XCTAssertEqual(first.shape, [1, 2, 3, 4])
        XCTAssertEqual(layer.keys?.shape[2], 16)
        for _ in 0..<13 { XCTAssertTrue(append(1).storage === first.storage) }   // 16 positions: same buffer
        let grown = append(1)
        XCTAssertFalse(grown.storage === first.storage)
        XCTAssertEqual(layer.keys?.shape[2], 32)
        XCTAssertEqual(grown.shape, [1, 2, 17, 4])
        for _ in 0..<83 { _ = append(1) }
        XCTAssertEqual(layer.keys?.shape[2], 100)   // capped at the model's context
    }

    func makeBlock(_ position: NormPosition, causal: Bool = true, generator g: Generator) -> TransformerBlock {
        TransformerBlock(
            attention: SelfAttention(width: 8, heads: 2, kvHeads: 1, causal: causal, bias: true, dropout: 0, rotaryLayout: nil,
                                     outputStd: 0.1, generator: g, dropoutGenerator: g),
            mlp: FeedForward(width: 8, hidden: 16, kind: .gelu, bias: true, dropout: 0, outputStd: 0.1, generator: g, dropoutGenerator: g),
            norms: (LayerNorm(8), LayerNorm(8)), position: position).eval()
    }

    func testPreAndPostNormBlocksFollowTheirFormulas() {
        let g = Generator(seed: 3)
        let x = Tensor.randn([2, 5, 8], generator: g)
        for position in [NormPosition.pre, .post] {
            let block = makeBlock(position, generator: g)
            let y = noGrad { block(x) }
            let expected: Tensor = noGrad {
                switch position {
                case .pre:
                    let h = x + block.attn(block.attentionNorm(x))
                    return h + block.mlp(block.mlpNorm(h))
                case .post:
                    let h = block.attentionNorm(x + block.attn(x))
                    return block.mlpNorm(h + block.mlp(h))
                }
            }
            assertClose(y.toDoubles(), expected.toDoubles(), rtol: 0, atol: 0)
            XCTAssertEqual(block.stateDictKeys().filter { $0.hasPrefix("ln_") }.count, 4)   // ln_1/ln_2 weight + bias
        }
    }

    func testSinusoidalTable() {
        let table = PositionEncoding.sinusoidalTable(length: 7, width: 6).toDoubles()
        for p in 0..<7 {
            for i in 0..<3 {
                let angle = Double(p) / pow(10000, Double(2 * i) / 6)
                XCTAssertEqual(table[p * 6 + 2 * i], sin(angle), accuracy: 1e-6)
                XCTAssertEqual(table[p * 6 + 2 * i + 1], cos(angle), accuracy: 1e-6)
            }
        }
    }

    /// Sequence b padded to T with keyLengths[b] real positions gives, at its real positions, the outputs of the
    /// sequence run alone: bidirectional (encoder) and causal attention.
    func testKeyLengthsMatchUnpaddedRuns() {
        let g = Generator(seed: 5)
        for causal in [false, true] {
            let block = makeBlock(.post, causal: causal, generator: g)
            let (T, lengths) = (6, [6, 3, 1])
            let x = Tensor.randn([3, T, 8], generator: g)
            let padded = noGrad { block(x, keyLengths: lengths) }
            for (b, n) in lengths.enumerated() {
                let alone = noGrad { block(x.slice(0, b, b + 1).slice(1, 0, n)) }
                assertClose(padded.slice(0, b, b + 1).slice(1, 0, n).toDoubles(), alone.toDoubles(), rtol: 1e-5, atol: 1e-6)
            }
        }
    }

    /// The fused kernel's padding and sliding window equal the materialized softmax(QKᵀ/√d + masks)·V path the layer
    /// takes for attention dropout (dropout 0 here, so both are deterministic). No row is fully masked: there the kernel
    /// gives zeros by convention and the additive form an average.
    func testFusedMasksEqualTheMaterializedPath() {
        let g = Generator(seed: 9)
        for (causal, window) in [(false, nil), (true, nil), (true, 2)] as [(Bool, Int?)] {
            let attention = SelfAttention(width: 8, heads: 4, kvHeads: 2, causal: causal, window: window, bias: true, dropout: 0,
                                          rotaryLayout: nil, outputStd: 0.1, generator: g, dropoutGenerator: g).eval()
            let q = Tensor.randn([2, 4, 5, 2], generator: g), k = Tensor.randn([2, 2, 5, 2], generator: g), v = Tensor.randn([2, 2, 5, 2], generator: g)
            let fused = noGrad { Tensor.scaledDotProductAttention(q, k, v, causal: causal, keyLengths: [5, 4], window: window) }
            let materialized = noGrad { attention.attentionWithDropout(q, k, v, keyLengths: [5, 4]) }
            assertClose(fused.toDoubles(), materialized.toDoubles(), rtol: 1e-5, atol: 1e-6, "causal \(causal) window \(String(describing: window))")
        }
    }
}
