// LayerNorm and RMSNorm over the last axis (LMKernels/Norms, llm.c layernorm_forward/backward).
// Forward saves per-row statistics; weight and bias are optional ([C] each).

extension Tensor {
    /// (x - mean) / sqrt(var + eps) · weight + bias over the last axis (biased variance, as torch).
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) -> Tensor {
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        for p in [weight, bias].compactMap({ $0 }) {
            precondition(p.shape == [C] && p.dtype == dtype, "layer_norm: parameter shape \(p.shape) (\(p.dtype)) for input \(shape) (\(dtype)); expected [\(C)]")
        }
        let x = contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype)
        let mean = Tensor(zeros: [rows], dtype: dtype), rstd = Tensor(zeros: [rows], dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Norms.layerNormForward(x.pointer(T.self), weight: w.map { UnsafePointer($0.pointer(T.self)) },
                                   bias: b.map { UnsafePointer($0.pointer(T.self)) }, eps: T(eps), y.pointer(T.self),
                                   mean: mean.pointer(T.self), rstd: rstd.pointer(T.self), rows: rows, C: C)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
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
