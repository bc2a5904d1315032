// LoadedModel (what `lmkit eval` and `lmkit sample` load) on model directories: a Hugging Face directory with a real
// config.json loads and reports the keys it ignored; an `lmkit train` out_dir and an LMKit-layout directory with
// `model_type: "gpt"` load as LMKit's own and report none.
import Foundation
import XCTest
import _TestSupport
@testable import LMTrain

final class LoadedModelTests: XCTestCase {
    func testHuggingFaceDirectoryReportsIgnoredConfigKeys() throws {
        let loaded = try LoadedModel.load(fixtureURL("models/hf_smollm2_tiny").path)
        XCTAssertEqual(loaded.ignoredConfigKeys, ["_model_name_or_path", "dtype", "initializer_range", "pretraining_tp",
                                                  "transformers_version", "unk_token_id", "use_cache"])
        XCTAssertEqual((loaded.model.config as? GPTConfig)?.position, .rope)
        XCTAssertNil(loaded.trainConfig)
    }

    func testLMKitDirectoriesReportNothingIgnored() throws {
        let outDir = try LoadedModel.load(fixtureURL("train/legacy-v1/out").path)
        XCTAssertNotNil(outDir.trainConfig, "an out_dir loads through its model.safetensors metadata")
        XCTAssertEqual(outDir.ignoredConfigKeys, [])
        // The same weights as a bare LMKit-layout directory (config.json with model_type "gpt" + model.safetensors).
        let dir = NSTemporaryDirectory() + "lmkit-loaded-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ModelDirectoryConversion.save(try ModelDirectoryConversion.load(fixtureURL("train/legacy-v1/out").path), to: dir, layout: .nanoGPT)
        let bare = try LoadedModel.load(dir)
        XCTAssertNil(bare.trainConfig)
        XCTAssertEqual(bare.ignoredConfigKeys, [])
        XCTAssertTrue(ModelRegistry.same(bare.model.config, outDir.model.config))
    }
}

extension LoadedModelTests {
    private struct SmolLM2Reference: Decodable {
        let text: String
        let ids: [Int]
        let top_ids: [[Int]]
    }

    /// What `lmkit sample --model DIR` does on the real SmolLM2-135M-Instruct directory (refused twice before the model
    /// seam, at config.json and at tokenizer.json): its own tokenizer.json gives transformers' ids for the reference
    /// text, and greedy generation's first token is transformers' argmax after the prompt.
    func testRealSmolLM2SamplesThroughTheLibraryLoop() throws {
        let directory = fixtureURL(".fetched/SmolLM2-135M-Instruct").path
        guard FileManager.default.fileExists(atPath: directory + "/model.safetensors") else {
            throw XCTSkip("the real SmolLM2-135M-Instruct is not built; run `python3 Scripts/fixtures/hf_models_fixture.py --smollm2` to make \(directory)")
        }
        let reference = try JSONDecoder().decode(SmolLM2Reference.self,
                                                 from: Data(contentsOf: fixtureURL("models/smollm2_135m_reference.json")))
        let loaded = try LoadedModel.load(directory)
        let tokenizer = try loaded.textTokenizer(override: nil)
        XCTAssertEqual(try tokenizer.encode(reference.text), reference.ids)
        let prompt = "The capital of France is"
        let promptIDs = try tokenizer.encode(prompt)
        XCTAssertEqual(promptIDs, Array(reference.ids.prefix(promptIDs.count)))
        var options = GenerationOptions()
        options.temperature = 0
        options.maxNewTokens = 1
        let model = try XCTUnwrap(loaded.model as? any IncrementalDecoding)
        let text = try TextGeneration(model: model, tokenizer: tokenizer).generate(prompt: prompt, options: options)
        XCTAssertEqual(text, try tokenizer.decode([reference.top_ids[promptIDs.count - 1][0]]))
    }
}
