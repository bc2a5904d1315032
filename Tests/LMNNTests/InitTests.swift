// Initialisers: torch's gain and fan formulas exactly, and the drawn values' bounds and spread (LMKit's Philox
// stream differs from torch's, so values are checked by distribution, not element by element).
import XCTest
import LMTensor
@testable import LMNN

final class InitTests: XCTestCase {
    func std(_ v: [Float]) -> Double {
        let m = v.reduce(0.0) { $0 + Double($1) } / Double(v.count)
        return (v.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(v.count)).squareRoot()
    }

    func testGainsAndFans() {
        XCTAssertEqual(Init.gain(.relu), 2.0.squareRoot())
        XCTAssertEqual(Init.gain(.tanh), 5.0 / 3)
        XCTAssertEqual(Init.gain(.leakyReLU(negativeSlope: 5.0.squareRoot())), (1.0 / 3).squareRoot(), accuracy: 1e-15)
        XCTAssertEqual(Init.gain(.selu), 0.75)
        XCTAssertEqual(Init.fans([16, 8]).fanIn, 8)
        XCTAssertEqual(Init.fans([16, 8, 3, 3]).fanOut, 144)
    }

    func testDistributionsFollowTorchFormulas() {
        let g = Generator(seed: 11)
        let shape = [200, 100] // fan_in 100, fan_out 200
        let n = Init.normal(Tensor(zeros: shape), std: 0.02, generator: g).toArray()
        XCTAssertEqual(std(n), 0.02, accuracy: 0.02 * 0.03)

        let xu = Init.xavierUniform(Tensor(zeros: shape), gain: 2, generator: g).toArray()
        let xuBound = 2 * (6.0 / 300).squareRoot()
        XCTAssertLessThanOrEqual(Double(xu.map { Swift.abs($0) }.max()!), xuBound)
        XCTAssertEqual(std(xu), xuBound / 3.0.squareRoot(), accuracy: xuBound * 0.02)

        let xn = Init.xavierNormal(Tensor(zeros: shape), generator: g).toArray()
        XCTAssertEqual(std(xn), (2.0 / 300).squareRoot(), accuracy: 0.03 * (2.0 / 300).squareRoot())

        let ku = Init.kaimingUniform(Tensor(zeros: shape), generator: g).toArray() // a=0, fan_in: bound √6/√100
        XCTAssertLessThanOrEqual(Double(ku.map { Swift.abs($0) }.max()!), 6.0.squareRoot() / 10)
        XCTAssertGreaterThan(Double(ku.map { Swift.abs($0) }.max()!), 0.99 * 6.0.squareRoot() / 10)

        let kn = Init.kaimingNormal(Tensor(zeros: shape), mode: .fanOut, nonlinearity: .relu, generator: g).toArray()
        XCTAssertEqual(std(kn), 2.0.squareRoot() / 200.0.squareRoot(), accuracy: 0.03 * 0.1)

        XCTAssertEqual(Init.zeros(Tensor.ones([3])).toArray(), [0, 0, 0])
        XCTAssertEqual(Init.ones(Tensor.zeros([2])).toArray(), [1, 1])
    }

    func testSameSeedSameValues() {
        let a = Linear(8, 4, generator: Generator(seed: 7)), b = Linear(8, 4, generator: Generator(seed: 7))
        XCTAssertEqual(a.weight.toArray(), b.weight.toArray())
        XCTAssertEqual(a.bias!.toArray(), b.bias!.toArray())
        XCTAssertNotEqual(Linear(8, 4, generator: Generator(seed: 8)).weight.toArray(), a.weight.toArray())
    }
}
