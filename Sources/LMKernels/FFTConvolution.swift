// Long causal depthwise convolutions through FFTW: the same products as `SSM.causalConv1dForward/Backward` (same
// formulas, [B, L, D] channels-last, weight [D, K] in conv order) in O(n log n) per (batch row, channel) with
// n ≥ L + K − 1, instead of O(L·K). S4D's convolution view has K = L, where the direct kernel is quadratic; Mamba's
// K = 4 stays direct. `causalConv1d` picks the path by `fftConvolutionMinimumWidth`; the direct kernels stay the oracle.
// FFTW's planner is not thread-safe: plans are made on the calling thread under a lock with FFTW_ESTIMATE (no timing
// runs, inputs untouched) on FFTW-allocated buffers; workers only run `fftw(f)_execute_dft_r2c/c2r` on their own
// FFTW-allocated buffers, which FFTW documents as thread-safe (same sizes and alignment as planned).
import Foundation
import _CFFTW

extension SSM {
    /// Kernel widths K from which `Tensor.causalConv1d` convolves through FFTW rather than directly. Measured with
    /// `lmkit bench ssm --conv-lengths` (forward+backward, K = L, B 12, D 256, release; BENCHMARKS.md "State-space
    /// models"): FFTW/direct time 2.6 at K = 64 (the S4D recipe's block_size), 1.6 at 144, 0.94 at 192, 0.24 at 256 on
    /// one thread; the direct backward's dWeight loop strides by K and falls out of cache as K grows.
    nonisolated(unsafe) public static var fftConvolutionMinimumWidth = 160

    /// `causalConv1dForward` through FFTW: y[b, t, d] = bias[d] + Σ_j kt[d, j] · x[b, t − j, d] with kt[d, j] = w[d, K−1−j].
    public static func fftCausalConv1dForward<T: KernelScalar>(
        _ x: UnsafePointer<T>, weight w: UnsafePointer<T>, bias: UnsafePointer<T>?, _ y: UnsafeMutablePointer<T>,
        B: Int, L: Int, D: Int, K: Int
    ) {
        let fft = RealFFT<T>(length: L + K - 1)
        defer { fft.destroy() }
        let n = fft.n, scale = 1 / T(n)
        Parallel.forRows(D, workPerRow: 3 * B * n * fft.log2n) { channels in
            let real = fft.allocateReal(), spectrum = fft.allocateComplex(), kernel = fft.allocateComplex()
            defer { fft.free(real); fft.free(spectrum); fft.free(kernel) }
            for d in channels {
                fft.transformKernel(w + d * K, K: K, real: real, into: kernel)
                for b in 0..<B {
                    fft.transformColumn(x + b * L * D + d, stride: D, count: L, real: real, into: spectrum)
                    fft.multiply(spectrum, by: kernel, conjugating: false)
                    fft.inverse(spectrum, real)
                    let yb = y + b * L * D + d, shift = bias?[d] ?? 0
                    for t in 0..<L { yb[t * D] = real[t] * scale + shift }
                }
            }
        }
    }

