// Cross-entropy fused with log-softmax (LMKernels/CrossEntropy): logits [N, C] and N integer class targets.
// torch.nn.functional.cross_entropy semantics for ignore_index, label_smoothing and reduction.

public enum Reduction: String, Sendable, Codable { case mean, sum, none }

extension Tensor {
    /// Cross-entropy of `self` ([N, C] logits, or [..., C] flattened to rows) against `targets` (one per row).
    /// Mean reduction divides by the number of rows whose target is not `ignoreIndex` (NaN when there are none, as torch).
    public func crossEntropy(targets: [Int], ignoreIndex: Int = -100, labelSmoothing: Double = 0,
                             reduction: Reduction = .mean) -> Tensor {
        let C = shape.last ?? 1
        let N = count / Swift.max(C, 1)
        precondition(rank >= 1 && targets.count == N,
                     "cross_entropy: \(targets.count) targets for logits of shape \(shape) (\(N) rows of \(C) classes)")
        precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "cross_entropy: label_smoothing \(labelSmoothing) outside [0, 1]")
        let x = contiguous()
        let rowLoss = Tensor(zeros: [N], dtype: dtype), lse = Tensor(zeros: [N], dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            targets.withUnsafeBufferPointer { t in
                CrossEntropy.forward(x.pointer(T.self), targets: t.baseAddress!, rows: N, C: C, ignoreIndex: ignoreIndex,
                                     labelSmoothing: T(labelSmoothing), loss: rowLoss.pointer(T.self), lse: lse.pointer(T.self))
            }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let valid = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let out: Tensor
        switch reduction {
        case .none: out = rowLoss.reshape(Array(shape.dropLast()))
        case .sum: out = noGrad { rowLoss.sum() }
        case .mean: out = noGrad { rowLoss.sum() / Double(valid) }
        }
        let inputShape = shape
        return Tensor.record("cross_entropy", inputs: [x], output: out) { g in
            // Per-row upstream gradient: g broadcast (sum), g / valid (mean), or g itself (none).
            let rowScale: Tensor
            switch reduction {
            case .none: rowScale = g.reshape([N]).contiguous()
            case .sum: rowScale = g.reshape([1]).expand([N]).contiguous()
            case .mean: rowScale = (g / Double(valid)).reshape([1]).expand([N]).contiguous()
            }
            let dx = Tensor(uninitialized: inputShape, dtype: x.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                targets.withUnsafeBufferPointer { t in
                    CrossEntropy.backward(x.pointer(T.self), targets: t.baseAddress!, lse: lse.pointer(T.self),
                                          rowScale: rowScale.pointer(T.self), rows: N, C: C, ignoreIndex: ignoreIndex,
                                          labelSmoothing: T(labelSmoothing), dLogits: dx.pointer(T.self))
                }
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx]
        }
    }
}

extension Tensor {
    /// Rows of logits computed at once by `linearCrossEntropy`: ~8 MiB of float32 scratch.
    nonisolated(unsafe) public static var linearCrossEntropyChunkElements = 1 << 21

