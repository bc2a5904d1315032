// Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs", eq. 4-9; fast-transformers'
// `LinearAttention` and `CausalLinearAttention`) on queries and keys already passed through the feature map φ:
//   out_i = (Σ_j (q_i·k_j) v_j) / (Σ_j q_i·k_j + eps),   j over every position (non-causal) or j ≤ i (causal).
// The normalizer is the same sum with a column of ones appended to v, so every product below runs on the augmented
// v' = [v | 1] of width E + 1, and the state carried across chunks is S' = Σ k_j v'_jᵀ = [S | z] of shape [D, E + 1].
// Causal form, chunked (as in "Transformer Quality in Linear Time" §4 and the FLA chunk kernels): inside a chunk of C
// rows the masked C×C product (Q Kᵀ ⊙ M) V' is quadratic, across chunks the carried state adds Q S'. Cost
// O(T·C·(D + E) + T·D·E), linear in T. The backward walks the chunks twice (dQ forward with S', dK and dV backward with
// R' = Σ_{later} q_i g'_iᵀ), recomputing the chunk products; nothing of size T×T or T×D×E is stored.
// No T×T matrix is ever formed; accumulation is in T (float32 here). The causal chunk products (64×64×65 at the
// defaults) run on the attention kernel's register-blocked micro-GEMM (`Attention.product`, 6×16 blocks, the causal
// band skipped per row block) instead of ~700 small sgemm calls per step at T 512. It reads its right operand
// row-major only, so the chunk's Kᵀ and V'ᵀ are transposed into scratch and the carried states are kept in the
// orientation their reader needs. `--products blas` (Attention.tileProducts) runs the same products through BLAS:
// with this orientation the two measured within noise of each other, and the whole step (with the φ changes) ran
// 1.4-1.7× faster than with main's transposed sgemm calls (BENCHMARKS.md "Issue 15's speed targets").
// Layout: q, k [BH, T, D], v and out [BH, T, E], all contiguous; `denominator` [BH, T] (saved for backward).
// Letters: BH batch·heads, T length, D query/key width, E value width, C chunk.

public enum LinearAttention {
    /// fast-transformers' default: `eps=1e-6` added to the denominator φ(q_i)·Σφ(k_j), which the elu+1 feature map keeps
    /// positive; with φ = relu it may be 0, and the eps makes such a row's output 0 instead of NaN.
    public static let defaultEpsilon = 1e-6
    /// Rows per chunk of the causal form. 64 (= a head size) balances the quadratic C²·D inside a chunk against the
    /// D·E state product per chunk; any chunk gives the same result to rounding (tested).
    public static let defaultChunk = 64

    /// Scratch elements one (batch, head) item needs in `forward` / `backward`.
    @usableFromInline static func forwardScratch(T: Int, D: Int, E: Int, chunk: Int) -> Int {
        T * (E + 1) + D * (E + 1) + chunk * chunk + chunk * (E + 1) + D * chunk
    }
    @usableFromInline static func backwardScratch(T: Int, D: Int, E: Int, chunk: Int) -> Int {
        2 * T * (E + 1) + 2 * D * (E + 1) + 2 * chunk * chunk + D * chunk + (E + 1) * chunk
    }

    /// Writes v' = [v | 1] for T rows (E + 1 columns).
    @inlinable static func augment<T: KernelScalar>(_ v: UnsafePointer<T>, into vp: UnsafeMutablePointer<T>, rows: Int, E: Int) {
        for t in 0..<rows {
            (vp + t * (E + 1)).update(from: v + t * E, count: E)
            vp[t * (E + 1) + E] = 1
        }
    }

    /// Zeroes the strict upper triangle of the n×n block `a` (row-major, leading dimension n): the causal mask j ≤ i.
    @inlinable static func maskUpper<T: KernelScalar>(_ a: UnsafeMutablePointer<T>, _ n: Int) {
        for i in 0..<n where i + 1 < n { (a + i * n + i + 1).update(repeating: 0, count: n - i - 1) }
    }

    /// xT[c, r] = x[r, c] for an r×c block `x` with row stride ldx; xT has row stride `rows`.
    @inlinable static func transpose<T: KernelScalar>(_ x: UnsafePointer<T>, ldx: Int, rows: Int, cols: Int, into xT: UnsafeMutablePointer<T>) {
        for r in 0..<rows { for c in 0..<cols { xT[c * rows + r] = x[r * ldx + c] } }
    }

