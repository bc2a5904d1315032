// Gradient clipping: the returned pre-clip norm, the scaled gradients, the infinity norm and non-finite norms.
// The torch comparison over 10 steps is in OptimizerTests (cases with `clip`).
import XCTest
import LMTensor
@testable import LMOptim

final class GradientClippingTests: XCTestCase {
    func testClipsToMaxNormAndReturnsPreClipNorm() throws {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true), b = Tensor([0], shape: [1], requiresGrad: true)
        let c = Tensor([0], shape: [1], requiresGrad: true) // no gradient: skipped
        a.grad = Tensor([3, 0], shape: [2]); b.grad = Tensor([4], shape: [1])
        let norm = try GradientClipping.clipGradientNorm([a, b, c], maxNorm: 1)
        XCTAssertEqual(norm, 5)
        let scale = Float(1) / Float(5 + 1e-6)
        XCTAssertEqual(a.grad!.toArray(), [3 * scale, 0])
        XCTAssertEqual(b.grad!.toArray(), [4 * scale])
        XCTAssertNil(c.grad)
        // Below the limit nothing changes.
        let again = try GradientClipping.clipGradientNorm([a, b], maxNorm: 10)
        XCTAssertEqual(again, 1, accuracy: 1e-6)
        XCTAssertEqual(b.grad!.toArray(), [4 * scale])
    }

    func testInfinityNormAndErrors() throws {
        let a = Tensor([0, 0], shape: [2], requiresGrad: true)
        a.grad = Tensor([-6, 2], shape: [2])
        XCTAssertEqual(try GradientClipping.clipGradientNorm([a], maxNorm: 3, normType: .infinity), 6)
        XCTAssertEqual(a.grad!.toArray()[0], -6 * (1 / Float(6 + 1e-6)) * 3, accuracy: 1e-6)
        XCTAssertEqual(try GradientClipping.clipGradientNorm([Tensor([1], shape: [1])], maxNorm: 1), 0)
        a.grad = Tensor([.nan, 1], shape: [2])
        XCTAssertThrowsError(try GradientClipping.clipGradientNorm([a], maxNorm: 1, errorIfNonfinite: true)) {
            XCTAssertTrue("\($0)".contains("nan"), "\($0)")
        }
    }
}

final class GradientClippingLargeTests: XCTestCase {
    /// The SIMD/blocked sum of squares agrees with a plain double sum on a tensor spanning many blocks and a tail.
    func testLargeTensorNormMatchesDoubleReference() throws {
        let n = 3 * 4096 + 1234 + 7
        let g = Tensor.randn([n], generator: Generator(seed: 4))
        let reference = g.toDoubles().reduce(0) { $0 + $1 * $1 }.squareRoot()
        let p = Tensor(zeros: [n], requiresGrad: true)
        p.grad = g
        let norm = try GradientClipping.clipGradientNorm([p], maxNorm: 1e9)
        XCTAssertEqual(norm, reference, accuracy: reference * 1e-6)
    }
}
