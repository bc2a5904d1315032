// The one Float exp (Sources/LMKernels/SIMDMath+Exp.swift): accuracy against double exp, the scalar and 8/16-lane forms
// bitwise equal, edge values (-inf, NaN, underflow, saturation), and the shifted row form used by softmax and attention.
import Foundation
import LMKernels
import XCTest

final class ExpTests: XCTestCase {
    func testFastExpRelativeError() {
        var worst = 0.0
        for i in 0...200_000 {
            let x = -87.0 + 175.0 * Double(i) / 200_000
            let approx = Double(Float.fastExp(Float(x)))
            let exact = Foundation.exp(Double(Float(x)))
            if x <= 88.3 { worst = max(worst, abs(approx - exact) / exact) }
        }
        XCTAssertLessThan(worst, 3e-7, "fastExp max relative error")
        XCTAssertEqual(Float.fastExp(-.infinity), 0)
        XCTAssertTrue(Float.fastExp(.nan).isNaN)
    }

    /// One formula: every lane of the 8- and 16-lane forms equals the scalar form bit for bit.
    func testScalarAndLanesAreBitwiseEqual() {
        var xs: [Float] = stride(from: -95.0, through: 95.0, by: 0.0137).map { Float($0) }
        xs += [-.infinity, .infinity, 0, -0.0, -87.3, -87.29999, 88.3, 88.30001, 1e-30, -1e-30, .leastNonzeroMagnitude]
        while xs.count % 16 != 0 { xs.append(0.5) }
        for start in stride(from: 0, to: xs.count, by: 16) {
            let x16 = SIMD16<Float>(xs[start..<start + 16])
            let e16 = SIMDMath.exp(x16), e8 = SIMDMath.exp(x16.lowHalf)
            for j in 0..<16 {
                let scalar = Float.fastExp(xs[start + j])
                XCTAssertEqual(e16[j].bitPattern, scalar.bitPattern, "exp(\(xs[start + j])): 16 lanes vs scalar")
                if j < 8 { XCTAssertEqual(e8[j].bitPattern, scalar.bitPattern, "exp(\(xs[start + j])): 8 lanes vs scalar") }
            }
        }
        let nan = SIMDMath.exp(SIMD8<Float>(repeating: .nan))
        XCTAssertTrue(nan[0].isNaN && nan[7].isNaN)
    }

    /// The row form used for softmax and score rows: 0 for -inf and below -87.3, NaN kept, sum right, in place or not.
    func testShiftedExpOfScoreRows() {
        var xs: [Float] = stride(from: -100.0, through: 80.0, by: 0.37).map { Float($0) }
        xs += [-.infinity, .nan, 0, -87.2, -87.4, 1e-8]
        for shift: Float in [0, 3.5, -2.25] {
            var row = xs
            let sum = row.withUnsafeMutableBufferPointer { SIMDMath.expShifted($0.baseAddress!, $0.baseAddress!, $0.count, by: shift) }
            var expected: Double = 0
            for (i, x) in xs.enumerated() {
                let shifted = Double(x - shift)  // the kernel subtracts in Float; compare exp itself
                let want = shifted < -87.3 ? 0 : Foundation.exp(shifted)
                if x.isNaN { XCTAssertTrue(row[i].isNaN, "NaN at \(i)"); continue }
                expected += want
                XCTAssertEqual(Double(row[i]), want, accuracy: 1e-6 * want + 1e-30, "exp(\(x) - \(shift))")
                XCTAssertEqual(row[i].bitPattern, Float.fastExp(x - shift).bitPattern, "tail and lanes agree at \(i)")
            }
            XCTAssertTrue(sum.isNaN, "a NaN in the row makes the sum NaN")
            let finite = xs.filter { !$0.isNaN }
            var copy = [Float](repeating: 0, count: finite.count)
            let finiteSum = SIMDMath.expShifted(finite, &copy, finite.count, by: shift)
            XCTAssertEqual(Double(finiteSum), expected, accuracy: 1e-6 * expected)
        }
    }
}
