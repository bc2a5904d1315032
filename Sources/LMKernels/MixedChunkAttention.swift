// FLASH's mixed chunk attention (Hua, Dai, Liu & Le 2022, "Transformer Quality in Linear Time" §3.2), fused: the
// sequence is cut into groups of g rows; inside a group quadratic attention with relu(q kᵀ / g)² (or softmax(q kᵀ / √s))
// scores, across groups linear attention. For group γ with rows r (n ≤ g real rows; the last group is not padded: zero
// rows add nothing to any sum, so they are simply left out):
//   out_r = W_γ V_γ + LinQ_γ · KV_γ,   W_γ = relu(QuadQ_γ QuadK_γᵀ / g)² (⊙ causal mask) or the row softmax,
//   KV_γ = Σ_{γ' < γ} LinK_γ'ᵀ V_γ' / g (causal)   or   Σ_{all rows} LinKᵀ V / T (non-causal).
// The normalizer g is the configured group length whatever n is (FLASH.swift explains why).
// Forward: (1) every group's LinKᵀ V / g, in parallel, then an exclusive prefix sum over groups (causal) — the KV_γ are
// kept for backward ([B, G, s, e]); (2) every group independently: scores in causal row blocks of 64 (blocks right of
// the diagonal are never computed: 5/8 of the g×g products at g 256), weights in place, then W V and + LinQ KV.
// Backward recomputes the scores and weights per group (nothing g×g is stored) and walks the groups the same two ways:
// R_γ = Σ_{γ' > γ} LinQ_γ'ᵀ dOut_γ' / g (suffix sums) gives dLinK = V R_γᵀ and dV += LinK R_γ; dLinQ = dOut KV_γᵀ.
// Products are single-threaded BLAS calls inside one thread's group (they are 64-256 wide, large enough for BLAS);
// groups (× batch) are spread over the worker threads.
// Layout: qk [B, T, 4, s] = quad_q, lin_q, quad_k, lin_k of each row, contiguous (the RoPE output); v: rows of e
// elements at row stride ldv (a view into FLASH's [B, T, 2e] hidden activations), batch stride T·ldv; out, dOut and
// dv [B, T, e] contiguous; dqk like qk. Letters: s query/key width, e value width, g group length, G groups.

public enum MixedChunkAttention {
    /// How scores inside a group become weights: relu(x / g)² or softmax(x / √s) over the visible keys.
    public enum Scores: Sendable { case relu2, softmax }

    /// Rows per causal block of the score products (a quarter of the paper's g = 256).
    public static let rowBlock = 64

    /// Elements of the KV_γ states `forward` writes and `backward` reads: [B, G, s, e] (causal) or [B, s, e].
    public static func stateCount(B: Int, T: Int, s: Int, e: Int, g: Int, causal: Bool) -> Int {
        B * (causal ? (T + g - 1) / g : 1) * s * e
    }

    /// The row blocks of a group with n real rows: (first row, rows, visible key columns of the block).
    @inlinable static func blocks(_ n: Int, causal: Bool) -> [(Int, Int, Int)] {
        stride(from: 0, to: n, by: rowBlock).map { rb in
            let m = Swift.min(rowBlock, n - rb)
            return (rb, m, causal ? rb + m : n)
        }
    }

