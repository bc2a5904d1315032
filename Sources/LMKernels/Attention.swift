// Fused scaled-dot-product attention on the CPU, FlashAttention-2 style (Dao 2023, Alg. 1-2): query × key tiles with an
// online softmax, so no T×T matrix exists; forward saves out and logsumexp, backward recomputes score tiles. Masks are
// applied per tile (causal, per-row key lengths, sliding window, an additive [Tq, Tk] mask); key ranges no query row of
// a tile can see are never visited. Tile products: Attention+TileProducts.swift; exp: SIMDMath+Exp.swift; the work
// queue: Parallel.forEachItem; the test reference: Attention+Reference.swift.
// Layout: q [B, H, Tq, D], k/v [B, Hkv, Tk, D], out/dOut [B, H, Tq, D] and dQ/dK/dV, each through its own strides
// (unit stride along D; GQA: head h reads h / (H / Hkv)), lse [B, H, Tq] contiguous; causal is bottom-right (i sees
// j ≤ i + Tk - Tq); all-masked rows give 0 and lse -inf.
import Foundation
import RealModule

/// Sizes and masking of one attention call. Query i of batch row b sees key j iff every rule given holds:
/// `causal`: j ≤ i' with i' = i + Tk − Tq (bottom-right aligned); `keyLengths`: j < keyLengths[b] (right padding);
/// `window` (causal only): j > i' − window or j < globalTokens (Longformer-style global keys: outside the window rule,
/// still under the causal one); `blockLength` (block-causal, not with `causal`; Tk ≥ Tq):
/// ⌊j / blockLength⌋ ≤ ⌊i' / blockLength⌋, bidirectional inside a block and causal across blocks (block diffusion,
/// BD3-LM). The additive mask of `Attention.forward` and the ALiBi bias (`alibiSlopes`) apply on top.
public struct AttentionShape: Sendable {
    public let batch: Int, heads: Int, kvHeads: Int, queryLength: Int, keyLength: Int, headSize: Int
    public let scale: Double, causal: Bool
    /// Visible keys per batch row (B entries, each in 0...Tk); nil: all Tk. A row of length 0 gives zeros.
    public let keyLengths: [Int]?
    /// Sliding-window size (≥ 1, with `causal`): query i sees the `window` keys ending at i'. nil: no window.
    public let window: Int?
    /// Block-causal attention's block length (≥ 1, without `causal`): query i sees the keys of its own block and of
    /// every earlier one, blocks counted from position 0 in key positions (i' = i + Tk − Tq). nil: no block rule.
    public let blockLength: Int?
    /// Keys 0..<globalTokens are exempt from the window (Longformer's global attention on a prefix, e.g. a prompt or
    /// attention sinks). 0: none. In a causal call a global key j is still seen only by queries i' ≥ j; a global query
    /// i < globalTokens sees every j ≤ i, all of which are global, so the global prefix attends to itself fully.
    public let globalTokens: Int
    /// ALiBi (Press et al. 2022): head h adds −alibiSlopes[h]·|i'' − j''| to its scores (after `scale`), where i'' and
    /// j'' are the positions of query i and key j: i'' = i + Tk − Tq + keyGap, j'' = j (global keys, j < globalTokens) or
    /// j + keyGap. Causal attention only sees j'' ≤ i'', where this is the paper's −m·(i − j); bidirectional calls get
    /// the symmetric form. H entries; nil: no bias. Applied per tile, never as a [T, T] tensor.
    public let alibiSlopes: [Double]?
    /// Positions missing from the keys between the global prefix and the rest (a rolling KV cache dropped them): key
    /// j ≥ globalTokens is at position j + keyGap. Changes only ALiBi's distances to global keys; the window and causal
    /// rules only compare queries with keys after the gap, whose distances are unchanged.
    public let keyGap: Int

