// Creating tensors: constants, ranges, copies, masks. None of these record autograd history except `clone` and
// `contiguous`, whose gradient is the identity.

extension Tensor {
    public static func zeros(_ shape: [Int], dtype: DType = .float32) -> Tensor { Tensor(zeros: shape, dtype: dtype) }

    public static func ones(_ shape: [Int], dtype: DType = .float32) -> Tensor { full(shape, 1, dtype: dtype) }

    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) -> Tensor {
        let t = Tensor(zeros: shape, dtype: dtype)
        switch dtype {
        case .float32: t.pointer(Float.self).update(repeating: Float(value), count: t.count)
        case .float64: t.pointer(Double.self).update(repeating: value, count: t.count)
        case .float16: t.halfBits().update(repeating: HalfPrecision.float16Bits(Float(value)), count: t.count)
        case .bfloat16: t.halfBits().update(repeating: HalfPrecision.bfloat16Bits(Float(value)), count: t.count)
        }
        return t
    }

    /// [start, start + step, …) up to but excluding `end`, as a 1-d tensor.
    public static func arange(_ start: Double, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let values = (0..<n).map { start + Double($0) * step }
        return Tensor(doubles: values, shape: [n]).to(dtype)
    }

    /// Upper-triangular mask [rows, cols]: 1 where col - row ≥ diagonal, else 0 (torch.triu of ones).
    public static func triuMask(_ rows: Int, _ cols: Int, diagonal: Int = 0, dtype: DType = .float32) -> Tensor {
        let values = (0..<rows * cols).map { i in (i % cols) - (i / cols) >= diagonal ? 1.0 : 0.0 }
        return Tensor(doubles: values, shape: [rows, cols]).to(dtype)
    }

    /// Lower-triangular mask [rows, cols]: 1 where col - row ≤ diagonal, else 0 (torch.tril of ones).
    public static func trilMask(_ rows: Int, _ cols: Int, diagonal: Int = 0, dtype: DType = .float32) -> Tensor {
        let values = (0..<rows * cols).map { i in (i % cols) - (i / cols) <= diagonal ? 1.0 : 0.0 }
        return Tensor(doubles: values, shape: [rows, cols]).to(dtype)
    }

    /// The same values converted to `dtype` (a new tensor unless the dtype already matches). Differentiable: the
    /// gradient is converted back to this tensor's dtype (torch's `.to(dtype)`). Narrowing rounds to nearest even;
    /// float64 reaches float16/bfloat16 through float32 (two roundings; torch rounds float64 → half once, which differs
    /// only for values within 2^-29 relative of a half tie).
    public func to(_ target: DType) -> Tensor {
        if target == dtype { return self }
        let src = contiguous()
        let out = Tensor(uninitialized: shape, dtype: target)
        let n = count
        switch (dtype, target) {
        case (.float32, .float64):
            let s = src.pointer(Float.self), d = out.pointer(Double.self)
            for i in 0..<n { d[i] = Double(s[i]) }
        case (.float64, .float32):
            let s = src.pointer(Double.self), d = out.pointer(Float.self)
            for i in 0..<n { d[i] = Float(s[i]) }
        case (.float32, .bfloat16): HalfPrecision.toBFloat16(src.pointer(Float.self), out.halfBits(), n)
        case (.float32, .float16): HalfPrecision.toFloat16(src.pointer(Float.self), out.halfBits(), n)
        case (.bfloat16, .float32): HalfPrecision.fromBFloat16(src.halfBits(), out.pointer(Float.self), n)
        case (.float16, .float32): HalfPrecision.fromFloat16(src.halfBits(), out.pointer(Float.self), n)
        default:
            // float64 ↔ half and float16 ↔ bfloat16 go through float32.
            return to(.float32).to(target)
        }
        let from = dtype
        return Tensor.record("to", inputs: [self], output: out) { g in [g.to(from)] }
    }

    /// A contiguous copy with its own storage. Differentiable (identity gradient).
    public func clone() -> Tensor {
        let out = Tensor(uninitialized: shape, dtype: dtype)
        switch dtype {
        case .float32: copyStrided(Float.self, into: out)
        case .float64: copyStrided(Double.self, into: out)
        case .float16, .bfloat16: copyStrided(UInt16.self, into: out)
        }
        return Tensor.record("clone", inputs: [self], output: out) { g in [g] }
    }

    /// Self if already contiguous, else a contiguous copy. Differentiable (identity gradient).
    public func contiguous() -> Tensor { isContiguous ? self : clone() }

    /// Copies this tensor's elements (any strides) into `out`, a contiguous tensor of the same shape and dtype.
    func copyStrided<T>(_: T.Type, into out: Tensor) {
        precondition(MemoryLayout<T>.size == dtype.byteSize && out.dtype == dtype, "copyStrided: \(T.self) for a \(dtype) tensor")
        let src = storage.base.assumingMemoryBound(to: T.self) + offset, dst = out.storage.base.assumingMemoryBound(to: T.self) + out.offset
        let (n, sInner) = innerExtent
        let outStrides = out.strides
        forEachRow(shape, strides, outStrides, outStrides) { o0, o1, _ in
            let s = src + o0, d = dst + o1
            if sInner == 1 { d.update(from: s, count: n) } else { for i in 0..<n { d[i] = s[i * sInner] } }
        }
    }
}
