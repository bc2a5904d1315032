// The naive attention the fused kernel is tested against (STYLE §4 "reference beside fast"): one full score row per
// query, every mask rule applied through `AttentionShape.visible` and ALiBi through `alibiBias`, softmax with all-masked rows giving 0, then · V.
// Contiguous inputs only; no tiles, no threads, no speed.

extension Attention {
    /// Reference: scores = QKᵀ·scale + mask (hidden entries -inf: causal, key lengths, window), softmax over keys
    /// (all-masked rows → 0), · V. q [B, H, Tq, D], k/v [B, Hkv, Tk, D], out [B, H, Tq, D], all contiguous.
    public static func naiveForward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafeMutablePointer<T>
    ) {
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        var scores = [T](repeating: 0, count: Tk)
        for bh in 0..<s.batch * s.heads {
            let b = bh / s.heads, kvh = b * s.kvHeads + (bh % s.heads) / group
            for i in 0..<Tq {
                var mx = -T.infinity
                for j in 0..<Tk {
                    var x = -T.infinity
                    if s.visible(batch: b, i, j) {
                        x = 0
                        for d in 0..<D { x += q[(bh * Tq + i) * D + d] * k[(kvh * Tk + j) * D + d] }
                        x = x * T(s.scale) + (mask?[i * Tk + j] ?? 0) + T(s.alibiBias(head: bh % s.heads, i, j))
                    }
                    scores[j] = x
                    mx = Swift.max(mx, x)
                }
                var total: T = 0
                for j in 0..<Tk { scores[j] = mx == -T.infinity || scores[j] == -T.infinity ? 0 : T.exp(scores[j] - mx); total += scores[j] }
                for d in 0..<D {
                    var o: T = 0
                    for j in 0..<Tk { o += scores[j] * v[(kvh * Tk + j) * D + d] }
                    out[(bh * Tq + i) * D + d] = total == 0 ? 0 : o / total
                }
            }
        }
    }
}
