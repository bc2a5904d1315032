// Matrix products whose left operand has one row, through BLAS gemv instead of gemm. OpenBLAS's gemm packs op(B)
// into panels on every call; with one row of A that copy moves as many bytes as the product reads and costs more
// than the multiply-adds (67 % of a B = 1 LSTM decoding step was `sgemm_incopy`, perf). gemv reads B once in place.
// Kept apart from `Matmul.gemm` so other callers' numerics do not change; recurrent decoding is the one user so far.
import _CBLAS

extension Matmul {
    /// C = alpha · op(A) · op(B) + beta · C, exactly `gemm`'s contract; when M == 1 it runs as one gemv.
    @inlinable public static func product<T: KernelScalar>(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: T,
        A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        beta: T, C: UnsafeMutablePointer<T>, ldc: Int
    ) {
        guard M == 1, N > 0, K > 0, T.self == Float.self || T.self == Double.self else {
            gemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb,
                 beta: beta, C: C, ldc: ldc)
            return
        }
        // The row of A is strided by lda when A is stored transposed ([K, 1]). C's single row is contiguous.
        // op(B) = Bᵀ ([N, K] stored): c = B · a; op(B) = B ([K, N] stored): c = Bᵀ · a.
        let trans = transB ? CblasNoTrans : CblasTrans
        // C may be uninitialized memory; gemv computes beta·C, and 0 · NaN is NaN, so beta = 0 clears it first.
        if beta == 0 { C.update(repeating: 0, count: N) }
        let rows = Int32(transB ? N : K), columns = Int32(transB ? K : N), incA = Int32(transA ? lda : 1)
        if T.self == Float.self {
            cblas_sgemv(CblasRowMajor, trans, rows, columns, Float(alpha),
                        UnsafeRawPointer(B).assumingMemoryBound(to: Float.self), Int32(ldb),
                        UnsafeRawPointer(A).assumingMemoryBound(to: Float.self), incA, Float(beta),
                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Float.self), 1)
        } else {
            cblas_dgemv(CblasRowMajor, trans, rows, columns, Double(alpha),
                        UnsafeRawPointer(B).assumingMemoryBound(to: Double.self), Int32(ldb),
                        UnsafeRawPointer(A).assumingMemoryBound(to: Double.self), incA, Double(beta),
                        UnsafeMutableRawPointer(C).assumingMemoryBound(to: Double.self), 1)
        }
    }
}
