// The seam's memory estimate (issue 12): GPT's parameter count from the config matches the built model, and a
// config no machine can hold is refused by `ModelRegistry.makeModel` before anything is allocated.
import XCTest
import LMTensor
@testable import LMModels

final class ModelMemoryEstimateTests: XCTestCase {
    func testGPTParameterEstimateMatchesTheBuiltModel() throws {
        let variants: [(String, GPTConfig)] = {
            var base = GPTConfig(); base.vocabSize = 97; base.blockSize = 16; base.nLayer = 2; base.nHead = 4; base.nEmbd = 32
            var untied = base; untied.tieEmbeddings = false; untied.bias = false
            var llama = base; llama.position = .rope; llama.mlp = .swiglu; llama.nKVHead = 2; llama.norm = .rmsNorm; llama.intermediateSize = 40
            return [("gpt2", base), ("untied", untied), ("llama", llama)]
        }()
        for (name, config) in variants {
            let model = try ModelRegistry.makeModel(config, generator: nil)
            let estimate = try XCTUnwrap(config.estimatedParameterCount)
            XCTAssertEqual(estimate, Double(model.parameterCount), accuracy: Double(model.parameterCount) * 0.02, name)
        }
    }

    func testConfigBeyondTheMachineIsRefusedBeforeBuilding() {
        var config = GPTConfig()
        config.nEmbd = 1_000_000; config.nHead = 1; config.nLayer = 12
        let start = Date()
        XCTAssertThrowsError(try ModelRegistry.makeModel(config, generator: nil)) { error in
            XCTAssertTrue("\(error)".contains("needs an estimated") && "\(error)".contains("parameters"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2)
    }
}
