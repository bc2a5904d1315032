// The SSM kernels against their naive references: conv1d (direct, and through FFTW against the direct one) and
// selective scan forward (float32, several channel blocks
// and threads), the scan backward against central differences of the reference recurrence (float64, several
// channel blocks), and independence of the thread count.
import Foundation
import LMKernels
import XCTest

final class SSMKernelTests: XCTestCase {
    /// Deterministic values in [lo, hi).
    func values<T: KernelScalar>(_ n: Int, seed: Int, _ lo: Double = -1, _ hi: Double = 1) -> [T] {
        (0..<n).map { i in T(lo + (hi - lo) * (0.5 + 0.5 * sin(Double(i * 7919 + seed * 104729) * 0.618))) }
    }

    /// The kernel's gradients [du, dΔ, dA, dB, dC, dD] for inputs [u, Δ, A, B, C, D].
    func scanBackward<T: KernelScalar>(_ x: [[T]], dy: [T], B: Int, L: Int, D: Int, N: Int,
                                       channelBlock: Int = SSM.defaultChannelBlock) -> [[T]] {
        var du = [T](repeating: .nan, count: B * L * D), dDelta = du, dA = [T](repeating: .nan, count: D * N)
        var dB = [T](repeating: .nan, count: B * L * N), dC = dB, dSkip = [T](repeating: .nan, count: D)
        SSM.selectiveScanBackward(u: x[0], delta: x[1], A: x[2], Bm: x[3], Cm: x[4], skip: x[5], dy: dy, du: &du, dDelta: &dDelta,
                                  dA: &dA, dB: &dB, dC: &dC, dSkip: &dSkip, B: B, L: L, D: D, N: N, channelBlock: channelBlock)
        return [du, dDelta, dA, dB, dC, dSkip]
    }

    func testCausalConv1dMatchesReference() {
        let (B, L, D, K) = (3, 50, 37, 4)
        let x: [Float] = values(B * L * D, seed: 1), w: [Float] = values(D * K, seed: 2), bias: [Float] = values(D, seed: 3)
        for withBias in [true, false] {
            let expected = SSM.causalConv1dReference(x, weight: w, bias: withBias ? bias : nil, B: B, L: L, D: D, K: K)
            var y = [Float](repeating: .nan, count: B * L * D)
            bias.withUnsafeBufferPointer { pb in
                SSM.causalConv1dForward(x, weight: w, bias: withBias ? pb.baseAddress : nil, &y, B: B, L: L, D: D, K: K)
            }
            for i in y.indices { XCTAssertEqual(y[i], expected[i], accuracy: 1e-5) }
        }
    }

    /// The FFTW path computes the direct kernel's sums: forward and backward (dx, dWeight, dBias), float64 to 1e-10 and
    /// float32 to 1e-4, for widths shorter than, equal to and longer than L (S4D uses K = L), on 1 and 2 threads
    /// (identical results: one channel per work item).
    func testFFTCausalConv1dEqualsDirect() {
        func check<T: KernelScalar>(_: T.Type, tolerance: T) {
            for (B, L, D, K) in [(3, 50, 7, 1), (2, 50, 5, 4), (3, 50, 7, 50), (2, 33, 3, 70), (1, 1, 2, 1)] {
                let x: [T] = values(B * L * D, seed: K), w: [T] = values(D * K, seed: K + 1), bias: [T] = values(D, seed: K + 2)
                let dy: [T] = values(B * L * D, seed: K + 3)
                var y = [T](repeating: .nan, count: B * L * D), yFFT = y
                var dx = y, dxFFT = y, dw = [T](repeating: 0, count: D * K), dwFFT = dw, db = [T](repeating: 0, count: D), dbFFT = db
                bias.withUnsafeBufferPointer { pb in
                    SSM.causalConv1dForward(x, weight: w, bias: pb.baseAddress, &y, B: B, L: L, D: D, K: K)
                }
                SSM.causalConv1dBackward(x, weight: w, dy, dx: &dx, dWeight: &dw, dBias: &db, B: B, L: L, D: D, K: K)
                let saved = Parallel.threadCount, minimumWork = Parallel.minimumWork
                defer { Parallel.threadCount = saved; Parallel.minimumWork = minimumWork }
                Parallel.minimumWork = 1
                var runs: [[[T]]] = []
                for threads in [1, 2] {
                    Parallel.threadCount = threads
                    dwFFT = [T](repeating: 0, count: D * K); dbFFT = [T](repeating: 0, count: D)
                    bias.withUnsafeBufferPointer { pb in
                        SSM.fftCausalConv1dForward(x, weight: w, bias: pb.baseAddress, &yFFT, B: B, L: L, D: D, K: K)
                    }
                    SSM.fftCausalConv1dBackward(x, weight: w, dy, dx: &dxFFT, dWeight: &dwFFT, dBias: &dbFFT, B: B, L: L, D: D, K: K)
                    runs.append([yFFT, dxFFT, dwFFT, dbFFT])
                }
                XCTAssertEqual(runs[0], runs[1], "\(T.self) B \(B) L \(L) D \(D) K \(K): thread count changed the result")
                for (name, want, got) in [("y", y, yFFT), ("dx", dx, dxFFT), ("dWeight", dw, dwFFT), ("dBias", db, dbFFT)] {
                    for i in want.indices {
                        XCTAssertEqual(got[i], want[i], accuracy: tolerance * Swift.max(1, abs(want[i])),
                                       "\(T.self) \(name)[\(i)] B \(B) L \(L) D \(D) K \(K)")
                    }
                }
            }
        }
        check(Double.self, tolerance: 1e-10)
        check(Float.self, tolerance: 1e-4)
    }

