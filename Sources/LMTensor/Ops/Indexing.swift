// Indexing and assembling: index_select / embedding (scatter-add backward), gather, where / masked_fill,
// concat / split / stack, cumsum, dropout. Integer indices are Swift [Int] arrays (row-major, with a shape where
// the op needs one).

extension Tensor {
    /// Rows `indices` along `axis`: out.shape[axis] = indices.count. Backward scatter-adds into the selected rows
    /// (a repeated index accumulates).
    public func indexSelect(axis axisIndex: Int, indices: [Int]) -> Tensor {
        let a = axis(axisIndex, "index_select")
        let n = shape[a]
        for i in indices { precondition(i >= 0 && i < n, "index_select: index \(i) out of range [0, \(n)) for axis \(a) of shape \(shape)") }
        let x = contiguous()
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = indices.count
        let out = Tensor(zeros: outShape, dtype: dtype)
        let k = indices.count
        func run<T: KernelScalar>(_: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(T.self)
            for o in 0..<outer { for (j, i) in indices.enumerated() {
                (dst + (o * k + j) * inner).update(from: src + (o * n + i) * inner, count: inner)
            } }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("index_select", inputs: [x], output: out) { g in [g.indexAdd(axis: a, indices: indices, size: n)] }
    }

    /// The adjoint of `indexSelect` (torch `index_add_` into zeros): a tensor like self but with `size` rows along
    /// `axis`, where row `indices[j]` is the sum of self's rows j that name it (rows no index names are zero).
    /// Backward selects the same rows of the gradient. Mixture-of-experts layers scatter expert outputs back with it.
    public func indexAdd(axis axisIndex: Int, indices: [Int], size n: Int) -> Tensor {
        let a = axis(axisIndex, "index_add")
        let k = shape[a]
        precondition(indices.count == k, "index_add: \(indices.count) indices for \(k) rows along axis \(a) of shape \(shape)")
        for i in indices { precondition(i >= 0 && i < n, "index_add: index \(i) out of range [0, \(n))") }
        let x = contiguous()
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        var outShape = shape
        outShape[a] = n
        let out = Tensor(zeros: outShape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(T.self)
            for o in 0..<outer { for (j, i) in indices.enumerated() {
                let d = dst + (o * n + i) * inner, s = src + (o * k + j) * inner
                for c in 0..<inner { d[c] += s[c] }
            } }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("index_add", inputs: [x], output: out) { g in [g.indexSelect(axis: a, indices: indices)] }
    }

    /// Embedding lookup: `self` is the [V, D] table; `indices` (row-major with `shape`) gives the output
    /// shape + [D]. Backward scatter-adds into the looked-up rows.
    public func embedding(_ indices: [Int], shape indexShape: [Int]) -> Tensor {
        precondition(rank == 2, "embedding: table must be [V, D], got \(shape)")
        precondition(indices.count == indexShape.reduce(1, *), "embedding: \(indices.count) indices for index shape \(indexShape)")
        return indexSelect(axis: 0, indices: indices).reshape(indexShape + [shape[1]])
    }

    /// out[…, j, …] = self[…, index[…, j, …], …] along `axis`; `index` has shape `indexShape`, equal to self's shape
    /// except along `axis` (torch.gather). Backward scatter-adds.
    public func gather(axis axisIndex: Int, index: [Int], shape indexShape: [Int]) -> Tensor {
        let a = axis(axisIndex, "gather")
        precondition(indexShape.count == rank && index.count == indexShape.reduce(1, *) &&
                     (0..<rank).allSatisfy { $0 == a || indexShape[$0] == shape[$0] },
                     "gather: index shape \(indexShape) does not match input shape \(shape) outside axis \(a)")
        let x = contiguous()
        let n = shape[a], k = indexShape[a]
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
        for i in index { precondition(i >= 0 && i < n, "gather: index \(i) out of range [0, \(n)) along axis \(a)") }
        // Source element offset of each output element.
        var sourceOffsets = [Int](repeating: 0, count: index.count)
        for o in 0..<outer { for j in 0..<k { for c in 0..<inner {
            let p = (o * k + j) * inner + c
            sourceOffsets[p] = (o * n + index[p]) * inner + c
        } } }
        let out = Tensor(zeros: indexShape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            let src = x.pointer(T.self), dst = out.pointer(T.self)
            for (p, s) in sourceOffsets.enumerated() { dst[p] = src[s] }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let inputShape = shape
        return Tensor.record("gather", inputs: [x], output: out) { g in
            let dx = Tensor(zeros: inputShape, dtype: g.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                let gp = g.pointer(T.self), dp = dx.pointer(T.self)
                for (p, s) in sourceOffsets.enumerated() { dp[s] += gp[p] }
            }
            switch g.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx]
        }
    }

    /// Elementwise `condition != 0 ? a : b`, broadcasting all three. Gradients flow only to the chosen side, so
    /// inf/NaN in the unchosen side never leak into gradients.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShapes(broadcastShapes(condition.shape, a.shape, "where"), b.shape, "where")
        let c = condition.to(a.dtype).expand(shape).contiguous().detach()
        let ae = a.expand(shape).contiguous().detach(), be = b.expand(shape).contiguous().detach()
        let out = Tensor(zeros: shape, dtype: a.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            let cp = c.pointer(T.self), ap = ae.pointer(T.self), bp = be.pointer(T.self), op = out.pointer(T.self)
            for i in 0..<out.count { op[i] = cp[i] != 0 ? ap[i] : bp[i] }
        }
        switch a.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return record("where", inputs: [a, b], output: out) { g in
            let zero = g.scalarLike(0)
            return [a.requiresGrad ? Tensor.where(c, g, zero).sumToShape(a.shape) : nil,
                    b.requiresGrad ? Tensor.where(c, zero, g).sumToShape(b.shape) : nil]
        }
    }

    /// `value` where `mask != 0`, else self (mask broadcasts to self's shape).
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        Tensor.where(mask, scalarLike(value).expand(shape), self)
    }

