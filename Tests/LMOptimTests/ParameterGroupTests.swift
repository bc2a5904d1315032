// The nanoGPT decay / no-decay split.
import XCTest
import LMTensor
@testable import LMOptim

final class ParameterGroupTests: XCTestCase {
    func testDecayAndNoDecaySplitsByRank() {
        let params: [(name: String, tensor: Tensor)] = [
            ("wte.weight", Tensor(zeros: [10, 4])), ("ln.weight", Tensor(zeros: [4])), ("fc.weight", Tensor(zeros: [8, 4])),
            ("fc.bias", Tensor(zeros: [8])),
        ]
        let groups = ParameterGroup.decayAndNoDecay(params, learningRate: 6e-4, weightDecay: 0.1)
        XCTAssertEqual(groups.count, 2)
        XCTAssertEqual(groups[0].parameters.map(\.name), ["wte.weight", "fc.weight"])
        XCTAssertEqual(groups[0].weightDecay, 0.1)
        XCTAssertEqual(groups[1].parameters.map(\.name), ["ln.weight", "fc.bias"])
        XCTAssertEqual(groups[1].weightDecay, 0)
        XCTAssertEqual(ParameterGroup.decayAndNoDecay([params[1]], learningRate: 1, weightDecay: 0.1).count, 1)
    }

    /// Exempt names (a model's `_no_weight_decay` parameters) join the no-decay group whatever their rank.
    func testExemptNamesAreNotDecayed() {
        let params: [(name: String, tensor: Tensor)] = [("in_proj.weight", Tensor(zeros: [8, 4])), ("A_log", Tensor(zeros: [8, 4])),
                                                        ("D", Tensor(zeros: [8]))]
        let groups = ParameterGroup.decayAndNoDecay(params, learningRate: 1e-3, weightDecay: 0.1, exempt: ["A_log", "D", "absent"])
        XCTAssertEqual(groups.map { $0.parameters.map(\.name) }, [["in_proj.weight"], ["A_log", "D"]])
        XCTAssertEqual(groups.map(\.weightDecay), [0.1, 0])
    }

    /// A parameter in a no-decay group is untouched by AdamW's decay when its gradient is zero; one with decay shrinks.
    func testNoDecayGroupIsNotDecayed() {
        let w = Tensor([1, 1, 1, 1], shape: [2, 2], requiresGrad: true), b = Tensor([1, 1], shape: [2], requiresGrad: true)
        let opt = AdamW(groups: ParameterGroup.decayAndNoDecay([("w", w), ("b", b)], learningRate: 0.1, weightDecay: 0.5))
        w.grad = Tensor(zeros: [2, 2]); b.grad = Tensor(zeros: [2])
        opt.step()
        XCTAssertEqual(b.toArray(), [1, 1])
        XCTAssertEqual(w.toArray(), [Float](repeating: Float(1 - 0.1 * 0.5), count: 4))
    }

    func testAddParameterGroupExtendsTheOptimizer() {
        let a = Tensor([1], shape: [1], requiresGrad: true), b = Tensor([1], shape: [1], requiresGrad: true)
        let opt = SGD([("a", a)], learningRate: 0.5)
        opt.addParameterGroup(ParameterGroup([("b", b)], learningRate: 0.25))
        a.grad = Tensor([1], shape: [1]); b.grad = Tensor([1], shape: [1])
        opt.step()
        XCTAssertEqual(a.item(), 0.5)
        XCTAssertEqual(b.item(), 0.75)
        XCTAssertEqual(opt.namedParameters.map(\.name), ["a", "b"])
    }
}
