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