    /// One BLAS call on this thread: C = alpha · op(A) op(B) + beta · C.
    @inlinable @inline(__always) static func gemm<T: KernelScalar>(
        _ transA: Bool, _ transB: Bool, _ M: Int, _ N: Int, _ K: Int, _ alpha: T, _ A: UnsafePointer<T>, _ lda: Int,
        _ B: UnsafePointer<T>, _ ldb: Int, _ beta: T, _ C: UnsafeMutablePointer<T>, _ ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        if K == 0 {
            if beta == 0 { for i in 0..<M { (C + i * ldc).update(repeating: 0, count: N) } }
            return
        }
        Matmul.blasGemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb,
                        beta: beta, C: C, ldc: ldc)
    }

    /// The weights of one group into `w` [n, g] (leading dimension g), row block by row block: scores of the visible
    /// columns scaled (1/g for relu², 1/√s for softmax), then relu² or the row softmax, entries right of the diagonal
    /// inside a block zeroed (causal). Columns beyond a block's visible ones are never read.
    @inlinable static func weights<T: KernelScalar>(
        quadQ: UnsafePointer<T>, quadK: UnsafePointer<T>, ld: Int, w: UnsafeMutablePointer<T>, n: Int, s: Int, g: Int,
        causal: Bool, scores: Scores
    ) {
        let scale: T = scores == .relu2 ? 1 / T(g) : 1 / T(s).squareRoot()
        for (rb, m, cols) in blocks(n, causal: causal) {
            gemm(false, true, m, cols, s, scale, quadQ + rb * ld, ld, quadK, ld, 0, w + rb * g, g)
            for i in rb..<(rb + m) {
                let row = w + i * g, visible = causal ? i + 1 : n
                switch scores {
                case .relu2:
                    for j in 0..<visible { let r = row[j] > 0 ? row[j] : 0; row[j] = r * r }
                case .softmax:
                    Softmax.forward(row, row, rows: 1, C: visible)
                }
                if visible < cols { (row + visible).update(repeating: 0, count: cols - visible) }
            }
        }
    }

    /// out [B, T, e] and `states` (see the file header) from qk and v.
    @inlinable public static func forward<T: KernelScalar>(
        qk: UnsafePointer<T>, v: UnsafePointer<T>, ldv: Int, out: UnsafeMutablePointer<T>, states: UnsafeMutablePointer<T>,
        B: Int, T L: Int, s: Int, e: Int, g: Int, causal: Bool, scores: Scores
    ) {
        let G = (L + g - 1) / g, ld = 4 * s, se = s * e
        let rowsOf = { (gi: Int) in Swift.min(g, L - gi * g) }
        // (1) The linear part's states.
        if causal {
            Parallel.forEachItem(B * G, totalWork: B * L * se, scratch: 0, T.self) { item, _ in
                let (b, gi) = (item / G, item % G), r0 = b * L + gi * g
                gemm(true, false, s, e, rowsOf(gi), 1 / T(g), qk + r0 * ld + 3 * s, ld, v + r0 * ldv, ldv, 0, states + item * se, e)
            }
            for b in 0..<B {  // exclusive prefix sum over groups: KV_γ = Σ_{γ' < γ} (inclusive sums, then shifted by one)
                let base = states + b * G * se
                for gi in stride(from: 1, to: G, by: 1) { let x = base + gi * se, y = base + (gi - 1) * se; for i in 0..<se { x[i] += y[i] } }
                for gi in stride(from: G - 1, to: 0, by: -1) { (base + gi * se).update(from: base + (gi - 1) * se, count: se) }
                base.update(repeating: 0, count: se)
            }
        } else {
            for b in 0..<B {
                Matmul.gemm(transA: true, transB: false, M: s, N: e, K: L, alpha: 1 / T(L), A: qk + b * L * ld + 3 * s, lda: ld,
                            B: v + b * L * ldv, ldb: ldv, beta: 0, C: states + b * se, ldc: e)
            }
        }
        // (2) Every group: W V + LinQ KV.
        Parallel.forEachItem(B * G, totalWork: B * L * (g * (s + e) + se), scratch: g * g, T.self) { item, w in
            let (b, gi) = (item / G, item % G), n = rowsOf(gi), r0 = b * L + gi * g
            let q = qk + r0 * ld, vr = v + r0 * ldv, o = out + r0 * e
            weights(quadQ: q, quadK: q + 2 * s, ld: ld, w: w, n: n, s: s, g: g, causal: causal, scores: scores)
            for (rb, m, cols) in blocks(n, causal: causal) {
                gemm(false, false, m, e, cols, 1, w + rb * g, g, vr, ldv, 0, o + rb * e, e)
            }
            let kv = states + (causal ? item : b) * se
            if !causal || gi > 0 { gemm(false, false, n, e, s, 1, q + s, ld, kv, e, 1, o, e) }
        }
    }

    /// Gradients of `forward` given dOut [B, T, e]: dqk [B, T, 4, s] and dv [B, T, e], overwritten. `states` as
    /// `forward` left them.
    @inlinable public static func backward<T: KernelScalar>(
        qk: UnsafePointer<T>, v: UnsafePointer<T>, ldv: Int, states: UnsafePointer<T>, dOut: UnsafePointer<T>,
        dqk: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>, B: Int, T L: Int, s: Int, e: Int, g: Int, causal: Bool, scores: Scores
    ) {
        let G = (L + g - 1) / g, ld = 4 * s, se = s * e
        let rowsOf = { (gi: Int) in Swift.min(g, L - gi * g) }
        // R_γ: Σ over later groups of LinQᵀ dOut / g (causal, exclusive suffix sums), or over all rows / T.
        let rCount = causal ? B * G * se : B * se
        let r = UnsafeMutablePointer<T>.allocate(capacity: rCount)
        defer { r.deallocate() }
        if causal {
            Parallel.forEachItem(B * G, totalWork: B * L * se, scratch: 0, T.self) { item, _ in
                let (b, gi) = (item / G, item % G), r0 = b * L + gi * g
                gemm(true, false, s, e, rowsOf(gi), 1 / T(g), qk + r0 * ld + s, ld, dOut + r0 * e, e, 0, r + item * se, e)
            }
            for b in 0..<B {  // exclusive suffix sums: R_γ = Σ_{γ' > γ}
                let base = r + b * G * se
                for gi in stride(from: G - 2, through: 0, by: -1) { let x = base + gi * se, y = base + (gi + 1) * se; for i in 0..<se { x[i] += y[i] } }
                for gi in 0..<(G - 1) { (base + gi * se).update(from: base + (gi + 1) * se, count: se) }
                (base + (G - 1) * se).update(repeating: 0, count: se)
            }
        } else {
            for b in 0..<B {
                Matmul.gemm(transA: true, transB: false, M: s, N: e, K: L, alpha: 1 / T(L), A: qk + b * L * ld + s, lda: ld,
                            B: dOut + b * L * e, ldb: e, beta: 0, C: r + b * se, ldc: e)
            }
        }
        let inverseScale: T = scores == .relu2 ? 1 / T(g) : 1 / T(s).squareRoot()
        Parallel.forEachItem(B * G, totalWork: 2 * B * L * (g * (s + e) + 2 * se), scratch: 2 * g * g, T.self) { item, scratch in
            let (b, gi) = (item / G, item % G), n = rowsOf(gi), r0 = b * L + gi * g
            let q = qk + r0 * ld, vr = v + r0 * ldv, go = dOut + r0 * e, dq = dqk + r0 * ld, dvr = dv + r0 * e
            let kv = states + (causal ? item : b) * se, rg = UnsafePointer(r + (causal ? item : b) * se)
            let w = scratch, dw = scratch + g * g
            // Linear part: dLinQ = dOut KVᵀ, dLinK = V Rᵀ, dV = LinK R.
            gemm(false, true, n, s, e, 1, go, e, kv, e, 0, dq + s, ld)
            gemm(false, true, n, s, e, 1, vr, ldv, rg, e, 0, dq + 3 * s, ld)
            gemm(false, false, n, e, s, 1, q + 3 * s, ld, rg, e, 0, dvr, e)
            // Quadratic part: recompute W; dW = dOut Vᵀ; dS from dW (relu²: dW · 2 relu(x); softmax: its Jacobian);
            // dV += Wᵀ dOut; dQuadQ = dS QuadK, dQuadK = dSᵀ QuadQ (the score scale folded into alpha).
            weights(quadQ: q, quadK: q + 2 * s, ld: ld, w: w, n: n, s: s, g: g, causal: causal, scores: scores)
            let blockList = blocks(n, causal: causal)
            for (rb, m, cols) in blockList {
                gemm(false, true, m, cols, e, 1, go + rb * e, e, vr, ldv, 0, dw + rb * g, g)
                for i in rb..<(rb + m) {
                    let wr = w + i * g, dr = dw + i * g, visible = causal ? i + 1 : n
                    switch scores {
                    case .relu2:
                        for j in 0..<visible { dr[j] = 2 * dr[j] * wr[j].squareRoot() }
                    case .softmax:
                        Softmax.backward(wr, dr, dr, rows: 1, C: visible)
                    }
                    if visible < cols { (dr + visible).update(repeating: 0, count: cols - visible) }
                }
            }
            for (cb, m, _) in blockList {  // key block cb: the query rows that see it start at cb (causal) or 0
                let first = causal ? cb : 0
                gemm(true, false, m, e, n - first, 1, w + first * g + cb, g, go + first * e, e, 1, dvr + cb * e, e)
                gemm(true, false, m, s, n - first, inverseScale, dw + first * g + cb, g, q + first * ld, ld, 0, dq + cb * ld + 2 * s, ld)
            }
            for (rb, m, cols) in blockList {
                gemm(false, false, m, s, cols, inverseScale, dw + rb * g, g, q + 2 * s, ld, 0, dq + rb * ld, ld)
            }
        }
    }
}
