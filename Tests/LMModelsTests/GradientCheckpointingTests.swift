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
}
