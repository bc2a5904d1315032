// GPT with a mixture-of-experts MLP: the config keys and their validation, the router losses in the training loss
// (never skipped; eval loss is the cross-entropy alone), the expert-usage statistics, and HF MixtralForCausalLM
// directories (Scripts/fixtures/moe_fixture.py): logits and the pooled aux loss equal transformers', saved back as
// transformers' own files.
import Foundation
import LMCheckpoint
import LMNN
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

final class MixtureOfExpertsGPTTests: XCTestCase {
    private struct HFMixtral: Decodable {
        let inputs: [[Int]]; let logits: [[Double]]; let aux_loss: [Double]; let window: Int; let window_logits: [Double]
    }
    private struct Fixture: Decodable { let hf_mixtral_tiny: HFMixtral }

    private func config(_ keys: [String: Any]) throws -> GPTConfig {
        let base: [String: Any] = ["vocab_size": 32, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 16, "bias": false]
        let json = try JSONSerialization.data(withJSONObject: base.merging(keys) { $1 })
        return try GPTConfig.decode(json, source: "test.json")
    }

    func testConfigKeysResolveAndValidate() throws {
        let dense = try config([:])
        XCTAssertEqual(dense.experts, 0)
        XCTAssertFalse(String(decoding: try dense.jsonData(), as: UTF8.self).contains("expert"), "dense configs encode as before")
        let moe = try config(["n_experts": 8, "moe_intermediate_size": 32])
        XCTAssertEqual([moe.topK, moe.expertHiddenSize], [2, 32])
        XCTAssertEqual(moe.router, .mixtral)
        XCTAssertEqual(moe.auxLossCoefficient, 0.01)
        XCTAssertEqual(try config(["n_experts": 4, "moe_router": "switch"]).topK, 1)
        XCTAssertEqual(try GPTConfig.decode(try moe.jsonData(), source: "again"), moe, "round trip")
        let model = GPT(moe, generator: Generator(seed: 1))
        // The estimate is exact up to norms, which dense and MoE models share.
        XCTAssertEqual(Double(model.parameterCount - GPT(dense, generator: Generator(seed: 1)).parameterCount),
                       moe.estimatedParameterCount! - dense.estimatedParameterCount!, "the estimate counts every expert and the router")
        XCTAssertEqual(model.expertLayers.count, 2)
        XCTAssertEqual(model.unreachableTensors(), [])
        for (keys, field) in [(["n_experts": -1], "n_experts"), (["experts_per_token": 2], "experts_per_token"),
                              (["capacity_factor": 1.0], "capacity_factor"),
                              (["n_experts": 4, "experts_per_token": 5], "experts_per_token"),
                              (["n_experts": 4, "moe_router": "switch", "experts_per_token": 2], "experts_per_token"),
                              (["n_experts": 4, "moe_router": "top2"], "moe_router"),
                              (["n_experts": 4, "router_aux_loss_coef": -1], "router_aux_loss_coef"),
                              (["n_experts": 4, "router_z_loss_coef": -0.5], "router_z_loss_coef"),
                              (["n_experts": 4, "router_jitter": 1.0], "router_jitter"),
                              (["n_experts": 4, "capacity_factor": 0], "capacity_factor"),
                              (["n_experts": 4, "moe_intermediate_size": 0], "moe_intermediate_size")] as [([String: Any], String)] {
            XCTAssertThrowsError(try config(keys), "\(keys)") { XCTAssertTrue("\($0)".contains(field), "\(keys): \($0)") }
        }
    }

