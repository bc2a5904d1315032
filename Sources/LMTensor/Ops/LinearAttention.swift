// Linear attention ops (Katharopoulos et al. 2020; fast-transformers semantics) over LMKernels/LinearAttention: the
// feature maps φ, and the normalized attention of φ(Q), φ(K), V with its backward right below the forward (both in the
// chunked kernel, not composed from small autograd ops). `linearAttentionStep` is the recurrent (decoding) form.
// Not here: fast-transformers' random-feature maps (Favor+, RFF) — φ is a fixed elementwise map.

/// The feature map φ of linear attention. `elu`: elu(x) + 1 (fast-transformers' `elu_feature_map`, the paper's choice,
/// always positive); `relu`: max(x, 0) (may give an all-zero row, whose output is then 0 through the epsilon).
public enum LinearAttentionFeatureMap: String, Codable, Sendable, CaseIterable {
    case elu, relu
}

/// elu(x) + 1 = x + 1 for x > 0, eˣ otherwise; derivative 1 or eˣ (= y).
public struct ELUPlusOne: UnaryFunction {
    public init() {}
    public var name: String { "elu_plus_one" }
    /// kernelExp: the vectorizable polynomial exp for Float (libm's scalar expf was 2.3 % of a linear-attention step).
    public func value<T: KernelScalar>(_ x: T) -> T { x > 0 ? x + 1 : T.kernelExp(x) }
    public func derivative<T: KernelScalar>(_ x: T, _ y: T) -> T { x > 0 ? 1 : y }
}

extension Tensor {
    /// φ(self) elementwise.
    public func linearAttentionFeatures(_ map: LinearAttentionFeatureMap) -> Tensor {
        switch map {
        case .elu: return apply(ELUPlusOne())
        case .relu: return relu()
        }
    }

    /// Normalized linear attention of already feature-mapped queries and keys (fast-transformers' `LinearAttention`
    /// and `CausalLinearAttention` after φ): q, k [B, H, T, D], v [B, H, T, E] →
    ///   out[b, h, i] = Σ_j (q_i·k_j) v_j / (Σ_j q_i·k_j + eps),  j ≤ i when `causal`, every j otherwise.
    /// `eps` defaults to fast-transformers' 1e-6. The causal form runs in chunks of `chunk` rows (quadratic inside a
    /// chunk, a carried [D, E + 1] state across chunks); the chunk changes rounding only. Forward saves out and the
    /// [B, H, T] denominators; backward recomputes the chunk products.
    public static func linearAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool, chunk: Int = LinearAttention.defaultChunk,
                                       eps: Double = LinearAttention.defaultEpsilon) -> Tensor {
        let (B, H, L, D, E) = checkLinearAttention(q, k, v, op: "linear_attention")
        precondition(chunk >= 1, "linear_attention: chunk must be ≥ 1, got \(chunk)")
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let out = Tensor(uninitialized: [B, H, L, E], dtype: q.dtype), den = Tensor(uninitialized: [B, H, L], dtype: q.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            LinearAttention.forward(q: qc.pointer(T.self), k: kc.pointer(T.self), v: vc.pointer(T.self), out: out.pointer(T.self),
                                    denominator: den.pointer(T.self), BH: B * H, T: L, D: D, E: E, causal: causal, chunk: chunk, eps: T(eps))
        }
        switch q.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        let saved = out.detach()
        return Tensor.record("linear_attention", inputs: [qc, kc, vc], output: out) { g in
            let dq = Tensor(uninitialized: qc.shape, dtype: qc.dtype), dk = Tensor(uninitialized: kc.shape, dtype: kc.dtype)
            let dv = Tensor(uninitialized: vc.shape, dtype: vc.dtype)
            func back<T: KernelScalar>(_: T.Type) {
                LinearAttention.backward(q: qc.pointer(T.self), k: kc.pointer(T.self), v: vc.pointer(T.self), out: saved.pointer(T.self),
                                         denominator: den.pointer(T.self), dOut: g.pointer(T.self), dq: dq.pointer(T.self),
                                         dk: dk.pointer(T.self), dv: dv.pointer(T.self), BH: B * H, T: L, D: D, E: E, causal: causal, chunk: chunk)
            }
            switch qc.dtype { case .float32: back(Float.self); case .float64: back(Double.self); default: unsupportedDType() }
            return [dq, dk, dv]
        }
    }

    /// The causal form continued from `state` [B, H, D, E + 1] (contiguous; S = Σ φ(k) vᵀ in the first E columns, the
    /// normalizer z = Σ φ(k) in the last), which is updated in place to include these positions: recurrent decoding
    /// with O(1) state per layer, equal to `linearAttention(causal: true)` on the concatenated sequence. No gradient.
    public static func linearAttentionStep(_ q: Tensor, _ k: Tensor, _ v: Tensor, state: Tensor, chunk: Int = LinearAttention.defaultChunk,
                                           eps: Double = LinearAttention.defaultEpsilon) -> Tensor {
        let (B, H, L, D, E) = checkLinearAttention(q, k, v, op: "linear_attention_step")
        precondition(state.shape == [B, H, D, E + 1] && state.isContiguous && state.dtype == q.dtype,
                     "linear_attention_step: state \(state.shape) must be contiguous [B, H, D, E + 1] = [\(B), \(H), \(D), \(E + 1)]")
        let qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous()
        let out = Tensor(uninitialized: [B, H, L, E], dtype: q.dtype), den = Tensor(uninitialized: [B, H, L], dtype: q.dtype)
        func run<T: KernelScalar>(_: T.Type) {
            LinearAttention.forward(q: qc.pointer(T.self), k: kc.pointer(T.self), v: vc.pointer(T.self), out: out.pointer(T.self),
                                    denominator: den.pointer(T.self), state: state.pointer(T.self), BH: B * H, T: L, D: D, E: E,
                                    causal: true, chunk: chunk, eps: T(eps))
        }
        switch q.dtype { case .float32: run(Float.self); case .float64: run(Double.self); default: unsupportedDType() }
        return out
    }

    static func checkLinearAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, op: String) -> (Int, Int, Int, Int, Int) {
        precondition(q.rank == 4 && k.shape == q.shape && v.rank == 4 && Array(v.shape.prefix(3)) == Array(q.shape.prefix(3)) &&
                     k.dtype == q.dtype && v.dtype == q.dtype,
                     "\(op): q \(q.shape) and k \(k.shape) must be [B, H, T, D], v \(v.shape) [B, H, T, E], one dtype")
        return (q.shape[0], q.shape[1], q.shape[2], q.shape[3], v.shape[3])
    }
}