    /// `causalConv1dBackward` through FFTW: dx = kt ⋆ dy (correlation, conj(Kt)·DY), dkt = Σ_b x ⋆ dy (Σ_b conj(X)·DY);
    /// dWeight and dBias accumulate, dx is overwritten. Each channel is one work item, so results do not depend on the
    /// thread count.
    public static func fftCausalConv1dBackward<T: KernelScalar>(
        _ x: UnsafePointer<T>, weight w: UnsafePointer<T>, _ dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>,
        dWeight: UnsafeMutablePointer<T>, dBias: UnsafeMutablePointer<T>?, B: Int, L: Int, D: Int, K: Int
    ) {
        let fft = RealFFT<T>(length: L + K - 1)
        defer { fft.destroy() }
        let n = fft.n, m = n / 2 + 1, scale = 1 / T(n)
        Parallel.forRows(D, workPerRow: 4 * B * n * fft.log2n) { channels in
            let real = fft.allocateReal(), dySpectrum = fft.allocateComplex(), xSpectrum = fft.allocateComplex()
            let kernel = fft.allocateComplex(), dKernel = fft.allocateComplex()
            defer { for p in [dySpectrum, xSpectrum, kernel, dKernel] { fft.free(p) }; fft.free(real) }
            for d in channels {
                fft.transformKernel(w + d * K, K: K, real: real, into: kernel)
                dKernel.update(repeating: 0, count: 2 * m)
                var biasSum: T = 0
                for b in 0..<B {
                    let dyb = dy + b * L * D + d
                    for t in 0..<L { biasSum += dyb[t * D] }
                    fft.transformColumn(dyb, stride: D, count: L, real: real, into: dySpectrum)
                    fft.transformColumn(x + b * L * D + d, stride: D, count: L, real: real, into: xSpectrum)
                    for i in 0..<m {  // dKernel += conj(X) · DY
                        let (xr, xi, gr, gi) = (xSpectrum[2 * i], xSpectrum[2 * i + 1], dySpectrum[2 * i], dySpectrum[2 * i + 1])
                        dKernel[2 * i] += xr * gr + xi * gi
                        dKernel[2 * i + 1] += xr * gi - xi * gr
                    }
                    fft.multiply(dySpectrum, by: kernel, conjugating: true)
                    fft.inverse(dySpectrum, real)
                    let dxb = dx + b * L * D + d
                    for s in 0..<L { dxb[s * D] = real[s] * scale }
                }
                fft.inverse(dKernel, real)
                for j in 0..<K { dWeight[d * K + K - 1 - j] += real[j] * scale }
                if let dBias { dBias[d] += biasSum }
            }
        }
    }
}

/// Real transforms of one length n (the smallest 2^a·3^b·5^c ≥ the requested length, sizes FFTW handles fastest) in
/// FFTW's float or double precision: r2c of n reals into n/2 + 1 interleaved complex values, c2r back (unnormalized,
/// so inverse(forward(a)) = n·a). Buffers come from `allocateReal`/`allocateComplex` (FFTW's SIMD alignment).
struct RealFFT<T: KernelScalar> {
    let n: Int
    let log2n: Int
    private let forwardPlan: OpaquePointer, inversePlan: OpaquePointer
    private static var isFloat: Bool { T.self == Float.self }

    init(length: Int) {
        precondition(T.self == Float.self || T.self == Double.self, "RealFFT: Float or Double only, got \(T.self)")
        var n = Swift.max(length, 1)
        while !RealFFT.isSmooth(n) { n += 1 }
        self.n = n
        log2n = Swift.max(1, Int.bitWidth - n.leadingZeroBitCount)
        plannerLock.lock()
        defer { plannerLock.unlock() }
        let flags = UInt32(FFTW_ESTIMATE)
        if RealFFT.isFloat {
            let r = fftwf_alloc_real(n)!, c = fftwf_alloc_complex(n / 2 + 1)!
            defer { fftwf_free(r); fftwf_free(c) }
            forwardPlan = fftwf_plan_dft_r2c_1d(Int32(n), r, c, flags)!
            inversePlan = fftwf_plan_dft_c2r_1d(Int32(n), c, r, flags)!
        } else {
            let r = fftw_alloc_real(n)!, c = fftw_alloc_complex(n / 2 + 1)!
            defer { fftw_free(r); fftw_free(c) }
            forwardPlan = fftw_plan_dft_r2c_1d(Int32(n), r, c, flags)!
            inversePlan = fftw_plan_dft_c2r_1d(Int32(n), c, r, flags)!
        }
    }

    /// Whether n has no prime factor above 5.
    static func isSmooth(_ n: Int) -> Bool {
        var m = n
        for p in [2, 3, 5] { while m > 1 && m % p == 0 { m /= p } }
        return m == 1 && n > 0
    }

    func destroy() {
        plannerLock.lock()
        defer { plannerLock.unlock() }
        if RealFFT.isFloat { fftwf_destroy_plan(forwardPlan); fftwf_destroy_plan(inversePlan) } else {
            fftw_destroy_plan(forwardPlan); fftw_destroy_plan(inversePlan)
        }
    }

