// Reductions over any set of axes, with keepDim. The reduced axes are moved last (permute + contiguous) so every
// reduction is a row reduction over one contiguous run; sum and max have their own backward, mean/var/logsumexp
// are composed from them (compose first, STYLE §4).

extension Tensor {
    /// Normalized, sorted, deduplicated axes; all axes when `axes` is nil.
    func reductionAxes(_ axes: [Int]?, _ op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        return Array(Set(axes.map { axis($0, op) })).sorted()
    }

    /// The shape after reducing `axes` (kept as 1 with keepDim).
    func reducedShape(_ axes: [Int], keepDim: Bool) -> [Int] {
        keepDim ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// This tensor with `axes` moved last and made contiguous: a [rows, cols] matrix in row-major order.
    func reducedAxesLast(_ axes: [Int]) -> (matrix: Tensor, rows: Int, cols: Int) {
        let kept = (0..<rank).filter { !axes.contains($0) }
        let m = kept + axes == Array(0..<rank) ? contiguous() : permute(kept + axes).contiguous()
        let cols = axes.map { shape[$0] }.reduce(1, *)
        return (m, cols == 0 ? 0 : count / Swift.max(cols, 1), cols)
    }

    /// Σ over `axes` (all when nil).
    public func sum(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "sum")
        let out = Tensor(uninitialized: reducedShape(ax, keepDim: keepDim), dtype: dtype)
        // Leading axes of a contiguous tensor (bias gradients): add whole rows, no transposed copy.
        let leading = isContiguous && ax == Array(0..<ax.count) && ax.count < rank
        let (m, rows, cols) = leading ? (self, 0, 0) : noGrad { reducedAxesLast(ax) }
        func run<T: KernelScalar>(_: T.Type) {
            if leading {
                let inner = shape[ax.count...].reduce(1, *)
                Reduce.columnSums(pointer(T.self), rows: count / Swift.max(inner, 1), cols: inner, into: out.pointer(T.self))
                return
            }
            let src = m.pointer(T.self), dst = out.pointer(T.self)
            Parallel.forRows(rows, workPerRow: cols) { r in for i in r { dst[i] = T.kernelSum(src + i * cols, cols) } }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let inputShape = shape, keptShape = reducedShape(ax, keepDim: true)
        return Tensor.record("sum", inputs: [self], output: out) { g in [g.reshape(keptShape).expand(inputShape).contiguous()] }
    }

    public func sum(axis: Int, keepDim: Bool = false) -> Tensor { sum(axes: [axis], keepDim: keepDim) }

    /// Arithmetic mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "mean")
        let n = ax.map { shape[$0] }.reduce(1, *)
        return sum(axes: ax, keepDim: keepDim) / Double(n)
    }

    public func mean(axis: Int, keepDim: Bool = false) -> Tensor { mean(axes: [axis], keepDim: keepDim) }

    /// Variance over `axes` with `correction` (1 = unbiased, torch's default; 0 = population).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "var")
        let n = ax.map { shape[$0] }.reduce(1, *)
        let centered = self - mean(axes: ax, keepDim: true)
        return (centered * centered).sum(axes: ax, keepDim: keepDim) / Double(Swift.max(n - correction, 0))
    }

    /// log Σ exp over `axes`, stabilized by the (detached) maximum; an all -inf slice gives -inf.
    public func logSumExp(axes: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let ax = reductionAxes(axes, "logsumexp")
        let m = noGrad { () -> Tensor in
            var flat = self
            for a in ax.reversed() { flat = flat.max(axis: a, keepDim: true).values }
            // Infinite maxima would make x - m NaN; shift by 0 there instead (torch does the same).
            return Tensor.broadcastMap(flat, flat, "logsumexp", { a, _ in a.isFinite ? a : 0 }, { a, _ in a.isFinite ? a : 0 })
        }
        let s = (self - m).exp().sum(axes: ax, keepDim: true).log() + m
        return keepDim ? s : s.reshape(reducedShape(ax, keepDim: false))
    }

    /// Maximum along one axis and its index (the first on ties, as torch on CPU). NaN propagates.
    /// The gradient flows to the selected index only.
    public func max(axis axisIndex: Int, keepDim: Bool = false) -> (values: Tensor, indices: [Int]) {
        let a = axis(axisIndex, "max")
        let (m, rows, cols) = noGrad { reducedAxesLast([a]) }
        precondition(cols > 0, "max: axis \(axisIndex) of shape \(shape) is empty")
        let out = Tensor(zeros: reducedShape([a], keepDim: keepDim), dtype: dtype)
        var indices = [Int](repeating: 0, count: rows)
        func run<T: KernelScalar>(_: T.Type) {
            let src = m.pointer(T.self), dst = out.pointer(T.self)
            for i in 0..<rows {
                let row = src + i * cols
                var best = 0
                for j in 1..<Swift.max(cols, 1) where row[j] > row[best] || (row[j].isNaN && !row[best].isNaN) { best = j }
                indices[i] = best
                dst[i] = row[best]
            }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let inputShape = shape, keptShape = reducedShape([a], keepDim: true), idx = indices
        let values = Tensor.record("max", inputs: [self], output: out) { g in
            // Scatter each row's gradient into its argmax, in the axes-last layout, then move the axis back.
            let gc = g.contiguous()
            var permutedShape = inputShape
            permutedShape.remove(at: a); permutedShape.append(inputShape[a])
            let dx = Tensor(zeros: permutedShape, dtype: g.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                let gp = gc.pointer(T.self), dp = dx.pointer(T.self)
                for i in 0..<rows { dp[i * cols + idx[i]] = gp[i] }
            }
            switch g.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            _ = keptShape
            var order = Array(0..<(inputShape.count - 1))
            order.insert(inputShape.count - 1, at: a)
            return [dx.permute(order).contiguous()]
        }
        return (values, indices)
    }

    /// Maximum over all elements (gradient to the first maximal element).
    public func max() -> Tensor { reshape([-1]).max(axis: 0).values }
}
