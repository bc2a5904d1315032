// The FLASH family: one layer against the PyTorch reference of Scripts/fixtures/flash_fixture.py (values and every
// gradient; causal and not, relu² and softmax, a padded last group, one group), FLASH with one group == GAU written
// out directly, padding never changes real positions, decoding equals the full forward, training, and the config.
import Foundation
import LMOptim
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

final class FLASHTests: XCTestCase {
    struct Fixture: Decodable {
        struct Parameter: Decodable { let shape: [Int]; let values: [Double] }
        struct Case: Decodable {
            let batch: Int, length: Int, width: Int, queryKeyDim: Int, hidden: Int, groupSize: Int, causal: Bool, attention: String
            let x: [Double], weight: [Double], out: [Double], dx: [Double]
            let params: [String: Parameter], grads: [String: [Double]]
            enum CodingKeys: String, CodingKey {
                case batch, length, width, queryKeyDim = "query_key_dim", hidden, groupSize = "group_size", causal, attention
                case x, weight, out, dx, params, grads
            }
        }
        let cases: [Case]
    }

    func layer(width: Int, s: Int, e: Int, g: Int, causal: Bool, scores: FLASHConfig.Scores = .relu2, seed: UInt64 = 1) -> FLASHLayer {
        let layer = FLASHLayer(width: width, queryKeyDim: s, hiddenSize: e, groupSize: g, causal: causal, scores: scores,
                               generator: Generator(seed: seed))
        // Larger γ than the N(0, 0.02²) init, so the attention terms are far from zero and differences show.
        noGrad { layer.qkOffsetScale.gamma.pointer(Float.self).update(from: Tensor.randn([4, s], generator: Generator(seed: seed + 7)).toArray(), count: 4 * s) }
        return layer
    }

    func rope(_ T: Int, _ s: Int) -> (cos: Tensor, sin: Tensor) { Tensor.rotaryTables(positions: 0..<T, headSize: s, theta: 10000) }

    func testLayerMatchesPyTorchFixture() throws {
        let fixture = try loadFixture("models/flash_layer.json", as: Fixture.self)
        XCTAssertEqual(fixture.cases.count, 5)
        for c in fixture.cases {
            let scores = try XCTUnwrap(FLASHConfig.Scores(rawValue: c.attention))
            let flash = FLASHLayer(width: c.width, queryKeyDim: c.queryKeyDim, hiddenSize: c.hidden, groupSize: c.groupSize,
                                   causal: c.causal, scores: scores, generator: nil)
            let parameters = Dictionary(uniqueKeysWithValues: flash.namedParameters().map { ($0.name, $0.tensor) })
            XCTAssertEqual(Set(parameters.keys), Set(c.params.keys))
            for (name, p) in c.params {
                let t = try XCTUnwrap(parameters[name])
                XCTAssertEqual(t.shape, p.shape, name)
                t.pointer(Float.self).update(from: p.values.map(Float.init), count: t.count)
            }
            let x = Tensor(c.x.map(Float.init), shape: [c.batch, c.length, c.width]).requiringGrad()
            let y = flash(x, rope: rope(c.length, c.queryKeyDim))
            (y * Tensor(c.weight.map(Float.init), shape: y.shape)).sum().backward()
            let name = "\(c.attention) causal \(c.causal) T \(c.length) g \(c.groupSize)"
            assertClose(y, c.out, rtol: 1e-4, atol: 1e-4, "\(name): out")
            assertClose(x.grad!, c.dx, rtol: 1e-4, atol: 1e-4, "\(name): dx")
            for (key, expected) in c.grads { assertClose(parameters[key]!.grad!, expected, rtol: 1e-3, atol: 1e-4, "\(name): d\(key)") }
        }
    }

    /// Float64 gradchecks of the mixed chunk attention (padded last group; causal and not; relu² and softmax).
    func testMixedChunkAttentionGradcheck() {
        for (causal, scores) in [(true, FLASHConfig.Scores.relu2), (false, .relu2), (true, .softmax), (false, .softmax)] {
            let g = Generator(seed: 11)
            let inputs = [[2, 7, 4], [2, 7, 4], [2, 7, 4], [2, 7, 4], [2, 7, 5]].map { Tensor.randn($0, generator: g, dtype: .float64).requiringGrad() }
            gradcheck("mixed chunk attention causal \(causal) \(scores)", inputs) { t in
                FLASHLayer.mixedChunkAttention(quadQ: t[0], linQ: t[1], quadK: t[2], linK: t[3], v: t[4], groupSize: 3, causal: causal, scores: scores)
            }
        }
    }