    func allocateReal() -> UnsafeMutablePointer<T> { allocate(n) }
    /// n/2 + 1 complex values as 2·(n/2 + 1) interleaved reals.
    func allocateComplex() -> UnsafeMutablePointer<T> { allocate(2 * (n / 2 + 1)) }
    private func allocate(_ count: Int) -> UnsafeMutablePointer<T> {
        let raw = RealFFT.isFloat ? UnsafeMutableRawPointer(fftwf_alloc_real(count)!) : UnsafeMutableRawPointer(fftw_alloc_real(count)!)
        return raw.bindMemory(to: T.self, capacity: count)
    }
    func free(_ p: UnsafeMutablePointer<T>) { if RealFFT.isFloat { fftwf_free(p) } else { fftw_free(p) } }

    /// complex ← r2c(real). `real` is left as it was (FFTW_ESTIMATE out-of-place r2c does not overwrite its input).
    func forward(_ real: UnsafeMutablePointer<T>, _ complex: UnsafeMutablePointer<T>) {
        if RealFFT.isFloat {
            fftwf_execute_dft_r2c(forwardPlan, UnsafeMutableRawPointer(real).assumingMemoryBound(to: Float.self),
                                  UnsafeMutableRawPointer(complex).assumingMemoryBound(to: fftwf_complex.self))
        } else {
            fftw_execute_dft_r2c(forwardPlan, UnsafeMutableRawPointer(real).assumingMemoryBound(to: Double.self),
                                 UnsafeMutableRawPointer(complex).assumingMemoryBound(to: fftw_complex.self))
        }
    }

    /// real ← c2r(complex), unnormalized; `complex` is destroyed (FFTW's c2r default).
    func inverse(_ complex: UnsafeMutablePointer<T>, _ real: UnsafeMutablePointer<T>) {
        if RealFFT.isFloat {
            fftwf_execute_dft_c2r(inversePlan, UnsafeMutableRawPointer(complex).assumingMemoryBound(to: fftwf_complex.self),
                                  UnsafeMutableRawPointer(real).assumingMemoryBound(to: Float.self))
        } else {
            fftw_execute_dft_c2r(inversePlan, UnsafeMutableRawPointer(complex).assumingMemoryBound(to: fftw_complex.self),
                                 UnsafeMutableRawPointer(real).assumingMemoryBound(to: Double.self))
        }
    }

    /// into ← FFT of column[0, stride, …, (count−1)·stride] zero-padded to n (`real` is scratch of n).
    func transformColumn(_ column: UnsafePointer<T>, stride: Int, count: Int, real: UnsafeMutablePointer<T>,
                         into complex: UnsafeMutablePointer<T>) {
        for t in 0..<count { real[t] = column[t * stride] }
        (real + count).update(repeating: 0, count: n - count)
        forward(real, complex)
    }

    /// into ← FFT of the conv weight row w[0..<K] in time order (kt[j] = w[K−1−j]), zero-padded to n.
    func transformKernel(_ w: UnsafePointer<T>, K: Int, real: UnsafeMutablePointer<T>, into complex: UnsafeMutablePointer<T>) {
        for j in 0..<K { real[j] = w[K - 1 - j] }
        (real + K).update(repeating: 0, count: n - K)
        forward(real, complex)
    }

    /// a ← a · b, or a · conj(b), elementwise over the n/2 + 1 complex values.
    func multiply(_ a: UnsafeMutablePointer<T>, by b: UnsafePointer<T>, conjugating: Bool) {
        let sign: T = conjugating ? -1 : 1
        for i in 0..<(n / 2 + 1) {
            let (ar, ai, br, bi) = (a[2 * i], a[2 * i + 1], b[2 * i], sign * b[2 * i + 1])
            a[2 * i] = ar * br - ai * bi
            a[2 * i + 1] = ar * bi + ai * br
        }
    }
}

/// Serializes FFTW's planner (plan creation and destruction), which is not thread-safe.
private let plannerLock = NSLock()
