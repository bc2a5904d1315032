// Activation modules vs torch.nn.GELU (tanh and erf), ReLU, SiLU, Tanh, Sigmoid on [-4, 4].
import XCTest
import LMTensor
@testable import LMNN

final class ActivationTests: XCTestCase {
    func testActivationsMatchTorch() throws {
        let c = try NNFixture.load().activations
        let x = Tensor(c.x, shape: [c.x.count])
        let cases: [(Activation, [Float], String)] = [
            (.gelu(.tanh), c.gelu_tanh, "gelu tanh"), (.gelu(.erf), c.gelu_erf, "gelu erf"), (.relu, c.relu, "relu"),
            (.silu, c.silu, "silu"), (.tanh, c.tanh, "tanh"), (.sigmoid, c.sigmoid, "sigmoid"),
        ]
        for (module, expected, name) in cases {
            assertClose(module(x).toArray(), expected, rtol: 1e-5, atol: 1e-6, name)
            XCTAssertEqual(module.parameterCount, 0)
        }
    }
}
