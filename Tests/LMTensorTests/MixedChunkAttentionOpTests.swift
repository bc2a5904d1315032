// The fused mixed chunk attention op (FLASH): float64 gradchecks (causal and not, relu² and softmax, a partial last
// group, v read in place from a wider tensor's split), and forward values and gradients against the PyTorch reference of
// Scripts/fixtures/mixed_chunk_attention_fixture.py, including groups larger than the kernel's 64-row blocks.
// FLASHTests checks the op against FLASHLayer's composed form and through the whole layer.
import LMTensor
import XCTest
import _TestSupport

final class MixedChunkAttentionOpTests: XCTestCase {
    func testGradcheck() {
        for (causal, softmax) in [(true, false), (false, false), (true, true), (false, true)] {
            let g = Generator(seed: 21)
            let inputs = [[2, 7, 4, 4], [2, 7, 10]].map { Tensor.randn($0, generator: g, dtype: .float64).requiringGrad() }
            gradcheck("mixed chunk attention causal \(causal) softmax \(softmax)", inputs) { t in
                // v: the first half of a [B, T, 10] tensor, a view with row stride 10 that the op reads in place.
                Tensor.mixedChunkAttention(t[0], t[1].split([5, 5], axis: 2)[0], groupSize: 3, causal: causal, softmax: softmax)
            }
        }
    }

    struct Fixture: Decodable {
        struct Case: Decodable {
            let batch: Int, length: Int, queryKeyDim: Int, valueDim: Int, groupSize: Int, causal: Bool, attention: String
            let qk: [Double], v: [Double], weight: [Double], out: [Double], dqk: [Double], dv: [Double]
            enum CodingKeys: String, CodingKey {
                case batch, length, queryKeyDim = "query_key_dim", valueDim = "value_dim", groupSize = "group_size", causal, attention
                case qk, v, weight, out, dqk, dv
            }
        }
        let cases: [Case]
    }

    /// Float32 and float64 values and gradients against PyTorch (float64 autograd of lucidrains' padded formulation).
    func testMatchesPyTorchFixture() throws {
        let fixture = try loadFixture("tensor/mixed_chunk_attention.json", as: Fixture.self)
        XCTAssertEqual(fixture.cases.count, 4)
        for c in fixture.cases {
            for dtype in [DType.float32, .float64] {
                func tensor(_ values: [Double], _ shape: [Int]) -> Tensor { Tensor(doubles: values, shape: shape).to(dtype) }
                let qk = tensor(c.qk, [c.batch, c.length, 4, c.queryKeyDim]).requiringGrad()
                let v = tensor(c.v, [c.batch, c.length, c.valueDim]).requiringGrad()
                let y = Tensor.mixedChunkAttention(qk, v, groupSize: c.groupSize, causal: c.causal, softmax: c.attention == "softmax")
                (y * tensor(c.weight, y.shape)).sum().backward()
                let name = "\(c.attention) causal \(c.causal) T \(c.length) g \(c.groupSize) \(dtype)"
                let tolerance = dtype == .float64 ? 1e-7 : 2e-4
                assertClose(y, c.out, rtol: tolerance, atol: tolerance, "\(name): out")
                assertClose(qk.grad!, c.dqk, rtol: tolerance, atol: tolerance, "\(name): dqk")
                assertClose(v.grad!, c.dv, rtol: tolerance, atol: tolerance, "\(name): dv")
            }
        }
    }

    /// Each group (and the causal prefix sums) is computed by one thread with the same code: the same bits on 1 and 2
    /// threads, forward and gradients (causal; the non-causal state goes through a threaded product).
    func testCausalResultsAreBitIdenticalOnOneAndTwoThreads() {
        let savedThreads = Parallel.threadCount, savedWork = Parallel.minimumWork
        defer { Parallel.threadCount = savedThreads; Parallel.minimumWork = savedWork }
        Parallel.minimumWork = 1
        func run(_ threads: Int) -> [[Float]] {
            Parallel.threadCount = threads
            let g = Generator(seed: 31)
            let qk = Tensor.randn([2, 150, 4, 8], generator: g).requiringGrad(), v = Tensor.randn([2, 150, 12], generator: g).requiringGrad()
            let y = Tensor.mixedChunkAttention(qk, v, groupSize: 70, causal: true)
            (y * Tensor.randn(y.shape, generator: g)).sum().backward()
            return [y.toArray(), qk.grad!.toArray(), v.grad!.toArray()]
        }
        XCTAssertEqual(run(1), run(2))
    }
}
