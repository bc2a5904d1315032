// gradient_checkpointing on a whole model: every parameter gradient of a GPT with dropout is bitwise the one
// without checkpointing, and the model has one checkpointable block per layer.
import LMModels
import LMNN
import LMTensor
import XCTest

final class GradientCheckpointingTests: XCTestCase {
    func testGPTWithDropoutHasTheSameGradientsBitwise() {
        var config = GPTConfig()
        config.vocabSize = 37; config.blockSize = 16; config.nLayer = 2; config.nHead = 2; config.nEmbd = 16
        config.dropout = 0.2; config.bias = true
        let g = Generator(seed: 4)
        let tokens = g.integers(2 * 16, low: 0, high: 37), targets = g.integers(2 * 16, low: 0, high: 37)
        func gradients(_ checkpointed: Bool) -> [String: [Float]] {
            let model = GPT(config, generator: Generator(seed: 9))
            XCTAssertEqual(model.setGradientCheckpointing(checkpointed), 2, "one checkpointable block per layer")
            model.loss(TokenBatch(inputs: tokens, targets: targets, batch: 2, length: 16), generator: Generator(seed: 0)).backward()
            return Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor.grad!.toArray()) })
        }
        let plain = gradients(false), checkpointed = gradients(true)
        XCTAssertEqual(plain.keys.sorted(), checkpointed.keys.sorted())
        for (name, grad) in plain { XCTAssertEqual(checkpointed[name], grad, name) }
    }

    func testMambaAndS4DBlocksHaveTheSameGradientsBitwise() throws {
        let g = Generator(seed: 5)
        let tokens = g.integers(2 * 12, low: 0, high: 29), targets = g.integers(2 * 12, low: 0, high: 29)
        let batch = TokenBatch(inputs: tokens, targets: targets, batch: 2, length: 12)
        var mamba = MambaConfig(); mamba.vocabSize = 29; mamba.dModel = 16; mamba.nLayer = 2; mamba.dState = 4
        var s4d = S4DConfig(); s4d.vocabSize = 29; s4d.dModel = 16; s4d.nLayer = 2; s4d.dState = 4
        for config in [mamba as any ModelConfiguration, s4d] {
            func gradients(_ checkpointed: Bool) throws -> [String: [Float]] {
                let model = try ModelRegistry.makeModel(config, generator: Generator(seed: 9))
                XCTAssertEqual(model.setGradientCheckpointing(checkpointed), 2, "one checkpointable block per layer")
                model.loss(batch, generator: Generator(seed: 0)).backward()
                return Dictionary(model.namedParameters().map { ($0.name, $0.tensor.grad?.toArray() ?? []) }, uniquingKeysWith: { a, _ in a })
            }
            let plain = try gradients(false), checkpointed = try gradients(true)
            for (name, grad) in plain { XCTAssertEqual(checkpointed[name], grad, "\(type(of: config).modelType) \(name)") }
        }
    }
}
