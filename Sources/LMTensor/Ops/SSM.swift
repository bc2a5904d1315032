// State-space model ops (Mamba, Gu & Dao 2023) over LMKernels/SSM: the causal depthwise conv1d and the selective scan,
// each with its backward right below the forward. Channels-last layout ([B, L, D]) throughout, as the model keeps it.
// `selectiveScanStep` is the no-gradient recurrent form for decoding (reads and updates a state in place).

extension Tensor {
    /// Causal depthwise conv1d over the time axis of x [B, L, D] with weight [D, K] and optional bias [D]:
    /// y[b, t, d] = bias[d] + Σ_k weight[d, k] · x[b, t − (K−1) + k, d] (zeros before t = 0) — torch's
    /// `conv1d(x.transpose(1, 2), weight[:, None, :], bias, padding: K−1, groups: D)[..., :L]`, transposed back.
    /// Widths K ≥ `SSM.fftConvolutionMinimumWidth` (S4D's kernel as long as the sequence) run through FFTW, shorter
    /// ones (Mamba's K = 4) directly; both paths compute the same sums (LMKernels/FFTConvolution.swift).
    public func causalConv1d(weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(rank == 3 && weight.rank == 2 && weight.shape[0] == shape[2] && weight.dtype == dtype &&
                     (bias == nil || (bias!.shape == [shape[2]] && bias!.dtype == dtype)),
                     "causal_conv1d: x \(shape) must be [B, L, D] with weight [D, K] and bias [D], got weight \(weight.shape), bias \(bias?.shape ?? [])")
        let x = contiguous(), w = weight.contiguous(), b = bias?.contiguous()
        let (B, L, D, K) = (shape[0], shape[1], shape[2], weight.shape[1])
        let y = Tensor(uninitialized: shape, dtype: dtype)
        let viaFFT = K >= SSM.fftConvolutionMinimumWidth
        func run<T: KernelScalar>(_: T.Type) {
            let (xp, wp, bp, yp) = (x.pointer(T.self), w.pointer(T.self), b.map { UnsafePointer($0.pointer(T.self)) }, y.pointer(T.self))
            if viaFFT {
                SSM.fftCausalConv1dForward(xp, weight: wp, bias: bp, yp, B: B, L: L, D: D, K: K)
            } else {
                SSM.causalConv1dForward(xp, weight: wp, bias: bp, yp, B: B, L: L, D: D, K: K)
            }
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("causal_conv1d", inputs: [x, w] + (b.map { [$0] } ?? []), output: y) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype), dw = Tensor(zeros: w.shape, dtype: w.dtype)
            let db = b.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }
            func back<T: KernelScalar>(_: T.Type) {
                let (xp, wp, gp, dxp, dwp, dbp) = (x.pointer(T.self), w.pointer(T.self), g.pointer(T.self), dx.pointer(T.self),
                                                   dw.pointer(T.self), db?.pointer(T.self))
                if viaFFT {
                    SSM.fftCausalConv1dBackward(xp, weight: wp, gp, dx: dxp, dWeight: dwp, dBias: dbp, B: B, L: L, D: D, K: K)
                } else {
                    SSM.causalConv1dBackward(xp, weight: wp, gp, dx: dxp, dWeight: dwp, dBias: dbp, B: B, L: L, D: D, K: K)
                }
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx, dw] + (db.map { [$0] } ?? [])
        }
    }

    /// The selective scan (Mamba's S6 recurrence) on u = self [B, L, D] with Δ `delta` [B, L, D] (already positive,
    /// e.g. after softplus), A [D, N], B and C [B, L, N] and skip D [D] (optional); per batch row and channel, from h = 0:
    ///   h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t u_t B_t,   y_t = C_t · h_t + D u_t.   Returns y [B, L, D].
    /// Backward recomputes the states per channel (LMKernels/SSM); no [B, L, D, N] tensor is ever allocated.
    public func selectiveScan(delta: Tensor, A: Tensor, B bm: Tensor, C cm: Tensor, D skip: Tensor?) -> Tensor {
        let (Bsz, L, D) = Tensor.checkScan(u: self, delta: delta, A: A, B: bm, C: cm, D: skip, op: "selective_scan")
        let N = A.shape[1]
        let u = contiguous(), dl = delta.contiguous(), a = A.contiguous(), bc = bm.contiguous(), cc = cm.contiguous()
        let sk = skip?.contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            SSM.selectiveScanForward(u: u.pointer(T.self), delta: dl.pointer(T.self), A: a.pointer(T.self), Bm: bc.pointer(T.self),
                                     Cm: cc.pointer(T.self), skip: sk.map { UnsafePointer($0.pointer(T.self)) }, y: y.pointer(T.self),
                                     initialState: nil, finalState: nil, B: Bsz, L: L, D: D, N: N)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("selective_scan", inputs: [u, dl, a, bc, cc] + (sk.map { [$0] } ?? []), output: y) { g in
            let du = Tensor(uninitialized: u.shape, dtype: u.dtype), dDelta = Tensor(uninitialized: u.shape, dtype: u.dtype)
            let dA = Tensor(uninitialized: a.shape, dtype: a.dtype)
            let dB = Tensor(uninitialized: bc.shape, dtype: bc.dtype), dC = Tensor(uninitialized: cc.shape, dtype: cc.dtype)
            let dSkip = sk.map { Tensor(uninitialized: $0.shape, dtype: $0.dtype) }
            func back<T: KernelScalar>(_: T.Type) {
                SSM.selectiveScanBackward(u: u.pointer(T.self), delta: dl.pointer(T.self), A: a.pointer(T.self), Bm: bc.pointer(T.self),
                                          Cm: cc.pointer(T.self), skip: sk.map { UnsafePointer($0.pointer(T.self)) }, dy: g.pointer(T.self),
                                          du: du.pointer(T.self), dDelta: dDelta.pointer(T.self), dA: dA.pointer(T.self),
                                          dB: dB.pointer(T.self), dC: dC.pointer(T.self), dSkip: dSkip?.pointer(T.self),
                                          B: Bsz, L: L, D: D, N: N)
            }
            switch u.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [du, dDelta, dA, dB, dC] + (dSkip.map { [$0] } ?? [])
        }
    }

    /// The scan continued from `state` [B, D, N] (contiguous), which is updated in place to the state after the last
    /// step: the recurrent (decoding) form of `selectiveScan`, equal to it on the concatenated sequence. No gradient.
    public func selectiveScanStep(delta: Tensor, A: Tensor, B bm: Tensor, C cm: Tensor, D skip: Tensor?, state: Tensor) -> Tensor {
        let (Bsz, L, D) = Tensor.checkScan(u: self, delta: delta, A: A, B: bm, C: cm, D: skip, op: "selective_scan_step")
        let N = A.shape[1]
        precondition(state.shape == [Bsz, D, N] && state.isContiguous && state.dtype == dtype,
                     "selective_scan_step: state \(state.shape) must be contiguous [B, D, N] = [\(Bsz), \(D), \(N)]")
        let u = contiguous(), dl = delta.contiguous(), a = A.contiguous(), bc = bm.contiguous(), cc = cm.contiguous()
        let sk = skip?.contiguous()
        let y = Tensor(uninitialized: shape, dtype: dtype)
        func run<T: KernelScalar>(_: T.Type) {
            SSM.selectiveScanForward(u: u.pointer(T.self), delta: dl.pointer(T.self), A: a.pointer(T.self), Bm: bc.pointer(T.self),
                                     Cm: cc.pointer(T.self), skip: sk.map { UnsafePointer($0.pointer(T.self)) }, y: y.pointer(T.self),
                                     initialState: UnsafePointer(state.pointer(T.self)), finalState: state.pointer(T.self),
                                     B: Bsz, L: L, D: D, N: N)
        }
        switch dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return y
    }

    /// The S4D convolution kernel with zero-order hold (state-spaces/s4 `S4DKernel`) for H channels of M complex modes,
    /// as the conv weight [H, length] of `causalConv1d` (weight[h, k] = K[h, length − 1 − k]):
    ///   A = −exp(logAReal) + i·aImag, Δ = exp(logDt), K[h, l] = 2 Re Σ_n C_n (exp(ΔA_n) − 1)/A_n · exp(ΔA_n l).
    /// logDt [H], logAReal and aImag [H, M], c [H, M, 2] (real, imaginary).
    public static func s4dConvolutionWeight(logDt: Tensor, logAReal: Tensor, aImag: Tensor, c: Tensor, length: Int) -> Tensor {
        let (H, M) = (logDt.count, logAReal.shape.last ?? 0)
        precondition(logDt.rank == 1 && logAReal.shape == [H, M] && aImag.shape == [H, M] && c.shape == [H, M, 2] && length > 0 &&
                     [logAReal, aImag, c].allSatisfy { $0.dtype == logDt.dtype },
                     "s4d_kernel: logDt \(logDt.shape) must be [H], logAReal \(logAReal.shape) and aImag \(aImag.shape) [H, M], c \(c.shape) [H, M, 2], length \(length) > 0")
        let inputs = [logDt, logAReal, aImag, c].map { $0.contiguous() }
        let weight = Tensor(uninitialized: [H, length], dtype: logDt.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            SSM.s4dKernelForward(logDt: inputs[0].pointer(T.self), logAReal: inputs[1].pointer(T.self), aImag: inputs[2].pointer(T.self),
                                 c: inputs[3].pointer(T.self), weight: weight.pointer(T.self), H: H, M: M, L: length)
        }
        switch logDt.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("s4d_kernel", inputs: inputs, output: weight) { g in
            let grads = inputs.map { Tensor(uninitialized: $0.shape, dtype: $0.dtype) }
            func back<T: KernelScalar>(_: T.Type) {
                SSM.s4dKernelBackward(logDt: inputs[0].pointer(T.self), logAReal: inputs[1].pointer(T.self), aImag: inputs[2].pointer(T.self),
                                      c: inputs[3].pointer(T.self), dWeight: g.pointer(T.self), dLogDt: grads[0].pointer(T.self),
                                      dLogAReal: grads[1].pointer(T.self), dAImag: grads[2].pointer(T.self), dC: grads[3].pointer(T.self),
                                      H: H, M: M, L: length)
            }
            switch logDt.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return grads
        }
    }

    static func checkScan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor?, op: String) -> (Int, Int, Int) {
        precondition(u.rank == 3 && delta.shape == u.shape && A.rank == 2 && A.shape[0] == u.shape[2] &&
                     B.shape == [u.shape[0], u.shape[1], A.shape[1]] && C.shape == B.shape && (D == nil || D!.shape == [u.shape[2]]) &&
                     [delta, A, B, C].allSatisfy { $0.dtype == u.dtype } && (D == nil || D!.dtype == u.dtype),
                     "\(op): u \(u.shape) and delta \(delta.shape) must be [B, L, D], A \(A.shape) [D, N], B \(B.shape) and C \(C.shape) [B, L, N], D \(D?.shape ?? []) [D], one dtype")
        return (u.shape[0], u.shape[1], u.shape[2])
    }
}