    func testTrainingLossAddsEveryRouterLossAndEvalLossIsTheCrossEntropy() throws {
        let c = try config(["n_experts": 4, "router_aux_loss_coef": 0.5, "router_z_loss_coef": 0.25])
        let model = GPT(c, generator: Generator(seed: 2))
        let tokens = (0..<24).map { ($0 * 7) % 32 }, targets = (0..<24).map { ($0 * 7 + 1) % 32 }
        let batch = TokenBatch(inputs: tokens, targets: targets, batch: 2, length: 12)
        model.eval()
        let crossEntropy = Double(noGrad { model.loss(batch, generator: Generator(seed: 0)) }.item())
        let records = model.expertLayers.compactMap(\.lastRecord)
        XCTAssertEqual(records.count, 2)
        let aux = Double(MixtureOfExperts.loadBalancingLoss(records, form: .mixtral)!.item())
        let z = Double(MixtureOfExperts.zLoss(records)!.item())
        model.train()
        let total = model.loss(batch, generator: Generator(seed: 0))
        XCTAssertEqual(Double(total.item()), crossEntropy + 0.5 * aux + 0.25 * z, accuracy: 1e-4)
        total.backward()
        for layer in model.expertLayers { XCTAssertNotNil(layer.router.weight.grad, "the router is trained") }
        let statistics = Dictionary(uniqueKeysWithValues: model.trainingStatistics())
        XCTAssertEqual(statistics["aux_loss"] ?? -1, aux, accuracy: 1e-5)
        XCTAssertEqual(statistics["z_loss"] ?? -1, z, accuracy: 1e-4)
        XCTAssertEqual(statistics["dropped"], 0)
        XCTAssertLessThanOrEqual(statistics["expert_load_min"]!, 0.25)
        XCTAssertGreaterThanOrEqual(statistics["expert_load_max"]!, 0.25)
        XCTAssertTrue(model.trainingStatistics().isEmpty, "statistics cover the steps since the last report")
    }

    func testSwitchRouterWithCapacityTrainsAndReportsDrops() throws {
        let c = try config(["n_experts": 4, "moe_router": "switch", "capacity_factor": 0.5, "router_jitter": 0.1])
        let model = GPT(c, generator: Generator(seed: 3))
        let tokens = (0..<32).map { ($0 * 5) % 32 }
        let loss = model.loss(TokenBatch(inputs: tokens, targets: tokens, batch: 2, length: 16), generator: Generator(seed: 0))
        loss.backward()
        let statistics = Dictionary(uniqueKeysWithValues: model.trainingStatistics())
        XCTAssertGreaterThanOrEqual(statistics["dropped"]!, 0.5, "capacity 0.5 drops at least half of the choices")
    }

    func testCachedDecodingEqualsTheFullForward() throws {
        let model = GPT(try config(["n_experts": 4, "capacity_factor": 8.0, "position": "rope", "mlp": "swiglu"]), generator: Generator(seed: 5))
        model.eval()
        let ids = [3, 9, 27, 17, 20, 28, 19, 25]
        let full = noGrad { model.logits(ids, batch: 1, length: ids.count) }.toDoubles()
        let state = model.makeDecodingState(batch: 1)
        var stepped = noGrad { model.decode(Array(ids[..<3]), batch: 1, length: 3, state: state) }.toDoubles()
        for id in ids[3...] { stepped += noGrad { model.decode([id], batch: 1, length: 1, state: state) }.toDoubles() }
        assertClose(stepped, full, rtol: 1e-5, atol: 1e-5)
    }

    func testGradientCheckpointingKeepsTheRouterLossGradient() throws {
        let c = try config(["n_experts": 4, "router_aux_loss_coef": 1.0])
        let tokens = (0..<24).map { ($0 * 3) % 32 }
        let batch = TokenBatch(inputs: tokens, targets: tokens, batch: 2, length: 12)
        var gradients: [[Float]] = []
        for checkpointing in [false, true] {
            let model = GPT(c, generator: Generator(seed: 4))
            model.setGradientCheckpointing(checkpointing)
            model.loss(batch, generator: Generator(seed: 0)).backward()
            gradients.append(model.expertLayers[0].router.weight.grad!.toArray())
        }
        XCTAssertEqual(gradients[0], gradients[1])
    }

    // MARK: - Hugging Face Mixtral

    func testMixtralDirectoryLogitsAndAuxLossMatchTransformers() throws {
        let f = try loadFixture("models/moe.json", as: Fixture.self).hf_mixtral_tiny
        let loaded = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_mixtral_tiny").path)
        XCTAssertEqual(loaded.config.architecture, .mixtral)
        XCTAssertEqual(loaded.ignoredConfigKeys, ["dtype", "initializer_range", "output_router_logits", "transformers_version", "use_cache"])
        let model = try XCTUnwrap(loaded.model as? GPT)
        XCTAssertEqual([model.config.experts, model.config.topK, model.config.expertHiddenSize], [4, 2, 12])
        XCTAssertEqual(model.config.auxLossCoefficient, 0.02)
        for (i, ids) in f.inputs.enumerated() {
            let logits = noGrad { model.logits(ids, batch: 1, length: ids.count) }
            assertClose(logits.toDoubles(), f.logits[i], rtol: 0, atol: 1e-4, "input \(i)")
            let aux = try XCTUnwrap(MixtureOfExperts.loadBalancingLoss(model.expertLayers.compactMap(\.lastRecord), form: .mixtral))
            assertClose(aux, [f.aux_loss[i]], rtol: 1e-5, atol: 1e-5, "MixtralForCausalLM aux_loss (both layers pooled), input \(i)")
        }
    }

