// Tests for Sources/LMKernels/Vector.swift against naive Double-precision loops, on lengths that exercise the
// 32-wide main loop, the 16-wide step and the scalar tail.
import XCTest
import LMKernels

final class VectorTests: XCTestCase {
    private let lengths = [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 128, 300]

    private func randomVector(_ n: Int, seed: inout UInt64) -> [Float] {
        (0..<n).map { _ in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: seed >> 11) % 2000) / 1000 - 1
        }
    }

    func testDotMatchesDoubleReference() {
        var seed: UInt64 = 1
        for n in lengths {
            let x = randomVector(n, seed: &seed), y = randomVector(n, seed: &seed)
            let expected = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let got = VectorKernels.dot(x, y, count: n)
            XCTAssertEqual(Double(got), expected, accuracy: 1e-4, "n=\(n)")
        }
    }

    func testAxpyMatchesScalarLoop() {
        var seed: UInt64 = 2
        for n in lengths {
            let x = randomVector(n, seed: &seed)
            var y = randomVector(n, seed: &seed)
            let expected = zip(x, y).map { Double($0.1) + 0.37 * Double($0.0) }
            y.withUnsafeMutableBufferPointer { VectorKernels.axpy(0.37, x, $0.baseAddress!, count: n) }
            for i in 0..<n { XCTAssertEqual(Double(y[i]), expected[i], accuracy: 1e-6, "n=\(n) i=\(i)") }
        }
    }

    func testScaleAndNormalize() {
        var seed: UInt64 = 3
        for n in lengths where n > 0 {
            var x = randomVector(n, seed: &seed)
            let original = x
            x.withUnsafeMutableBufferPointer { VectorKernels.scale($0.baseAddress!, by: -2.5, count: n) }
            for i in 0..<n { XCTAssertEqual(x[i], original[i] * -2.5, accuracy: 1e-6) }
            let normBefore = original.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() * 2.5
            let returned = x.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, count: n) }
            XCTAssertEqual(Double(returned), normBefore, accuracy: 1e-4 * max(1, normBefore))
            XCTAssertEqual(Double(VectorKernels.norm(x, count: n)), 1, accuracy: 1e-5, "n=\(n)")
        }
    }

    func testNormalizeLeavesZeroVectorUnchanged() {
        var x = [Float](repeating: 0, count: 20)
        let n = x.withUnsafeMutableBufferPointer { VectorKernels.normalize($0.baseAddress!, count: 20) }
        XCTAssertEqual(n, 0)
        XCTAssertEqual(x, [Float](repeating: 0, count: 20))
    }

    func testOutputLayerUpdateMatchesTwoAxpys() {
        var seed: UInt64 = 4
        for n in lengths {
            let input = randomVector(n, seed: &seed)
            var output = randomVector(n, seed: &seed), accumulator = randomVector(n, seed: &seed)
            var expectedOutput = output, expectedAccumulator = accumulator
            for i in 0..<n {
                expectedAccumulator[i] += 0.2 * expectedOutput[i]
                expectedOutput[i] += 0.2 * input[i]
            }
            output.withUnsafeMutableBufferPointer { o in
                accumulator.withUnsafeMutableBufferPointer { a in
                    VectorKernels.outputLayerUpdate(gradient: 0.2, input: input, output: o.baseAddress!,
                                                    accumulator: a.baseAddress!, count: n)
                }
            }
            for i in 0..<n {
                XCTAssertEqual(output[i], expectedOutput[i], accuracy: 1e-6)
                XCTAssertEqual(accumulator[i], expectedAccumulator[i], accuracy: 1e-6)
            }
        }
    }
}
