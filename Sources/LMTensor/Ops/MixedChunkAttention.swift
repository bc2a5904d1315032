// FLASH's mixed chunk attention as one op over LMKernels/MixedChunkAttention (quadratic inside groups of g rows,
// linear across groups), forward and backward side by side. FLASHLayer composes the rest (projections, gating, RoPE).

extension Tensor {
    /// Mixed chunk attention of FLASH (Hua et al. 2022): qk [B, T, 4, s] holds quad_q, lin_q, quad_k, lin_k of each row
    /// (after RoPE), v [B, T, e] → [B, T, e]:
    ///   out = W v + lin_q · KV per group of `groupSize` rows, W = relu(quad_q quad_kᵀ / g)² (or, with `softmax`, the
    ///   row softmax of quad_q quad_kᵀ / √s) inside the group (causal: keys j ≤ i), KV = Σ_{earlier groups} lin_kᵀ v / g
    ///   (causal) or Σ_{all rows} lin_kᵀ v / T (not causal).
    /// Equal to padding T to a multiple of g with zero rows (lucidrains/FLASH-pytorch), which is what
    /// `FLASHLayer.mixedChunkAttention` composes from ops. v may be a view whose rows have unit stride (a `split` of a
    /// wider tensor); it is read in place. Saves the [B, G, s, e] states; backward recomputes the group scores.
    public static func mixedChunkAttention(_ qk: Tensor, _ v: Tensor, groupSize g: Int, causal: Bool, softmax: Bool = false) -> Tensor {
        precondition(qk.rank == 4 && qk.shape[2] == 4 && v.rank == 3 && Array(v.shape.prefix(2)) == Array(qk.shape.prefix(2)) &&
                     v.dtype == qk.dtype && g > 0,
                     "mixed_chunk_attention: qk \(qk.shape) must be [B, T, 4, s], v \(v.shape) [B, T, e], one dtype; group size \(g) > 0")
        let (B, L, s, e) = (qk.shape[0], qk.shape[1], qk.shape[3], v.shape[2])
        let scores: MixedChunkAttention.Scores = softmax ? .softmax : .relu2
        let q = qk.contiguous()
        // Rows of v in place when each row is unit-stride and rows are evenly spaced across the batch too.
        let inPlace = v.strides[2] == 1 && v.strides[1] >= e && (B == 1 || v.strides[0] == L * v.strides[1])
        let vr = inPlace ? v : v.contiguous(), ldv = inPlace ? v.strides[1] : e
        let out = Tensor(uninitialized: [B, L, e], dtype: v.dtype)
        let states = Tensor(uninitialized: [MixedChunkAttention.stateCount(B: B, T: L, s: s, e: e, g: g, causal: causal)], dtype: v.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            MixedChunkAttention.forward(qk: q.pointer(T.self), v: vr.pointer(T.self), ldv: ldv, out: out.pointer(T.self),
                                        states: states.pointer(T.self), B: B, T: L, s: s, e: e, g: g, causal: causal, scores: scores)
        }
        switch v.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return Tensor.record("mixed_chunk_attention", inputs: [q, vr], output: out) { dOut in
            let dqk = Tensor(uninitialized: q.shape, dtype: q.dtype), dv = Tensor(uninitialized: [B, L, e], dtype: v.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                MixedChunkAttention.backward(qk: q.pointer(T.self), v: vr.pointer(T.self), ldv: ldv, states: states.pointer(T.self),
                                             dOut: dOut.pointer(T.self), dqk: dqk.pointer(T.self), dv: dv.pointer(T.self),
                                             B: B, T: L, s: s, e: e, g: g, causal: causal, scores: scores)
            }
            switch q.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dqk, dv]
        }
    }
}