    func testMixtralSlidingWindowMatchesTransformers() throws {
        let f = try loadFixture("models/moe.json", as: Fixture.self).hf_mixtral_tiny
        let source = fixtureURL("models/hf_mixtral_tiny").path
        let dir = NSTemporaryDirectory() + "lmkit-mixtral-window-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: source, toPath: dir)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
        json["sliding_window"] = f.window
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let loaded = try HuggingFaceModelDirectory.load(dir)
        let model = try XCTUnwrap(loaded.model as? GPT)
        XCTAssertEqual(model.config.slidingWindow, f.window)
        let ids = f.inputs[1]
        XCTAssertGreaterThan(ids.count, f.window, "the window must be shorter than the input to matter")
        let logits = noGrad { model.logits(ids, batch: 1, length: ids.count) }
        assertClose(logits.toDoubles(), f.window_logits, rtol: 0, atol: 1e-4, "sliding_window \(f.window) vs transformers")
        // Decoding through the rolling cache gives the same last-position logits.
        let state = model.makeDecodingState(batch: 1)
        var last: [Float] = model.prefill(Array(ids.prefix(2)), state: state)
        for id in ids[2...] { last = model.append(id, state: state) }
        let vocab = model.config.vocabSize
        assertClose(last.map(Double.init), Array(f.window_logits.suffix(vocab)), rtol: 0, atol: 1e-4, "rolling-cache decode")
        // And the window survives a save: config.json says sliding_window again.
        let out = NSTemporaryDirectory() + "lmkit-mixtral-window-out-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try HuggingFaceModelDirectory.save(loaded.model, to: out)
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as! [String: Any]
        XCTAssertEqual(saved["sliding_window"] as? Int, f.window)
    }

    func testMixtralSavesBackAsTransformersFiles() throws {
        let source = fixtureURL("models/hf_mixtral_tiny").path
        let loaded = try HuggingFaceModelDirectory.load(source)
        let out = NSTemporaryDirectory() + "lmkit-mixtral-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        XCTAssertEqual(try HuggingFaceModelDirectory.defaultArchitecture(for: loaded.model.config), .mixtral,
                       "Llama's adapter refuses a mixture of experts rather than dropping it")
        try HuggingFaceModelDirectory.save(loaded.model, to: out)
        let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
        let reference = try SafetensorsFile(path: source + "/model.safetensors").tensors()
        XCTAssertEqual(Set(written.keys), Set(reference.keys))
        for (key, tensor) in reference { XCTAssertEqual(written[key]?.toArray(), tensor.toArray(), key) }
        let again = try HuggingFaceModelDirectory.readConfig(out)
        XCTAssertTrue(ModelRegistry.same(again.model, loaded.model.config))
    }

    func testMixtralConfigErrorsNameTheKey() throws {
        func config(_ edit: (inout [String: Any]) -> Void) throws -> HuggingFaceConfig {
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("models/hf_mixtral_tiny/config.json"))) as! [String: Any]
            edit(&json)
            return try HuggingFaceConfig(data: try JSONSerialization.data(withJSONObject: json), source: "config.json")
        }
        for (key, value) in [("sliding_window", 0 as Any), ("num_experts_per_tok", 5), ("router_jitter_noise", 2.0),
                             ("hidden_act", "gelu")] {
            XCTAssertThrowsError(try config { $0[key] = value }, key) { XCTAssertTrue("\($0)".contains("'\(key)'"), "\($0)") }
        }
        XCTAssertThrowsError(try config { $0["num_local_experts"] = nil }) { XCTAssertTrue("\($0)".contains("num_local_experts"), "\($0)") }
        // Mixtral's own defaults for keys a hand-written config leaves out.
        let defaults = try config { for key in ["rms_norm_eps", "rope_parameters", "router_aux_loss_coef"] { $0[key] = nil } }.model as! GPTConfig
        XCTAssertEqual([defaults.normEps, defaults.ropeTheta, defaults.auxLossCoefficient], [1e-5, 1e6, 0.001])
    }
}