    public init(batch: Int, heads: Int, kvHeads: Int, queryLength: Int, keyLength: Int, headSize: Int, scale: Double? = nil,
                causal: Bool, keyLengths: [Int]? = nil, window: Int? = nil, blockLength: Int? = nil, globalTokens: Int = 0,
                alibiSlopes: [Double]? = nil, keyGap: Int = 0) {
        precondition(kvHeads > 0 && heads % kvHeads == 0, "attention: \(heads) query heads is not a multiple of \(kvHeads) key/value heads")
        if let keyLengths {
            precondition(keyLengths.count == batch && keyLengths.allSatisfy { (0...keyLength).contains($0) },
                         "attention: keyLengths \(keyLengths) must have \(batch) entries in 0...\(keyLength)")
        }
        if let window { precondition(causal && window >= 1, "attention: a sliding window (\(window)) needs causal attention and window ≥ 1") }
        self.batch = batch; self.heads = heads; self.kvHeads = kvHeads
        self.queryLength = queryLength; self.keyLength = keyLength; self.headSize = headSize
        self.scale = scale ?? 1 / Double(headSize).squareRoot()
        self.causal = causal
        self.keyLengths = keyLengths
        self.window = window
        if let blockLength {
            precondition(!causal && window == nil && blockLength >= 1 && keyLength >= queryLength,
                         "attention: block-causal attention (block \(blockLength)) needs causal false, no window and Tk (\(keyLength)) ≥ Tq (\(queryLength))")
        }
        self.blockLength = blockLength
        precondition(globalTokens >= 0 && keyGap >= 0, "attention: globalTokens (\(globalTokens)) and keyGap (\(keyGap)) must be ≥ 0")
        if let alibiSlopes { precondition(alibiSlopes.count == heads, "attention: \(alibiSlopes.count) ALiBi slopes for \(heads) heads") }
        self.globalTokens = globalTokens
        self.alibiSlopes = alibiSlopes
        self.keyGap = keyGap
    }

    /// The ALiBi term of head h for query i and key j: −slope·|i'' − j''| (positions as `alibiSlopes` defines them).
    @inlinable public func alibiBias(head h: Int, _ i: Int, _ j: Int) -> Double {
        guard let alibiSlopes else { return 0 }
        let distance = i + keyLength - queryLength + keyGap - (j < globalTokens ? j : j + keyGap)
        return -alibiSlopes[h] * Double(Swift.abs(distance))
    }

    /// The first key past query i's block (block-causal attention): (⌊i' / blockLength⌋ + 1)·blockLength.
    @inlinable public func blockEnd(_ i: Int, _ blockLength: Int) -> Int {
        ((i + keyLength - queryLength) / blockLength + 1) * blockLength
    }

    /// Whether query i of batch row b sees key j (the additive mask aside).
    @inlinable public func visible(batch b: Int, _ i: Int, _ j: Int) -> Bool {
        let diagonal = i + keyLength - queryLength
        if let keyLengths, j >= keyLengths[b] { return false }
        if causal && j > diagonal { return false }
        if let window, j <= diagonal - window, j >= globalTokens { return false }
        if let blockLength, j >= blockEnd(i, blockLength) { return false }
        return true
    }

    /// The keys any of the query rows `rows` of batch row b can see, as two spans: the global keys before the window
    /// (empty unless `globalTokens` > 0 and the window has moved past them), then the window's keys. Later keys are past
    /// the last row's causal horizon or the row's length, keys between the spans before the first row's window. Tiles
    /// outside the spans are never computed, so a window costs O(Tq·(window + globalTokens)) however long the keys.
    /// The window span starts at a multiple of 16 (≤ 15 masked keys more) so its tiles are whole micro-kernel panels:
    /// an unaligned start (i0 − window + 1) left 15 columns to the scalar edge loop in every tile row of S and dP.
    @inlinable public func keySpans(batch b: Int, rows: Range<Int>) -> (globals: Range<Int>, window: Range<Int>) {
        let offset = keyLength - queryLength
        var end = keyLengths?[b] ?? keyLength
        if causal { end = Swift.min(end, rows.upperBound + offset) }
        if let blockLength, !rows.isEmpty { end = Swift.min(end, blockEnd(rows.upperBound - 1, blockLength)) }
        var start = window.map { Swift.max(0, rows.lowerBound + offset - $0 + 1) / 16 * 16 } ?? 0
        let globalEnd = Swift.min(globalTokens, end)
        if globalEnd >= start { start = 0 }  // the global prefix reaches the window: one span
        let globals = 0..<(start == 0 ? 0 : globalEnd)
        return (globals, start..<Swift.max(start, end))
    }
}

