// MLP vs a torch nn.Sequential(Linear, GELU(tanh), Linear) with the same weights: forward values,
// gradients of sum(y ⊙ r) for every weight and the input, and the parameter count.
import XCTest
import LMTensor
@testable import LMNN

final class MLPTests: XCTestCase {
    func testForwardAndGradientsMatchTorch() throws {
        let c = try NNFixture.load().mlp
        let w = c.weights
        let mlp = MLP(layers: [Linear(weight: w["0.weight"]!.tensor, bias: w["0.bias"]!.tensor),
                               Linear(weight: w["2.weight"]!.tensor, bias: w["2.bias"]!.tensor)], activation: .gelu(.tanh))
        let x = c.x.tensor.requiringGrad()
        let y = mlp(x)
        assertClose(y.toArray(), c.y.values, "MLP forward")
        (y * c.r.tensor).sum().backward()
        let ours = Dictionary(uniqueKeysWithValues: mlp.namedParameters().map { ($0.name, $0.tensor) })
        for (torchName, ourName) in [("0.weight", "layers.0.weight"), ("0.bias", "layers.0.bias"),
                                     ("2.weight", "layers.1.weight"), ("2.bias", "layers.1.bias")] {
            assertClose(ours[ourName]!.grad!.toArray(), c.grads[torchName]!.values, rtol: 1e-5, atol: 1e-5, "grad \(ourName)")
        }
        assertClose(x.grad!.toArray(), c.x_grad.values, rtol: 1e-5, atol: 1e-5, "grad x")
        XCTAssertEqual(mlp.parameterCount, c.parameter_count)
    }

    func testHiddenSizesAndDropoutPlacement() {
        let mlp = MLP(inputSize: 3, hiddenSizes: [5, 4], outputSize: 2, activation: .relu, dropout: 0.5, generator: Generator(seed: 2))
        XCTAssertEqual(mlp.namedParameters().map(\.name),
                       ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"])
        XCTAssertEqual(mlp.layers.map(\.weight.shape), [[5, 3], [4, 5], [2, 4]])
        let x = Tensor.randn([6, 3], generator: Generator(seed: 5))
        mlp.eval()
        let a = mlp(x).toArray(), b = mlp(x).toArray()
        XCTAssertEqual(a, b, "eval mode is deterministic (dropout off)")
        mlp.train()
        XCTAssertNotEqual(mlp(x).toArray(), a, "training mode applies dropout")
    }
}
