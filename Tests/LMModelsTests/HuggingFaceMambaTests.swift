// Hugging Face MambaForCausalLM and MambaModel directories (Scripts/fixtures/hf_mamba_fixture.py): loaded through the adapter, logits
// equal transformers' within 1e-4, saved back as transformers' own files, config round trip, and LMKit's own "mamba"
// directories (same model_type, no `architectures`) never taken for Hugging Face ones.
import Foundation
import LMCheckpoint
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

final class HuggingFaceMambaTests: XCTestCase {
    private struct Inputs: Decodable { let inputs: [[Int]] }
    let directories = ["hf_mamba_tiny", "hf_mamba_bias_untied_tiny"]

    private func scratch() throws -> String {
        let path = NSTemporaryDirectory() + "lmkit-hf-mamba-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func logits(_ model: any LanguageModel, _ ids: [Int]) -> [Double] {
        noGrad { model.logits(ids, batch: 1, length: ids.count) }.toArray().map { Double($0) }
    }

    func testLogitsMatchTransformers() throws {
        let inputs = try loadFixture("models/hf_mamba.json", as: Inputs.self).inputs
        let expected = try SafetensorsFile(path: fixtureURL("models/hf_mamba_logits.safetensors").path)
        for name in directories {
            let loaded = try HuggingFaceModelDirectory.load(fixtureURL("models/" + name).path)
            XCTAssertEqual(loaded.config.architecture, .mamba)
            XCTAssertEqual(loaded.ignoredConfigKeys, ["dtype", "initializer_range", "rescale_prenorm_residual", "residual_in_fp32",
                                                      "time_step_init_scheme", "time_step_scale", "transformers_version",
                                                      "use_associative_scan", "use_cache", "use_mambapy"], name)
            for (i, ids) in inputs.enumerated() {
                assertClose(logits(loaded.model, ids), try expected.tensor("\(name)/\(i)").toArray().map { Double($0) },
                            rtol: 0, atol: 1e-4, "\(name) input \(i)")
            }
        }
        let untied = try HuggingFaceModelDirectory.load(fixtureURL("models/hf_mamba_bias_untied_tiny").path).model.config as! MambaConfig
        XCTAssertEqual([untied.dtRank, untied.dConv, untied.expand], [3, 3, 3])
        XCTAssertTrue(untied.bias); XCTAssertFalse(untied.tieEmbeddings); XCTAssertEqual(untied.normEps, 1e-6)
    }

    /// A MambaModel directory written by transformers (hf_mamba_tiny's backbone: no head, no "backbone." prefix) loads
    /// as the tied causal LM with hf_mamba_tiny's logits, and saves back as MambaForCausalLM with prefixed names.
    func testMambaModelDirectoryLoadsAndSavesBack() throws {
        let inputs = try loadFixture("models/hf_mamba.json", as: Inputs.self).inputs
        let expected = try SafetensorsFile(path: fixtureURL("models/hf_mamba_logits.safetensors").path)
        let source = fixtureURL("models/hf_mamba_model_tiny").path
        let loaded = try HuggingFaceModelDirectory.load(source)
        XCTAssertEqual(loaded.config.architecture, .mamba)
        for (i, ids) in inputs.enumerated() {
            assertClose(logits(loaded.model, ids), try expected.tensor("hf_mamba_tiny/\(i)").toArray().map { Double($0) },
                        rtol: 0, atol: 1e-4, "MambaModel input \(i)")
        }
        let out = try scratch() + "/saved"
        try HuggingFaceModelDirectory.save(loaded.model, to: out, architecture: .mamba)
        let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
        let stored = try SafetensorsFile(path: source + "/model.safetensors").tensors()
        XCTAssertEqual(Set(written.keys), Set(stored.keys.map { "backbone." + $0 }))
        for (key, tensor) in stored { XCTAssertEqual(written["backbone." + key]?.toArray(), tensor.toArray(), key) }
        let reloaded = try HuggingFaceModelDirectory.load(out)
        XCTAssertEqual(logits(reloaded.model, inputs[0]), logits(loaded.model, inputs[0]))
    }

    func testSaveBackWritesTransformersFilesAndConfig() throws {
        for name in directories {
            let source = fixtureURL("models/" + name).path
            let loaded = try HuggingFaceModelDirectory.load(source)
            let out = try scratch() + "/saved"
            try HuggingFaceModelDirectory.save(loaded.model, to: out, architecture: .mamba)
            let written = try SafetensorsFile(path: out + "/model.safetensors").tensors()
            let reference = try SafetensorsFile(path: source + "/model.safetensors").tensors()
            XCTAssertEqual(Set(written.keys), Set(reference.keys), name)
            for (key, tensor) in reference { XCTAssertEqual(written[key]?.toArray(), tensor.toArray(), "\(name): \(key)") }
            let again = try HuggingFaceModelDirectory.readConfig(out)
            XCTAssertTrue(ModelRegistry.same(again.model, loaded.model.config), name)
            XCTAssertTrue(HuggingFaceModelDirectory.isHuggingFaceDirectory(out))
        }
    }

    func testLMKitMambaDirectoriesAreNotHuggingFaceOnes() throws {
        let inputs = try loadFixture("models/hf_mamba.json", as: Inputs.self).inputs
        let source = try ModelDirectoryConversion.load(fixtureURL("models/hf_mamba_tiny").path)
        XCTAssertEqual(source.layout, .huggingFace)
        let root = try scratch()
        try ModelDirectoryConversion.save(source, to: root + "/lmkit", layout: .nanoGPT)
        XCTAssertFalse(HuggingFaceModelDirectory.isHuggingFaceDirectory(root + "/lmkit"))
        let lmkit = try ModelDirectoryConversion.load(root + "/lmkit")
        XCTAssertEqual(lmkit.layout, .nanoGPT)
        XCTAssertEqual(logits(lmkit.model, inputs[1]), logits(source.model, inputs[1]))
        try ModelDirectoryConversion.save(lmkit, to: root + "/hf", layout: .huggingFace, architecture: .mamba)
        XCTAssertEqual(try ModelDirectoryConversion.load(root + "/hf").layout, .huggingFace)
    }

    func testConfigErrorsNameTheKey() throws {
        func config(_ edit: (inout [String: Any]) -> Void) throws -> HuggingFaceConfig {
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("models/hf_mamba_tiny/config.json"))) as! [String: Any]
            edit(&json)
            return try HuggingFaceConfig(data: try JSONSerialization.data(withJSONObject: json), source: "config.json")
        }
        XCTAssertEqual((try config { $0["time_step_rank"] = "auto" }.model as! MambaConfig).dtRank, 1)
        for (key, value) in [("hidden_act", "gelu" as Any), ("intermediate_size", 48), ("time_step_rank", "full")] {
            XCTAssertThrowsError(try config { $0[key] = value }) { XCTAssertTrue("\($0)".contains("'\(key)'"), "\($0)") }
        }
    }
}
