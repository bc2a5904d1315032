// Kernel accuracy against double-precision references.
import Foundation
import LMKernels
import XCTest

final class KernelTests: XCTestCase {
    func testFloatErfAndTanhAgainstLibm() {
        for i in 0...4000 {
            let x = -6.0 + 12.0 * Double(i) / 4000
            XCTAssertEqual(Double(Activations.erf(Float(x))), erf(Double(Float(x))), accuracy: 3e-7)
            XCTAssertEqual(Double(Activations.tanh(Float(x))), tanh(Double(Float(x))), accuracy: 3e-7)
        }
    }

    func testSIMDReductionsMatchScalar() {
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let a = (0..<n).map { Float(sin(Double($0))) }, b = (0..<n).map { Float(cos(Double($0))) }
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                guard let p = pa.baseAddress, let q = pb.baseAddress else { return }
                XCTAssertEqual(Double(SIMDMath.sum(p, n)), a.map(Double.init).reduce(0, +), accuracy: 1e-4)
                XCTAssertEqual(Double(SIMDMath.dot(p, q, n)), zip(a, b).map { Double($0) * Double($1) }.reduce(0, +), accuracy: 1e-4)
                if n > 0 { XCTAssertEqual(SIMDMath.max(p, n), a.max()!) }
            } }
        }
        var withNaN = [Float](repeating: 1, count: 40)
        withNaN[37] = .nan
        withNaN.withUnsafeBufferPointer { XCTAssertTrue(SIMDMath.max($0.baseAddress!, 40).isNaN) }
    }
}

final class GELUKernelTests: XCTestCase {
    /// The SIMD path (16-lane blocks) against the scalar definitions, including the scalar tail and extreme inputs.
    func testSIMDPathMatchesScalarDefinitions() {
        let n = 16 * 40 + 7
        let x = (0..<n).map { Float(-12.0 + 24.0 * Double($0) / Double(n)) } + [-100, 100, 0, 1e-4]
        let dy = x.indices.map { Float(sin(Double($0))) }
        var y = [Float](repeating: 0, count: x.count), dx = y
        GELUKernel.forward(x, &y, x.count)
        GELUKernel.backward(x, dy, &dx, x.count)
        for i in x.indices {
            XCTAssertEqual(y[i], Activations.geluTanh(x[i]), accuracy: 2e-6 * max(1, abs(x[i])), "forward at \(x[i])")
            XCTAssertEqual(dx[i], dy[i] * Activations.geluTanhDerivative(x[i]), accuracy: 2e-6, "backward at \(x[i])")
        }
        // The erf form (BERT's GELU): the same check against its scalar definitions, and erf against libm's in Double.
        GELUKernel.forward(x, &y, x.count, erf: true)
        GELUKernel.backward(x, dy, &dx, x.count, erf: true)
        for i in x.indices {
            XCTAssertEqual(y[i], Activations.geluErf(x[i]), accuracy: 2e-6 * max(1, abs(x[i])), "erf forward at \(x[i])")
            XCTAssertEqual(dx[i], dy[i] * Activations.geluErfDerivative(x[i]), accuracy: 2e-6, "erf backward at \(x[i])")
            let exact = 0.5 * Double(x[i]) * (1 + Foundation.erf(Double(x[i]) / 2.0.squareRoot()))
            XCTAssertEqual(Double(y[i]), exact, accuracy: 1e-6 * max(1, abs(exact)), "erf forward vs libm at \(x[i])")
        }
        var e = [Float](repeating: 0, count: 16)
        let xs = SIMD16<Float>((0..<16).map { Float($0) * 11 - 90 })
        SIMDMath.store(SIMDMath.exp(xs), &e)
        for j in 0..<16 { XCTAssertEqual(e[j], Float.fastExp(xs[j]), accuracy: Float.fastExp(xs[j]) * 1e-6) }
    }

