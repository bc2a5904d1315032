// Fused scaled-dot-product attention (FlashAttention-2 style, Dao 2023, Algorithms 1-2) on the CPU: query tiles ×
// key tiles with an online softmax, so the T×T score matrix never exists. Forward saves only the output and the
// per-row logsumexp; backward recomputes each score tile. `naiveForward` (softmax(QKᵀ·scale + mask)V, materialized)
// is kept beside it as the reference for tests.
// Layout: q [B, H, Tq, D], k and v [B, Hkv, Tk, D], out [B, H, Tq, D], lse [B, H, Tq]; H is a multiple of Hkv (GQA:
// query head h reads key/value head h / (H / Hkv)). Causal masking is aligned bottom-right (query i sees keys
// j ≤ i + Tk - Tq), as flash-attention ≥ 2.1. The optional additive mask is [Tq, Tk], shared by all heads.
// A query row whose keys are all masked gives output 0 and lse -inf (documented rule; never NaN), and zero gradients.
import RealModule

public struct AttentionShape: Sendable {
    public let batch: Int, heads: Int, kvHeads: Int, queryLength: Int, keyLength: Int, headSize: Int
    public let scale: Double, causal: Bool
    public init(batch: Int, heads: Int, kvHeads: Int, queryLength: Int, keyLength: Int, headSize: Int, scale: Double? = nil, causal: Bool) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "attention: \(heads) query heads is not a multiple of \(kvHeads) key/value heads")
        self.batch = batch; self.heads = heads; self.kvHeads = kvHeads
        self.queryLength = queryLength; self.keyLength = keyLength; self.headSize = headSize
        self.scale = scale ?? 1 / Double(headSize).squareRoot()
        self.causal = causal
    }
    @inlinable func visible(_ i: Int, _ j: Int) -> Bool { !causal || j <= i + keyLength - queryLength }
}

public enum Attention {
    /// Elements of scratch one thread uses for tiles of `tileQ` queries × `tileK` keys: independent of the sequence
    /// lengths, which is what makes the working memory O(T·D) (inputs, output, lse) rather than O(T²).
    public static func workspaceElements(tileQ: Int, tileK: Int, headSize: Int) -> Int {
        tileQ * tileK * 2 + tileQ * headSize + tileQ * 3
    }