    /// Mean cross-entropy of `linear(self, weight, bias)` against `targets` (rows with `ignoreIndex` skipped), without a
    /// [N, V] logits tensor: the head's product and the loss run on chunks of `linearCrossEntropyChunkElements / V`
    /// rows. Forward keeps only each row's logsumexp; backward recomputes each chunk's logits, turns them into
    /// dlogits in place and feeds them straight into dx = dlogits·W and dW += dlogitsᵀ·x (β = 1 into a leaf's
    /// `.grad`), so memory stays O(chunk·V) instead of O(N·V) (GPT-2's vocabulary at B·T = 8192: 1.6 GB of logits
    /// plus as much again for their gradient). When all N rows fit in one chunk the forward's logits are kept and
    /// nothing is recomputed. self [N, C], weight [V, C], bias [V].
    public func linearCrossEntropy(weight: Tensor, bias: Tensor? = nil, targets: [Int], ignoreIndex: Int = -100) -> Tensor {
        precondition(rank == 2 && weight.rank == 2 && shape[1] == weight.shape[1] && targets.count == shape[0],
                     "linear_cross_entropy: input \(shape), weight \(weight.shape) and \(targets.count) targets do not fit ([N, C], [V, C], N)")
        precondition(dtype == weight.dtype && (bias == nil || bias!.dtype == dtype), "linear_cross_entropy: dtype mismatch")
        if let low = Autocast.lowPrecision(for: dtype) {  // the head's product in low precision, the loss in float32
            return Autocast.with(nil) {
                autocastRounded(low).linearCrossEntropy(weight: weight.autocastRounded(low), bias: bias, targets: targets, ignoreIndex: ignoreIndex)
            }
        }
        let N = shape[0], C = shape[1], V = weight.shape[0]
        precondition(N > 0, "linear_cross_entropy: no rows (input \(shape))")
        let x = blasLayout() == nil ? contiguous() : self, w = weight.blasLayout() == nil ? weight.contiguous() : weight
        let b = bias?.contiguous()
        if let b { precondition(b.shape == [V], "linear_cross_entropy: bias shape \(b.shape), expected [\(V)]") }
        let lx = x.blasLayout()!, lw = w.blasLayout()!
        let chunk = Swift.max(1, Swift.min(N, Tensor.linearCrossEntropyChunkElements / Swift.max(V, 1)))
        let rowLoss = Tensor(uninitialized: [N], dtype: dtype), lse = Tensor(uninitialized: [N], dtype: dtype)
        // One chunk's logits; kept for backward when one chunk covers every row.
        let logits = Tensor(uninitialized: [chunk, V], dtype: dtype)
        func computeLogits<T: KernelScalar>(_: T.Type, rows r0: Int, count n: Int) {
            Tensor.linearRows(T.self, x, lx, w, lw, b, rows: r0..<r0 + n, into: logits.pointer(T.self))
        }
        func forward<T: KernelScalar>(_: T.Type) {
            targets.withUnsafeBufferPointer { t in
                for r0 in stride(from: 0, to: N, by: chunk) {
                    let n = Swift.min(chunk, N - r0)
                    computeLogits(T.self, rows: r0, count: n)
                    CrossEntropy.forward(logits.pointer(T.self), targets: t.baseAddress! + r0, rows: n, C: V, ignoreIndex: ignoreIndex,
                                         labelSmoothing: 0, loss: rowLoss.pointer(T.self) + r0, lse: lse.pointer(T.self) + r0)
                }
            }
        }
        switch dtype { case .float32: forward(Float.self); case .float64: forward(Double.self); default: unsupportedDType() }
        let valid = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let out = noGrad { rowLoss.sum() / Double(Swift.max(valid, 1)) }
        let inputs = b.map { [x, w, $0] } ?? [x, w]
        var keptLogits = chunk == N  // false once a backward has turned them into dlogits (a second one recomputes)
        return Tensor.record("linear_cross_entropy", inputs: inputs, output: out) { g in
            let dx = x.requiresGrad ? Tensor(uninitialized: [N, C], dtype: g.dtype) : nil
            let dW = w.requiresGrad ? GradientTarget(w) : nil
            let db = b?.requiresGrad == true ? GradientTarget(b!) : nil
            func backward<T: KernelScalar>(_: T.Type) {
                let scale = T(g.toDoubles()[0] / Double(Swift.max(valid, 1)))
                let rowScale = UnsafeMutablePointer<T>.allocate(capacity: chunk)
                defer { rowScale.deallocate() }
                rowScale.initialize(repeating: scale, count: chunk)
                targets.withUnsafeBufferPointer { t in
                    for r0 in stride(from: 0, to: N, by: chunk) {
                        let n = Swift.min(chunk, N - r0)
                        if !keptLogits { computeLogits(T.self, rows: r0, count: n) }
                        keptLogits = false
                        let d = logits.pointer(T.self)  // dlogits overwrite the logits row by row
                        CrossEntropy.backward(d, targets: t.baseAddress! + r0, lse: lse.pointer(T.self) + r0, rowScale: rowScale,
                                              rows: n, C: V, ignoreIndex: ignoreIndex, labelSmoothing: 0, dLogits: d)
                        if let dx {
                            Matmul.gemm(transA: false, transB: lw.trans, M: n, N: C, K: V, alpha: 1, A: d, lda: V,
                                        B: w.pointer(T.self), ldb: lw.ld, beta: 0, C: dx.pointer(T.self) + r0 * C, ldc: C)
                        }
                        if let dW {
                            let xr = lx.trans ? x.pointer(T.self) + r0 : x.pointer(T.self) + r0 * lx.ld
                            Matmul.gemm(transA: true, transB: lx.trans, M: V, N: C, K: n, alpha: 1, A: d, lda: V, B: xr, ldb: lx.ld,
                                        beta: dW.accumulate || r0 > 0 ? 1 : 0, C: dW.tensor.pointer(T.self), ldc: C)
                        }
                        if let db { db.addColumnSums(d, rows: n, cols: V, accumulate: db.accumulate || r0 > 0) }
                    }
                }
            }
            switch g.dtype { case .float32: backward(Float.self); case .float64: backward(Double.self); default: unsupportedDType() }
            return [dx, dW?.returned, db?.returned].prefix(inputs.count).map { $0 }
        }
    }
}
