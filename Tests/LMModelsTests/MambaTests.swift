// Mamba: Hugging Face parameter names and shapes, mamba_ssm's initialization (A_log, D, the Δ bias), step decoding
// equal to the full forward at every position, and training lowering the loss.
import Foundation
import LMModels
import LMCheckpoint
import LMOptim
import LMTensor
import XCTest
import _TestSupport

final class MambaTests: XCTestCase {
    func tinyConfig(_ edit: (inout MambaConfig) -> Void = { _ in }) -> MambaConfig {
        var c = MambaConfig()
        c.vocabSize = 11; c.dModel = 8; c.nLayer = 2; c.dState = 4; c.dConv = 4; c.expand = 2
        edit(&c)
        return c
    }

    func testParameterNamesAndShapesAreHuggingFaces() {
        let model = Mamba(tinyConfig { $0.nLayer = 1 }, initializer: Generator(seed: 1))
        let shapes = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.value.shape) })
        XCTAssertEqual(shapes, [
            "backbone.embeddings.weight": [11, 8], "backbone.norm_f.weight": [8], "lm_head.weight": [11, 8],
            "backbone.layers.0.norm.weight": [8],
            "backbone.layers.0.mixer.in_proj.weight": [32, 8],
            "backbone.layers.0.mixer.conv1d.weight": [16, 1, 4], "backbone.layers.0.mixer.conv1d.bias": [16],
            "backbone.layers.0.mixer.x_proj.weight": [1 + 2 * 4, 16],
            "backbone.layers.0.mixer.dt_proj.weight": [16, 1], "backbone.layers.0.mixer.dt_proj.bias": [16],
            "backbone.layers.0.mixer.A_log": [16, 4], "backbone.layers.0.mixer.D": [16],
            "backbone.layers.0.mixer.out_proj.weight": [8, 16],
        ])
        XCTAssertEqual(model.aliasedStateDictKeys, ["lm_head.weight"])
        XCTAssertTrue(model.lmHead.weight === model.backbone.embeddings.weight, "the head is tied to the embedding")
    }

    func testInitializationIsMambas() {
        let config = tinyConfig { $0.dModel = 32; $0.dState = 16 }
        let mixer = Mamba(config, initializer: Generator(seed: 2)).backbone.layers[0].mixer
        let aLog = mixer.aLog.toArray()
        for d in 0..<config.dInner { for n in 0..<16 { XCTAssertEqual(aLog[d * 16 + n], Float(log(Double(n + 1))), accuracy: 1e-6) } }
        XCTAssertEqual(mixer.skip.toArray(), [Float](repeating: 1, count: config.dInner))
        // softplus(dt_proj.bias) is the initial Δ: in [dt_min, dt_max], spread over it (log-uniform).
        let dt = noGrad { mixer.dtProj.bias!.softplus() }.toArray()
        XCTAssertTrue(dt.allSatisfy { $0 >= 0.001 * 0.999 && $0 <= 0.1 * 1.001 }, "\(dt)")
        XCTAssertLessThan(dt.min()!, 0.01); XCTAssertGreaterThan(dt.max()!, 0.01)
        let bound = 1 / Float(config.resolvedDtRank).squareRoot(), largest = mixer.dtProj.weight.toArray().map(abs).max()!
        XCTAssertTrue(largest <= bound && largest > 0.5 * bound, "dt_proj.weight is U(±dt_rank^-1/2): max |w| \(largest)")
    }

    /// A_log and D of every layer are exempt from weight decay (mamba_simple.py `_no_weight_decay`), nothing else.
    func testALogAndDAreExemptFromWeightDecay() {
        let model = Mamba(tinyConfig(), initializer: nil)
        XCTAssertEqual(model.noWeightDecayParameterNames(), Set((0..<2).flatMap { i in
            ["A_log", "D"].map { "backbone.layers.\(i).mixer.\($0)" }
        }))
    }

    /// Prefill of 3 tokens then one token at a time, in a batch of 2, equals the full forward at every position.
    func testStepDecodingEqualsFullForwardAtEveryPosition() {
        let model = Mamba(tinyConfig(), initializer: Generator(seed: 3))
        let (B, L, V) = (2, 9, 11)
        let tokens = (0..<(B * L)).map { ($0 * 7 + 3) % V }
        let full = noGrad { model.logits(tokens, batch: B, length: L) }.toArray()
        let state = model.makeDecodingState(batch: B)
        var pieces: [[Float]] = []
        var start = 0
        for length in [3, 1, 1, 1, 1, 1, 1] {
            let chunk = (0..<B).flatMap { b in tokens[(b * L + start)..<(b * L + start + length)] }
            pieces.append(model.decode(chunk, batch: B, length: length, state: state).toArray())
            start += length
        }
        XCTAssertEqual(state.length, L)
        for b in 0..<B {
            var position = 0
            for (k, length) in [3, 1, 1, 1, 1, 1, 1].enumerated() {
                for t in 0..<length {
                    let got = Array(pieces[k][((b * length + t) * V)..<((b * length + t + 1) * V)])
                    let want = Array(full[((b * L + position) * V)..<((b * L + position + 1) * V)])
                    assertClose(got.map(Double.init), want.map(Double.init), rtol: 1e-5, atol: 1e-5, "batch \(b) position \(position)")
                    position += 1
                }
            }
        }
    }

    /// A few dozen AdamW steps memorize a short repeating sequence.
    func testTrainingLowersTheLoss() {
        let model = Mamba(tinyConfig { $0.dModel = 16 }, initializer: Generator(seed: 5))
        let (first, last) = memorizationLosses(model.namedParameters()) { model.loss($0, generator: Generator(seed: 0)) }
        XCTAssertGreaterThan(first, 2.0)
        XCTAssertLessThan(last, 0.5, "loss \(first) -> \(last)")
    }
}