    /// C[M×N] = a(i, k)·B[k, ·] summed over k < K (+ C when `accumulate`), a(i, k) = A[i·ai + k·ak]: `Attention.product`
    /// (the micro-GEMM, or BLAS under `--products blas`) with alpha 1. For the augmented width N = E + 1 with E a
    /// multiple of 16, the micro-GEMM gets the E columns (full 16-wide panels) and the last (normalizer) column is done
    /// here as vector dots: the micro-GEMM's edge would run it as one scalar dependent chain per row (it measured ~20 %
    /// slower than BLAS at T 512 before this split, in one noisy comparison).
    @inlinable @inline(__always) static func product<T: KernelScalar>(
        _ M: Int, _ N: Int, _ K: Int, A: UnsafePointer<T>, ai: Int, ak: Int, B: UnsafePointer<T>, ldb: Int,
        C: UnsafeMutablePointer<T>, ldc: Int, accumulate: Bool, band: Attention.Band = .none
    ) {
        let E = N - 1
        guard Attention.tileProducts == .microKernel && E >= 16 && E % 16 == 0 && (ai == 1 || ak == 1) && M > 0 && K > 0 else {
            Attention.product(M: M, N: N, K: K, alpha: 1, A: A, ai: ai, ak: ak, B: B, ldb: ldb, accumulate: accumulate, C: C, ldc: ldc, band: band)
            return
        }
        Attention.product(M: M, N: E, K: K, alpha: 1, A: A, ai: ai, ak: ak, B: B, ldb: ldb, accumulate: accumulate, C: C, ldc: ldc, band: band)
        withUnsafeTemporaryAllocation(of: T.self, capacity: K + M) { buffer in
            let column = buffer.baseAddress!, sums = column + K
            for k in 0..<K { column[k] = B[k * ldb + E] }
            if ak == 1 {  // rows of A are contiguous: one dot per row
                for i in 0..<M { sums[i] = Attention.rowDot(A + i * ai, column, K) }
            } else {      // A is read transposed (ai = 1): accumulate its contiguous rows k, scaled by column[k]
                sums.update(repeating: 0, count: M)
                for k in 0..<K {
                    let row = A + k * ak, b = column[k]
                    for i in 0..<M { sums[i] += b * row[i] }
                }
            }
            for i in 0..<M { C[i * ldc + E] = accumulate ? C[i * ldc + E] + sums[i] : sums[i] }
        }
    }

    /// out and denominator (see the file header) for `BH` independent (batch, head) items. Causal with `state`
    /// ([BH, D, E + 1], contiguous): the sequence continues the one the state summarizes and the state is advanced in
    /// place to include these T positions (recurrent decoding: S' is O(1) in the sequence length).
    @inlinable public static func forward<T: KernelScalar>(
        q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, out: UnsafeMutablePointer<T>,
        denominator: UnsafeMutablePointer<T>, state: UnsafeMutablePointer<T>? = nil,
        BH: Int, T L: Int, D: Int, E: Int, causal: Bool, chunk: Int, eps: T
    ) {
        precondition(chunk >= 1 && (state == nil || causal), "linear attention: chunk \(chunk) must be ≥ 1; a state needs causal")
        let E1 = E + 1, C = min(chunk, max(L, 1))
        Parallel.forEachItem(BH, totalWork: BH * L * (C + D) * E1, scratch: forwardScratch(T: L, D: D, E: E, chunk: C), T.self) { bh, scratch in
            let vp = scratch, s = vp + L * E1, a = s + D * E1, num = a + C * C, kT = num + C * E1
            let qb = q + bh * L * D, kb = k + bh * L * D
            augment(v + bh * L * E, into: vp, rows: L, E: E)
            if let state { s.update(from: state + bh * D * E1, count: D * E1) } else { s.update(repeating: 0, count: D * E1) }
            if !causal {  // S' = Kᵀ V' over every position, once
                Matmul.gemm(transA: true, transB: false, M: D, N: E1, K: L, alpha: 1, A: kb, lda: D, B: vp, ldb: E1, beta: 0, C: s, ldc: E1)
            }
            for c0 in stride(from: 0, to: L, by: C) {
                let n = min(C, L - c0)
                let qc = qb + c0 * D, kc = kb + c0 * D, vc = UnsafePointer(vp + c0 * E1)
                if causal {
                    // Inside the chunk: (Q Kᵀ ⊙ M) V'; across chunks: + Q S'; then S' += Kᵀ V'.
                    transpose(kc, ldx: D, rows: n, cols: D, into: kT)
                    product(n, n, D, A: qc, ai: D, ak: 1, B: kT, ldb: n, C: a, ldc: n, accumulate: false, band: .outputs(0))
                    maskUpper(a, n)
                    product(n, E1, n, A: a, ai: n, ak: 1, B: vc, ldb: E1, C: num, ldc: E1, accumulate: false, band: .depthBelow(0))
                    product(n, E1, D, A: qc, ai: D, ak: 1, B: s, ldb: E1, C: num, ldc: E1, accumulate: true)
                    product(D, E1, n, A: kc, ai: 1, ak: D, B: vc, ldb: E1, C: s, ldc: E1, accumulate: true)
                } else {
                    Matmul.gemm(transA: false, transB: false, M: n, N: E1, K: D, alpha: 1, A: qc, lda: D, B: s, ldb: E1, beta: 0, C: num, ldc: E1)
                }
                for i in 0..<n {
                    let row = num + i * E1, t = bh * L + c0 + i
                    let den = row[E] + eps
                    denominator[t] = den
                    let inverse = 1 / den, o = out + t * E
                    for e in 0..<E { o[e] = row[e] * inverse }
                }
            }
            if let state { (state + bh * D * E1).update(from: s, count: D * E1) }
        }
    }

