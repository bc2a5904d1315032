// Matrix multiply through the system BLAS (OpenBLAS sgemm/dgemm). Row-major; a transposed operand is passed as a
// transpose flag with its leading dimension, never copied. `naiveGemm` is the reference kept beside it for tests.
// Threads: OpenBLAS runs single-threaded and LMKit splits C into row (or column) blocks across its own threads.
// A GPT's products are small (768 × 384 × 128 for nanoGPT's CPU recipe): OpenBLAS either keeps them on one thread or
// wakes its pthread pool, whose idle workers then spin in sched_yield against LMKit's threads (12 % of a 2-thread
// training step, `perf`). Each thread computes a full-K block of C. Results can still differ in the last bits between
// thread counts: OpenBLAS picks its kernel (small-matrix or blocked) by the block's size.
import _CBLAS

public enum Matmul {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major. op(A) is M×K, op(B) is K×N, C is M×N with leading dimension ldc.
    /// With `rowBias` ([N]), every row of C is first set to it and the product added with β = 1 (`beta` must be 1):
    /// x·Wᵀ + b in one call. Each thread writes the bias into its own block of C right before its product, so the
    /// fill is split with the product and the block is still in cache when BLAS reads it (a separate fill ran on the
    /// calling thread alone: 1.8-2 % of a 2-thread cpu-recipe step, the worker idle meanwhile).
    @inlinable public static func gemm<T: KernelScalar>(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: T,
        A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        beta: T, C: UnsafeMutablePointer<T>, ldc: Int, rowBias: UnsafePointer<T>? = nil
    ) {
        if M == 0 || N == 0 { return }
        precondition(rowBias == nil || beta == 1, "Matmul.gemm: a row bias needs beta 1 (the product adds onto it)")
        @inline(__always) func fillBias(rows: Range<Int>, columns: Range<Int>) {
            guard let rowBias else { return }
            for i in rows { (C + i * ldc + columns.lowerBound).update(from: rowBias + columns.lowerBound, count: columns.count) }
        }
        let threads = Parallel.threadCount
        if threads > 1 && M * N * K >= minimumParallelWork && max(M, N) >= 2 * blockAlignment {
            // Split the longer side of C into `threads` blocks, each a multiple of the micro-kernel width.
            let splitRows = M >= N
            let extent = splitRows ? M : N
            let chunks = min(threads, extent / blockAlignment)
            Parallel.run(lanes: chunks) { c in
                let lo = (extent * c / chunks) / blockAlignment * blockAlignment
                let hi = c == chunks - 1 ? extent : (extent * (c + 1) / chunks) / blockAlignment * blockAlignment
                guard lo < hi else { return }
                if splitRows {
                    fillBias(rows: lo..<hi, columns: 0..<N)
                    blasGemm(transA: transA, transB: transB, M: hi - lo, N: N, K: K, alpha: alpha,
                             A: transA ? A + lo : A + lo * lda, lda: lda, B: B, ldb: ldb, beta: beta, C: C + lo * ldc, ldc: ldc)
                } else {
                    fillBias(rows: 0..<M, columns: lo..<hi)
                    blasGemm(transA: transA, transB: transB, M: M, N: hi - lo, K: K, alpha: alpha, A: A, lda: lda,
                             B: transB ? B + lo * ldb : B + lo, ldb: ldb, beta: beta, C: C + lo, ldc: ldc)
                }
            }
            return
        }
        fillBias(rows: 0..<M, columns: 0..<N)
        blasGemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb,
                 beta: beta, C: C, ldc: ldc)
    }

    /// Multiply-adds below which a product stays on one thread (waking a thread costs more than it saves).
    public static var minimumParallelWork = 1 << 20
    /// Split points are multiples of this, so no thread gets a sliver narrower than BLAS's micro-kernel.
    @usableFromInline static let blockAlignment = 16

    /// One BLAS call (single-threaded OpenBLAS).
    @inlinable static func blasGemm<T: KernelScalar>(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: T,
        A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        beta: T, C: UnsafeMutablePointer<T>, ldc: Int
    ) {
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        if M == 1 && (T.self == Float.self || T.self == Double.self) {
            // One row of C (a decoding step's x·Wᵀ): matrix-vector. sgemm first packs op(B) (sgemm_incopy was 40 % of a
            // Mamba decode step, `perf`), gemv streams it once. C = alpha·op(B)ᵀ·a + beta·C with a = A's row (or column).
            if beta == 0 { C.update(repeating: 0, count: N) }  // gemv's beta 0 must not read C (may be uninitialized)
            let (order, rows, cols) = transB ? (CblasNoTrans, N, K) : (CblasTrans, K, N)
            let incx = Int32(transA ? lda : 1)
            if T.self == Float.self {
                cblas_sgemv(CblasRowMajor, order, Int32(rows), Int32(cols), Float(alpha),
                            UnsafeRawPointer(B).assumingMemoryBound(to: Float.self), Int32(ldb),
                            UnsafeRawPointer(A).assumingMemoryBound(to: Float.self), incx, Float(beta),
                            UnsafeMutableRawPointer(C).assumingMemoryBound(to: Float.self), 1)
            } else {
                cblas_dgemv(CblasRowMajor, order, Int32(rows), Int32(cols), Double(alpha),
                            UnsafeRawPointer(B).assumingMemoryBound(to: Double.self), Int32(ldb),
                            UnsafeRawPointer(A).assumingMemoryBound(to: Double.self), incx, Double(beta),
                            UnsafeMutableRawPointer(C).assumingMemoryBound(to: Double.self), 1)
            }
            return
        }
        if T.self == Float.self {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(M), Int32(N), Int32(K), Float(alpha),
                        UnsafeRawPointer(A).assumingMemoryBound(to: Float.self), Int32(lda),
                        UnsafeRawPointer(B).assumingMemoryBound(to: Float.self), Int32(ldb), Float(beta),
                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Float.self), Int32(ldc))
        } else if T.self == Double.self {
            cblas_dgemm(CblasRowMajor, ta, tb, Int32(M), Int32(N), Int32(K), Double(alpha),
                        UnsafeRawPointer(A).assumingMemoryBound(to: Double.self), Int32(lda),
                        UnsafeRawPointer(B).assumingMemoryBound(to: Double.self), Int32(ldb), Double(beta),
                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Double.self), Int32(ldc))
        } else {
            naiveGemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb,
                      beta: beta, C: C, ldc: ldc)
        }
    }

    /// The triple loop, accumulating in T. Reference for tests only.
    public static func naiveGemm<T: KernelScalar>(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: T,
        A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        beta: T, C: UnsafeMutablePointer<T>, ldc: Int
    ) {
        for i in 0..<M {
            for j in 0..<N {
                var s: T = 0
                for k in 0..<K {
                    let a = transA ? A[k * lda + i] : A[i * lda + k]
                    let b = transB ? B[j * ldb + k] : B[k * ldb + j]
                    s += a * b
                }
                C[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j])
            }
        }
    }
}
