// Linear forward vs torch.nn.Linear with the same weights, shape errors, and torch's default init bounds.
import XCTest
import LMTensor
@testable import LMNN

final class LinearTests: XCTestCase {
    func testForwardMatchesTorch() throws {
        let f = try NNFixture.load()
        for c in [f.linear, f.linear_no_bias] {
            let layer = Linear(weight: c.weight.tensor, bias: c.bias?.tensor)
            let y = layer(c.x.tensor)
            XCTAssertEqual(y.shape, c.y.shape)
            assertClose(y.toArray(), c.y.values, "Linear \(c.weight.shape)")
        }
    }

    func testNamesAndDefaultInitBounds() {
        let layer = Linear(64, 10, generator: Generator(seed: 3))
        XCTAssertEqual(layer.namedParameters().map(\.name), ["weight", "bias"])
        XCTAssertEqual(layer.parameterCount, 64 * 10 + 10)
        // torch: kaiming_uniform(a=√5) on [out, in] is U(-1/√in, 1/√in); the bias uses the same bound.
        let bound: Float = 1 / 8
        let w = layer.weight.toArray(), b = layer.bias!.toArray()
        XCTAssertTrue(w.allSatisfy { Swift.abs($0) <= bound } && b.allSatisfy { Swift.abs($0) <= bound })
        XCTAssertGreaterThan(w.map { Swift.abs($0) }.max()!, 0.95 * bound) // fills the interval, not a narrower one
        XCTAssertNil(Linear(4, 2, bias: false, generator: Generator(seed: 1)).bias)
        XCTAssertEqual(Linear(4, 2, bias: false, generator: Generator(seed: 1)).namedParameters().map(\.name), ["weight"])
    }

    func testBatchedInputKeepsLeadingShape() {
        let layer = Linear(3, 2, generator: Generator(seed: 0))
        let x = Tensor.randn([2, 5, 3], generator: Generator(seed: 1))
        let y = layer(x)
        XCTAssertEqual(y.shape, [2, 5, 2])
        let rowwise = layer(x.reshape([10, 3]))
        XCTAssertEqual(y.reshape([10, 2]).toArray(), rowwise.toArray())
    }
}