    func testSelectiveScanForwardMatchesReferenceOnManyBlocksAndThreads() {
        let (B, L, D, N) = (2, 300, 70, 16)  // 2·300·70·16 = 672K state updates: above Parallel.minimumWork
        let u: [Float] = values(B * L * D, seed: 4), delta: [Float] = values(B * L * D, seed: 5, 0.001, 0.3)
        let A: [Float] = values(D * N, seed: 6, -3, -0.2), Bm: [Float] = values(B * L * N, seed: 7), Cm: [Float] = values(B * L * N, seed: 8)
        let skip: [Float] = values(D, seed: 9)
        let expected = SSM.selectiveScanReference(u: u, delta: delta, A: A, Bm: Bm, Cm: Cm, skip: skip, B: B, L: L, D: D, N: N)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        var first: [Float]?
        for (threads, block) in [(1, 16), (2, 16), (2, 3), (2, 70)] {
            Parallel.threadCount = threads
            var y = [Float](repeating: .nan, count: B * L * D)
            SSM.selectiveScanForward(u: u, delta: delta, A: A, Bm: Bm, Cm: Cm, skip: skip, y: &y, initialState: nil, finalState: nil,
                                     B: B, L: L, D: D, N: N, channelBlock: block)
            for i in y.indices { XCTAssertEqual(y[i], expected[i], accuracy: 2e-5 * max(1, abs(expected[i])), "y[\(i)], block \(block)") }
            if let first { XCTAssertEqual(y, first, "the scan's output must not depend on threads or channel blocks") } else { first = y }
        }
    }

    /// Gradients of Σ y ⊙ W through the kernel backward against central differences of the reference recurrence.
    func testSelectiveScanBackwardMatchesFiniteDifferences() {
        let (B, L, D, N) = (2, 9, 5, 3)
        var inputs: [[Double]] = [values(B * L * D, seed: 10), values(B * L * D, seed: 11, 0.01, 0.6), values(D * N, seed: 12, -2, -0.3),
                                  values(B * L * N, seed: 13), values(B * L * N, seed: 14), values(D, seed: 15)]
        let w: [Double] = values(B * L * D, seed: 16)
        func loss(_ x: [[Double]]) -> Double {
            let y = SSM.selectiveScanReference(u: x[0], delta: x[1], A: x[2], Bm: x[3], Cm: x[4], skip: x[5], B: B, L: L, D: D, N: N)
            return zip(y, w).map { $0 * $1 }.reduce(0, +)
        }
        for block in [1, 2, 5] {
            let grads = scanBackward(inputs, dy: w, B: B, L: L, D: D, N: N, channelBlock: block)
            for k in inputs.indices {
                for i in inputs[k].indices {
                    let saved = inputs[k][i], eps = 1e-6
                    inputs[k][i] = saved + eps; let up = loss(inputs)
                    inputs[k][i] = saved - eps; let down = loss(inputs)
                    inputs[k][i] = saved
                    XCTAssertEqual(grads[k][i], (up - down) / (2 * eps), accuracy: 1e-6, "input \(k) element \(i), block \(block)")
                }
            }
        }
    }

    func testSelectiveScanBackwardDoesNotDependOnThreadCount() {
        let (B, L, D, N) = (2, 200, 48, 16)
        let u: [Float] = values(B * L * D, seed: 20), delta: [Float] = values(B * L * D, seed: 21, 0.001, 0.3)
        let A: [Float] = values(D * N, seed: 22, -3, -0.2), Bm: [Float] = values(B * L * N, seed: 23), Cm: [Float] = values(B * L * N, seed: 24)
        let skip: [Float] = values(D, seed: 25), dy: [Float] = values(B * L * D, seed: 26)
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        var results: [[[Float]]] = []
        for threads in [1, 2] {
            Parallel.threadCount = threads
            results.append(scanBackward([u, delta, A, Bm, Cm, skip], dy: dy, B: B, L: L, D: D, N: N))
        }
        XCTAssertEqual(results[0], results[1])
    }

    /// The S4D kernel (closed form e^{ΔA l}, conv-weight order) against the impulse response of the ZOH recurrence.
    func testS4DKernelEqualsRecurrence() {
        let (H, M, L) = (3, 4, 50)
        let logDt: [Double] = values(H, seed: 30, -6.9, -2.3), logAReal: [Double] = values(H * M, seed: 31, -1.5, 0.5)
        let aImag: [Double] = values(H * M, seed: 32, 0, 10), c: [Double] = values(H * M * 2, seed: 33)
        let expected = SSM.s4dKernelReference(logDt: logDt, logAReal: logAReal, aImag: aImag, c: c, H: H, M: M, L: L)
        var weight = [Double](repeating: .nan, count: H * L)
        SSM.s4dKernelForward(logDt: logDt, logAReal: logAReal, aImag: aImag, c: c, weight: &weight, H: H, M: M, L: L)
        var weight32 = [Float](repeating: .nan, count: H * L)
        SSM.s4dKernelForward(logDt: logDt.map { Float($0) }, logAReal: logAReal.map { Float($0) }, aImag: aImag.map { Float($0) },
                             c: c.map { Float($0) }, weight: &weight32, H: H, M: M, L: L)
        for h in 0..<H {
            for l in 0..<L {
                XCTAssertEqual(weight[h * L + L - 1 - l], expected[h * L + l], accuracy: 1e-12)
                XCTAssertEqual(Double(weight32[h * L + L - 1 - l]), expected[h * L + l], accuracy: 1e-5)
            }
        }
    }
}
