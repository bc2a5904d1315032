// Matrix multiply through the system BLAS (OpenBLAS sgemm/dgemm). Row-major; a transposed operand is passed as a
// transpose flag with its leading dimension, never copied. `naiveGemm` is the reference kept beside it for tests.
import _CBLAS

public enum Matmul {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major. op(A) is M×K, op(B) is K×N, C is M×N with leading dimension ldc.
    @inlinable public static func gemm<T: KernelScalar>(
        transA: Bool, transB: Bool, M: Int, N: Int, K: Int, alpha: T,
        A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        beta: T, C: UnsafeMutablePointer<T>, ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
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
