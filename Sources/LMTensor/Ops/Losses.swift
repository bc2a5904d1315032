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
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self) }
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
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self) }
            return [dx]
        }
    }
}
