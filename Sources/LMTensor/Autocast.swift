// Mixed precision: torch.autocast("cpu", dtype=…) for LMKit's products. Inside `Autocast.with(.bfloat16) { … }` the
// ops on torch's CPU lower-precision list (linear, matmul, scaled_dot_product_attention) read their float32 inputs
// rounded to bfloat16 (or float16) and accumulate in float32; everything else (softmax, norms, losses, reductions,
// elementwise) is untouched and runs in float32, as on torch's fp32 list. Parameters, their gradients and the
// optimizer state stay float32 (master weights).
//
// What the low precision buys on this CPU is memory, not arithmetic: OpenBLAS 0.3.21 (Debian) is built without
// `cblas_sbgemm`, and there is no float16 arithmetic, so a product rounds its operands and runs sgemm on the rounded
// values (the result is exactly a bf16 × bf16 product accumulated in float32, plus the sgemm's own float32 rounding).
// The gain: `linear` and `packedSelfAttention` keep the inputs their backward needs as 16-bit copies, and (with the
// storage-free graph edges of Autograd.swift) the float32 originals are freed after forward.
//
// Departures from torch, on purpose: outputs stay float32 (torch rounds a bf16 product's output to bf16; keeping the
// float32 accumulator is one rounding less and needs no cast back for the fp32 ops that follow), and input gradients
// come out float32. Incoming gradients are rounded to the low dtype before the backward products, as torch's bf16
// backward receives them, so float16 gradients overflow where torch's do — which is what GradScaler watches for.
// `matmul`, `scaledDotProductAttention` and `linearCrossEntropy`'s head product round their inputs with
// `autocastRounded` (same values, float32 storage: the numerics of autocast without its memory saving).

/// The autocast scope (torch.autocast for the CPU). LMKit layers above the kernels are single-threaded (STYLE §3.6),
/// like the grad mode switch.
public enum Autocast {
    nonisolated(unsafe) static var current: DType?

    /// The low-precision dtype products use now, or nil outside autocast.
    public static var dtype: DType? { current }

    /// Runs `body` with products in `dtype` (.bfloat16 or .float16; .float32 or nil turns autocast off inside `body`).
    @discardableResult
    public static func with<R>(_ dtype: DType?, _ body: () throws -> R) rethrows -> R {
        precondition(dtype == nil || dtype == .float32 || dtype!.isLowPrecision, "Autocast: dtype \(dtype!) is not a low-precision type (float16, bfloat16)")
        let saved = current
        current = dtype == .float32 ? nil : dtype
        defer { current = saved }
        return try body()
    }

    /// The dtype a float32 op should round its product inputs to, or nil (not in autocast, or float64 inputs).
    static func lowPrecision(for input: DType) -> DType? { input == .float32 ? current : nil }
}

extension Tensor {
    /// A contiguous float32 tensor's values rounded to `low` (one pass): the 16-bit copy when `keepingHalf`, and the
    /// same values as float32 for a product to read. Not recorded.
    func autocastOperand(_ low: DType, keepingHalf: Bool) -> (half: Tensor?, wide: Tensor) {
        precondition(dtype == .float32 && isContiguous && low.isLowPrecision)
        let wide = Tensor(uninitialized: shape, dtype: .float32)
        let half = keepingHalf ? Tensor(uninitialized: shape, dtype: low) : nil
        HalfPrecision.round(pointer(Float.self), bfloat16: low == .bfloat16, half: half?.halfBits(), wide: wide.pointer(Float.self), count)
        return (half, wide)
    }

    /// This float32 tensor's values rounded to `low` and stored as float32 (what a product under autocast reads).
    /// Gradient: the identity (torch's cast back from the low dtype).
    public func autocastRounded(_ low: DType) -> Tensor {
        let wide = contiguous().detach().autocastOperand(low, keepingHalf: false).wide
        return Tensor.record("autocast_round", inputs: [self], output: wide) { g in [g] }
    }

