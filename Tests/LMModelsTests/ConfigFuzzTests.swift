// Seeded mutation fuzzing of the model config readers (issue 12): LMKit's config.json (through the registry) and
// Hugging Face config.json. A mutated file must be refused with an error, or decode to a config whose memory
// estimate is a number, without a crash. LMKIT_FUZZ_ITERATIONS=N for a longer run.
import Foundation
import XCTest
import _TestSupport
@testable import LMModels

final class ConfigFuzzTests: XCTestCase {
    func testFuzzModelConfigJSON() throws {
        let seed = Array(#"{"model_type": "gpt", "vocab_size": 65, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 16, "dropout": 0.1, "bias": true}"#.utf8)
        let outcome = try Fuzzer.run(seed, seed: 41, iterations: Fuzzer.iterations(default: 120)) { input in
            let config = try ModelRegistry.decodeConfig(Data(input), source: "config.json")
            _ = ModelRegistry.estimatedBytes(config, trainingTokens: 1024)
            _ = try ModelRegistry.jsonData(config)
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
        XCTAssertGreaterThan(outcome.accepted, 0)
    }

    func testFuzzHuggingFaceConfigJSON() throws {
        for (index, name) in ["hf_gpt2_tiny", "hf_llama_tiny"].enumerated() {
            let seed = [UInt8](try Data(contentsOf: fixtureURL("models/\(name)/config.json")))
            let outcome = try Fuzzer.run(seed, seed: 42 + UInt64(index), iterations: Fuzzer.iterations(default: 80)) { input in
                let config = try HuggingFaceConfig(data: Data(input), source: "config.json")
                _ = config.architecture
            }
            XCTAssertGreaterThan(outcome.rejected, 0, name)
            XCTAssertGreaterThan(outcome.accepted, 0, name)
        }
    }
}
