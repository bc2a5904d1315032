// GPT with `attention: "linear"`: decoding through the recurrent state equals the full forward, the state does not grow
// with the sequence, training lowers the loss, the config keys are validated, and a checkpoint round trip keeps logits.
import Foundation
import LMOptim
import LMTensor
import XCTest
import _TestSupport
@testable import LMNN
@testable import LMModels

final class LinearAttentionGPTTests: XCTestCase {
    func linearConfig(_ edit: (inout GPTConfig) -> Void = { _ in }) -> GPTConfig {
        tinyConfig { $0.attention = .linear; $0.linearChunk = 3; edit(&$0) }
    }

    func testRecurrentDecodingMatchesFullForward() {
        for config in [linearConfig(), linearConfig { $0.position = .rope; $0.nKVHead = 2; $0.linearFeatureMap = .relu }] {
            let model = GPT(config, generator: Generator(seed: 1))
            model.eval()
            let tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4].map { $0 % 23 }
            let (B, T, V) = (2, 10, 23)
            let full = noGrad { model.logits(tokens, batch: B, length: T) }.toArray()
            let state = model.makeDecodingState(batch: B)
            var incremental = [Float](repeating: 0, count: B * T * V)
            for (s, e) in [(0, 4)] + (4..<T).map({ ($0, $0 + 1) }) {  // a 4-token prefill, then one token at a time
                let piece = (0..<B).flatMap { b in tokens[(b * T + s)..<(b * T + e)] }
                let logits = model.decode(piece, batch: B, length: e - s, state: state).toArray()
                for b in 0..<B { for t in s..<e { for v in 0..<V { incremental[(b * T + t) * V + v] = logits[(b * (e - s) + t - s) * V + v] } } }
                // O(1) state: no keys or values kept, the recurrent state keeps its [B, H, hd, hd + 1] shape.
                for layer in state.layers {
                    XCTAssertNil(layer.keys)
                    XCTAssertEqual(layer.linearState?.shape, [B, config.nHead, config.headSize, config.headSize + 1])
                }
            }
            XCTAssertEqual(state.length, T)
            assertClose(incremental.map(Double.init), full.map(Double.init), rtol: 1e-4, atol: 1e-5, "\(config.position) recurrent == parallel")
        }
    }

    func testTrainingLowersTheLoss() {
        let model = GPT(linearConfig(), generator: Generator(seed: 5))
        let (first, last) = memorizationLosses(model.namedParameters()) {
            model.loss($0.inputs, targets: $0.targets, batch: $0.batch, length: $0.length)
        }
        XCTAssertGreaterThan(first, 2.5)
        XCTAssertLessThan(last, 0.5, "linear attention GPT: loss \(first) -> \(last)")
    }

    func testConfigKeysAreValidated() throws {
        let config = linearConfig { $0.linearFeatureMap = .relu; $0.linearChunk = 7 }
        XCTAssertEqual(try GPTConfig.decode(try config.jsonData(), source: "c.json"), config)
        for (json, field) in [(#"{"attention": "performer"}"#, "attention"), (#"{"linear_chunk": 0}"#, "linear_chunk"),
                              (#"{"linear_feature_map": "favor"}"#, "linear_feature_map")] {
            XCTAssertThrowsError(try GPTConfig.decode(Data(json.utf8), source: "c.json"), json) { error in
                XCTAssertTrue("\(error)".contains(field), "\(error) should name \(field)")
            }
        }
    }

    /// transformers has no linear attention: writing such a GPT as a GPT-2 or Llama directory is refused by name.
    func testHuggingFaceExportIsRefused() {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("linattn-hf-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let gpt2Shaped = GPT(linearConfig(), initializer: Generator(seed: 1))
        let llamaShaped = GPT(linearConfig { $0.position = .rope; $0.norm = .rmsNorm; $0.mlp = .swiglu; $0.bias = false }, initializer: Generator(seed: 1))
        for model in [gpt2Shaped, llamaShaped] {
            XCTAssertThrowsError(try HuggingFaceModelDirectory.save(model, to: out)) { XCTAssertTrue("\($0)".contains("attention"), "\($0)") }
        }
    }

    /// The state dict is the softmax GPT's (same keys); loading it into a fresh model gives the same logits.
    func testStateDictRoundTrip() throws {
        let config = linearConfig()
        let a = GPT(config, generator: Generator(seed: 2))
        XCTAssertEqual(Set(a.stateDict().keys), Set(GPT(tinyConfig(), initializer: nil).stateDict().keys))
        let b = try GPT(config, stateDict: a.stateDict())
        let tokens = Array(0..<12)
        XCTAssertEqual(noGrad { a.logits(tokens, batch: 1, length: 12) }.toArray(), noGrad { b.logits(tokens, batch: 1, length: 12) }.toArray())
    }
}