    /// `linear` under autocast: y = round(x)·round(W)ᵀ + b accumulated in float32. Saves round(x) in 16 bits and the
    /// weight itself (a float32 parameter that is alive anyway; rounded again in backward, O·I work against N·I·O of
    /// the products). Backward: g is rounded, dx = g·round(W), dW += gᵀ·round(x) into the float32 `.grad`, db = Σ g.
    func linearAutocast(_ weight: Tensor, bias: Tensor?, _ low: DType) -> Tensor {
        let N = shape[0], I = shape[1], O = weight.shape[0]
        let w = weight.contiguous(), b = bias?.contiguous()
        if let b { precondition(b.shape == [O], "linear: bias shape \(b.shape), expected [\(O)]") }
        let (saved, wideX) = contiguous().detach().autocastOperand(low, keepingHalf: true)
        let out = Tensor(uninitialized: [N, O], dtype: .float32)
        let wideW = w.detach().autocastOperand(low, keepingHalf: false).wide
        Tensor.linearRows(Float.self, wideX, (false, I), wideW, (false, I), b, rows: 0..<N, into: out.pointer(Float.self))
        let inputs = b.map { [self, w, $0] } ?? [self, w]
        // The closure must not capture `self` (nor `inputs`): the float32 input is freed after forward.
        let xRequiresGrad = requiresGrad, half = saved!, inputCount = inputs.count
        return Tensor.record("linear", inputs: inputs, output: out) { g in
            // Bound to a tensor that lives to the end of the closure: a pointer into a temporary would dangle once
            // the temporary's storage went back to the BufferPool and was handed to dx or dW.
            let roundedG = g.contiguous().autocastOperand(low, keepingHalf: false).wide
            let gr = roundedG.pointer(Float.self)
            let dx = xRequiresGrad ? Tensor(uninitialized: [N, I], dtype: .float32) : nil
            let dW = w.requiresGrad ? GradientTarget(w) : nil
            let db = b?.requiresGrad == true ? GradientTarget(b!) : nil
            let roundedW = dx == nil ? nil : w.detach().autocastOperand(low, keepingHalf: false).wide
            let roundedX = dW == nil ? nil : half.to(.float32)
            func inputGradient() {
                guard let dx, let roundedW else { return }
                Matmul.gemm(transA: false, transB: false, M: N, N: I, K: O, alpha: 1, A: gr, lda: O,
                            B: roundedW.pointer(Float.self), ldb: I, beta: 0, C: dx.pointer(Float.self), ldc: I)
            }
            func parameterGradients() {
                if let dW, let roundedX {
                    Matmul.gemm(transA: true, transB: false, M: O, N: I, K: N, alpha: 1, A: gr, lda: O, B: roundedX.pointer(Float.self),
                                ldb: I, beta: dW.accumulate ? 1 : 0, C: dW.tensor.pointer(Float.self), ldc: I)
                }
                if let db { db.addColumnSums(g.contiguous().pointer(Float.self), rows: N, cols: O, accumulate: db.accumulate) }
            }
            if dx != nil && dW != nil && Parallel.threadCount > 1 && N * I * O >= Matmul.minimumParallelWork {
                Parallel.run(lanes: 2) { lane in if lane == 0 { inputGradient() } else { parameterGradients() } }
            } else {
                inputGradient(); parameterGradients()
            }
            withExtendedLifetime((roundedG, roundedW, roundedX)) {}
            return [dx, dW?.returned, db?.returned].prefix(inputCount).map { $0 }
        }
    }

    /// `packedSelfAttention` under autocast: q, k, v rounded to `low` (the kernel reads them as float32, accumulates in
    /// float32 and writes a float32 output). Saves the rounded qkv and the output in 16 bits; backward widens them,
    /// rounds g, and runs the float32 backward kernel on those values.
    static func packedSelfAttentionAutocast(_ qkv: Tensor, _ low: DType, heads: Int, _ shape: AttentionShape,
                                            _ layout: AttentionLayout, kOffset: Int, vOffset: Int) -> Tensor {
        let (savedQKV, wide) = qkv.contiguous().detach().autocastOperand(low, keepingHalf: true)
        let (B, T, D) = (qkv.shape[0], qkv.shape[1], qkv.shape[3])
        let out = Tensor(uninitialized: [B, T, heads, D], dtype: .float32)
        let lse = Tensor(uninitialized: [B, heads, T], dtype: .float32)
        let base = wide.pointer(Float.self)
        Attention.forward(shape, q: base, k: base + kOffset, v: base + vOffset, mask: nil, out: out.pointer(Float.self),
                          lse: lse.pointer(Float.self), layout: layout)
        withExtendedLifetime(wide) {}
        guard gradModeEnabled && qkv.requiresGrad else { return out }
        let savedOut = out.to(low), qkvShape = qkv.shape
        return record("packed_self_attention", inputs: [qkv], output: out) { g in
            let x = savedQKV!.to(.float32), o = savedOut.to(.float32)
            let gr = g.contiguous().autocastOperand(low, keepingHalf: false).wide
            let dx = Tensor(uninitialized: qkvShape, dtype: .float32)
            let base = x.pointer(Float.self), d = dx.pointer(Float.self)
            Attention.backward(shape, q: base, k: base + kOffset, v: base + vOffset, mask: nil, out: o.pointer(Float.self),
                               lse: lse.pointer(Float.self), dOut: gr.pointer(Float.self), dQ: d, dK: d + kOffset, dV: d + vOffset,
                               layout: layout)
            withExtendedLifetime((x, o, gr)) {}
            return [dx]
        }
    }
}