    /// The fused op (`Tensor.mixedChunkAttention`, what the layer runs) equals the composed form, float64 values and
    /// gradients, with groups of 130 rows (three 64-row blocks, the last partial) and a partial last group (T 300).
    func testFusedOpEqualsComposedForm() {
        for (causal, scores) in [(true, FLASHConfig.Scores.relu2), (false, .relu2), (true, .softmax), (false, .softmax)] {
            let g = Generator(seed: 12), (b, t, s, e) = (2, 300, 8, 12)
            let qk = (Tensor.randn([b, t, 4, s], generator: g, dtype: .float64) * 2).detach().requiringGrad()
            let v = Tensor.randn([b, t, e], generator: g, dtype: .float64).requiringGrad()
            let w = Tensor.randn([b, t, e], generator: g, dtype: .float64)
            func run(_ f: () -> Tensor) -> [[Double]] {
                qk.grad = nil; v.grad = nil
                let y = f()
                (y * w).sum().backward()
                return [y.toDoubles(), qk.grad!.toDoubles(), v.grad!.toDoubles()]
            }
            let fused = run { Tensor.mixedChunkAttention(qk, v, groupSize: 130, causal: causal, softmax: scores == .softmax) }
            let composed = run {
                let part = (0..<4).map { qk.slice(2, $0, $0 + 1).reshape([b, t, s]) }
                return FLASHLayer.mixedChunkAttention(quadQ: part[0], linQ: part[1], quadK: part[2], linK: part[3], v: v, groupSize: 130,
                                                      causal: causal, scores: scores)
            }
            for (i, name) in ["out", "dqk", "dv"].enumerated() {
                assertClose(fused[i], composed[i], rtol: 1e-10, atol: 1e-10, "causal \(causal) \(scores): \(name)")
            }
        }
    }

    /// GAU (one head, shared z, relu² over the whole causal sequence, gate) written out without groups or padding.
    func gau(_ l: FLASHLayer, _ x: Tensor, normalizer: Double) -> Tensor {
        let (T, s, e) = (x.shape[1], l.queryKeyDim, l.hiddenSize)
        let n = l.norm(x)
        let hidden = l.toHidden(n).silu().split([e, e], axis: 2)
        let qk = l.qkOffsetScale(l.toQK(n).silu()).rotaryEmbedding(cos: rope(T, s).cos, sin: rope(T, s).sin, layout: .halfSplit)
        let q = qk.slice(2, 0, 1).reshape([x.shape[0], T, s]), k = qk.slice(2, 2, 3).reshape([x.shape[0], T, s])
        let r = (q.matmul(k.transpose(1, 2)) * (1 / normalizer)).relu()
        let a = r * r * Tensor.trilMask(T, T)
        return x + l.toOut(hidden[1] * a.matmul(hidden[0]))
    }

    func testOneGroupEqualsGAU() {
        let x = Tensor.randn([2, 10, 8], generator: Generator(seed: 3))
        for g in [10, 16] {  // exactly one group, and one padded group
            let l = layer(width: 8, s: 6, e: 12, g: g, causal: true)
            assertClose(noGrad { l(x, rope: rope(10, 6)) }, noGrad { gau(l, x, normalizer: Double(g)) }.toDoubles(), rtol: 1e-5, atol: 1e-5,
                        "FLASH with one group of \(g) == GAU")
        }
    }

    /// Causal: the first T positions do not change when more tokens (or the zero padding of the last group) follow.
    func testPaddingDoesNotChangeRealPositions() {
        for scores in FLASHConfig.Scores.allCases {
            let l = layer(width: 8, s: 6, e: 12, g: 4, causal: true, scores: scores)
            let x = Tensor.randn([2, 12, 8], generator: Generator(seed: 4))
            let long = noGrad { l(x, rope: rope(12, 6)) }.slice(1, 0, 10).contiguous()
            for t in [10, 9, 5] {  // padded by 2, 3, 3
                let short = noGrad { l(x.slice(1, 0, t).contiguous(), rope: rope(t, 6)) }
                assertClose(short, long.slice(1, 0, t).contiguous().toDoubles(), rtol: 1e-5, atol: 1e-5, "\(scores) T \(t)")
            }
        }
    }

    func tinyFLASH(_ edit: (inout FLASHConfig) -> Void = { _ in }) -> FLASHConfig {
        var c = FLASHConfig()
        c.vocabSize = 23; c.blockSize = 16; c.nLayer = 2; c.nEmbd = 16; c.queryKeyDim = 8; c.groupSize = 4
        edit(&c)
        return c
    }

