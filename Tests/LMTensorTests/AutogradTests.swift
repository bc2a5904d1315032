// Autograd semantics: accumulation, seeds, noGrad, detach, graph freeing, broadcasting and views.
import LMTensor
import XCTest
import _TestSupport

final class AutogradTests: XCTestCase {
    /// An op's backward keeps what it saved, never its own output object: otherwise output → node → closure → output
    /// is a cycle that only backward() breaks, and a graph built but never backwarded (MoE's unused z-loss) leaks.
    func testAnOutputNeverBackwardedIsFreed() {
        let x = Tensor([0.5, -1, 2, 0.25], shape: [2, 2], requiresGrad: true)
        weak var softmax: Tensor?, exp: Tensor?, quotient: Tensor?, power: Tensor?
        do {
            let outputs = [x.softmax(axis: -1), x.exp(), x / (x + 3), (x + 3).pow(x)]
            (softmax, exp, quotient, power) = (outputs[0], outputs[1], outputs[2], outputs[3])
            XCTAssertNotNil(softmax)
        }
        XCTAssertNil(softmax); XCTAssertNil(exp); XCTAssertNil(quotient); XCTAssertNil(power)
    }

    func testAnAttentionOutputNeverBackwardedIsFreed() {
        let qkv = Tensor((0..<12).map { Float($0) / 7 - 0.8 }, shape: [1, 2, 3, 2], requiresGrad: true)
        let q = qkv.slice(2, 0, 1).transpose(1, 2), k = qkv.slice(2, 1, 2).transpose(1, 2), v = qkv.slice(2, 2, 3).transpose(1, 2)
        weak var sliced: Tensor?, packed: Tensor?
        do {
            let outputs = [Tensor.scaledDotProductAttention(q, k, v, causal: true),
                           Tensor.packedSelfAttention(qkv, heads: 1, kvHeads: 1, causal: true)]
            (sliced, packed) = (outputs[0], outputs[1])
            XCTAssertNotNil(sliced)
        }
        XCTAssertNil(sliced); XCTAssertNil(packed)
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        (x * x).sum().backward()
        (x * 3).sum().backward()
        assertClose(x.grad!, [2 + 3, 4 + 3, 6 + 3])
    }

    func testSeedGradient() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        (x * x).backward(Tensor([10, 100], shape: [2]))
        assertClose(x.grad!, [20, 400])
    }

    func testReusedInputGetsSummedGradient() {
        let x = Tensor([2], shape: [1], requiresGrad: true)
        let y = x * x * x  // x used three times
        y.sum().backward()
        assertClose(x.grad!, [12])
    }

    func testNoGradRecordsNothingAndDetachCutsTheGraph() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let y = noGrad { x * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradNode)
        let z = (x.detach() * x).sum()
        z.backward()
        assertClose(x.grad!, [1, 2], "only the non-detached factor contributes")
    }

    func testBackwardFreesTheGraphUnlessRetained() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        assertClose(x.grad!, [4, 8])
    }

    func testBroadcastGradientsSumBackToInputShapes() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let b = Tensor([10], shape: [1], requiresGrad: true)
        let c = Tensor([1, 2, 3], shape: [3], requiresGrad: true)
        (a * b + c).sum().backward()
        assertClose(b.grad!, [21])
        assertClose(c.grad!, [2, 2, 2])
        assertClose(a.grad!, [10, 10, 10, 10, 10, 10])
    }

    func testViewsShareStorageAndTransposedMatmulMatchesContiguous() {
        let g = Generator(seed: 5)
        let a = Tensor.randn([4, 3], generator: g), b = Tensor.randn([5, 3], generator: g)
        let bt = b.transpose(0, 1)
        XCTAssertTrue(bt.storage === b.storage)
        XCTAssertFalse(bt.isContiguous)
        assertClose(a.matmul(bt), a.matmul(bt.contiguous()).toDoubles())
        let s = a.slice(0, 1, 3)
        XCTAssertTrue(s.storage === a.storage)
        XCTAssertEqual(s.shape, [2, 3])
        assertClose(s, Array(a.toDoubles()[3..<9]))
    }

    func testMatmulAgainstNaiveGemm() {
        let g = Generator(seed: 6)
        let a = Tensor.randn([7, 13], generator: g, dtype: .float64), b = Tensor.randn([13, 5], generator: g, dtype: .float64)
        let c = Tensor(zeros: [7, 5], dtype: .float64)
        Matmul.naiveGemm(transA: false, transB: false, M: 7, N: 5, K: 13, alpha: 1.0, A: a.pointer(Double.self), lda: 13,
                         B: b.pointer(Double.self), ldb: 5, beta: 0, C: c.pointer(Double.self), ldc: 5)
        assertClose(a.matmul(b), c.toDoubles(), rtol: 1e-12, atol: 1e-12)
    }

    func testFullyMaskedSoftmaxRowGivesZerosNotNaN() {
        let x = Tensor([-.infinity, -.infinity, 1, 2], shape: [2, 2], requiresGrad: true)
        let y = x.softmax()
        XCTAssertEqual(Array(y.toArray()[0..<2]), [0, 0])
        y.backward(Tensor.ones([2, 2]))
        XCTAssertFalse(x.grad!.toArray().contains { $0.isNaN })
    }

    func testCrossEntropyAllIgnoredIsNaNLikeTorchButGradientIsZero() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        let loss = x.crossEntropy(targets: [-100, -100])
        XCTAssertTrue(loss.item().isNaN)
        let sum = x.crossEntropy(targets: [-100, 1], reduction: .sum)
        sum.backward()
        XCTAssertEqual(Array(x.grad!.toArray()[0..<2]), [0, 0])
    }
}

