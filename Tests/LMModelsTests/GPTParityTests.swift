// llm.c-style parity (test_gpt2.c in spirit): the GPT loaded from a PyTorch state dict must give PyTorch's logits, loss
// and every parameter gradient, then the same losses over 10 AdamW steps (LMOptim AdamW + decayAndNoDecay groups +
// global-norm clipping), for a GPT-2-shaped and a Llama-shaped config. Reference: Scripts/fixtures/gpt_parity_fixture.py.
import Foundation
import LMCheckpoint
import LMOptim
import LMTensor
import XCTest
import _TestSupport
@testable import LMModels

private struct ParityCase: Decodable {
    struct OptimizerSettings: Decodable { let lr: Double; let betas: [Double]; let eps: Double; let weight_decay: Double; let clip: Double; let steps: Int }
    let config: GPTConfig
    let batch: Int
    let length: Int
    let inputs: [Int]
    let targets: [Int]
    let loss: Double
    let losses: [Double]
    let parameters: [String]
    let state_dict: [String]
    let optimizer: OptimizerSettings
}

final class GPTParityTests: XCTestCase {
    private func load(_ name: String) throws -> (ParityCase, tensors: [String: Tensor], model: () throws -> GPT) {
        let cases: [String: ParityCase] = try {
            let data = try Data(contentsOf: fixtureURL("models/gpt_parity.json"))
            let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            var result: [String: ParityCase] = [:]
            for (key, value) in object where value is [String: Any] {
                result[key] = try JSONDecoder().decode(ParityCase.self, from: JSONSerialization.data(withJSONObject: value))
            }
            return result
        }()
        let parity = try XCTUnwrap(cases[name])
        let tensors = try SafetensorsFile(path: fixtureURL("models/gpt_parity_\(name).safetensors").path).tensors()
        let stateDict = tensors.filter { !$0.key.hasPrefix("grad:") && $0.key != "logits" }
        XCTAssertEqual(Set(stateDict.keys), Set(parity.state_dict))
        return (parity, tensors, { try GPT(parity.config, stateDict: stateDict) })
    }

    private func checkForwardAndBackward(_ name: String) throws {
        let (parity, tensors, makeModel) = try load(name)
        let model = try makeModel()
        XCTAssertEqual(model.namedParameters().map(\.name), parity.parameters, "parameter names and order follow nanoGPT")
        let logits = model(parity.inputs, batch: parity.batch, length: parity.length)
        XCTAssertEqual(logits.shape, [parity.batch, parity.length, parity.config.vocabSize])
        assertClose(logits.toArray().map(Double.init), tensors["logits"]!.toArray().map(Double.init), rtol: 1e-5, atol: 1e-6)

        let loss = model.loss(parity.inputs, targets: parity.targets, batch: parity.batch, length: parity.length)
        XCTAssertEqual(Double(loss.item()), parity.loss, accuracy: 1e-5 * parity.loss)
        loss.backward()
        var worst = (name: "", error: 0.0)
        for (parameterName, parameter) in model.namedParameters() {
            let expected = try XCTUnwrap(tensors["grad:" + parameterName], parameterName).toArray().map(Double.init)
            let actual = try XCTUnwrap(parameter.grad, "no gradient for \(parameterName)").toArray().map(Double.init)
            assertClose(actual, expected, rtol: 1e-5, atol: 1e-6)
            let error = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
            if error > worst.error { worst = (parameterName, error) }
        }
        print("\(name): largest gradient difference \(worst.error) in \(worst.name)")
    }

    private func checkTrainingSteps(_ name: String) throws {
        let (parity, _, makeModel) = try load(name)
        let model = try makeModel()
        model.train()
        let settings = parity.optimizer
        let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: settings.lr,
                                                                    weightDecay: settings.weight_decay),
                              beta1: settings.betas[0], beta2: settings.betas[1], eps: settings.eps)
        var losses: [Double] = []
        for _ in 0..<settings.steps {
            optimizer.zeroGrad()
            let loss = model.loss(parity.inputs, targets: parity.targets, batch: parity.batch, length: parity.length)
            loss.backward()
            try GradientClipping.clipGradientNorm(model.parameters(), maxNorm: settings.clip)
            optimizer.step()
            losses.append(Double(loss.item()))
        }
        print("\(name): AdamW losses \(losses)")
        assertClose(losses, parity.losses, rtol: 1e-5, atol: 1e-6)
        XCTAssertLessThan(losses.last!, losses.first! - 0.3, "the fixture must move the loss enough to mean something")
    }

    func testGPT2ShapedForwardBackward() throws { try checkForwardAndBackward("gpt2") }
    func testLlamaShapedForwardBackward() throws { try checkForwardAndBackward("llama") }
    func testGPT2ShapedAdamWSteps() throws { try checkTrainingSteps("gpt2") }
    func testLlamaShapedAdamWSteps() throws { try checkTrainingSteps("llama") }
}
