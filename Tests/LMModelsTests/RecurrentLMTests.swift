// Recurrent language models (model_type lstm / gru / rnn) against PyTorch's word_language_model RNNModel
// (Tests/Fixtures/models/recurrent_lm.json from Scripts/fixtures/recurrent_lm_fixture.py): its state dict loads through
// the registry with no renaming and gives its logits, loss and every gradient; decoding step by step equals the full
// forward; a tiny model overfits one batch.
import Foundation
import LMCheckpoint
import LMNN
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

private struct RecurrentLMCase: Decodable {
    struct Values: Decodable { let shape: [Int]; let values: [Float] }
    let name: String
    let batch: Int, length: Int
    let inputs: [Int], targets: [Int]
    let state_dict: [String: Values], grads: [String: Values]
    let logits: Values
    let loss: Double
}

/// The logits of `tokens` fed as a 3-token prefill and then one token at a time.
private func stepwise(_ m: some IncrementalDecoding, _ tokens: [Int]) -> [Float] {
    let state = m.makeDecodingState(batch: 1)
    var out = noGrad { m.decode(Array(tokens.prefix(3)), batch: 1, length: 3, state: state) }.toArray()
    for t in tokens.dropFirst(3) { out += noGrad { m.append(t, state: state) } }
    XCTAssertEqual(state.length, tokens.count)
    return out
}

final class RecurrentLMTests: XCTestCase {
    func testMatchesWordLanguageModel() throws {
        let data = try Data(contentsOf: fixtureURL("models/recurrent_lm.json"))
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(object["magic"] as? String, "lmkit-recurrent-lm-fixture")
        let raw = try XCTUnwrap(object["cases"] as? [[String: Any]])
        XCTAssertEqual(raw.count, 4)
        for entry in raw {
            let c = try JSONDecoder().decode(RecurrentLMCase.self, from: JSONSerialization.data(withJSONObject: entry))
            let config = try ModelRegistry.decodeConfig(try XCTUnwrap(entry["model"] as? [String: Any]), source: c.name)
            let stateDict = c.state_dict.mapValues { Tensor($0.values, shape: $0.shape) }
            let model = try ModelRegistry.loadModel(config, stateDict: stateDict, source: c.name)
            let logits = model.logits(c.inputs, batch: c.batch, length: c.length)
            assertClose(logits, c.logits.values.map(Double.init), rtol: 1e-4, atol: 1e-6, "\(c.name): logits")
            let loss = model.loss(TokenBatch(inputs: c.inputs, targets: c.targets, batch: c.batch, length: c.length), generator: Generator(seed: 0))
            XCTAssertEqual(Double(loss.item()), c.loss, accuracy: 1e-5, c.name)
            loss.backward()
            XCTAssertEqual(Set(model.namedParameters().map(\.name)), Set(c.grads.keys), c.name)
            for (name, p) in model.namedParameters() {
                assertClose(try XCTUnwrap(p.grad, "\(c.name): \(name)"), try XCTUnwrap(c.grads[name]).values.map(Double.init),
                            rtol: 1e-4, atol: 1e-6, "\(c.name): d\(name)")
            }
        }
    }

    func testDecodingStepByStepEqualsFullForward() throws {
        for json in [#"{"model_type": "lstm", "vocab_size": 9, "embedding_size": 5, "hidden_size": 7, "num_layers": 2, "proj_size": 3}"#,
                     #"{"model_type": "gru", "vocab_size": 9, "embedding_size": 5, "hidden_size": 7, "num_layers": 2}"#,
                     #"{"model_type": "rnn", "vocab_size": 9, "embedding_size": 5, "hidden_size": 7, "nonlinearity": "relu"}"#] {
            let config = try ModelRegistry.decodeConfig(Data(json.utf8), source: "test")
            let model = try ModelRegistry.makeModel(config, generator: Generator(seed: 2))
            model.eval()
            let tokens = [3, 1, 4, 1, 5, 8, 2, 6]
            let full = noGrad { model.logits(tokens, batch: 1, length: tokens.count) }.toArray()  // [1, 8, 9]
            guard let decoder = model as? any IncrementalDecoding else { return XCTFail("\(json): not IncrementalDecoding") }
            let steps = stepwise(decoder, tokens)
            assertClose(steps.map(Double.init), full.map(Double.init), rtol: 1e-5, atol: 1e-6, json)
        }
    }

    func testOverfitsOneBatch() throws {
        let config = try ModelRegistry.decodeConfig(Data(#"{"model_type": "lstm", "vocab_size": 8, "embedding_size": 16, "hidden_size": 16, "num_layers": 1, "dropout": 0}"#.utf8), source: "test")
        let model = try ModelRegistry.makeModel(config, generator: Generator(seed: 3))
        let inputs = [0, 1, 2, 3, 4, 5, 6, 7, 7, 6, 5, 4, 3, 2, 1, 0]
        let targets = [1, 2, 3, 4, 5, 6, 7, 0, 6, 5, 4, 3, 2, 1, 0, 7]
        let batch = TokenBatch(inputs: inputs, targets: targets, batch: 2, length: 8)
        var last = 0.0
        for _ in 0..<300 {
            model.zeroGrad()
            let loss = model.loss(batch, generator: Generator(seed: 0))
            loss.backward()
            last = Double(loss.item())
            noGrad { for p in model.parameters() { let g = p.grad!.toArray(), ptr = p.pointer(Float.self); for i in 0..<p.count { ptr[i] -= 1.0 * g[i] } } }
        }
        XCTAssertLessThan(last, 0.1)
    }

    /// A torch nn.LSTM state dict saved with safetensors' save_file loads into LMNN's LSTM with no renaming (strict)
    /// and gives torch's outputs and final states.
    func testTorchSafetensorsStateDictLoadsWithoutRenaming() throws {
        struct Values: Decodable { let shape: [Int]; let values: [Float] }
        struct Bare: Decodable { let x: Values, output: Values, h_n: Values, c_n: Values }
        struct File: Decodable { let lstm_torch_safetensors: Bare }
        let bare = try loadFixture("models/recurrent_lm.json", as: File.self).lstm_torch_safetensors
        let lstm = LSTM(inputSize: 3, hiddenSize: 5, layerCount: 2, batchFirst: true, bidirectional: true, projectionSize: 2,
                        generator: Generator(seed: 0))
        let report = try loadStateDict(lstm.stateDict(), fromFile: fixtureURL("models/lstm_torch.safetensors").path)
        XCTAssertTrue(report.isExact, "\(report)")
        let (output, state) = noGrad { lstm(Tensor(bare.x.values, shape: bare.x.shape)) }
        XCTAssertEqual(output.shape, bare.output.shape)
        assertClose(output.contiguous(), bare.output.values.map(Double.init), rtol: 1e-5, atol: 1e-6, "output")
        assertClose(state.h, bare.h_n.values.map(Double.init), rtol: 1e-5, atol: 1e-6, "h_n")
        assertClose(try XCTUnwrap(state.c), bare.c_n.values.map(Double.init), rtol: 1e-5, atol: 1e-6, "c_n")
    }
}
