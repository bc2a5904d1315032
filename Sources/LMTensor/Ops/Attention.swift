// Scaled dot-product attention through the fused kernel (LMKernels/Attention): the T×T score matrix is never stored;
// backward recomputes it tile by tile from the saved output and logsumexp.
// q [B, H, Tq, D], k and v [B, Hkv, Tk, D] with H a multiple of Hkv (grouped-query attention); mask [Tq, Tk] additive.
// q, k and v are read in place through their strides whenever the last axis is contiguous (a KV-cache view, q/k/v
// sliced out of a fused projection and transposed); other layouts are copied first.

extension Tensor {
    /// softmax(q·kᵀ·scale + mask, causal bottom-right) · v, as torch's `scaled_dot_product_attention(…, enable_gqa=True)`.
    /// `scale` defaults to 1/√D. A query row with every key masked gives zeros (never NaN). The mask takes no gradient.
    /// - `keyLengths`: B entries in 0...Tk; keys j ≥ keyLengths[b] are hidden from every query of batch row b (right
    ///   padding), with or without `causal`. Handled per tile: no [Tq, Tk] mask is built.
    /// - `window` (needs `causal`): query i sees only keys j with i' − window < j ≤ i', i' = i + Tk − Tq.
    /// - `blockLength` (block-causal, without `causal`; Tk ≥ Tq): query i sees keys j with ⌊j/n⌋ ≤ ⌊i'/n⌋ — its own
    ///   block both ways and every earlier block (block diffusion). Handled per tile: no mask is built.
    /// - `globalTokens` (with `window`): keys j < globalTokens are exempt from the window (Longformer global tokens),
    ///   still under `causal`. Their tiles are kept, the others outside the window skipped.
    /// - `alibiSlopes` (H entries): ALiBi, head h adds −slope[h]·|i' − j| to its scaled scores, inside the kernel;
    ///   `keyGap` shifts key positions j ≥ globalTokens by that much (a rolling cache that dropped positions).
    /// Gradients flow to q, k, v (views included) as contiguous tensors of their shapes. Inputs read in place are
    /// saved as they are for backward, so a buffer they view must not be overwritten in that range before backward.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, causal: Bool = false,
                                                 keyLengths: [Int]? = nil, window: Int? = nil, scale: Double? = nil,
                                                 blockLength: Int? = nil, globalTokens: Int = 0, alibiSlopes: [Double]? = nil,
                                                 keyGap: Int = 0) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4 && k.shape == v.shape && q.shape[0] == k.shape[0] &&
                     q.shape[3] == k.shape[3] && k.shape[1] > 0 && q.shape[1] % k.shape[1] == 0 && q.dtype == k.dtype && k.dtype == v.dtype,
                     "scaled_dot_product_attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, H, Tq, D], [B, Hkv, Tk, D] with H a multiple of Hkv")
        if let low = Autocast.lowPrecision(for: q.dtype) {  // Autocast.swift
            return Autocast.with(nil) {
                scaledDotProductAttention(q.autocastRounded(low), k.autocastRounded(low), v.autocastRounded(low), mask: mask, causal: causal,
                                          keyLengths: keyLengths, window: window, scale: scale, blockLength: blockLength)
            }
        }
        let shape = AttentionShape(batch: q.shape[0], heads: q.shape[1], kvHeads: k.shape[1], queryLength: q.shape[2],
                                   keyLength: k.shape[2], headSize: q.shape[3], scale: scale, causal: causal,
                                   keyLengths: keyLengths, window: window, blockLength: blockLength, globalTokens: globalTokens,
                                   alibiSlopes: alibiSlopes, keyGap: keyGap)
        if let mask {
            precondition(mask.shape == [shape.queryLength, shape.keyLength] && mask.dtype == q.dtype,
                         "scaled_dot_product_attention: mask shape \(mask.shape), expected [\(shape.queryLength), \(shape.keyLength)]")
        }
        let qr = attentionOperand(q), kr = attentionOperand(k), vr = attentionOperand(v), mc = mask?.contiguous().detach()
        let layout = AttentionLayout(shape, q: attentionStrides(qr), k: attentionStrides(kr), v: attentionStrides(vr))
        let out = Tensor(uninitialized: q.shape, dtype: q.dtype)
        let lse = Tensor(uninitialized: Array(q.shape.dropLast()), dtype: q.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Attention.forward(shape, q: qr.pointer(T.self), k: kr.pointer(T.self), v: vr.pointer(T.self),
                              mask: mc.map { UnsafePointer($0.pointer(T.self)) }, out: out.pointer(T.self), lse: lse.pointer(T.self),
                              layout: layout)
        }
        switch q.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let saved = out.detach()  // not `out`: a closure holding its own output is a cycle that only backward() breaks
        return record("scaled_dot_product_attention", inputs: [qr, kr, vr], output: out) { g in
            let dq = Tensor(uninitialized: qr.shape, dtype: qr.dtype)
            let dk = Tensor(uninitialized: kr.shape, dtype: kr.dtype), dv = Tensor(uninitialized: vr.shape, dtype: vr.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                Attention.backward(shape, q: qr.pointer(T.self), k: kr.pointer(T.self), v: vr.pointer(T.self),
                                   mask: mc.map { UnsafePointer($0.pointer(T.self)) }, out: saved.pointer(T.self), lse: lse.pointer(T.self),
                                   dOut: g.pointer(T.self), dQ: dq.pointer(T.self), dK: dk.pointer(T.self), dV: dv.pointer(T.self),
                                   layout: layout)
            }
            switch qr.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dq, dk, dv]
        }
    }

    /// Self-attention over a fused projection, as a GPT or BERT layer computes it: `qkv` [B, T, H + 2·Hkv, D] holds the
    /// query heads, then the key heads, then the value heads of each position (the `c_attn` output reshaped); the result
    /// is [B, T, H, D], i.e. the heads already merged for the output projection. Same semantics and options as
    /// `scaledDotProductAttention` on the transposed q/k/v slices, but the kernel reads q/k/v and writes the output and
    /// the one [B, T, H + 2·Hkv, D] gradient through strides: no head-merge copy, and none of the three zero-filled
    /// slice gradients, their strided copies and their sum that the sliced form costs in backward.
    public static func packedSelfAttention(_ qkv: Tensor, heads: Int, kvHeads: Int, causal: Bool = false, keyLengths: [Int]? = nil,
                                           window: Int? = nil, scale: Double? = nil, blockLength: Int? = nil, globalTokens: Int = 0,
                                           alibiSlopes: [Double]? = nil) -> Tensor {
        precondition(qkv.rank == 4 && heads > 0 && kvHeads > 0 && qkv.shape[2] == heads + 2 * kvHeads,
                     "packed_self_attention: qkv \(qkv.shape) must be [B, T, heads + 2·kvHeads = \(heads + 2 * kvHeads), D]")
        let x = qkv.contiguous()
        let (B, T, P, D) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let shape = AttentionShape(batch: B, heads: heads, kvHeads: kvHeads, queryLength: T, keyLength: T, headSize: D, scale: scale,
                                   causal: causal, keyLengths: keyLengths, window: window, blockLength: blockLength,
                                   globalTokens: globalTokens, alibiSlopes: alibiSlopes)
        let packed = AttentionStrides(batch: T * P * D, head: D, row: P * D)
        let merged = AttentionStrides(batch: T * heads * D, head: D, row: heads * D)
        let layout = AttentionLayout(shape, q: packed, k: packed, v: packed, out: merged, dQ: packed, dK: packed, dV: packed)
        let kOffset = heads * D, vOffset = (heads + kvHeads) * D
        if let low = Autocast.lowPrecision(for: x.dtype) {  // Autocast.swift
            return packedSelfAttentionAutocast(x, low, heads: heads, shape, layout, kOffset: kOffset, vOffset: vOffset)
        }
        let out = Tensor(uninitialized: [B, T, heads, D], dtype: x.dtype)
        let lse = Tensor(uninitialized: [B, heads, T], dtype: x.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            let base = x.pointer(T.self)
            Attention.forward(shape, q: base, k: base + kOffset, v: base + vOffset, mask: nil, out: out.pointer(T.self),
                              lse: lse.pointer(T.self), layout: layout)
        }
        switch x.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let saved = out.detach()  // not `out`: see scaledDotProductAttention
        return record("packed_self_attention", inputs: [x], output: out) { g in
            let dx = Tensor(uninitialized: x.shape, dtype: x.dtype)  // every element is written by the kernel
            func back<T: KernelScalar>(_: T.Type) {
                let base = x.pointer(T.self), d = dx.pointer(T.self)
                Attention.backward(shape, q: base, k: base + kOffset, v: base + vOffset, mask: nil, out: saved.pointer(T.self),
                                   lse: lse.pointer(T.self), dOut: g.pointer(T.self), dQ: d, dK: d + kOffset, dV: d + vOffset,
                                   layout: layout)
            }
            switch x.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dx]
        }
    }

    /// `t` itself when the attention kernel can read it in place (any strides of a [B, heads, T, D] tensor whose last
    /// axis has unit stride), else a contiguous copy. The copy is the only one the op makes of its inputs.
    static func attentionOperand(_ t: Tensor) -> Tensor { t.shape[3] <= 1 || t.strides[3] == 1 ? t : t.contiguous() }

    /// The batch, head and row strides of an operand accepted by `attentionOperand`.
    static func attentionStrides(_ t: Tensor) -> AttentionStrides {
        AttentionStrides(batch: t.strides[0], head: t.strides[1], row: t.strides[2])
    }
}
