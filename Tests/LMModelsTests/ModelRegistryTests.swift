// The registry: every registered family builds from a small config, reaches every tensor it holds through the
// parameter walk, round-trips its config with `model_type`, and reloads its own state dict; unknown families and
// keys are errors naming them; JSON without model_type is GPT's (files written before the registry).
import Foundation
import LMNN
import LMTensor
import XCTest
@testable import LMModels

final class ModelRegistryTests: XCTestCase {
    /// A small config for each family in the registry. A new family adds its line here (the test fails until it does).
    let smallConfigs: [String: String] = [
        "gpt": #"{"model_type": "gpt", "vocab_size": 11, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8}"#,
        "lstm": #"{"model_type": "lstm", "vocab_size": 11, "embedding_size": 4, "hidden_size": 6, "num_layers": 2, "proj_size": 4, "tie_weights": true}"#,
        "gru": #"{"model_type": "gru", "vocab_size": 11, "embedding_size": 4, "hidden_size": 6, "num_layers": 2}"#,
        "rnn": #"{"model_type": "rnn", "vocab_size": 11, "embedding_size": 4, "hidden_size": 6, "nonlinearity": "relu"}"#,
        "bert": #"{"model_type": "bert", "vocab_size": 11, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12, "max_position_embeddings": 8, "mask_token_id": 3, "dropout": 0}"#,
        "masked-diffusion": #"{"model_type": "masked-diffusion", "vocab_size": 12, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 8}"#,
        "mamba": #"{"model_type": "mamba", "vocab_size": 11, "d_model": 8, "n_layer": 2, "d_state": 4}"#,
        "s4d": #"{"model_type": "s4d", "vocab_size": 11, "d_model": 8, "n_layer": 2, "d_state": 4, "init": "inv"}"#,
        "flash": #"{"model_type": "flash", "vocab_size": 11, "block_size": 8, "n_layer": 2, "n_embd": 8, "query_key_dim": 4, "group_size": 2}"#,
    ]

    func testEveryFamilyBuildsWalksAndRoundTrips() throws {
        for modelType in ModelRegistry.modelTypes where !modelType.hasPrefix("test-") {
            let json = try XCTUnwrap(smallConfigs[modelType], "add a small config for '\(modelType)' to ModelRegistryTests")
            let config = try ModelRegistry.decodeConfig(Data(json.utf8), source: "small \(modelType)")
            XCTAssertEqual(type(of: config).modelType, modelType)
            let model = try ModelRegistry.makeModel(config, generator: Generator(seed: 1))
            XCTAssertEqual(model.unreachableTensors(), [], "\(modelType): tensors outside the parameter walk are neither trained nor saved")
            let again = try ModelRegistry.decodeConfig(try ModelRegistry.jsonData(config), source: "round trip")
            XCTAssertTrue(ModelRegistry.same(config, again))
            let copy = try ModelRegistry.loadModel(config, stateDict: model.stateDict(), source: "itself")
            let tokens = [1, 2, 3, 4]
            XCTAssertEqual(noGrad { copy.logits(tokens, batch: 1, length: 4) }.toArray(),
                           noGrad { model.logits(tokens, batch: 1, length: 4) }.toArray())
        }
    }

    func testLegacyJSONIsGPTAndErrorsNameTheProblem() throws {
        let legacy = try ModelRegistry.decodeConfig(Data(#"{"n_layer": 1, "n_head": 1, "n_embd": 4}"#.utf8), source: "old.json")
        XCTAssertTrue(legacy is GPTConfig)
        XCTAssertThrowsError(try ModelRegistry.decodeConfig(Data(#"{"model_type": "bart"}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("\"bart\"") && "\($0)".contains("gpt"), "\($0)")
        }
        XCTAssertThrowsError(try ModelRegistry.decodeConfig(Data(#"{"model_type": "gpt", "n_layers": 2}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("c.json") && "\($0)".contains("'n_layers'"), "\($0)")
        }
        XCTAssertThrowsError(try ModelRegistry.decodeConfig(Data(#"{"model_type": 3}"#.utf8), source: "c.json")) {
            XCTAssertTrue("\($0)".contains("model_type"), "\($0)")
        }
    }
}