    /// Recurrent decoding across groups equals the full forward: prefills inside one group, across several groups and
    /// ending on a boundary, then single tokens; the state never holds more than a group's rows.
    func testRecurrentDecodingMatchesFullForward() {
        for (scores, prefill) in [(FLASHConfig.Scores.relu2, 3), (.relu2, 6), (.softmax, 8), (.softmax, 1)] {
            let model = FLASH(tinyFLASH { $0.attention = scores }, initializer: Generator(seed: 1))
            model.eval()
            for layer in model.layers { noGrad { layer.qkOffsetScale.gamma.pointer(Float.self).update(from: Tensor.randn([4, 8], generator: Generator(seed: 2)).toArray(), count: 32) } }
            let tokens = (0..<26).map { ($0 * 7 + 3) % 23 }
            let (B, T, V) = (2, 13, 23)
            let full = noGrad { model.logits(tokens, batch: B, length: T) }.toDoubles()
            let state = model.makeDecodingState(batch: B)
            var incremental = [Double](repeating: 0, count: B * T * V)
            for (s, e) in [(0, prefill)] + (prefill..<T).map({ ($0, $0 + 1) }) {
                let piece = (0..<B).flatMap { b in tokens[(b * T + s)..<(b * T + e)] }
                let logits = model.decode(piece, batch: B, length: e - s, state: state).toDoubles()
                for b in 0..<B { for t in s..<e { for v in 0..<V { incremental[(b * T + t) * V + v] = logits[(b * (e - s) + t - s) * V + v] } } }
                for layer in state.layers { XCTAssertLessThan(layer.rows, 4); XCTAssertEqual(layer.rows, e % 4) }
            }
            XCTAssertEqual(state.length, T)
            assertClose(incremental, full, rtol: 1e-4, atol: 1e-5, "\(scores) prefill \(prefill): decode == full forward")
        }
    }

    func testTrainingLowersTheLoss() {
        for scores in FLASHConfig.Scores.allCases {
            let model = FLASH(tinyFLASH { $0.attention = scores }, initializer: Generator(seed: 5))
            let (first, last) = memorizationLosses(model.namedParameters()) { model.loss($0, generator: Generator(seed: 0)) }
            XCTAssertGreaterThan(first, 2.5)
            XCTAssertLessThan(last, 0.5, "\(scores): loss \(first) -> \(last)")
        }
    }

    /// `gradient_checkpointing` recomputes each layer in backward: the same loss and gradients (with dropout on).
    func testGradientCheckpointingGivesTheSameGradients() {
        var grads: [[[Double]]] = []
        for on in [false, true] {
            let model = FLASH(tinyFLASH { $0.dropout = 0.1 }, initializer: Generator(seed: 8))
            XCTAssertEqual(model.setGradientCheckpointing(on), 2)
            let batch = TokenBatch(inputs: (0..<20).map { $0 % 23 }, targets: (1..<21).map { $0 % 23 }, batch: 2, length: 10)
            model.loss(batch, generator: Generator(seed: 0)).backward()
            grads.append(model.parameters().map { $0.grad!.toDoubles() })
        }
        for (a, b) in zip(grads[0], grads[1]) { XCTAssertEqual(a, b) }
    }

    func testConfigThroughRegistry() throws {
        let config = tinyFLASH { $0.attention = .softmax; $0.expansionFactor = 1.5 }
        let decoded = try ModelRegistry.decodeConfig(try ModelRegistry.jsonData(config), source: "c.json")
        XCTAssertEqual(decoded as? FLASHConfig, config)
        for (json, field) in [(#"{"model_type": "flash", "group_sise": 4}"#, "group_sise"), (#"{"model_type": "flash", "group_size": 0}"#, "group_size"),
                              (#"{"model_type": "flash", "query_key_dim": 7}"#, "query_key_dim"),
                              (#"{"model_type": "flash", "n_embd": 10, "expansion_factor": 1.25}"#, "expansion_factor"),
                              (#"{"model_type": "flash", "attention": "relu"}"#, "attention")] {
            XCTAssertThrowsError(try ModelRegistry.decodeConfig(Data(json.utf8), source: "c.json"), json) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error) should name \(field)")
            }
        }
        let model = FLASH(config, initializer: Generator(seed: 1))
        XCTAssertEqual(config.estimatedParameterCount, Double(model.parameters().reduce(0) { $0 + $1.count }))
        let untied = tinyFLASH { $0.tieEmbeddings = false; $0.bias = false }
        XCTAssertEqual(untied.estimatedParameterCount, Double(FLASH(untied, initializer: nil).parameters().reduce(0) { $0 + $1.count }))
    }
}
