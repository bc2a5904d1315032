// Every differentiable op against PyTorch (Tests/Fixtures/tensor/ops.json, from Scripts/fixtures/tensor_ops_fixture.py):
// forward values and the gradients of Σ out ⊙ W in float32, then a finite-difference gradcheck of the same call in
// float64 on the same inputs.
import LMTensor
import XCTest
import _TestSupport

struct OpsFixture: Decodable {
    struct Array: Decodable { let shape: [Int]; let data: [Double] }
    struct Args: Decodable {
        let targets: [Int]?, ignore_index: Int?, label_smoothing: Double?
        let indices: [Int]?, index_shape: [Int]?, index: [Int]?, sizes: [Int]?
        let key_lengths: [Int]?, causal: Bool?, window: Int?, heads: Int?, kv_heads: Int?
    }
    struct Case: Decodable {
        let name: String
        let inputs: [Array]
        let args: Args
        let weight: Array
        let output: Array
        let grads: [[Double]?]
        let indices: [Int]?
    }
    let cases: [Case]
}

/// The LMKit call for each fixture case, on inputs in fixture order.
let opTable: [String: (OpsFixture.Args, [Tensor]) -> Tensor] = [
    "add": { _, x in x[0] + x[1] },
    "sub": { _, x in x[0] - x[1] },
    "mul": { _, x in x[0] * x[1] },
    "div": { _, x in x[0] / x[1] },
    "neg": { _, x in -x[0] },
    "pow_scalar": { _, x in x[0].pow(2.5) },
    "pow_tensor": { _, x in x[0].pow(x[1]) },
    "exp": { _, x in x[0].exp() },
    "log": { _, x in x[0].log() },
    "sqrt": { _, x in x[0].sqrt() },
    "rsqrt": { _, x in x[0].rsqrt() },
    "abs": { _, x in x[0].abs() },
    "clamp": { _, x in x[0].clamp(min: -0.5, max: 0.7) },
    "tanh": { _, x in x[0].tanh() },
    "sigmoid": { _, x in x[0].sigmoid() },
    "relu": { _, x in x[0].relu() },
    "gelu_tanh": { _, x in x[0].gelu(.tanh) },
    "gelu_erf": { _, x in x[0].gelu(.erf) },
    "silu": { _, x in x[0].silu() },
    "softplus": { _, x in x[0].softplus() },
    "sum": { _, x in x[0].sum(axes: [0, 2], keepDim: true) },
    "sum_all": { _, x in x[0].sum() },
    "mean": { _, x in x[0].mean(axis: 1) },
    "max": { _, x in x[0].max(axis: 1).values },
    "var": { _, x in x[0].variance(axes: [1], correction: 1) },
    "var_population": { _, x in x[0].variance(axes: [0, 1], correction: 0) },
    "logsumexp": { _, x in x[0].logSumExp(axes: [-1], keepDim: true) },
    "matmul": { _, x in x[0].matmul(x[1]) },
    "matmul_batched": { _, x in x[0].matmul(x[1]) },
    "matmul_broadcast": { _, x in x[0].matmul(x[1]) },
    "matmul_transposed": { _, x in x[0].matmul(x[1].transpose(-1, -2)) },
    "linear": { _, x in x[0].linear(x[1], bias: x[2]) },
    "linear_no_bias": { _, x in x[0].linear(x[1], bias: nil) },
    "linear_cross_entropy": { a, x in x[0].linearCrossEntropy(weight: x[1], bias: x[2], targets: a.targets!, ignoreIndex: a.ignore_index!) },
    "packed_attention_padded_gqa": packedAttention, "packed_attention_causal_window": packedAttention,
    "softmax": { _, x in x[0].softmax(axis: -1) },
    "softmax_axis0": { _, x in x[0].softmax(axis: 0) },
    "log_softmax": { _, x in x[0].logSoftmax(axis: -1) },
    "cross_entropy": { a, x in x[0].crossEntropy(targets: a.targets!) },
    "cross_entropy_ignore_smooth": { a, x in
        x[0].crossEntropy(targets: a.targets!, ignoreIndex: a.ignore_index!, labelSmoothing: a.label_smoothing!) },
    "cross_entropy_sum": { a, x in x[0].crossEntropy(targets: a.targets!, reduction: .sum) },
    "cross_entropy_none": { a, x in x[0].crossEntropy(targets: a.targets!, labelSmoothing: a.label_smoothing!, reduction: .none) },
    "layer_norm": { _, x in x[0].layerNorm(weight: x[1], bias: x[2], eps: 1e-5) },
    "layer_norm_noaffine": { _, x in x[0].layerNorm(weight: nil, bias: nil, eps: 1e-5) },
    "rms_norm": { _, x in x[0].rmsNorm(weight: x[1], eps: 1e-6) },
    "embedding": { a, x in x[0].embedding(a.indices!, shape: a.index_shape!) },
    "index_select": { a, x in x[0].indexSelect(axis: 1, indices: a.indices!) },
    "gather": { a, x in x[0].gather(axis: 1, index: a.index!, shape: a.index_shape!) },
    "where": { _, x in Tensor.where(x[0], x[1], x[2]) },
    "masked_fill": { _, x in x[0].maskedFill(x[1], -2.5) },
    "concat": { _, x in Tensor.concat([x[0], x[1]], axis: 1) },
    "split": { a, x in
        Tensor.concat(x[0].split(a.sizes!, axis: 1).enumerated().map { $0.element * Double($0.offset + 1) }, axis: 1) },
    "stack": { _, x in Tensor.stack([x[0], x[1]], axis: 1) },
    "cumsum": { _, x in x[0].cumsum(axis: 1) },
    "triu_mask": { _, x in x[0] * Tensor.triuMask(4, 5, diagonal: 1, dtype: x[0].dtype) },
    "tril_mask": { _, x in x[0] * Tensor.trilMask(4, 5, diagonal: 0, dtype: x[0].dtype) },
    "sdpa_causal": { _, x in Tensor.scaledDotProductAttention(x[0], x[1], x[2], causal: true) },
    "sdpa_gqa_mask": { _, x in Tensor.scaledDotProductAttention(x[0], x[1], x[2], mask: x[3], scale: 0.4) },
    "sdpa_padded_causal": sdpaWithKeyLengths, "sdpa_padded_gqa": sdpaWithKeyLengths, "sdpa_window": sdpaWithKeyLengths,
    "rope_half_split": { _, x in x[0].rotaryEmbedding(cos: x[1], sin: x[2], layout: .halfSplit) },
    "rope_interleaved": { _, x in x[0].rotaryEmbedding(cos: x[1], sin: x[2], layout: .interleaved) },
    "causal_conv1d": { _, x in x[0].causalConv1d(weight: x[1], bias: x[2]) },
    "causal_conv1d_nobias": { _, x in x[0].causalConv1d(weight: x[1], bias: nil) },
    "selective_scan": { _, x in x[0].selectiveScan(delta: x[1], A: x[2], B: x[3], C: x[4], D: x[5]) },
    "selective_scan_noskip": { _, x in x[0].selectiveScan(delta: x[1], A: x[2], B: x[3], C: x[4], D: nil) },
    "s4d_kernel": { _, x in Tensor.s4dConvolutionWeight(logDt: x[0], logAReal: x[1], aImag: x[2], c: x[3], length: 6) },
    "transpose_slice": { _, x in x[0].transpose(0, 2).slice(0, 1, 3).slice(2, 0, nil, step: 2).reshape([2, -1]) },
]

