// Sequential: torch's numbering of state-dict keys (`0.weight`, `2.bias`, fixture from nn_fixture.py) and
// application in order.
import XCTest
import LMTensor
@testable import LMNN

final class SequentialTests: XCTestCase {
    func testSequentialNamesParametersLikeTorch() throws {
        let c = try NNFixture.load().mlp
        let g = Generator(seed: 9)
        let seq = Sequential(Linear(4, 8, generator: g), Activation.gelu(.tanh), Linear(8, 3, generator: g))
        XCTAssertEqual(seq.stateDictKeys(), c.state_dict_keys)
        XCTAssertEqual(seq.parameterCount, c.parameter_count)
        let x = Tensor.randn([2, 4], generator: g)
        let viaLayers = (seq.layers[2] as! Linear)((seq.layers[1] as! Activation)((seq.layers[0] as! Linear)(x)))
        XCTAssertEqual(seq(x).toArray(), viaLayers.toArray())
    }
}