    /// Gradients of `forward` (no state) given dOut [BH, T, E]: dq, dk [BH, T, D] and dv [BH, T, E], overwritten.
    /// With num' = [out·den | den − eps], the output's gradient moves to g' = [dOut / den | −(dOut·out) / den]; then
    /// (causal) dq_i = Σ_{j≤i} (g'_i·v'_j) k_j, dk_j = Σ_{i≥j} (g'_i·v'_j) q_i, dv_j = Σ_{i≥j} (q_i·k_j) g_i.
    @inlinable public static func backward<T: KernelScalar>(
        q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, out: UnsafePointer<T>, denominator: UnsafePointer<T>,
        dOut: UnsafePointer<T>, dq: UnsafeMutablePointer<T>, dk: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>,
        BH: Int, T L: Int, D: Int, E: Int, causal: Bool, chunk: Int
    ) {
        let E1 = E + 1, C = min(chunk, max(L, 1))
        Parallel.forEachItem(BH, totalWork: 2 * BH * L * (C + D) * E1, scratch: backwardScratch(T: L, D: D, E: E, chunk: C), T.self) { bh, scratch in
            let vp = scratch, gp = vp + L * E1, s = gp + L * E1, sT = s + D * E1, p = sT + E1 * D, a = p + C * C
            let kT = a + C * C, vT = kT + D * C
            let qb = q + bh * L * D, kb = k + bh * L * D
            let dqb = dq + bh * L * D, dkb = dk + bh * L * D, dvb = dv + bh * L * E
            augment(v + bh * L * E, into: vp, rows: L, E: E)
            for t in 0..<L {
                let row = bh * L + t, inverse = 1 / denominator[row]
                let g = dOut + row * E, o = out + row * E, gr = gp + t * E1
                var dot: T = 0
                for e in 0..<E { gr[e] = g[e] * inverse; dot += g[e] * o[e] }
                gr[E] = -dot * inverse
            }
            if !causal {
                // S' = Kᵀ V'; dQ = G' S'ᵀ; R' = Qᵀ G'; dK = V' R'ᵀ; dV = K R (R' without its last column).
                Matmul.gemm(transA: true, transB: false, M: D, N: E1, K: L, alpha: 1, A: kb, lda: D, B: vp, ldb: E1, beta: 0, C: s, ldc: E1)
                Matmul.gemm(transA: false, transB: true, M: L, N: D, K: E1, alpha: 1, A: gp, lda: E1, B: s, ldb: E1, beta: 0, C: dqb, ldc: D)
                Matmul.gemm(transA: true, transB: false, M: D, N: E1, K: L, alpha: 1, A: qb, lda: D, B: gp, ldb: E1, beta: 0, C: s, ldc: E1)
                Matmul.gemm(transA: false, transB: true, M: L, N: D, K: E1, alpha: 1, A: vp, lda: E1, B: s, ldb: E1, beta: 0, C: dkb, ldc: D)
                Matmul.gemm(transA: false, transB: false, M: L, N: E, K: D, alpha: 1, A: kb, lda: D, B: s, ldb: E1, beta: 0, C: dvb, ldc: E)
                return
            }
            // Forward over chunks: dQ_c = (G'_c V'_cᵀ ⊙ M) K_c + G'_c S'ᵀ, S' the state before the chunk, kept as S'ᵀ
            // [E + 1, D] (the orientation the product reads).
            sT.update(repeating: 0, count: E1 * D)
            for c0 in stride(from: 0, to: L, by: C) {
                let n = min(C, L - c0)
                let kc = kb + c0 * D, vc = UnsafePointer(vp + c0 * E1), gc = UnsafePointer(gp + c0 * E1), dqc = dqb + c0 * D
                transpose(vc, ldx: E1, rows: n, cols: E1, into: vT)
                product(n, n, E1, A: gc, ai: E1, ak: 1, B: vT, ldb: n, C: p, ldc: n, accumulate: false, band: .outputs(0))
                maskUpper(p, n)
                product(n, D, n, A: p, ai: n, ak: 1, B: kc, ldb: D, C: dqc, ldc: D, accumulate: false, band: .depthBelow(0))
                product(n, D, E1, A: gc, ai: E1, ak: 1, B: sT, ldb: D, C: dqc, ldc: D, accumulate: true)
                product(E1, D, n, A: vc, ai: 1, ak: E1, B: kc, ldb: D, C: sT, ldc: D, accumulate: true)
            }
            // Backward over chunks: dK_c = (G'_c V'_cᵀ ⊙ M)ᵀ Q_c + V'_c R'ᵀ, dV_c = (Q_c K_cᵀ ⊙ M)ᵀ G_c + K_c R,
            // R' = Σ over later chunks of Q_iᵀ G'_i, kept as R' [D, E + 1] in `s` and its transpose in `sT`.
            s.update(repeating: 0, count: D * E1)
            sT.update(repeating: 0, count: E1 * D)
            let lastChunk = (L - 1) / C * C
            for c0 in stride(from: lastChunk, through: 0, by: -C) {
                let n = min(C, L - c0)
                let qc = qb + c0 * D, kc = kb + c0 * D, vc = UnsafePointer(vp + c0 * E1), gc = UnsafePointer(gp + c0 * E1)
                let dkc = dkb + c0 * D, dvc = dvb + c0 * E
                transpose(vc, ldx: E1, rows: n, cols: E1, into: vT)
                transpose(kc, ldx: D, rows: n, cols: D, into: kT)
                product(n, n, E1, A: gc, ai: E1, ak: 1, B: vT, ldb: n, C: p, ldc: n, accumulate: false, band: .outputs(0))
                maskUpper(p, n)
                product(n, n, D, A: qc, ai: D, ak: 1, B: kT, ldb: n, C: a, ldc: n, accumulate: false, band: .outputs(0))
                maskUpper(a, n)
                product(n, D, n, A: p, ai: 1, ak: n, B: qc, ldb: D, C: dkc, ldc: D, accumulate: false, band: .depthAbove(0))
                product(n, D, E1, A: vc, ai: E1, ak: 1, B: sT, ldb: D, C: dkc, ldc: D, accumulate: true)
                product(n, E, n, A: a, ai: 1, ak: n, B: gc, ldb: E1, C: dvc, ldc: E, accumulate: false, band: .depthAbove(0))
                product(n, E, D, A: kc, ai: D, ak: 1, B: s, ldb: E1, C: dvc, ldc: E, accumulate: true)
                product(D, E1, n, A: qc, ai: 1, ak: D, B: gc, ldb: E1, C: s, ldc: E1, accumulate: true)
                transpose(s, ldx: E1, rows: D, cols: E1, into: sT)
            }
        }
    }

    /// The quadratic form with an explicit mask, accumulating in T: the test oracle for `forward` (no state).
    public static func referenceForward<T: KernelScalar>(
        q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, out: UnsafeMutablePointer<T>,
        BH: Int, T L: Int, D: Int, E: Int, causal: Bool, eps: T
    ) {
        for bh in 0..<BH {
            for i in 0..<L {
                var num = [T](repeating: 0, count: E), den: T = 0
                for j in 0..<(causal ? i + 1 : L) {
                    var w: T = 0
                    for d in 0..<D { w += q[(bh * L + i) * D + d] * k[(bh * L + j) * D + d] }
                    den += w
                    for e in 0..<E { num[e] += w * v[(bh * L + j) * E + e] }
                }
                for e in 0..<E { out[(bh * L + i) * E + e] = num[e] / (den + eps) }
            }
        }
    }
}