/// Parity with transformers' MambaForCausalLM (Scripts/fixtures/hf_mamba_fixture.py): the safetensors hold LMKit's own
/// parameter names, so the state dict loads as it is; logits of two sequences within 1e-4.
final class MambaParityTests: XCTestCase {
    private struct Inputs: Decodable { let inputs: [[Int]] }

    /// The LMKit config of a transformers MambaConfig (config.json keys as save_pretrained writes them).
    private func config(_ directory: String) throws -> MambaConfig {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("models/\(directory)/config.json"))) as! [String: Any]
        var c = MambaConfig()
        c.vocabSize = json["vocab_size"] as! Int; c.dModel = json["hidden_size"] as! Int; c.nLayer = json["num_hidden_layers"] as! Int
        c.dState = json["state_size"] as! Int; c.dConv = json["conv_kernel"] as! Int; c.expand = json["expand"] as! Int
        c.dtRank = json["time_step_rank"] as? Int; c.bias = json["use_bias"] as! Bool; c.convBias = json["use_conv_bias"] as! Bool
        c.normEps = json["layer_norm_epsilon"] as! Double; c.tieEmbeddings = json["tie_word_embeddings"] as! Bool
        return c
    }

    func testLogitsMatchTransformers() throws {
        let inputs = try loadFixture("models/hf_mamba.json", as: Inputs.self).inputs
        let expected = try SafetensorsFile(path: fixtureURL("models/hf_mamba_logits.safetensors").path)
        for directory in ["hf_mamba_tiny", "hf_mamba_bias_untied_tiny"] {
            let model = Mamba(try config(directory), initializer: nil)
            try model.load(try SafetensorsFile(path: fixtureURL("models/\(directory)/model.safetensors").path).tensors(), source: directory)
            for (i, ids) in inputs.enumerated() {
                let got = noGrad { model.logits(ids, batch: 1, length: ids.count) }.toArray().map { Double($0) }
                assertClose(got, try expected.tensor("\(directory)/\(i)").toArray().map(Double.init), rtol: 0, atol: 1e-4, "\(directory) input \(i)")
            }
        }
    }
}
