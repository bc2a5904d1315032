// LayerNorm and RMSNorm modules vs torch.nn.LayerNorm / torch.nn.RMSNorm with the same weights.
import XCTest
import LMTensor
@testable import LMNN

final class NormalizationTests: XCTestCase {
    func testLayerNormMatchesTorch() throws {
        let c = try NNFixture.load().layer_norm
        let ln = LayerNorm(6, eps: c.eps)
        copyInto(ln.weight!, c.weight.values); copyInto(ln.bias!, c.bias.values)
        assertClose(ln(c.x.tensor).toArray(), c.y.values, "LayerNorm")
        XCTAssertEqual(LayerNorm(6).namedParameters().map(\.name), ["weight", "bias"])
        XCTAssertEqual(LayerNorm(6, bias: false).namedParameters().map(\.name), ["weight"])
        XCTAssertEqual(LayerNorm(6, elementwiseAffine: false).parameterCount, 0)
    }

    func testRMSNormMatchesTorch() throws {
        let c = try NNFixture.load().rms_norm
        let defaultEps = RMSNorm(6), eps6 = RMSNorm(6, eps: 1e-6)
        copyInto(defaultEps.weight!, c.weight.values); copyInto(eps6.weight!, c.weight.values)
        assertClose(defaultEps(c.x.tensor).toArray(), c.y_default_eps.values, "RMSNorm eps=None")
        assertClose(eps6(c.x.tensor).toArray(), c.y_eps_1e6.values, "RMSNorm eps=1e-6")
        XCTAssertEqual(defaultEps.namedParameters().map(\.name), ["weight"])
    }
}

/// Overwrites a parameter's values (outside autograd).
func copyInto(_ t: Tensor, _ values: [Float]) {
    precondition(values.count == t.count)
    let p = t.pointer(Float.self)
    for i in values.indices { p[i] = values[i] }
}