    public static func forward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafeMutablePointer<T>, lse: UnsafeMutablePointer<T>, tileQ: Int = 64, tileK: Int = 64
    ) {
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        let scale = T(s.scale)
        let qTiles = (Tq + tileQ - 1) / tileQ
        Parallel.forRows(s.batch * s.heads * qTiles, workPerRow: tileQ * Tk * D) { range in
            let work = UnsafeMutablePointer<T>.allocate(capacity: workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D))
            defer { work.deallocate() }
            let S = work, acc = work + tileQ * tileK * 2, m = acc + tileQ * D, l = m + tileQ
            for item in range {
                let bh = item / qTiles, i0 = (item % qTiles) * tileQ, rowsQ = Swift.min(tileQ, Tq - i0)
                let b = bh / s.heads, h = bh % s.heads, kvh = b * s.kvHeads + h / group
                let qh = q + (bh * Tq + i0) * D, kh = k + kvh * Tk * D, vh = v + kvh * Tk * D
                for r in 0..<rowsQ { m[r] = -T.infinity; l[r] = 0 }
                acc.update(repeating: 0, count: rowsQ * D)
                var j0 = 0
                while j0 < Tk {
                    let colsK = Swift.min(tileK, Tk - j0)
                    if s.causal && j0 > i0 + rowsQ - 1 + Tk - Tq { break }  // every later key is masked for this tile
                    for r in 0..<rowsQ {
                        let i = i0 + r
                        var rowMax = m[r]
                        for c in 0..<colsK {
                            let j = j0 + c
                            var x = -T.infinity
                            if s.visible(i, j) {
                                x = T.kernelDot(qh + r * D, kh + j * D, D) * scale
                                if let mask { x += mask[i * Tk + j] }
                            }
                            S[r * tileK + c] = x
                            if x > rowMax { rowMax = x }
                        }
                        if rowMax == -T.infinity { continue }  // nothing visible yet in this row
                        let correction = m[r] == -T.infinity ? 0 : T.kernelExp(m[r] - rowMax)
                        var rowSum: T = 0
                        let a = acc + r * D
                        for d in 0..<D { a[d] *= correction }
                        for c in 0..<colsK {
                            let p = S[r * tileK + c] == -T.infinity ? 0 : T.kernelExp(S[r * tileK + c] - rowMax)
                            rowSum += p
                            if p != 0 { let vr = vh + (j0 + c) * D; for d in 0..<D { a[d] += p * vr[d] } }
                        }
                        l[r] = l[r] * correction + rowSum
                        m[r] = rowMax
                    }
                    j0 += tileK
                }
                for r in 0..<rowsQ {
                    let o = out + (bh * Tq + i0 + r) * D, a = acc + r * D
                    if l[r] == 0 {
                        for d in 0..<D { o[d] = 0 }
                        lse[bh * Tq + i0 + r] = -T.infinity
                    } else {
                        let inv = 1 / l[r]
                        for d in 0..<D { o[d] = a[d] * inv }
                        lse[bh * Tq + i0 + r] = m[r] + T.log(l[r])
                    }
                }
            }
        }
    }

    /// Gradients from the saved output and lse: dQ, dK, dV (overwritten). Work is split over key/value heads so each
    /// thread owns its dK/dV rows and the dQ rows of the query heads in its group (no atomics, thread-count independent).
    public static func backward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafePointer<T>, lse: UnsafePointer<T>, dOut: UnsafePointer<T>,
        dQ: UnsafeMutablePointer<T>, dK: UnsafeMutablePointer<T>, dV: UnsafeMutablePointer<T>, tileQ: Int = 64, tileK: Int = 64
    ) {
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        let scale = T(s.scale)
        Parallel.forRows(s.batch * s.kvHeads, workPerRow: group * Tq * Tk * D) { range in
            let rowDot = UnsafeMutablePointer<T>.allocate(capacity: tileQ)
            let P = UnsafeMutablePointer<T>.allocate(capacity: tileQ * tileK)
            defer { rowDot.deallocate(); P.deallocate() }
            for bkv in range {
                let b = bkv / s.kvHeads
                let kh = k + bkv * Tk * D, vh = v + bkv * Tk * D
                let dkh = dK + bkv * Tk * D, dvh = dV + bkv * Tk * D
                dkh.update(repeating: 0, count: Tk * D)
                dvh.update(repeating: 0, count: Tk * D)
                for h in (bkv % s.kvHeads) * group..<(bkv % s.kvHeads + 1) * group {
                    let bh = b * s.heads + h
                    let qh = q + bh * Tq * D, oh = out + bh * Tq * D, doh = dOut + bh * Tq * D, dqh = dQ + bh * Tq * D
                    let lh = lse + bh * Tq
                    dqh.update(repeating: 0, count: Tq * D)
                    var i0 = 0
                    while i0 < Tq {
                        let rowsQ = Swift.min(tileQ, Tq - i0)
                        for r in 0..<rowsQ { rowDot[r] = T.kernelDot(doh + (i0 + r) * D, oh + (i0 + r) * D, D) }
                        var j0 = 0
                        while j0 < Tk {
                            let colsK = Swift.min(tileK, Tk - j0)
                            if s.causal && j0 > i0 + rowsQ - 1 + Tk - Tq { break }
                            // P = exp(S - lse), recomputed for this tile.
                            for r in 0..<rowsQ {
                                let i = i0 + r
                                for c in 0..<colsK {
                                    let j = j0 + c
                                    var p: T = 0
                                    if s.visible(i, j) && lh[i] != -T.infinity {
                                        var x = T.kernelDot(qh + i * D, kh + j * D, D) * scale
                                        if let mask { x += mask[i * Tk + j] }
                                        p = x == -T.infinity ? 0 : T.kernelExp(x - lh[i])
                                    }
                                    P[r * tileK + c] = p
                                }
                            }
                            for r in 0..<rowsQ {
                                let i = i0 + r
                                let dor = doh + i * D, qr = qh + i * D, dqr = dqh + i * D
                                for c in 0..<colsK {
                                    let p = P[r * tileK + c]
                                    if p == 0 { continue }
                                    let j = j0 + c
                                    let dvr = dvh + j * D
                                    for d in 0..<D { dvr[d] += p * dor[d] }           // dV += Pᵀ dO
                                    let dp = T.kernelDot(dor, vh + j * D, D)          // dP = dO Vᵀ
                                    let ds = p * (dp - rowDot[r]) * scale             // dS = P ⊙ (dP - rowsum(dO ⊙ O)), scaled
                                    let kr = kh + j * D, dkr = dkh + j * D
                                    for d in 0..<D { dqr[d] += ds * kr[d] }           // dQ += dS K
                                    for d in 0..<D { dkr[d] += ds * qr[d] }           // dK += dSᵀ Q
                                }
                            }
                            j0 += tileK
                        }
                        i0 += tileQ
                    }
                }
            }
        }
    }

    /// Reference: scores = QKᵀ·scale + mask (causal entries -inf), softmax over keys (all-masked rows → 0), · V.
    public static func naiveForward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafeMutablePointer<T>
    ) {
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        var scores = [T](repeating: 0, count: Tk)
        for bh in 0..<s.batch * s.heads {
            let kvh = (bh / s.heads) * s.kvHeads + (bh % s.heads) / group
            for i in 0..<Tq {
                var mx = -T.infinity
                for j in 0..<Tk {
                    var x = -T.infinity
                    if s.visible(i, j) {
                        x = 0
                        for d in 0..<D { x += q[(bh * Tq + i) * D + d] * k[(kvh * Tk + j) * D + d] }
                        x = x * T(s.scale) + (mask?[i * Tk + j] ?? 0)
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