/// Attention with the fixture's key lengths, causal flag and window (torch got the same rules as a boolean mask).
let sdpaWithKeyLengths: (OpsFixture.Args, [Tensor]) -> Tensor = { a, x in
    Tensor.scaledDotProductAttention(x[0], x[1], x[2], causal: a.causal ?? false, keyLengths: a.key_lengths, window: a.window)
}

/// Self-attention over a fused [B, T, H + 2·Hkv, D] projection with the fixture's heads and masking rules.
let packedAttention: (OpsFixture.Args, [Tensor]) -> Tensor = { a, x in
    Tensor.packedSelfAttention(x[0], heads: a.heads!, kvHeads: a.kv_heads!, causal: a.causal ?? false, keyLengths: a.key_lengths,
                               window: a.window)
}

/// Inputs that are masks/conditions rather than differentiable values.
let constantInputs: [String: Set<Int>] = ["where": [0], "masked_fill": [1], "sdpa_gqa_mask": [3],
                                               "rope_half_split": [1, 2], "rope_interleaved": [1, 2]]

final class OpsFixtureTests: XCTestCase {
    func loadCases() throws -> [OpsFixture.Case] { try loadFixture("tensor/ops.json", as: OpsFixture.self).cases }

    func testEveryFixtureCaseHasAnOp() throws {
        let names = Set(try loadCases().map(\.name))
        XCTAssertEqual(names, Set(opTable.keys), "fixture cases and the op table must list the same ops")
    }

    func testForwardAndBackwardMatchPyTorch() throws {
        for c in try loadCases() {
            guard let op = opTable[c.name] else { continue }
            let constants = constantInputs[c.name] ?? []
            let inputs = c.inputs.enumerated().map { i, a in
                Tensor(a.data.map(Float.init), shape: a.shape, requiresGrad: !constants.contains(i))
            }
            let out = op(c.args, inputs)
            XCTAssertEqual(out.shape, c.output.shape, "\(c.name): output shape")
            assertClose(out, c.output.data, rtol: 2e-5, atol: 2e-6, "\(c.name): forward")
            if let expected = c.indices, c.name == "max" {
                XCTAssertEqual(inputs[0].max(axis: 1).indices, expected, "max: indices")
            }
            (out * Tensor(c.weight.data.map(Float.init), shape: c.weight.shape)).sum().backward()
            for (i, expected) in c.grads.enumerated() {
                guard let expected else { continue }
                guard let grad = inputs[i].grad else { XCTFail("\(c.name): no gradient for input \(i)"); continue }
                assertClose(grad, expected, rtol: 2e-5, atol: 2e-6, "\(c.name): gradient of input \(i)")
            }
        }
    }

    func testGradcheckInFloat64() throws {
        for c in try loadCases() {
            guard let op = opTable[c.name] else { continue }
            let constants = constantInputs[c.name] ?? []
            let inputs = c.inputs.enumerated().map { i, a in
                Tensor(doubles: a.data, shape: a.shape, requiresGrad: !constants.contains(i))
            }
            // abs, relu, clamp and max have kinks; the fixture inputs are random normals, away from them by > eps.
            gradcheck(c.name, inputs) { op(c.args, $0) }
        }
    }
}