/// Element strides of a [B, heads, T, D] attention operand whose last axis is contiguous: element (b, h, t, d) is at
/// `b·batch + h·head + t·row + d`. A KV cache [B, Hkv, capacity, D] viewed up to its length, or q/k/v sliced out of a
/// fused [B, T, H + 2·Hkv, D] projection, is read this way without a copy.
public struct AttentionStrides: Sendable, Equatable {
    public let batch: Int, head: Int, row: Int
    public init(batch: Int, head: Int, row: Int) { self.batch = batch; self.head = head; self.row = row }
    /// The strides of a contiguous [B, heads, length, headSize] buffer.
    public init(heads: Int, length: Int, headSize: Int) { self.init(batch: heads * length * headSize, head: length * headSize, row: headSize) }
}

/// How the operands lie in memory (lse is always contiguous). Reading q/k/v out of a fused [B, T, H + 2·Hkv, D]
/// projection, writing out as [B, T, H, D] (the next projection's input rows) and dQ/dK/dV into one gradient of that
/// fused projection leaves no head transposes or gradient gathers around the kernel.
public struct AttentionLayout: Sendable, Equatable {
    public let q: AttentionStrides, k: AttentionStrides, v: AttentionStrides
    /// out, and dOut in backward.
    public let out: AttentionStrides
    public let dQ: AttentionStrides, dK: AttentionStrides, dV: AttentionStrides
    /// Any operand not given is contiguous: q, out, dQ [B, H, Tq, D]; k, v, dK, dV [B, Hkv, Tk, D].
    public init(_ s: AttentionShape, q: AttentionStrides? = nil, k: AttentionStrides? = nil, v: AttentionStrides? = nil,
                out: AttentionStrides? = nil, dQ: AttentionStrides? = nil, dK: AttentionStrides? = nil, dV: AttentionStrides? = nil) {
        let queries = AttentionStrides(heads: s.heads, length: s.queryLength, headSize: s.headSize)
        let kv = AttentionStrides(heads: s.kvHeads, length: s.keyLength, headSize: s.headSize)
        self.q = q ?? queries; self.k = k ?? kv; self.v = v ?? kv
        self.out = out ?? queries
        self.dQ = dQ ?? queries; self.dK = dK ?? kv; self.dV = dV ?? kv
    }
}

public enum Attention {
    /// Default query and key tile sizes (measured with `lmkit bench attention --tile-q --tile-k`, BENCHMARKS.md
    /// "GPT and attention"). Settable so benchmarks can compare; every value gives the same results within rounding.
    nonisolated(unsafe) public static var defaultTileQ = 64, defaultTileK = 256

    /// Query lengths up to this read keys and values where they lie (`keyProduct`, dot products per key) instead of
    /// through a Kᵀ/Vᵀ copy: the copy is O(Tk·D) per call, which for one decoded token is as much work as the
    /// attention itself and O(T²) over a generation. Longer queries amortize the copy over the micro-kernel's speed.
    /// Settable so tests and benchmarks can force either path (BENCHMARKS.md "Strided and padded attention").
    nonisolated(unsafe) public static var inPlaceQueryLength = 8

    /// Whether a call of this shape reads keys and values in place (no transposed copies).
    @inlinable public static func readsKeysInPlace(_ s: AttentionShape) -> Bool { s.queryLength <= inPlaceQueryLength }

    /// Elements of scratch one thread uses for tiles of `tileQ` queries × `tileK` keys: independent of the sequence
    /// lengths, which is what makes the working memory O(T·D) (inputs, output, lse) rather than O(T²).
    /// Forward: S/P tile, output accumulator, running max and sum. Backward: P tile, dP/dS tile, rowdot(dO, O).
    public static func workspaceElements(tileQ: Int, tileK: Int, headSize: Int) -> Int {
        tileQ * scoreStride(tileK) * 2 + tileQ * headSize + tileQ * 3
    }