    func testColumnSumsMatchesNaiveAndIsThreadIndependent() {
        let rows = 300, cols = 1000  // 300K elements: above Parallel.minimumWork, so two threads split the columns
        let src = (0..<(rows * cols)).map { Float(($0 * 7919) % 1009) / 97 - 5 }
        var naive = [Float](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { naive[c] += src[r * cols + c] } }
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for threads in [1, 2] {
            Parallel.threadCount = threads
            var out = [Float](repeating: .nan, count: cols)
            src.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { Reduce.columnSums(s.baseAddress!, rows: rows, cols: cols, into: $0.baseAddress!) } }
            XCTAssertEqual(out, naive, "threads \(threads)")
        }
    }

    /// Products big enough to be split across threads (rows or columns of C, every transpose combination, leading
    /// dimensions wider than the operands), and single-row ones (gemv), equal the naive triple loop on 1 and 2 threads. (Not bitwise: OpenBLAS
    /// chooses its kernel by block size, so the last bits can differ between thread counts.)
    /// A single-row product with beta 0 never reads C (an uninitialized output may hold NaN), on the gemv path.
    func testSingleRowGemmWithBetaZeroIgnoresC() {
        for transB in [false, true] {
            let (N, K) = (5, 7)
            let a = (0..<K).map { Double($0) - 3 }, b = (0..<(N * K)).map { Double(($0 * 13) % 11) - 5 }
            var c = [Double](repeating: .nan, count: N), expected = [Double](repeating: 0, count: N)
            Matmul.naiveGemm(transA: false, transB: transB, M: 1, N: N, K: K, alpha: 2, A: a, lda: K, B: b, ldb: transB ? K : N,
                             beta: 0, C: &expected, ldc: N)
            Matmul.gemm(transA: false, transB: transB, M: 1, N: N, K: K, alpha: 2, A: a, lda: K, B: b, ldb: transB ? K : N,
                        beta: 0, C: &c, ldc: N)
            XCTAssertEqual(c, expected, "transB \(transB)")
        }
    }

    func testSplitGemmMatchesNaiveAndIsThreadIndependent() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for (M, N, K) in [(150, 70, 110), (40, 300, 90), (1, 700, 1500), (1, 33, 20)] {  // M = 1: the gemv path
            for transA in [false, true] {
                for transB in [false, true] {
                    let lda = (transA ? M : K) + 3, ldb = (transB ? K : N) + 5, ldc = N + 2
                    let a = (0..<((transA ? K : M) * lda)).map { Float(($0 * 37) % 101) / 50 - 1 }
                    let b = (0..<((transB ? N : K) * ldb)).map { Float(($0 * 53) % 97) / 48 - 1 }
                    var expected = [Float](repeating: 0.5, count: M * ldc)
                    Matmul.naiveGemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: 1.5, A: a, lda: lda, B: b, ldb: ldb,
                                     beta: 0.25, C: &expected, ldc: ldc)
                    var results: [[Float]] = []
                    for threads in [1, 2] {
                        Parallel.threadCount = threads
                        var c = [Float](repeating: 0.5, count: M * ldc)
                        Matmul.gemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: 1.5, A: a, lda: lda, B: b, ldb: ldb,
                                    beta: 0.25, C: &c, ldc: ldc)
                        results.append(c)
                    }
                    for (threads, c) in zip([1, 2], results) {
                        // Entries of C outside its N columns (the ldc padding) must be untouched.
                        XCTAssertTrue((0..<M).allSatisfy { r in (N..<ldc).allSatisfy { c[r * ldc + $0] == 0.5 } })
                        let worst = zip(c, expected).map { abs($0 - $1) }.max()!
                        XCTAssertLessThan(worst, 1e-4, "\(M)x\(N)x\(K) transA \(transA) transB \(transB), \(threads) threads")
                    }
                }
            }
        }
    }
    /// `rowBias`: every row of C starts as the bias, on the unsplit, row-split (M ≥ N) and column-split (N > M) paths
    /// and on gemv (M = 1); the ldc padding stays untouched; the same values on 1 and 2 threads.
    func testGemmRowBiasMatchesNaiveOnEverySplit() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        for (M, N, K) in [(150, 70, 110), (40, 300, 90), (1, 700, 1500), (3, 5, 4)] {
            for transB in [false, true] {
                let lda = K + 3, ldb = (transB ? K : N) + 5, ldc = N + 2
                let a = (0..<(M * lda)).map { Float(($0 * 37) % 101) / 50 - 1 }
                let b = (0..<((transB ? N : K) * ldb)).map { Float(($0 * 53) % 97) / 48 - 1 }
                let bias = (0..<N).map { Float(($0 * 7) % 13) - 6 }
                var expected = [Float](repeating: 0.5, count: M * ldc)
                for r in 0..<M { for j in 0..<N { expected[r * ldc + j] = bias[j] } }
                Matmul.naiveGemm(transA: false, transB: transB, M: M, N: N, K: K, alpha: 1, A: a, lda: lda, B: b, ldb: ldb,
                                 beta: 1, C: &expected, ldc: ldc)
                var results: [[Float]] = []
                for threads in [1, 2] {
                    Parallel.threadCount = threads
                    var c = [Float](repeating: 0.5, count: M * ldc)
                    bias.withUnsafeBufferPointer { bp in
                        Matmul.gemm(transA: false, transB: transB, M: M, N: N, K: K, alpha: 1, A: a, lda: lda, B: b, ldb: ldb,
                                    beta: 1, C: &c, ldc: ldc, rowBias: bp.baseAddress!)
                    }
                    XCTAssertTrue((0..<M).allSatisfy { r in (N..<ldc).allSatisfy { c[r * ldc + $0] == 0.5 } })
                    let worst = zip(c, expected).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-4, "\(M)x\(N)x\(K) transB \(transB), \(threads) threads")
                    results.append(c)
                }
            }
        }
    }
}
