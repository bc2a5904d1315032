// Softmax and log-softmax along one axis (last axis runs in place; others via a permuted copy).
// Backward uses the saved output only: softmax dx = y ⊙ (dy - Σ dy⊙y), log-softmax dx = dy - e^y Σ dy.

extension Tensor {
    public func softmax(axis axisIndex: Int = -1) -> Tensor { softmaxLike(axisIndex, log: false) }
    public func logSoftmax(axis axisIndex: Int = -1) -> Tensor { softmaxLike(axisIndex, log: true) }

    private func softmaxLike(_ axisIndex: Int, log: Bool) -> Tensor {
        let a = axis(axisIndex, log ? "log_softmax" : "softmax")
        if a != rank - 1 {
            return transpose(a, -1).softmaxLike(-1, log: log).transpose(a, -1).contiguous()
        }
        let x = contiguous()
        let C = shape.last ?? 1, rows = count / Swift.max(C, 1)
        let y = Tensor(uninitialized: shape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            if log { Softmax.logForward(x.pointer(T.self), y.pointer(T.self), rows: rows, C: C) }
            else { Softmax.forward(x.pointer(T.self), y.pointer(T.self), rows: rows, C: C) }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let saved = y.detach()  // not `y`: a closure holding its own output is a cycle that only backward() breaks
        return Tensor.record(log ? "log_softmax" : "softmax", inputs: [x], output: y) { g in
            let dx = Tensor(uninitialized: saved.shape, dtype: saved.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                if log { Softmax.logBackward(saved.pointer(T.self), g.pointer(T.self), dx.pointer(T.self), rows: rows, C: C) }
                else { Softmax.backward(saved.pointer(T.self), g.pointer(T.self), dx.pointer(T.self), rows: rows, C: C) }
            }
            switch saved.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx]
        }
    }
}
