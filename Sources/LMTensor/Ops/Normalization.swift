// LayerNorm and RMSNorm over the last axis (LMKernels/Norms, llm.c layernorm_forward/backward).
// Forward saves per-row statistics; weight and bias are optional ([C] each).

extension Tensor {
    /// (x - mean) / sqrt(var + eps) · weight + bias over the last axis (biased variance, as torch).
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        checkLayerNormParameters(weight, bias, C)
        let x = contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype)
        let mean = Tensor(zeros: [rows], dtype: dtype), rstd = Tensor(zeros: [rows], dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Norms.layerNormForward(x.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) },
                                   bias: b.map { UnsafePointer($0.pointer(T.self)) }, eps: T(eps), y.pointer(T.self),
                                   mean: mean.pointer(T.self), rstd: rstd.pointer(T.self), rows: rows, C: C)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.recordLayerNorm(x, w, b, y, mean: mean, rstd: rstd)
    }

    /// (s, layerNorm(s)) with s = self + residual (same shape): a pre-norm block's residual add and the norm that
    /// follows it, computed row by row in one parallel pass (`Norms.addLayerNormForward`) instead of an add (on one
    /// thread at a GPT-small's size) and a second pass over s. The graph is the one `+` then `layerNorm` record: an
    /// add node for s and a layer_norm node reading s, so gradients (and values) are those of the composition.
    /// Other shapes and dtypes take the composition.
    public func addLayerNorm(_ residual: Tensor, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> (sum: Tensor, normed: Tensor) {
        guard residual.shape == shape, residual.dtype == dtype, dtype == .float32 || dtype == .float64, rank >= 1 else {
            let s = self + residual
            return (s, s.layerNorm(weight: weight, bias: bias, eps: eps))
        }
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        checkLayerNormParameters(weight, bias, C)
        let x = contiguous(), r = residual.contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
        let s = Tensor(uninitialized: shape, dtype: dtype), y = Tensor(uninitialized: shape, dtype: dtype)
        let mean = Tensor(zeros: [rows], dtype: dtype), rstd = Tensor(zeros: [rows], dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Norms.addLayerNormForward(x.pointer(T.self), r.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) },
                                      bias: b.map { UnsafePointer($0.pointer(T.self)) }, eps: T(eps), sum: s.pointer(T.self),
                                      y.pointer(T.self), mean: mean.pointer(T.self), rstd: rstd.pointer(T.self), rows: rows, C: C)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let sum = Tensor.record("add", inputs: [x, r], output: s) { g in [g, g] }
        return (sum, Tensor.recordLayerNorm(sum, w, b, y, mean: mean, rstd: rstd))
    }

    private func checkLayerNormParameters(_ weight: Tensor?, _ bias: Tensor?, _ C: Int) {
        for p in [weight, bias].compactMap({ $0 }) {
            precondition(p.shape == [C] && p.dtype == dtype, "layer_norm: parameter shape \(p.shape) (\(p.dtype)) for input \(shape) (\(dtype)); expected [\(C)]")
        }
    }

    /// The layer_norm node of y = layerNorm(x) (x contiguous) with the forward's row statistics; its backward.
    private static func recordLayerNorm(_ x: Tensor, _ w: Tensor?, _ b: Tensor?, _ y: Tensor, mean: Tensor, rstd: Tensor) -> Tensor {
        let C = x.shape.last ?? 1, rows = x.count / Swift.max(C, 1)
        let inputs = [x] + [w, b].compactMap { $0 }
        return Tensor.record("layer_norm", inputs: inputs, output: y) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)
            let dw = w.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }, db = b.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }
            func back<T: KernelScalar>(_: T.Type) {
                Norms.layerNormBackward(x.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) },
                                        mean: mean.pointer(T.self), rstd: rstd.pointer(T.self), g.pointer(T.self),
                                        dx: dx.pointer(T.self), dWeight: dw?.pointer(T.self), dBias: db?.pointer(T.self), rows: rows, C: C)
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            let parameterGrads: [Tensor] = [dw, db].compactMap { $0 }
            return [dx] + parameterGrads
        }
    }

    /// x / sqrt(mean(x²) + eps) · weight over the last axis.
    public func rmsNorm(weight: Tensor?, eps: Double = 1e-6) -> Tensor {
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        if let weight {
            precondition(weight.shape == [C] && weight.dtype == dtype, "rms_norm: weight shape \(weight.shape) for input \(shape); expected [\(C)]")
        }
        let x = contiguous(), w = weight?.contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype), rstd = Tensor(zeros: [rows], dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Norms.rmsNormForward(x.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) }, eps: T(eps),
                                 y.pointer(T.self), rstd: rstd.pointer(T.self), rows: rows, C: C)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("rms_norm", inputs: [x] + (w.map { [$0] } ?? []), output: y) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype), dw = w.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }
            func back<T: KernelScalar>(_: T.Type) {
                Norms.rmsNormBackward(x.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) }, rstd: rstd.pointer(T.self),
                                      g.pointer(T.self), dx: dx.pointer(T.self), dWeight: dw?.pointer(T.self), rows: rows, C: C)
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            let weightGrad: [Tensor] = dw.map { [$0] } ?? []
            return [dx] + weightGrad
        }
    }
}