    /// Concatenation along `axis`; all other dimensions must match.
    public static func concat(_ tensors: [Tensor], axis axisIndex: Int) -> Tensor {
        precondition(!tensors.isEmpty, "concat: no tensors")
        let first = tensors[0]
        let a = first.axis(axisIndex, "concat")
        for t in tensors {
            precondition(t.rank == first.rank && t.dtype == first.dtype &&
                         (0..<t.rank).allSatisfy { $0 == a || t.shape[$0] == first.shape[$0] },
                         "concat: shape \(t.shape) does not match \(first.shape) outside axis \(a)")
        }
        var shape = first.shape
        shape[a] = tensors.map { $0.shape[a] }.reduce(0, +)
        let out = Tensor(zeros: shape, dtype: first.dtype)
        var start = 0
        var ranges: [Range<Int>] = []
        for t in tensors {
            let region = out.slice(a, start, start + t.shape[a])
            switch t.dtype { case .float32: t.copyStrided(Float.self, into: region); case .float64: t.copyStrided(Double.self, into: region); default: unsupportedDType() }
            ranges.append(start..<start + t.shape[a])
            start += t.shape[a]
        }
        return record("concat", inputs: tensors, output: out) { g in
            ranges.map { g.slice(a, $0.lowerBound, $0.upperBound).contiguous() }
        }
    }

    /// Pieces of the given sizes along `axis` (views; sizes must sum to the axis length).
    public func split(_ sizes: [Int], axis axisIndex: Int) -> [Tensor] {
        let a = axis(axisIndex, "split")
        precondition(sizes.reduce(0, +) == shape[a], "split: sizes \(sizes) do not sum to \(shape[a]) (axis \(a) of \(shape))")
        var start = 0
        return sizes.map { s in defer { start += s }; return slice(a, start, start + s) }
    }

    /// Stacks equal-shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis axisIndex: Int = 0) -> Tensor {
        concat(tensors.map { $0.unsqueeze(axisIndex) }, axis: axisIndex)
    }

    /// Running sum along `axis`; backward is the reversed running sum of the gradient.
    public func cumsum(axis axisIndex: Int) -> Tensor {
        let a = axis(axisIndex, "cumsum")
        if a != rank - 1 { return transpose(a, -1).cumsum(axis: -1).transpose(a, -1).contiguous() }
        let x = contiguous()
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        let out = Tensor(zeros: shape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type, _ src: UnsafePointer<T>, _ dst: UnsafeMutablePointer<T>, reverse: Bool) {
            for r in 0..<rows {
                var s: T = 0
                for j in 0..<C { let c = reverse ? C - 1 - j : j; s += src[r * C + c]; dst[r * C + c] = s }
            }
        }
        switch dtype {
        case .float32: run(Float.self, x.pointer(Float.self), out.pointer(Float.self), reverse: false)
        case .float64: run(Double.self, x.pointer(Double.self), out.pointer(Double.self), reverse: false)
        default: unsupportedDType()
        }
        return Tensor.record("cumsum", inputs: [x], output: out) { g in
            let dx = Tensor(zeros: g.shape, dtype: g.dtype)
            switch g.dtype {
            case .float32: run(Float.self, g.pointer(Float.self), dx.pointer(Float.self), reverse: true)
            case .float64: run(Double.self, g.pointer(Double.self), dx.pointer(Double.self), reverse: true)
            default: unsupportedDType()
            }
            return [dx]
        }
    }

    /// Inverted dropout: in training, zeroes each element with probability p and scales survivors by 1/(1-p);
    /// identity otherwise. The mask comes from `generator`, so a seeded run is reproducible.
    public func dropout(_ p: Double, training: Bool, generator: Generator) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: probability \(p) outside [0, 1]")
        guard training && p > 0 else { return self }
        if p == 1 { return self * 0 }
        let keep = Tensor.bernoulli(shape, p: 1 - p, generator: generator, dtype: dtype)
        return self * (keep / (1 - p))
    }
}
