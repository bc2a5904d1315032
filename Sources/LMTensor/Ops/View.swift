// Views: new shape/strides over the same storage, no copy. Each records a backward that maps the gradient back to
// the input's shape (reshape back, inverse permutation, scatter into the sliced region, sum over broadcast axes).

extension Tensor {
    /// A tensor with `newShape` (one entry may be -1) and the same elements in row-major order. A view when this
    /// tensor is contiguous, else a copy.
    public func reshape(_ newShape: [Int]) -> Tensor {
        var target = newShape
        let known = newShape.filter { $0 != -1 }.reduce(1, *)
        if let i = newShape.firstIndex(of: -1) {
            precondition(newShape.filter { $0 == -1 }.count == 1 && known > 0 && count % known == 0,
                         "reshape: cannot reshape \(shape) to \(newShape)")
            target[i] = count / known
        }
        precondition(target.reduce(1, *) == count, "reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        let src = contiguous()
        let out = Tensor(storage: src.storage, dtype: dtype, shape: target, offset: src.offset)
        let original = shape
        return Tensor.record("reshape", inputs: [src], output: out) { g in [g.reshape(original)] }
    }

    /// Reorders dimensions: result dimension i is input dimension `dims[i]`.
    public func permute(_ dims: [Int]) -> Tensor {
        let d = dims.map { axis($0, "permute") }
        precondition(d.count == rank && Set(d).count == rank, "permute: \(dims) is not a permutation of the axes of \(shape)")
        let out = Tensor(storage: storage, dtype: dtype, shape: d.map { shape[$0] }, strides: d.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, a) in d.enumerated() { inverse[a] = i }
        return Tensor.record("permute", inputs: [self], output: out) { g in [g.permute(inverse).contiguous()] }
    }

    /// Swaps two dimensions.
    public func transpose(_ a: Int, _ b: Int) -> Tensor {
        var dims = Array(0..<rank)
        dims.swapAt(axis(a, "transpose"), axis(b, "transpose"))
        return permute(dims)
    }

    /// Elements start, start+step, … < end along `axis` (negative start/end count from the end, like Python).
    public func slice(_ axisIndex: Int, _ start: Int, _ end: Int? = nil, step: Int = 1) -> Tensor {
        let a = axis(axisIndex, "slice")
        let n = shape[a]
        precondition(step > 0, "slice: step must be positive, got \(step)")
        let lo = Swift.min(Swift.max(start < 0 ? start + n : start, 0), n)
        let hi = Swift.min(Swift.max((end ?? n) < 0 ? (end ?? n) + n : (end ?? n), lo), n)
        var newShape = shape, newStrides = strides
        newShape[a] = (hi - lo + step - 1) / step
        newStrides[a] = strides[a] * step
        let out = Tensor(storage: storage, dtype: dtype, shape: newShape, strides: newStrides, offset: offset + lo * strides[a])
        let original = shape
        return Tensor.record("slice", inputs: [self], output: out) { g in
            let full = Tensor(zeros: original, dtype: g.dtype)
            let region = full.slice(a, lo, hi, step: step)
            switch g.dtype {
            case .float32: g.copyStrided(Float.self, into: region)
            case .float64: g.copyStrided(Double.self, into: region)
            default: unsupportedDType()
            }
            return [full]
        }
    }

    /// A view broadcasting size-1 (or missing leading) dimensions to `target` with stride 0. No copy.
    public func expand(_ target: [Int]) -> Tensor {
        precondition(broadcastShapes(shape, target, "expand") == target, "expand: cannot expand \(shape) to \(target)")
        let out = Tensor(storage: storage, dtype: dtype, shape: target, strides: broadcastStrides(shape, strides, to: target), offset: offset)
        let original = shape
        return Tensor.record("expand", inputs: [self], output: out) { g in [g.sumToShape(original)] }
    }

    /// Inserts a size-1 dimension at `axis` (0…rank).
    public func unsqueeze(_ axisIndex: Int) -> Tensor {
        let a = axisIndex < 0 ? axisIndex + rank + 1 : axisIndex
        precondition(a >= 0 && a <= rank, "unsqueeze: axis \(axisIndex) out of range for shape \(shape)")
        var s = shape, st = strides
        s.insert(1, at: a)
        st.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        let out = Tensor(storage: storage, dtype: dtype, shape: s, strides: st, offset: offset)
        let original = shape
        return Tensor.record("unsqueeze", inputs: [self], output: out) { g in [g.reshape(original)] }
    }

    /// Removes the size-1 dimension at `axis`.
    public func squeeze(_ axisIndex: Int) -> Tensor {
        let a = axis(axisIndex, "squeeze")
        precondition(shape[a] == 1, "squeeze: axis \(axisIndex) of shape \(shape) has size \(shape[a]), expected 1")
        var s = shape, st = strides
        s.remove(at: a); st.remove(at: a)
        let out = Tensor(storage: storage, dtype: dtype, shape: s, strides: st, offset: offset)
        let original = shape
        return Tensor.record("squeeze", inputs: [self], output: out) { g in [g.reshape(original)] }
    }

    /// Sums a broadcast gradient back to `target` (the inverse of broadcasting `target` to this shape).
    public func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let reduced = axes.isEmpty ? self : sum(axes: axes, keepDim: true)
        return reduced.reshape(target)
    }
}
