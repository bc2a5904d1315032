// The fused `linear` op beyond the PyTorch fixture (OpsFixtureTests): gradients accumulated in place into a leaf's
// `.grad` over several backward passes, weights that are views (handed back through autograd), and the concurrent
// dx / dW products on two threads giving what one thread gives.
import LMTensor
import XCTest
import _TestSupport

final class LinearOpTests: XCTestCase {
    func unfused(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let y = x.matmul(w.transpose(0, 1))
        return b.map { y + $0 } ?? y
    }

    func testAccumulatesLikeMatmulPlusBiasOverSeveralBackwardPasses() {
        let g = Generator(seed: 3)
        let x = Tensor.randn([7, 5], generator: g).requiringGrad()
        let seeds = (0..<3).map { _ in Tensor.randn([7, 4], generator: g) }
        let w1 = Tensor.randn([4, 5], generator: g).requiringGrad(), b1 = Tensor.randn([4], generator: g).requiringGrad()
        let w2 = w1.detach().clone().requiringGrad(), b2 = b1.detach().clone().requiringGrad()
        for seed in seeds { (x.linear(w1, bias: b1) * seed).sum().backward() }
        let fusedX = x.grad!.toArray()
        x.grad = nil
        for seed in seeds { (unfused(x, w2, b2) * seed).sum().backward() }
        assertClose(w1.grad!.toDoubles(), w2.grad!.toDoubles(), rtol: 1e-5, atol: 1e-5, "weight gradient")
        assertClose(b1.grad!.toDoubles(), b2.grad!.toDoubles(), rtol: 1e-5, atol: 1e-5, "bias gradient")
        assertClose(fusedX.map(Double.init), x.grad!.toDoubles(), rtol: 1e-5, atol: 1e-5, "input gradient")
        assertClose(x.linear(w1, bias: b1).toDoubles(), unfused(x, w2, b2).toDoubles(), rtol: 1e-6, atol: 1e-6, "forward")
    }

    func testWeightThatIsAViewGetsItsGradientThroughAutograd() {
        let g = Generator(seed: 4)
        let x = Tensor.randn([6, 3], generator: g).requiringGrad()
        let stored = Tensor.randn([3, 4], generator: g).requiringGrad()  // used as weight [4, 3] through a transpose
        x.linear(stored.transpose(0, 1), bias: nil).sum().backward()
        let reference = stored.detach().clone().requiringGrad()
        x.matmul(reference).sum().backward()
        assertClose(stored.grad!.toDoubles(), reference.grad!.toDoubles(), rtol: 1e-6, atol: 1e-6, "gradient of the viewed weight")
    }

    func testGradcheckWithAnExistingGradient() {
        let g = Generator(seed: 5)
        let x = Tensor.randn([4, 3], generator: g, dtype: .float64).requiringGrad()
        let w = Tensor.randn([2, 3], generator: g, dtype: .float64).requiringGrad()
        let b = Tensor.randn([2], generator: g, dtype: .float64).requiringGrad()
        gradcheck("linear", [x, w, b]) { $0[0].linear($0[1], bias: $0[2]) }
        // A second pass adds the same gradient onto the first (β = 1 into `.grad`).
        let first = w.grad!.toDoubles(), firstBias = b.grad!.toDoubles()
        let out = x.linear(w, bias: b)
        (out * Tensor.randn(out.shape, generator: Generator(seed: 99), dtype: .float64)).sum().backward()
        assertClose(w.grad!.toDoubles(), first.map { 2 * $0 }, rtol: 1e-12, atol: 1e-12, "accumulated weight gradient")
        assertClose(b.grad!.toDoubles(), firstBias.map { 2 * $0 }, rtol: 1e-12, atol: 1e-12, "accumulated bias gradient")
    }

    func testTwoThreadsGiveTheSameGradientsAsOne() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        func run(_ threads: Int) -> [[Float]] {
            Parallel.threadCount = threads
            let g = Generator(seed: 6)
            // 256 × 128 × 64 multiply-adds: above Matmul.minimumParallelWork, so two threads run dx and dW side by side.
            let x = Tensor.randn([256, 64], generator: g).requiringGrad()
            let w = Tensor.randn([128, 64], generator: g).requiringGrad(), b = Tensor.randn([128], generator: g).requiringGrad()
            (x.linear(w, bias: b) * Tensor.randn([256, 128], generator: g)).sum().backward()
            return [x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        let one = run(1), two = run(2)
        for (a, b) in zip(one, two) { assertClose(a.map(Double.init), b.map(Double.init), rtol: 1e-5, atol: 1e-5) }
    }

    /// linearCrossEntropy in chunks (forced small) equals one chunk and the composed linear → crossEntropy, forward and
    /// every gradient, with ignored rows and a gradient already in the weight's `.grad`; a second backward of a
    /// one-chunk graph (retainGraph) recomputes the logits it overwrote.
    func testLinearCrossEntropyChunksEqualTheComposedOps() {
        let saved = Tensor.linearCrossEntropyChunkElements
        defer { Tensor.linearCrossEntropyChunkElements = saved }
        let g = Generator(seed: 8)
        let x0 = Tensor.randn([37, 16], generator: g), w0 = Tensor.randn([11, 16], generator: g), b0 = Tensor.randn([11], generator: g)
        let prior = Tensor.randn([11, 16], generator: g)
        var targets = g.integers(37, low: 0, high: 11)
        targets[3] = -1; targets[20] = -1
        func run(_ fused: Bool, chunkElements: Int) -> [[Float]] {
            Tensor.linearCrossEntropyChunkElements = chunkElements
            let x = x0.clone().requiringGrad(), w = w0.clone().requiringGrad(), b = b0.clone().requiringGrad()
            w.grad = prior.clone()
            let loss = fused ? x.linearCrossEntropy(weight: w, bias: b, targets: targets, ignoreIndex: -1)
                             : x.linear(w, bias: b).crossEntropy(targets: targets, ignoreIndex: -1)
            loss.backward()
            return [loss.toArray(), x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        let composed = run(false, chunkElements: saved)
        for chunkElements in [saved, 11 * 8, 11 * 5] {  // one chunk; 8-row chunks; 5-row chunks (a short last one)
            for (a, e) in zip(run(true, chunkElements: chunkElements), composed) {
                assertClose(a.map(Double.init), e.map(Double.init), rtol: 1e-5, atol: 1e-6, "chunk of \(chunkElements / 11) rows")
            }
        }
        Tensor.linearCrossEntropyChunkElements = saved
        let x = x0.clone().requiringGrad()
        let loss = x.linearCrossEntropy(weight: w0, bias: b0, targets: targets, ignoreIndex: -1)
        loss.backward(retainGraph: true)
        let first = x.grad!.toArray()
        x.grad = nil
        loss.backward()
        XCTAssertEqual(x.grad!.toArray(), first, "second backward through a kept-logits graph")
    }
}
