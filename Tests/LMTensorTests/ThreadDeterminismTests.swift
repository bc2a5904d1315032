// Results must not depend on the thread count (Docs/Architecture.md, Threads): same bits on 1 and 2 threads.
import LMTensor
import XCTest

final class ThreadDeterminismTests: XCTestCase {
    func testLayerNormAndCrossEntropyGradientsAreBitIdenticalOnOneAndTwoThreads() {
        let savedThreads = Parallel.threadCount, savedWork = Parallel.minimumWork
        defer { Parallel.threadCount = savedThreads; Parallel.minimumWork = savedWork }
        Parallel.minimumWork = 1  // force splitting even for these small shapes
        func run(_ threads: Int) -> [[Float]] {
            Parallel.threadCount = threads
            let g = Generator(seed: 11)
            let x = Tensor.randn([100, 48], generator: g).requiringGrad()
            let w = Tensor.randn([48], generator: g).requiringGrad(), b = Tensor.randn([48], generator: g).requiringGrad()
            let logits = x.layerNorm(weight: w, bias: b).gelu()
            logits.crossEntropy(targets: g.integers(100, low: 0, high: 48)).backward()
            return [x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()]
        }
        XCTAssertEqual(run(1), run(2))
    }
}