    /// Leading dimension of the score tiles: tileK plus 8, because backward reads them column-wise (Pᵀ·dO, dSᵀ·Q)
    /// and a row stride of a multiple of 1 KiB (tileK = 256) maps every row to the same few L1 sets.
    @inlinable static func scoreStride(_ tileK: Int) -> Int { tileK + 8 }

    /// C = alpha · A·Xᵀ for a score-shaped tile (S = Q·Kᵀ, dP = dO·Vᵀ): from the stored transpose `transposed` (row
    /// stride ldT) with the micro-kernel, or, without one, from the rows of X in place. Entries j > i + band may be
    /// left unwritten.
    @inlinable @inline(__always) static func scores<T: KernelScalar>(
        M: Int, N: Int, D: Int, alpha: T, A: UnsafePointer<T>, lda: Int, rows X: UnsafePointer<T>, ldx: Int,
        transposed: UnsafePointer<T>?, ldT: Int, C: UnsafeMutablePointer<T>, ldc: Int, band: Int
    ) {
        if let transposed {
            product(M: M, N: N, K: D, alpha: alpha, A: A, ai: lda, ak: 1, B: transposed, ldb: ldT, accumulate: false, C: C, ldc: ldc,
                    band: .outputs(band))
        } else {
            keyProduct(M: M, N: N, K: D, alpha: alpha, A: A, lda: lda, B: X, ldb: ldx, C: C, ldc: ldc, band: band)
        }
    }

