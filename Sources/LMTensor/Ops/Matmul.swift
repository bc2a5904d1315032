// Matrix products through BLAS gemm. A transposed view (last-two strides swapped) is passed to BLAS as a transpose
// flag with its leading dimension, so `a.transpose(-1, -2)` and the backward's Aᵀ/Bᵀ never copy.
// Shapes: a [..., M, K] @ b [..., K, N] -> [..., M, N]; leading (batch) dimensions broadcast.

extension Tensor {
    /// How BLAS can read the last two axes of this tensor in place: (transposed?, leading dimension), or nil when
    /// neither axis has unit stride and a copy is needed.
    func blasLayout() -> (trans: Bool, ld: Int)? {
        let r = rank, rows = shape[r - 2], cols = shape[r - 1]
        if strides[r - 1] == 1 || cols == 1 { return (false, Swift.max(strides[r - 2], cols, 1)) }
        if strides[r - 2] == 1 || rows == 1 { return (true, Swift.max(strides[r - 1], rows, 1)) }
        return nil
    }

    /// Matrix product with batch broadcasting. 1-d operands are not promoted; reshape them explicitly.
    public func matmul(_ other: Tensor) -> Tensor {
        var a = self, b = other
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: operands need rank >= 2, got shapes \(a.shape) and \(b.shape)")
        precondition(a.dtype == b.dtype, "matmul: dtype mismatch \(a.dtype) vs \(b.dtype)")
        let M = a.shape[a.rank - 2], K = a.shape[a.rank - 1], N = b.shape[b.rank - 1]
        precondition(b.shape[b.rank - 2] == K, "matmul: shapes \(a.shape) and \(b.shape) are not aligned (\(K) vs \(b.shape[b.rank - 2]))")
        if a.blasLayout() == nil { a = a.contiguous() }
        if b.blasLayout() == nil { b = b.contiguous() }
        let batch = broadcastShapes(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), "matmul")
        let out = Tensor(uninitialized: batch + [M, N], dtype: a.dtype)
        let sa = broadcastStrides(Array(a.shape.dropLast(2)), Array(a.strides.dropLast(2)), to: batch)
        let sb = broadcastStrides(Array(b.shape.dropLast(2)), Array(b.strides.dropLast(2)), to: batch)
        let la = a.blasLayout()!, lb = b.blasLayout()!
        func run<T: KernelScalar>(_: T.Type) {
            let ap = a.pointer(T.self), bp = b.pointer(T.self), op = out.pointer(T.self)
            // Batch offsets: iterate the batch index space (rank-0 batch = one product).
            let batchShape = batch + [1]
            forEachRow(batchShape, sa + [0], sb + [0], Tensor.contiguousStrides(batch) + [0]) { oa, ob, oi in
                Matmul.gemm(transA: la.trans, transB: lb.trans, M: M, N: N, K: K, alpha: 1,
                            A: ap + oa, lda: la.ld, B: bp + ob, ldb: lb.ld, beta: 0, C: op + oi * M * N, ldc: N)
            }
        }
        switch a.dtype { case .float32: run(Float.self); case .float64: run(Double.self) }
        let aShape = a.shape, bShape = b.shape
        return Tensor.record("matmul", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? g.matmul(b.transpose(-1, -2)).sumToShape(aShape) : nil,
             b.requiresGrad ? a.transpose(-1, -2).matmul(g).sumToShape(bShape) : nil]
        }
    }
}
