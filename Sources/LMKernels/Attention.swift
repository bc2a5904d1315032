// Fused scaled-dot-product attention (FlashAttention-2 style, Dao 2023, Algorithms 1-2) on the CPU: query tiles ×
// key tiles with an online softmax, so the T×T score matrix never exists. Forward saves only the output and the
// per-row logsumexp; backward recomputes each score tile. Every tile product is one BLAS call (S = Q·Kᵀ, O += P·V;
// backward dV += Pᵀ·dO, dP = dO·Vᵀ, dQ += dS·K, dK += dSᵀ·Q); the softmax work between them is vectorized loops.
// `naiveForward` (softmax(QKᵀ·scale + mask)V, materialized) is kept beside it as the reference for tests.
// Layout: q [B, H, Tq, D], k and v [B, Hkv, Tk, D], out [B, H, Tq, D], lse [B, H, Tq]; H is a multiple of Hkv (GQA:
// query head h reads key/value head h / (H / Hkv)). Causal masking is aligned bottom-right (query i sees keys
// j ≤ i + Tk - Tq), as flash-attention ≥ 2.1. The optional additive mask is [Tq, Tk], shared by all heads.
// A query row whose keys are all masked gives output 0 and lse -inf (documented rule; never NaN), and zero gradients.
import Foundation
import RealModule
import _CBLAS

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
    /// Keys 0..<end are the only ones any of the query rows `0..<rowEnd` can see (causal: the last row's horizon).
    @inlinable func keyEnd(rowEnd: Int) -> Int { causal ? Swift.max(0, Swift.min(keyLength, rowEnd + keyLength - queryLength)) : keyLength }
}

public enum Attention {
    /// Default query and key tile sizes (measured with `lmkit bench attention --tile-q --tile-k`, BENCHMARKS.md
    /// "GPT and attention"). Settable so benchmarks can compare; every value gives the same results within rounding.
    nonisolated(unsafe) public static var defaultTileQ = 64, defaultTileK = 64

    /// Elements of scratch one thread uses for tiles of `tileQ` queries × `tileK` keys: independent of the sequence
    /// lengths, which is what makes the working memory O(T·D) (inputs, output, lse) rather than O(T²).
    /// Forward: S/P tile, output accumulator, running max and sum. Backward: P tile, dP/dS tile, rowdot(dO, O).
    public static func workspaceElements(tileQ: Int, tileK: Int, headSize: Int) -> Int {
        tileQ * tileK * 2 + tileQ * headSize + tileQ * 3
    }

    /// Runs `body(item, scratch)` for every item in `0..<count`, handing items out in order to whichever thread is
    /// free (causal tiles differ in cost, so a static split is unbalanced). Each item is computed by one thread with
    /// the same code, so results do not depend on the thread count. OpenBLAS is held to one thread meanwhile: the tile
    /// products are small, and two of our threads each waking BLAS threads would oversubscribe the cores.
    @inlinable static func forEachItem<T: KernelScalar>(
        _ count: Int, totalWork: Int, scratch: Int, _: T.Type, _ body: (Int, UnsafeMutablePointer<T>) -> Void
    ) {
        let threads = Parallel.threadCount
        let lanes = threads > 1 && count > 1 && totalWork >= Parallel.minimumWork ? Swift.min(threads, count) : 1
        if threads > 1 { openblas_set_num_threads(1) }
        defer { if threads > 1 { openblas_set_num_threads(Int32(threads)) } }
        let lock = NSLock()
        var next = 0
        func lane() {
            let work = UnsafeMutablePointer<T>.allocate(capacity: scratch)
            defer { work.deallocate() }
            while true {
                lock.lock(); let item = next; next += 1; lock.unlock()
                if item >= count { return }
                body(item, work)
            }
        }
        if lanes == 1 { lane() } else { DispatchQueue.concurrentPerform(iterations: lanes) { _ in lane() } }
    }

    /// Puts the score tile rows in their final form: adds the additive mask and sets keys past the causal horizon to
    /// -inf. `S` is rows × cols with leading dimension `ld`, for query rows i0… and keys j0….
    @inlinable @inline(__always) static func maskTile<T: KernelScalar>(
        _ s: AttentionShape, _ S: UnsafeMutablePointer<T>, ld: Int, rows: Int, cols: Int, i0: Int, j0: Int, mask: UnsafePointer<T>?
    ) {
        let offset = s.keyLength - s.queryLength
        let partlyHidden = s.causal && j0 + cols - 1 > i0 + offset  // the tile's first row misses its last key
        if mask == nil && !partlyHidden { return }
        for r in 0..<rows {
            let row = S + r * ld, i = i0 + r
            if let mask {
                let mr = mask + i * s.keyLength + j0
                for c in 0..<cols { row[c] += mr[c] }
            }
            if partlyHidden {
                let firstHidden = Swift.max(0, i + offset + 1 - j0)
                if firstHidden < cols { for c in firstHidden..<cols { row[c] = -T.infinity } }
            }
        }
    }