    /// max over p[0..<n] (n > 0) for a score row. Float takes a SIMD16 compare-and-blend loop: `kernelMax`'s NaN
    /// bookkeeping cost 7 % of the kernel (perf), and here a NaN score reaches the output anyway through exp(NaN).
    @inlinable @inline(__always) static func rowMax<T: KernelScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int) -> T {
        guard T.self == Float.self, n >= 16 else { return T.kernelMax(p, n) }
        let f = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
        var m = SIMDMath.load(f)
        var i = 16
        while i + 16 <= n { let x = SIMDMath.load(f + i); m.replace(with: x, where: x .> m); i += 16 }
        var best = m.max()
        while i < n { if f[i] > best { best = f[i] }; i += 1 }
        return unsafeBitCast(best, to: T.self)
    }
    /// Puts the score tile rows in their final form: adds the additive mask and the ALiBi bias of head `head`, and sets
    /// keys past the causal horizon, before the sliding window (global keys aside) or in a later block (block-causal)
    /// to -inf (key lengths need nothing here: tiles end at the row's length). `S` is rows × cols with leading
    /// dimension `ld`, for query rows i0… and keys j0…. Backward calls it too, so the bias enters the recomputed P.
    @inlinable @inline(__always) static func maskTile<T: KernelScalar>(
        _ s: AttentionShape, _ S: UnsafeMutablePointer<T>, ld: Int, rows: Int, cols: Int, i0: Int, j0: Int, head: Int, mask: UnsafePointer<T>?
    ) {
        let offset = s.keyLength - s.queryLength
        let partlyHidden = s.causal && j0 + cols - 1 > i0 + offset  // the tile's first row misses its last key
        let partlyBefore = s.window.map { j0 < i0 + rows + offset - $0 && j0 + cols > s.globalTokens } ?? false  // its last row misses a key
        let partlyInLaterBlock = s.blockLength.map { j0 + cols > s.blockEnd(i0, $0) } ?? false  // its first row misses its last key
        let slope = s.alibiSlopes.map { T($0[head]) }
        if mask == nil && slope == nil && !partlyHidden && !partlyBefore && !partlyInLaterBlock { return }
        let globalColumns = Swift.min(cols, Swift.max(0, s.globalTokens - j0))  // columns of global keys
        for r in 0..<rows {
            let row = S + r * ld, i = i0 + r
            if let mask {
                let mr = mask + i * s.keyLength + j0
                for c in 0..<cols { row[c] += mr[c] }
            }
            if let slope {  // −m·|i'' − j''|: key positions run j0 + c (+ keyGap past the global prefix)
                let query = i + offset + s.keyGap
                for c in 0..<globalColumns { row[c] -= slope * T(Swift.abs(query - (j0 + c))) }
                for c in globalColumns..<cols { row[c] -= slope * T(Swift.abs(query - (j0 + c + s.keyGap))) }
            }
            if partlyHidden {
                let firstHidden = Swift.max(0, i + offset + 1 - j0)
                if firstHidden < cols { for c in firstHidden..<cols { row[c] = -T.infinity } }
            }
            if partlyBefore, let window = s.window {
                let firstVisible = Swift.min(cols, Swift.max(0, i + offset - window + 1 - j0))
                if globalColumns < firstVisible { for c in globalColumns..<firstVisible { row[c] = -T.infinity } }
            }
            if partlyInLaterBlock, let blockLength = s.blockLength {
                let firstHidden = Swift.max(0, s.blockEnd(i, blockLength) - j0)
                if firstHidden < cols { for c in firstHidden..<cols { row[c] = -T.infinity } }
            }
        }
    }

    /// out = softmax(scale·q·kᵀ + masks)·v and lse = log Σ exp(scale·q·kᵀ + masks) per query row (-inf, with out 0,
    /// for a row that sees no key). `layout`: strides of q, k, v (nil: contiguous). Items are (query tile, head).
    @inlinable public static func forward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafeMutablePointer<T>, lse: UnsafeMutablePointer<T>, layout: AttentionLayout? = nil, tileQ: Int? = nil, tileK: Int? = nil
    ) {
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK, ldS = scoreStride(tileK)
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads, BH = s.batch * s.heads
        let L = layout ?? AttentionLayout(s)
        let scale = T(s.scale)
        let qTiles = (Tq + tileQ - 1) / tileQ
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        let ldT = transposedStride(Tk)
        let kT = readsKeysInPlace(s) ? nil : UnsafeMutablePointer<T>.allocate(capacity: s.batch * s.kvHeads * ldT * D)
        defer { kT?.deallocate() }
        if let kT { transposeHeads(k, L.k, kT, batch: s.batch, heads: s.kvHeads, T: Tk, D: D) }
        // Items run the costliest query tiles (last, under causal) first across all heads, for load balance.
        Parallel.forEachItem(BH * qTiles, totalWork: BH * Tq * Tk * D, scratch: scratch, T.self) { item, work in
            let bh = item % BH, i0 = (qTiles - 1 - item / BH) * tileQ, rowsQ = Swift.min(tileQ, Tq - i0)
            let b = bh / s.heads, h = bh % s.heads, kvHead = h / group
            let qh = q + b * L.q.batch + h * L.q.head + i0 * L.q.row
            let kh = k + b * L.k.batch + kvHead * L.k.head, vh = v + b * L.v.batch + kvHead * L.v.head
            let kTh = kT.map { UnsafePointer($0 + (b * s.kvHeads + kvHead) * ldT * D) }
            let S = work, acc = work + tileQ * ldS * 2, m = acc + tileQ * D, l = m + tileQ
            for r in 0..<rowsQ { m[r] = -T.infinity; l[r] = 0 }
            acc.update(repeating: 0, count: rowsQ * D)
            let spans = s.keySpans(batch: b, rows: i0..<i0 + rowsQ)  // other key tiles are masked for every row here
            var j0 = spans.globals.isEmpty ? spans.window.lowerBound : 0
            while j0 < spans.window.upperBound {
                let spanEnd = j0 < spans.globals.upperBound ? spans.globals.upperBound : spans.window.upperBound
                let colsK = Swift.min(tileK, spanEnd - j0)
                let band = s.causal ? i0 + Tk - Tq - j0 : Int.max / 4  // row r sees columns c ≤ r + band
                scores(M: rowsQ, N: colsK, D: D, alpha: scale, A: qh, lda: L.q.row, rows: kh + j0 * L.k.row, ldx: L.k.row,
                       transposed: kTh.map { $0 + j0 }, ldT: ldT, C: S, ldc: ldS, band: band)  // S = scale·Q·Kᵀ
                maskTile(s, S, ld: ldS, rows: rowsQ, cols: colsK, i0: i0, j0: j0, head: h, mask: mask)
                for r in 0..<rowsQ {
                    let row = S + r * ldS
                    let newMax = Swift.max(m[r], rowMax(row, colsK))
                    if newMax == -T.infinity {  // nothing visible yet in this row: P row 0, accumulator stays 0
                        row.update(repeating: 0, count: colsK)
                        continue
                    }
                    let rowSum = T.kernelExpShifted(row, row, colsK, by: newMax)  // exp(-inf) = 0 for masked keys
                    let correction = T.kernelExp(m[r] - newMax)                   // 0 when m was -inf
                    if correction != 1 { let a = acc + r * D; for d in 0..<D { a[d] *= correction } }
                    l[r] = l[r] * correction + rowSum
                    m[r] = newMax
                }
                product(M: rowsQ, N: D, K: colsK, alpha: 1, A: S, ai: ldS, ak: 1, B: vh + j0 * L.v.row, ldb: L.v.row,
                        accumulate: true, C: acc, ldc: D, band: .depthBelow(band))  // O += P·V
                j0 += colsK
                if j0 == spans.globals.upperBound { j0 = spans.window.lowerBound }  // over the gap to the window
            }
            for r in 0..<rowsQ {
                let o = out + b * L.out.batch + h * L.out.head + (i0 + r) * L.out.row, a = acc + r * D
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

    /// Gradients from the saved output and lse: dQ [B, H, Tq, D], dK and dV [B, Hkv, Tk, D], every element overwritten,
    /// laid out as `layout` says (dOut as out). Items are (key/value head, part): part p
    /// takes query tiles p, p + parts, p + 2·parts, … of every query head in the group, owns their dQ rows, and
    /// accumulates dK/dV into its own buffer (part 0: dK/dV themselves); the parts are then summed in a fixed order.
    /// No atomics; `parts` depends on the shape only, so results do not depend on the thread count. With one item per
    /// head, 1-5 heads leave threads idle (a single head ran on one thread); parts make the items small enough to
    /// balance. Extra memory: (parts − 1) dK/dV-sized buffers, O(T·D).
    @inlinable public static func backward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafePointer<T>, lse: UnsafePointer<T>, dOut: UnsafePointer<T>,
        dQ: UnsafeMutablePointer<T>, dK: UnsafeMutablePointer<T>, dV: UnsafeMutablePointer<T>,
        layout: AttentionLayout? = nil, tileQ: Int? = nil, tileK: Int? = nil
    ) {
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK, ldS = scoreStride(tileK)
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        let L = layout ?? AttentionLayout(s)
        let scale = T(s.scale)
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        let ldT = transposedStride(Tk)
        let kvCount = s.batch * s.kvHeads, headElements = Tk * D
        let kT = readsKeysInPlace(s) ? nil : UnsafeMutablePointer<T>.allocate(capacity: 2 * kvCount * ldT * D)
        defer { kT?.deallocate() }
        let vT = kT.map { $0 + kvCount * ldT * D }
        if let kT, let vT {
            transposeHeads(k, L.k, kT, batch: s.batch, heads: s.kvHeads, T: Tk, D: D)
            transposeHeads(v, L.v, vT, batch: s.batch, heads: s.kvHeads, T: Tk, D: D)
        }
        let parts = backwardParts(kvHeads: kvCount, queryTiles: (Tq + tileQ - 1) / tileQ)
        // dK/dV partial sums of parts 1…: [parts - 1][dK, dV][kvCount][Tk, D]
        let partials = parts > 1 ? UnsafeMutablePointer<T>.allocate(capacity: (parts - 1) * 2 * kvCount * headElements) : nil
        defer { partials?.deallocate() }
        Parallel.forEachItem(kvCount * parts, totalWork: s.batch * s.heads * Tq * Tk * D, scratch: scratch, T.self) { item, work in
            let bkv = item / parts, part = item % parts
            let P = work, dS = work + tileQ * ldS, rowDot = dS + tileQ * ldS
            let b = bkv / s.kvHeads, kvHead = bkv % s.kvHeads
            let kh = k + b * L.k.batch + kvHead * L.k.head, vh = v + b * L.v.batch + kvHead * L.v.head
            let kTh = kT.map { UnsafePointer($0 + bkv * ldT * D) }, vTh = vT.map { UnsafePointer($0 + bkv * ldT * D) }
            // Part 0 accumulates into dK/dV where they lie; the others into contiguous partial buffers.
            let dkh: UnsafeMutablePointer<T>, dvh: UnsafeMutablePointer<T>, ldK: Int, ldV: Int
            if part == 0 {
                dkh = dK + b * L.dK.batch + kvHead * L.dK.head; dvh = dV + b * L.dV.batch + kvHead * L.dV.head
                (ldK, ldV) = (L.dK.row, L.dV.row)
            } else {
                dkh = partials! + ((part - 1) * 2 * kvCount + bkv) * headElements; dvh = dkh + kvCount * headElements
                (ldK, ldV) = (D, D)
            }
            for j in 0..<Tk { (dkh + j * ldK).update(repeating: 0, count: D); (dvh + j * ldV).update(repeating: 0, count: D) }
            let ldO = L.out.row, ldQ = L.dQ.row
            for h in kvHead * group..<(kvHead + 1) * group {
                let bh = b * s.heads + h
                let qh = q + b * L.q.batch + h * L.q.head
                let oh = out + b * L.out.batch + h * L.out.head, doh = dOut + b * L.out.batch + h * L.out.head
                let dqh = dQ + b * L.dQ.batch + h * L.dQ.head
                let lh = lse + bh * Tq
                // The (query tile, key tile) pairs of this part, as in forward. Long heads visit them key tile by key
                // tile: a key tile's K, V, Kᵀ, Vᵀ and dK/dV rows stay in cache while the query tiles that see it pass
                // over them (query tile by query tile, each query tile swept the head's whole dK/dV, out of L2 from
                // Tk ≈ 2048 at D 64). For one query tile, key tiles come in increasing order either way.
                var pairs: [(i0: Int, j0: Int, colsK: Int)] = []
                var i0 = part * tileQ
                while i0 < Tq {
                    let rowsQ = Swift.min(tileQ, Tq - i0), dqt = dqh + i0 * ldQ
                    for r in 0..<rowsQ { (dqt + r * ldQ).update(repeating: 0, count: D) }
                    let spans = s.keySpans(batch: b, rows: i0..<i0 + rowsQ)  // as in forward
                    var j0 = spans.globals.isEmpty ? spans.window.lowerBound : 0
                    while j0 < spans.window.upperBound {
                        let spanEnd = j0 < spans.globals.upperBound ? spans.globals.upperBound : spans.window.upperBound
                        let colsK = Swift.min(tileK, spanEnd - j0)
                        pairs.append((i0, j0, colsK))
                        j0 += colsK
                        if j0 == spans.globals.upperBound { j0 = spans.window.lowerBound }
                    }
                    i0 += tileQ * parts
                }
                // Only where dK/dV outgrow the cache (2·Tk·D floats ≥ 512 KiB): below, query order measured as fast,
                // and it keeps the summation order of earlier versions.
                if Tk * D >= keyOrderElements { pairs.sort { ($0.j0, $0.i0) < ($1.j0, $1.i0) } }
                var rowDotTile = -1
                for (i0, j0, colsK) in pairs {
                    let rowsQ = Swift.min(tileQ, Tq - i0)
                    let qt = qh + i0 * L.q.row, dot = doh + i0 * ldO, dqt = dqh + i0 * ldQ
                    if i0 != rowDotTile {  // rowdot(dO, O): in key order once per pair, < 0.1 % of its products
                        for r in 0..<rowsQ { rowDot[r] = T.kernelDot(dot + r * ldO, oh + (i0 + r) * ldO, D) }
                        rowDotTile = i0
                    }
                    // P = exp(S - lse), recomputed for this tile (rows with lse -inf saw no key: P row 0).
                    let band = s.causal ? i0 + Tk - Tq - j0 : Int.max / 4  // row r sees columns c ≤ r + band
                    scores(M: rowsQ, N: colsK, D: D, alpha: scale, A: qt, lda: L.q.row, rows: kh + j0 * L.k.row, ldx: L.k.row,
                           transposed: kTh.map { $0 + j0 }, ldT: ldT, C: P, ldc: ldS, band: band)
                    maskTile(s, P, ld: ldS, rows: rowsQ, cols: colsK, i0: i0, j0: j0, head: h, mask: mask)
                    for r in 0..<rowsQ {
                        let row = P + r * ldS, rowLse = lh[i0 + r]
                        if rowLse == -T.infinity { row.update(repeating: 0, count: colsK); continue }
                        _ = T.kernelExpShifted(row, row, colsK, by: rowLse)
                    }
                    // dV += Pᵀ·dO
                    product(M: colsK, N: D, K: rowsQ, alpha: 1, A: P, ai: 1, ak: ldS, B: dot, ldb: ldO,
                            accumulate: true, C: dvh + j0 * ldV, ldc: ldV, band: .depthAbove(band))
                    // dP = dO·Vᵀ, then dS = P ⊙ (dP - rowdot(dO, O)) · scale (the scale of S = scale·QKᵀ)
                    scores(M: rowsQ, N: colsK, D: D, alpha: 1, A: dot, lda: ldO, rows: vh + j0 * L.v.row, ldx: L.v.row,
                           transposed: vTh.map { $0 + j0 }, ldT: ldT, C: dS, ldc: ldS, band: band)
                    for r in 0..<rowsQ {
                        // Past the diagonal P is 0 and dP may be unwritten (skipped blocks): dS is set to 0 there.
                        // Elsewhere a hidden key (window, mask) has P = 0 and a computed dP, so dS = 0 as well.
                        let pr = P + r * ldS, dr = dS + r * ldS, rd = rowDot[r]
                        let visible = Swift.max(0, Swift.min(colsK, r + band + 1))
                        for c in 0..<visible { dr[c] = pr[c] * (dr[c] - rd) * scale }
                        if visible < colsK { (dr + visible).update(repeating: 0, count: colsK - visible) }
                    }
                    // dQ += dS·K;  dK += dSᵀ·Q
                    product(M: rowsQ, N: D, K: colsK, alpha: 1, A: dS, ai: ldS, ak: 1, B: kh + j0 * L.k.row, ldb: L.k.row,
                            accumulate: true, C: dqt, ldc: ldQ, band: .depthBelow(band))
                    product(M: colsK, N: D, K: rowsQ, alpha: 1, A: dS, ai: 1, ak: ldS, B: qt, ldb: L.q.row,
                            accumulate: true, C: dkh + j0 * ldK, ldc: ldK, band: .depthAbove(band))
                }
            }
        }
        guard let partials else { return }
        Parallel.forRows(kvCount, workPerRow: 2 * parts * headElements) { range in
            for bkv in range {
                let b = bkv / s.kvHeads, kvHead = bkv % s.kvHeads
                for (target, st, offset) in [(dK, L.dK, 0), (dV, L.dV, kvCount)] {
                    let t = target + b * st.batch + kvHead * st.head
                    for part in 1..<parts {  // fixed order: part 0 + part 1 + …
                        let src = partials + ((part - 1) * 2 * kvCount + offset + bkv) * headElements
                        for j in 0..<Tk { for d in 0..<D { t[j * st.row + d] += src[j * D + d] } }
                    }
                }
            }
        }
    }

    /// Tk·D from which backward visits its tile pairs key tile by key tile (dK and dV of a head then take ≥ 512 KiB).
    /// Settable so tests can run both orders on small shapes.
    nonisolated(unsafe) public static var keyOrderElements = 1 << 16

    /// How many parts backward splits each key/value head's query tiles into. From 6 (batch × key/value) heads on,
    /// one: the items already balance over 2-3 threads, and each extra part costs a dK/dV-sized zero + add pass
    /// (memory traffic of ~3 dK/dV copies; estimated, not measurable on the shared machine, at a few % of T = 1024 and
    /// more at T = 256). Below that, ~12 items. Shape-only, so results never depend on the thread count.
    @inlinable static func backwardParts(kvHeads: Int, queryTiles: Int) -> Int {
        kvHeads >= 6 ? 1 : Swift.max(1, Swift.min(queryTiles, (12 + kvHeads - 1) / Swift.max(kvHeads, 1)))
    }
}
