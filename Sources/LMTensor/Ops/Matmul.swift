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
        if let low = Autocast.lowPrecision(for: a.dtype) {  // Autocast.swift
            return Autocast.with(nil) { a.autocastRounded(low).matmul(b.autocastRounded(low)) }
        }
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
        switch a.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let aShape = a.shape, bShape = b.shape
        return Tensor.record("matmul", inputs: [a, b], output: out) { g in
            [a.requiresGrad ? g.matmul(b.transpose(-1, -2)).sumToShape(aShape) : nil,
             b.requiresGrad ? a.transpose(-1, -2).matmul(g).sumToShape(bShape) : nil]
        }
    }
}

extension Tensor {
    /// y = x · weightᵀ + bias for x [N, in], weight [out, in], bias [out] (torch.nn.functional.linear), as one op:
    /// - forward: the bias rows are written into y first and the product adds onto them (β = 1), instead of a
    ///   separate pass and a second [N, out] buffer;
    /// - backward: dx = g · W and dW = gᵀ · x cost the same, so with two or more threads they run side by side, each
    ///   product on one thread at full BLAS efficiency (small products split in two lose to that);
    /// - a weight or bias that is a leaf gets its gradient accumulated straight into `.grad` (β = 1 for the weight),
    ///   instead of returned to autograd and added to the previous gradient in another pass.
    public func linear(_ weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(rank == 2 && weight.rank == 2 && shape[1] == weight.shape[1],
                     "linear: input \(shape) and weight \(weight.shape) do not fit ([N, in] and [out, in])")
        precondition(dtype == weight.dtype && (bias == nil || bias!.dtype == dtype), "linear: dtype mismatch")
        if let low = Autocast.lowPrecision(for: dtype) { return linearAutocast(weight, bias: bias, low) }  // Autocast.swift
        let N = shape[0], I = shape[1], O = weight.shape[0]
        let x = blasLayout() == nil ? contiguous() : self, w = weight.blasLayout() == nil ? weight.contiguous() : weight
        let b = bias?.contiguous()
        if let b { precondition(b.shape == [O], "linear: bias shape \(b.shape), expected [\(O)]") }
        let lx = x.blasLayout()!, lw = w.blasLayout()!
        let out = Tensor(uninitialized: [N, O], dtype: dtype)
        func forward<T: KernelScalar>(_: T.Type) {
            Tensor.linearRows(T.self, x, lx, w, lw, b, rows: 0..<N, into: out.pointer(T.self))
        }
        switch dtype { case .float32: forward(Float.self); case .float64: forward(Double.self); default: unsupportedDType() }
        let inputs = b.map { [x, w, $0] } ?? [x, w]
        return Tensor.record("linear", inputs: inputs, output: out) { g in
            let dx = x.requiresGrad ? Tensor(uninitialized: [N, I], dtype: g.dtype) : nil
            let dW = w.requiresGrad ? GradientTarget(w) : nil
            let db = b?.requiresGrad == true ? GradientTarget(b!) : nil
            func backward<T: KernelScalar>(_: T.Type) {
                let gp = g.pointer(T.self)
                func inputGradient() {
                    guard let dx else { return }
                    Matmul.gemm(transA: false, transB: lw.trans, M: N, N: I, K: O, alpha: 1, A: gp, lda: O,
                                B: w.pointer(T.self), ldb: lw.ld, beta: 0, C: dx.pointer(T.self), ldc: I)
                }
                func parameterGradients() {
                    if let dW {
                        Matmul.gemm(transA: true, transB: lx.trans, M: O, N: I, K: N, alpha: 1, A: gp, lda: O,
                                    B: x.pointer(T.self), ldb: lx.ld, beta: dW.accumulate ? 1 : 0, C: dW.tensor.pointer(T.self), ldc: I)
                    }
                    if let db { db.addColumnSums(gp, rows: N, cols: O, accumulate: db.accumulate) }
                }
                if dx != nil && dW != nil && Parallel.threadCount > 1 && N * I * O >= Matmul.minimumParallelWork {
                    Parallel.run(lanes: 2) { lane in if lane == 0 { inputGradient() } else { parameterGradients() } }
                } else {
                    inputGradient(); parameterGradients()
                }
            }
            switch g.dtype { case .float32: backward(Float.self); case .float64: backward(Double.self); default: unsupportedDType() }
            return [dx, dW?.returned, db?.returned].prefix(inputs.count).map { $0 }
        }
    }
}

extension Tensor {
    /// y[r − rows.lowerBound] = x[r]·Wᵀ + b for r in `rows` (x and W read in place through their BLAS layouts): the bias
    /// rows are written first, by each thread into its own block of y (`Matmul.gemm`'s `rowBias`), and the product
    /// adds onto them (β = 1). The forward of `linear` and of `linearCrossEntropy`'s chunks.
    static func linearRows<T: KernelScalar>(_: T.Type, _ x: Tensor, _ lx: (trans: Bool, ld: Int), _ w: Tensor, _ lw: (trans: Bool, ld: Int),
                                            _ b: Tensor?, rows: Range<Int>, into y: UnsafeMutablePointer<T>) {
        let n = rows.count, O = w.shape[0], I = w.shape[1]
        let xr = lx.trans ? x.pointer(T.self) + rows.lowerBound : x.pointer(T.self) + rows.lowerBound * lx.ld
        Matmul.gemm(transA: lx.trans, transB: !lw.trans, M: n, N: O, K: I, alpha: 1, A: xr, lda: lx.ld,
                    B: w.pointer(T.self), ldb: lw.ld, beta: b == nil ? 0 : 1, C: y, ldc: O,
                    rowBias: b.map { UnsafePointer($0.pointer(T.self)) })
    }
}

/// Where `linear`'s backward writes a parameter's gradient. A leaf's own `.grad` when it can take an in-place sum
/// (contiguous, same shape and dtype: β = 1), or a fresh buffer that becomes the leaf's `.grad`; either way autograd
/// gets nil for it. Anything else (a view, a computed weight) gets a fresh buffer that autograd hands on.
struct GradientTarget {
    let tensor: Tensor
    let accumulate: Bool
    let returned: Tensor?

    init(_ p: Tensor) {
        if p.gradNode == nil, let grad = p.grad, grad.isContiguous, grad.shape == p.shape, grad.dtype == p.dtype {
            (tensor, accumulate, returned) = (grad, true, nil)
        } else if p.gradNode == nil && p.grad == nil {
            tensor = Tensor(uninitialized: p.shape, dtype: p.dtype)
            p.grad = tensor
            (accumulate, returned) = (false, nil)
        } else {
            tensor = Tensor(uninitialized: p.shape, dtype: p.dtype)
            (accumulate, returned) = (false, tensor)
        }
    }

    /// A bias gradient: the column sums of g [rows, cols], added to the target (`accumulate`) or written over it.
    func addColumnSums<T: KernelScalar>(_ g: UnsafePointer<T>, rows: Int, cols: Int, accumulate: Bool) {
        let d = tensor.pointer(T.self)
        guard accumulate else { Reduce.columnSums(g, rows: rows, cols: cols, into: d); return }
        let sums = UnsafeMutablePointer<T>.allocate(capacity: cols)
        defer { sums.deallocate() }
        Reduce.columnSums(g, rows: rows, cols: cols, into: sums)
        for j in 0..<cols { d[j] += sums[j] }
    }
}
