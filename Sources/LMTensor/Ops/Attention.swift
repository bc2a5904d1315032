// Scaled dot-product attention through the fused kernel (LMKernels/Attention): the T×T score matrix is never stored;
// backward recomputes it tile by tile from the saved output and logsumexp.
// q [B, H, Tq, D], k and v [B, Hkv, Tk, D] with H a multiple of Hkv (grouped-query attention); mask [Tq, Tk] additive.

extension Tensor {
    /// softmax(q·kᵀ·scale + mask, causal bottom-right) · v, as torch's `scaled_dot_product_attention(…, enable_gqa=True)`.
    /// `scale` defaults to 1/√D. A query row with every key masked gives zeros (never NaN). The mask takes no gradient.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                                 causal: Bool = false, scale: Double? = nil) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4 && k.shape == v.shape && q.shape[0] == k.shape[0] &&
                     q.shape[3] == k.shape[3] && k.shape[1] > 0 && q.shape[1] % k.shape[1] == 0 && q.dtype == k.dtype && k.dtype == v.dtype,
                     "scaled_dot_product_attention: q \(q.shape), k \(k.shape), v \(v.shape) must be [B, H, Tq, D], [B, Hkv, Tk, D] with H a multiple of Hkv")
        let shape = AttentionShape(batch: q.shape[0], heads: q.shape[1], kvHeads: k.shape[1], queryLength: q.shape[2],
                                   keyLength: k.shape[2], headSize: q.shape[3], scale: scale, causal: causal)
        if let mask {
            precondition(mask.shape == [shape.queryLength, shape.keyLength] && mask.dtype == q.dtype,
                         "scaled_dot_product_attention: mask shape \(mask.shape), expected [\(shape.queryLength), \(shape.keyLength)]")
        }
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous(), mc = mask?.contiguous().detach()
        let out = Tensor(uninitialized: q.shape, dtype: q.dtype)
        let lse = Tensor(uninitialized: Array(q.shape.dropLast()), dtype: q.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            Attention.forward(shape, q: qc.pointer(T.self), k: kc.pointer(T.self), v: vc.pointer(T.self),
                              mask: mc.map { UnsafePointer($0.pointer(T.self)) }, out: out.pointer(T.self), lse: lse.pointer(T.self))
        }
        switch q.dtype { case .float32: run(Float.self); case .float64: run(Double.self) }
        return record("scaled_dot_product_attention", inputs: [qc, kc, vc], output: out) { g in
            let dq = Tensor(uninitialized: qc.shape, dtype: qc.dtype)
            let dk = Tensor(uninitialized: kc.shape, dtype: kc.dtype), dv = Tensor(uninitialized: vc.shape, dtype: vc.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                Attention.backward(shape, q: qc.pointer(T.self), k: kc.pointer(T.self), v: vc.pointer(T.self),
                                   mask: mc.map { UnsafePointer($0.pointer(T.self)) }, out: out.pointer(T.self), lse: lse.pointer(T.self),
                                   dOut: g.pointer(T.self), dQ: dq.pointer(T.self), dK: dk.pointer(T.self), dV: dv.pointer(T.self))
            }
            switch qc.dtype { case .float32: back(Float.self); case .float64: back(Double.self) }
            return [dq, dk, dv]
        }
    }
}