final class GradientOwnershipTests: XCTestCase {
    /// add hands the same gradient to both inputs; scaling one leaf's grad in place must not change the other's.
    func testLeafGradientsNeverShareStorage() {
        let a = Tensor([1, 2], shape: [2], requiresGrad: true), b = Tensor([3, 4], shape: [2], requiresGrad: true)
        (a + b).backward(Tensor([1, 1], shape: [2]))
        XCTAssertFalse(a.grad!.storage === b.grad!.storage)
        a.grad!.pointer(Float.self)[0] = 10
        XCTAssertEqual(b.grad!.toArray(), [1, 1])
    }
}

extension GradientOwnershipTests {
    /// A seed that reaches a leaf through views is copied, so the caller's seed tensor and the grad stay independent.
    func testSeedIsNotAliasedByLeafGradient() {
        let x = Tensor([1, 2, 3, 4], shape: [2, 2], requiresGrad: true)
        let seed = Tensor([1, 1, 1, 1], shape: [4])
        x.reshape([4]).backward(seed)
        XCTAssertFalse(x.grad!.storage === seed.storage)
        x.grad!.pointer(Float.self)[0] = 7
        XCTAssertEqual(seed.toArray(), [1, 1, 1, 1])
    }
}

/// `postAccumulateGradHook` (PyTorch's register_post_accumulate_grad_hook), which data-parallel training uses to
/// start a bucket's allreduce during backward: once per leaf per backward, after the last contribution, last layer
/// first, including the weights `linear` writes in place instead of returning to autograd.
final class PostAccumulateGradHookTests: XCTestCase {
    func testHookSeesTheFinalGradientOncePerBackwardInReverseOrder() {
        let w1 = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3], requiresGrad: true)
        let w2 = Tensor([0.5, -1, 2, 1], shape: [2, 2], requiresGrad: true)
        let b2 = Tensor([0.1, 0.2], shape: [2], requiresGrad: true)
        let shared = Tensor([2], shape: [1], requiresGrad: true)  // used early and late: complete only at the end
        var seen: [(String, [Float])] = []
        for (name, p) in [("w1", w1), ("w2", w2), ("b2", b2), ("shared", shared)] {
            p.postAccumulateGradHook = { t in
                let g = t.grad!.contiguous()
                seen.append((name, (0..<g.count).map { g.pointer(Float.self)[$0] }))
            }
        }
        let x = Tensor([1, -1, 2, 0.5, 1, -2], shape: [2, 3])
        let h = x.linear(w1, bias: nil) * shared        // [2, 2]; linear writes w1's gradient in place
        let y = (h.linear(w2, bias: b2) * shared).sum()
        y.backward()
        XCTAssertEqual(seen.map(\.0).sorted(), ["b2", "shared", "w1", "w2"], "each leaf exactly once")
        XCTAssertEqual(seen.last?.0 == "shared" || seen.last?.0 == "w1", true, "the first layer's leaves come last: \(seen.map(\.0))")
        XCTAssertLessThan(seen.firstIndex { $0.0 == "w2" }!, seen.firstIndex { $0.0 == "w1" }!)
        for (name, values) in seen {
            let p = ["w1": w1, "w2": w2, "b2": b2, "shared": shared][name]!
            let g = p.grad!.contiguous()
            XCTAssertEqual(values, (0..<g.count).map { g.pointer(Float.self)[$0] }, "\(name): the hook saw the final gradient")
        }
        // A second backward fires again, with the accumulated gradient.
        seen = []
        (x.linear(w1, bias: nil) * shared).linear(w2, bias: b2).sum().backward()
        XCTAssertEqual(seen.count, 4)
        for p in [w1, w2, b2, shared] { p.postAccumulateGradHook = nil }
    }
}