    @inlinable public static func forward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafeMutablePointer<T>, lse: UnsafeMutablePointer<T>, tileQ: Int? = nil, tileK: Int? = nil
    ) {
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads, BH = s.batch * s.heads
        let scale = T(s.scale)
        let qTiles = (Tq + tileQ - 1) / tileQ
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        // Items run the costliest query tiles (last, under causal) first across all heads, for load balance.
        forEachItem(BH * qTiles, totalWork: BH * Tq * Tk * D, scratch: scratch, T.self) { item, work in
            let bh = item % BH, i0 = (qTiles - 1 - item / BH) * tileQ, rowsQ = Swift.min(tileQ, Tq - i0)
            let b = bh / s.heads, h = bh % s.heads, kvh = b * s.kvHeads + h / group
            let qh = q + (bh * Tq + i0) * D, kh = k + kvh * Tk * D, vh = v + kvh * Tk * D
            let S = work, acc = work + tileQ * tileK * 2, m = acc + tileQ * D, l = m + tileQ
            for r in 0..<rowsQ { m[r] = -T.infinity; l[r] = 0 }
            acc.update(repeating: 0, count: rowsQ * D)
            let keyEnd = s.keyEnd(rowEnd: i0 + rowsQ)  // later key tiles are masked for every row here
            var j0 = 0
            while j0 < keyEnd {
                let colsK = Swift.min(tileK, keyEnd - j0)
                Matmul.gemm(transA: false, transB: true, M: rowsQ, N: colsK, K: D, alpha: scale, A: qh, lda: D,
                            B: kh + j0 * D, ldb: D, beta: 0, C: S, ldc: tileK)
                maskTile(s, S, ld: tileK, rows: rowsQ, cols: colsK, i0: i0, j0: j0, mask: mask)
                for r in 0..<rowsQ {
                    let row = S + r * tileK
                    let newMax = Swift.max(m[r], T.kernelMax(row, colsK))
                    if newMax == -T.infinity {  // nothing visible yet in this row: P row 0, accumulator stays 0
                        row.update(repeating: 0, count: colsK)
                        continue
                    }
                    for c in 0..<colsK { row[c] = T.kernelExp(row[c] - newMax) }  // exp(-inf) = 0 for masked keys
                    let correction = T.kernelExp(m[r] - newMax)                  // 0 when m was -inf
                    if correction != 1 { let a = acc + r * D; for d in 0..<D { a[d] *= correction } }
                    l[r] = l[r] * correction + T.kernelSum(row, colsK)
                    m[r] = newMax
                }
                Matmul.gemm(transA: false, transB: false, M: rowsQ, N: D, K: colsK, alpha: 1, A: S, lda: tileK,
                            B: vh + j0 * D, ldb: D, beta: 1, C: acc, ldc: D)
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

    /// Gradients from the saved output and lse: dQ, dK, dV (overwritten). Work is split over key/value heads so each
    /// thread owns its dK/dV rows and the dQ rows of the query heads in its group (no atomics, thread-count independent).
    @inlinable public static func backward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafePointer<T>, lse: UnsafePointer<T>, dOut: UnsafePointer<T>,
        dQ: UnsafeMutablePointer<T>, dK: UnsafeMutablePointer<T>, dV: UnsafeMutablePointer<T>,
        tileQ: Int? = nil, tileK: Int? = nil
    ) {
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        let scale = T(s.scale)
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        forEachItem(s.batch * s.kvHeads, totalWork: s.batch * s.heads * Tq * Tk * D, scratch: scratch, T.self) { bkv, work in
            let P = work, dS = work + tileQ * tileK, rowDot = dS + tileQ * tileK
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
                    let qt = qh + i0 * D, dot = doh + i0 * D, dqt = dqh + i0 * D
                    for r in 0..<rowsQ { rowDot[r] = T.kernelDot(dot + r * D, oh + (i0 + r) * D, D) }
                    let keyEnd = s.keyEnd(rowEnd: i0 + rowsQ)
                    var j0 = 0
                    while j0 < keyEnd {
                        let colsK = Swift.min(tileK, keyEnd - j0)
                        // P = exp(S - lse), recomputed for this tile (rows with lse -inf saw no key: P row 0).
                        Matmul.gemm(transA: false, transB: true, M: rowsQ, N: colsK, K: D, alpha: scale, A: qt, lda: D,
                                    B: kh + j0 * D, ldb: D, beta: 0, C: P, ldc: tileK)
                        maskTile(s, P, ld: tileK, rows: rowsQ, cols: colsK, i0: i0, j0: j0, mask: mask)
                        for r in 0..<rowsQ {
                            let row = P + r * tileK, rowLse = lh[i0 + r]
                            if rowLse == -T.infinity { row.update(repeating: 0, count: colsK); continue }
                            for c in 0..<colsK { row[c] = T.kernelExp(row[c] - rowLse) }
                        }
                        // dV += Pᵀ·dO
                        Matmul.gemm(transA: true, transB: false, M: colsK, N: D, K: rowsQ, alpha: 1, A: P, lda: tileK,
                                    B: dot, ldb: D, beta: 1, C: dvh + j0 * D, ldc: D)
                        // dP = dO·Vᵀ, then dS = P ⊙ (dP - rowdot(dO, O)) · scale (the scale of S = scale·QKᵀ)
                        Matmul.gemm(transA: false, transB: true, M: rowsQ, N: colsK, K: D, alpha: 1, A: dot, lda: D,
                                    B: vh + j0 * D, ldb: D, beta: 0, C: dS, ldc: tileK)
                        for r in 0..<rowsQ {
                            let pr = P + r * tileK, dr = dS + r * tileK, rd = rowDot[r]
                            for c in 0..<colsK { dr[c] = pr[c] * (dr[c] - rd) * scale }
                        }
                        // dQ += dS·K;  dK += dSᵀ·Q
                        Matmul.gemm(transA: false, transB: false, M: rowsQ, N: D, K: colsK, alpha: 1, A: dS, lda: tileK,
                                    B: kh + j0 * D, ldb: D, beta: 1, C: dqt, ldc: D)
                        Matmul.gemm(transA: true, transB: false, M: colsK, N: D, K: rowsQ, alpha: 1, A: dS, lda: tileK,
                                    B: qt, ldb: D, beta: 1, C: dkh + j0 * D, ldc: D)
                        j0 += tileK
                    }
                    i0 += tileQ
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
