// Fused scaled-dot-product attention on the CPU, FlashAttention-2 style (Dao 2023, Alg. 1-2): query × key tiles with an
// online softmax, so no T×T matrix exists; forward saves out and logsumexp, backward recomputes score tiles. All tile
// products run in one register-blocked micro-kernel over stored Kᵀ/Vᵀ, skipping the masked side of causal diagonals
// (BLAS per tile kept for comparison; BENCHMARKS.md "GPT and attention"). `naiveForward` is the test reference.
// Layout: q [B, H, Tq, D], k/v [B, Hkv, Tk, D] (GQA: head h reads h / (H / Hkv)), out [B, H, Tq, D], lse [B, H, Tq];
// causal is bottom-right (i sees j ≤ i + Tk - Tq); the additive mask is [Tq, Tk]; all-masked rows give 0 and lse -inf.
import Foundation
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
    /// Keys 0..<end are the only ones any of the query rows `0..<rowEnd` can see (causal: the last row's horizon).
    @inlinable func keyEnd(rowEnd: Int) -> Int { causal ? Swift.max(0, Swift.min(keyLength, rowEnd + keyLength - queryLength)) : keyLength }
}

public enum Attention {
    /// Default query and key tile sizes (measured with `lmkit bench attention --tile-q --tile-k`, BENCHMARKS.md
    /// "GPT and attention"). Settable so benchmarks can compare; every value gives the same results within rounding.
    nonisolated(unsafe) public static var defaultTileQ = 64, defaultTileK = 256

    /// Elements of scratch one thread uses for tiles of `tileQ` queries × `tileK` keys: independent of the sequence
    /// lengths, which is what makes the working memory O(T·D) (inputs, output, lse) rather than O(T²).
    /// Forward: S/P tile, output accumulator, running max and sum. Backward: P tile, dP/dS tile, rowdot(dO, O).
    public static func workspaceElements(tileQ: Int, tileK: Int, headSize: Int) -> Int {
        tileQ * scoreStride(tileK) * 2 + tileQ * headSize + tileQ * 3
    }

    /// Leading dimension of the score tiles: tileK plus 8, because backward reads them column-wise (Pᵀ·dO, dSᵀ·Q)
    /// and a row stride of a multiple of 1 KiB (tileK = 256) maps every row to the same few L1 sets.
    @inlinable static func scoreStride(_ tileK: Int) -> Int { tileK + 8 }

    /// Runs `body(item, scratch)` for every item in `0..<count`, handing items out in order to whichever thread is
    /// free (causal tiles differ in cost, so a static split is unbalanced). Each item is computed by one thread with
    /// the same code, so results do not depend on the thread count.
    @inlinable static func forEachItem<T: KernelScalar>(
        _ count: Int, totalWork: Int, scratch: Int, _: T.Type, _ body: (Int, UnsafeMutablePointer<T>) -> Void
    ) {
        let threads = Parallel.threadCount
        let lanes = threads > 1 && count > 1 && totalWork >= Parallel.minimumWork ? Swift.min(threads, count) : 1
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

    /// How tile products are computed: the register-blocked micro-kernel below (default) or BLAS gemm calls. Both
    /// are kept so `lmkit bench attention --products blas` can compare them (BENCHMARKS.md "GPT and attention").
    public enum TileProducts: String, Sendable { case microKernel = "micro", blas }
    nonisolated(unsafe) public static var tileProducts = TileProducts.microKernel

    /// The causal structure of a tile product, so the micro-kernel skips work on the masked side of the diagonal.
    /// In a tile, query row r sees key column c iff c ≤ r + d (d = i0 + Tk − Tq − j0). With i the product's row:
    /// `.outputs(d)`: C[i, j] is not needed for j > i + d (S, dP: the caller masks or zeroes those entries);
    /// `.depthBelow(d)`: a(i, k) = 0 for k > i + d (P·V, dS·K: P and dS vanish above the diagonal);
    /// `.depthAbove(d)`: a(i, k) = 0 for k < i − d (Pᵀ·dO, dSᵀ·Q: rows are keys, depth runs over queries).
    /// Blocks are 6 or 4 rows, so the skipping is per block; entries inside a computed block are exact either way.
    public enum Band: Sendable { case none, outputs(Int), depthBelow(Int), depthAbove(Int) }

    /// C[M×N] = alpha · Σ_k a(i, k) · B[k, 0..<N] (+ C when `accumulate`), where a(i, k) = A[i·ai + k·ak] (so one
    /// kernel serves A and Aᵀ) and B, C are row-major with leading dimensions ldb, ldc. Every attention product has
    /// this form once Kᵀ and Vᵀ are stored (S = Q·Kᵀ, dP = dO·Vᵀ).
    @inlinable @inline(__always) static func product<T: KernelScalar>(
        M: Int, N: Int, K: Int, alpha: T, A: UnsafePointer<T>, ai: Int, ak: Int,
        B: UnsafePointer<T>, ldb: Int, accumulate: Bool, C: UnsafeMutablePointer<T>, ldc: Int, band: Band = .none
    ) {
        if M == 0 || N == 0 { return }
        if tileProducts == .blas {
            // One single-threaded BLAS call: this already runs on one of the kernel's threads (Matmul.gemm would split
            // the tile across threads again).
            Matmul.blasGemm(transA: ai == 1 && ak != 1, transB: false, M: M, N: N, K: K, alpha: alpha, A: A,
                            lda: ai == 1 && ak != 1 ? ak : ai, B: B, ldb: ldb, beta: accumulate ? 1 : 0, C: C, ldc: ldc)
        } else {
            microProduct(M: M, N: N, K: K, alpha: alpha, A: A, ai: ai, ak: ak, B: B, ldb: ldb, accumulate: accumulate, C: C, ldc: ldc,
                         band: band)
        }
    }

    /// The micro-kernel behind `product`: 6 rows × 16 columns of C in twelve SIMD8 accumulators (one AVX2 register
    /// each for Float; 4 × 16 for the last rows), B rows read in place (tiles are L1/L2-resident, so no packing and no separate zeroing pass, which
    /// were 13 % and 6 % of the BLAS version's time). Edges: one row × 8 columns, then scalar.
    /// Measured (1 thread, T = 1024): 4 × 16 blocks reached ~70 % of the FMA peak, latency-bound with 8 accumulators.
    @inlinable static func microProduct<T: KernelScalar>(
        M: Int, N: Int, K: Int, alpha: T, A: UnsafePointer<T>, ai: Int, ak: Int,
        B: UnsafePointer<T>, ldb: Int, accumulate: Bool, C: UnsafeMutablePointer<T>, ldc: Int, band: Band = .none
    ) {
        // Per row block [i, i + rows): skip the block (outputs), or run k over lo..<hi only (depth bands).
        let never = Int.max / 4
        var skipD = never, belowD = never, aboveD = never
        switch band {
        case .none: break
        case .outputs(let d): skipD = d
        case .depthBelow(let d): belowD = d
        case .depthAbove(let d): aboveD = d
        }
        typealias V = SIMD8<T>
        let w = MemoryLayout<T>.stride, rowBytes = ldb * w
        @inline(__always) func put(_ c: V, _ p: UnsafeMutablePointer<T>) {
            let raw = UnsafeMutableRawPointer(p)
            var x = alpha == 1 ? c : c * alpha
            if accumulate { x += raw.loadUnaligned(as: V.self) }
            raw.storeBytes(of: x, as: V.self)
        }
        // Column panels outside, row blocks inside: the K × 16 panel of B (4 KiB at K = 64) stays in L1 while every
        // row block of A passes over it. (Rows outside streamed all of B from L2 once per 6 rows: at tileK = 256 the
        // S = Q·Kᵀ operand is 64 KiB, and that order was ~10 % slower.)
        var j = 0
        while j + 16 <= N {
            var i = 0
            while i + 6 <= M {
                if j > i + 5 + skipD { i += 6; continue }
                let kLo = Swift.max(0, i - aboveD), kHi = Swift.min(K, i + 6 + belowD)
                // 12 accumulators: each gets one FMA per k, so the 4-cycle FMA latency is hidden behind the other 11.
                let a0 = A + i * ai, a1 = a0 + ai, a2 = a1 + ai, a3 = a2 + ai, a4 = a3 + ai, a5 = a4 + ai
                var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
                var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
                var bp = UnsafeRawPointer(B + j) + kLo * rowBytes
                var ka = kLo * ak
                for _ in kLo..<Swift.max(kLo, kHi) {
                    let b0 = bp.loadUnaligned(as: V.self), b1 = bp.loadUnaligned(fromByteOffset: 8 * w, as: V.self)
                    var x = V(repeating: a0[ka])
                    c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
                    x = V(repeating: a1[ka])
                    c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
                    x = V(repeating: a2[ka])
                    c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
                    x = V(repeating: a3[ka])
                    c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
                    x = V(repeating: a4[ka])
                    c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
                    x = V(repeating: a5[ka])
                    c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
                    bp += rowBytes; ka += ak
                }
                let c = C + i * ldc + j
                put(c00, c); put(c01, c + 8); put(c10, c + ldc); put(c11, c + ldc + 8)
                put(c20, c + 2 * ldc); put(c21, c + 2 * ldc + 8); put(c30, c + 3 * ldc); put(c31, c + 3 * ldc + 8)
                put(c40, c + 4 * ldc); put(c41, c + 4 * ldc + 8); put(c50, c + 5 * ldc); put(c51, c + 5 * ldc + 8)
                i += 6
            }
            if i + 4 <= M && j > i + 3 + skipD {
                i += 4
            } else if i + 4 <= M {
                let kLo = Swift.max(0, i - aboveD), kHi = Swift.min(K, i + 4 + belowD)
                let a0 = A + i * ai, a1 = a0 + ai, a2 = a1 + ai, a3 = a2 + ai
                var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
                var bp = UnsafeRawPointer(B + j) + kLo * rowBytes
                var ka = kLo * ak
                for _ in kLo..<Swift.max(kLo, kHi) {
                    let b0 = bp.loadUnaligned(as: V.self), b1 = bp.loadUnaligned(fromByteOffset: 8 * w, as: V.self)
                    let x0 = V(repeating: a0[ka]), x1 = V(repeating: a1[ka])
                    c00 = c00.addingProduct(x0, b0); c01 = c01.addingProduct(x0, b1)
                    c10 = c10.addingProduct(x1, b0); c11 = c11.addingProduct(x1, b1)
                    let x2 = V(repeating: a2[ka]), x3 = V(repeating: a3[ka])
                    c20 = c20.addingProduct(x2, b0); c21 = c21.addingProduct(x2, b1)
                    c30 = c30.addingProduct(x3, b0); c31 = c31.addingProduct(x3, b1)
                    bp += rowBytes; ka += ak
                }
                let c = C + i * ldc + j
                put(c00, c); put(c01, c + 8); put(c10, c + ldc); put(c11, c + ldc + 8)
                put(c20, c + 2 * ldc); put(c21, c + 2 * ldc + 8); put(c30, c + 3 * ldc); put(c31, c + 3 * ldc + 8)
                i += 4
            }
            while i < M {  // the last 1-3 rows of this panel
                if j > i + skipD { i += 1; continue }
                let kLo = Swift.max(0, i - aboveD), kHi = Swift.min(K, i + 1 + belowD)
                let ar = A + i * ai
                var c0 = V(), c1 = V()
                var bp = UnsafeRawPointer(B + j) + kLo * rowBytes
                for k in kLo..<Swift.max(kLo, kHi) {
                    let x = V(repeating: ar[k * ak])
                    c0 = c0.addingProduct(x, bp.loadUnaligned(as: V.self))
                    c1 = c1.addingProduct(x, bp.loadUnaligned(fromByteOffset: 8 * w, as: V.self))
                    bp += rowBytes
                }
                put(c0, C + i * ldc + j); put(c1, C + i * ldc + j + 8)
                i += 1
            }
            j += 16
        }
        if j == N { return }
        for i in 0..<M {  // columns right of the last full panel: 8 at a time, then scalar
            let ar = A + i * ai, cr = C + i * ldc
            var jj = j
            while jj + 8 <= N {
                var c0 = V()
                var bp = UnsafeRawPointer(B + jj)
                for k in 0..<K { c0 = c0.addingProduct(V(repeating: ar[k * ak]), bp.loadUnaligned(as: V.self)); bp += rowBytes }
                put(c0, cr + jj)
                jj += 8
            }
            while jj < N {
                var x: T = 0
                for k in 0..<K { x += ar[k * ak] * B[k * ldb + jj] }
                cr[jj] = alpha * x + (accumulate ? cr[jj] : 0)
                jj += 1
            }
        }
    }

    /// Leading dimension of a transposed head [D, T]: T rounded up to 16 and padded so that consecutive rows are not
    /// a multiple of 1 KiB apart (at T = 1024 a 4 KiB row stride put all 64 rows of a tile in one L1 set; perf showed
    /// the micro-kernel 1.5× slower than at T = 256 until this padding).
    @inlinable static func transposedStride(_ t: Int) -> Int {
        let ld = (t + 15) / 16 * 16 + 16
        return ld % 256 == 0 ? ld + 16 : ld
    }

    /// Writes the [D, T] transpose (row stride `transposedStride(T)`) of each [T, D] head of `x` (heads × T × D) to
    /// `xT`, so S = Q·Kᵀ and dP = dO·Vᵀ read their right operand row-major. Shared by all threads; O(T·D) like the input.
    @inlinable static func transposeHeads<T: KernelScalar>(_ x: UnsafePointer<T>, _ xT: UnsafeMutablePointer<T>, heads: Int, T t: Int, D: Int) {
        let ld = transposedStride(t)
        Parallel.forRows(heads, workPerRow: t * D) { range in
            for h in range {
                let src = x + h * t * D, dst = xT + h * ld * D
                var j0 = 0
                while j0 < t {  // 16 keys at a time so both sides stay within a few cache lines
                    let j1 = Swift.min(j0 + 16, t)
                    for d in 0..<D { for j in j0..<j1 { dst[d * ld + j] = src[j * D + d] } }
                    j0 = j1
                }
            }
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

    /// p[c] = exp(p[c] − shift) for c < n, returning Σ p[c]. Float runs SIMD8 with FMA Horner steps (the same
    /// Cody-Waite reduction and degree-7 polynomial as `Float.fastExp`, so the same accuracy, ~2e-7 relative): the
    /// compiler's vectorization of `fastExp` used separate multiplies and adds and was most of the non-product time.
    /// -inf and anything below -87.3 give 0, NaN stays NaN.
    @inlinable @inline(__always) static func expShifted<T: KernelScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int, by shift: T) -> T {
        guard T.self == Float.self else {
            var sum: T = 0
            for c in 0..<n { p[c] = T.kernelExp(p[c] - shift); sum += p[c] }
            return sum
        }
        typealias V = SIMD8<Float>
        typealias I = SIMD8<Int32>
        let f = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self), m = V(repeating: unsafeBitCast(shift, to: Float.self))
        let magic = V(repeating: 12582912)  // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
        var total = V()
        var i = 0
        while i + 8 <= n {
            let raw = UnsafeMutableRawPointer(f + i)
            var x = raw.loadUnaligned(as: V.self) - m
            let isNaN = x .!= x, under = x .< -87.3
            x.replace(with: -87.3, where: under)
            x.replace(with: 88.3, where: x .> 88.3)
            x.replace(with: 0, where: isNaN)
            let kShifted = x * 1.44269504088896341 + magic
            let k = kShifted - magic
            let r = x.addingProduct(k, V(repeating: -0.693145751953125)).addingProduct(k, V(repeating: -1.428606765330187045e-06))
            var q = V(repeating: 1.0 / 5040)
            q = V(repeating: 1.0 / 720).addingProduct(q, r)
            q = V(repeating: 1.0 / 120).addingProduct(q, r)
            q = V(repeating: 1.0 / 24).addingProduct(q, r)
            q = V(repeating: 1.0 / 6).addingProduct(q, r)
            q = V(repeating: 0.5).addingProduct(q, r)
            q = V(repeating: 1).addingProduct(q, r)
            q = V(repeating: 1).addingProduct(q, r)
            // 2^k: the integer k sits in kShifted's bits as 0x4B400000 + k; move k + 127 into the exponent field.
            let scaleBits = (unsafeBitCast(kShifted, to: I.self) &- I(repeating: 0x4B40_0000 - 127)) &<< 23
            var y = q * unsafeBitCast(scaleBits, to: V.self)
            y.replace(with: 0, where: under)
            y.replace(with: .nan, where: isNaN)
            raw.storeBytes(of: y, as: V.self)
            total += y
            i += 8
        }
        var sum = total.sum()
        while i < n { let y = Float.fastExp(f[i] - unsafeBitCast(shift, to: Float.self)); f[i] = y; sum += y; i += 1 }
        return unsafeBitCast(sum, to: T.self)
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
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK, ldS = scoreStride(tileK)
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads, BH = s.batch * s.heads
        let scale = T(s.scale)
        let qTiles = (Tq + tileQ - 1) / tileQ
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        let ldT = transposedStride(Tk)
        let kT = UnsafeMutablePointer<T>.allocate(capacity: s.batch * s.kvHeads * ldT * D)
        defer { kT.deallocate() }
        transposeHeads(k, kT, heads: s.batch * s.kvHeads, T: Tk, D: D)
        // Items run the costliest query tiles (last, under causal) first across all heads, for load balance.
        forEachItem(BH * qTiles, totalWork: BH * Tq * Tk * D, scratch: scratch, T.self) { item, work in
            let bh = item % BH, i0 = (qTiles - 1 - item / BH) * tileQ, rowsQ = Swift.min(tileQ, Tq - i0)
            let b = bh / s.heads, h = bh % s.heads, kvh = b * s.kvHeads + h / group
            let qh = q + (bh * Tq + i0) * D, kTh = kT + kvh * ldT * D, vh = v + kvh * Tk * D
            let S = work, acc = work + tileQ * ldS * 2, m = acc + tileQ * D, l = m + tileQ
            for r in 0..<rowsQ { m[r] = -T.infinity; l[r] = 0 }
            acc.update(repeating: 0, count: rowsQ * D)
            let keyEnd = s.keyEnd(rowEnd: i0 + rowsQ)  // later key tiles are masked for every row here
            var j0 = 0
            while j0 < keyEnd {
                let colsK = Swift.min(tileK, keyEnd - j0)
                let band = s.causal ? i0 + Tk - Tq - j0 : Int.max / 4  // row r sees columns c ≤ r + band
                product(M: rowsQ, N: colsK, K: D, alpha: scale, A: qh, ai: D, ak: 1, B: kTh + j0, ldb: ldT,
                        accumulate: false, C: S, ldc: ldS, band: .outputs(band))  // S = scale·Q·Kᵀ
                maskTile(s, S, ld: ldS, rows: rowsQ, cols: colsK, i0: i0, j0: j0, mask: mask)
                for r in 0..<rowsQ {
                    let row = S + r * ldS
                    let newMax = Swift.max(m[r], rowMax(row, colsK))
                    if newMax == -T.infinity {  // nothing visible yet in this row: P row 0, accumulator stays 0
                        row.update(repeating: 0, count: colsK)
                        continue
                    }
                    let rowSum = expShifted(row, colsK, by: newMax)              // exp(-inf) = 0 for masked keys
                    let correction = T.kernelExp(m[r] - newMax)                  // 0 when m was -inf
                    if correction != 1 { let a = acc + r * D; for d in 0..<D { a[d] *= correction } }
                    l[r] = l[r] * correction + rowSum
                    m[r] = newMax
                }
                product(M: rowsQ, N: D, K: colsK, alpha: 1, A: S, ai: ldS, ak: 1, B: vh + j0 * D, ldb: D,
                        accumulate: true, C: acc, ldc: D, band: .depthBelow(band))  // O += P·V
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

    /// Gradients from the saved output and lse: dQ, dK, dV (overwritten). Items are (key/value head, part): part p
    /// takes query tiles p, p + parts, p + 2·parts, … of every query head in the group, owns their dQ rows, and
    /// accumulates dK/dV into its own buffer (part 0: dK/dV themselves); the parts are then summed in a fixed order.
    /// No atomics; `parts` depends on the shape only, so results do not depend on the thread count. With one item per
    /// head, 1-5 heads leave threads idle (a single head ran on one thread); parts make the items small enough to
    /// balance. Extra memory: (parts − 1) dK/dV-sized buffers, O(T·D).
    @inlinable public static func backward<T: KernelScalar>(
        _ s: AttentionShape, q: UnsafePointer<T>, k: UnsafePointer<T>, v: UnsafePointer<T>, mask: UnsafePointer<T>?,
        out: UnsafePointer<T>, lse: UnsafePointer<T>, dOut: UnsafePointer<T>,
        dQ: UnsafeMutablePointer<T>, dK: UnsafeMutablePointer<T>, dV: UnsafeMutablePointer<T>,
        tileQ: Int? = nil, tileK: Int? = nil
    ) {
        let tileQ = tileQ ?? defaultTileQ, tileK = tileK ?? defaultTileK, ldS = scoreStride(tileK)
        let D = s.headSize, Tq = s.queryLength, Tk = s.keyLength, group = s.heads / s.kvHeads
        let scale = T(s.scale)
        let scratch = workspaceElements(tileQ: tileQ, tileK: tileK, headSize: D)
        let ldT = transposedStride(Tk)
        let kT = UnsafeMutablePointer<T>.allocate(capacity: 2 * s.batch * s.kvHeads * ldT * D), vT = kT + s.batch * s.kvHeads * ldT * D
        defer { kT.deallocate() }
        transposeHeads(k, kT, heads: s.batch * s.kvHeads, T: Tk, D: D)
        transposeHeads(v, vT, heads: s.batch * s.kvHeads, T: Tk, D: D)
        let kvCount = s.batch * s.kvHeads, headElements = Tk * D
        let parts = backwardParts(kvHeads: kvCount, queryTiles: (Tq + tileQ - 1) / tileQ)
        // dK/dV partial sums of parts 1…: [parts - 1][dK, dV][kvCount][Tk, D]
        let partials = parts > 1 ? UnsafeMutablePointer<T>.allocate(capacity: (parts - 1) * 2 * kvCount * headElements) : nil
        defer { partials?.deallocate() }
        forEachItem(kvCount * parts, totalWork: s.batch * s.heads * Tq * Tk * D, scratch: scratch, T.self) { item, work in
            let bkv = item / parts, part = item % parts
            let P = work, dS = work + tileQ * ldS, rowDot = dS + tileQ * ldS
            let b = bkv / s.kvHeads
            let kh = k + bkv * Tk * D, kTh = kT + bkv * ldT * D, vTh = vT + bkv * ldT * D
            let dkh: UnsafeMutablePointer<T>, dvh: UnsafeMutablePointer<T>
            if part == 0 {
                dkh = dK + bkv * headElements; dvh = dV + bkv * headElements
            } else {
                dkh = partials! + ((part - 1) * 2 * kvCount + bkv) * headElements; dvh = dkh + kvCount * headElements
            }
            dkh.update(repeating: 0, count: headElements)
            dvh.update(repeating: 0, count: headElements)
            for h in (bkv % s.kvHeads) * group..<(bkv % s.kvHeads + 1) * group {
                let bh = b * s.heads + h
                let qh = q + bh * Tq * D, oh = out + bh * Tq * D, doh = dOut + bh * Tq * D, dqh = dQ + bh * Tq * D
                let lh = lse + bh * Tq
                var i0 = part * tileQ
                while i0 < Tq {
                    let rowsQ = Swift.min(tileQ, Tq - i0)
                    let qt = qh + i0 * D, dot = doh + i0 * D, dqt = dqh + i0 * D
                    dqt.update(repeating: 0, count: rowsQ * D)
                    for r in 0..<rowsQ { rowDot[r] = T.kernelDot(dot + r * D, oh + (i0 + r) * D, D) }
                    let keyEnd = s.keyEnd(rowEnd: i0 + rowsQ)
                    var j0 = 0
                    while j0 < keyEnd {
                        let colsK = Swift.min(tileK, keyEnd - j0)
                        // P = exp(S - lse), recomputed for this tile (rows with lse -inf saw no key: P row 0).
                        let band = s.causal ? i0 + Tk - Tq - j0 : Int.max / 4  // row r sees columns c ≤ r + band
                        product(M: rowsQ, N: colsK, K: D, alpha: scale, A: qt, ai: D, ak: 1, B: kTh + j0, ldb: ldT,
                                accumulate: false, C: P, ldc: ldS, band: .outputs(band))
                        maskTile(s, P, ld: ldS, rows: rowsQ, cols: colsK, i0: i0, j0: j0, mask: mask)
                        for r in 0..<rowsQ {
                            let row = P + r * ldS, rowLse = lh[i0 + r]
                            if rowLse == -T.infinity { row.update(repeating: 0, count: colsK); continue }
                            _ = expShifted(row, colsK, by: rowLse)
                        }
                        // dV += Pᵀ·dO
                        product(M: colsK, N: D, K: rowsQ, alpha: 1, A: P, ai: 1, ak: ldS, B: dot, ldb: D,
                                accumulate: true, C: dvh + j0 * D, ldc: D, band: .depthAbove(band))
                        // dP = dO·Vᵀ, then dS = P ⊙ (dP - rowdot(dO, O)) · scale (the scale of S = scale·QKᵀ)
                        product(M: rowsQ, N: colsK, K: D, alpha: 1, A: dot, ai: D, ak: 1, B: vTh + j0, ldb: ldT,
                                accumulate: false, C: dS, ldc: ldS, band: .outputs(band))
                        for r in 0..<rowsQ {
                            // Past the diagonal P is 0 and dP may be unwritten (skipped blocks): dS is set to 0 there.
                            let pr = P + r * ldS, dr = dS + r * ldS, rd = rowDot[r]
                            let visible = Swift.max(0, Swift.min(colsK, r + band + 1))
                            for c in 0..<visible { dr[c] = pr[c] * (dr[c] - rd) * scale }
                            if visible < colsK { (dr + visible).update(repeating: 0, count: colsK - visible) }
                        }
                        // dQ += dS·K;  dK += dSᵀ·Q
                        product(M: rowsQ, N: D, K: colsK, alpha: 1, A: dS, ai: ldS, ak: 1, B: kh + j0 * D, ldb: D,
                                accumulate: true, C: dqt, ldc: D, band: .depthBelow(band))
                        product(M: colsK, N: D, K: rowsQ, alpha: 1, A: dS, ai: 1, ak: ldS, B: qt, ldb: D,
                                accumulate: true, C: dkh + j0 * D, ldc: D, band: .depthAbove(band))
                        j0 += tileK
                    }
                    i0 += tileQ * parts
                }
            }
        }
        guard let partials else { return }
        Parallel.forRows(kvCount, workPerRow: 2 * parts * headElements) { range in
            for bkv in range {
                for (target, offset) in [(dK, 0), (dV, kvCount)] {
                    let t = target + bkv * headElements
                    for part in 1..<parts {  // fixed order: part 0 + part 1 + …
                        let src = partials + ((part - 1) * 2 * kvCount + offset + bkv) * headElements
                        for e in 0..<headElements { t[e] += src[e] }
                    }
                }
            }
        }
    }

    /// How many parts backward splits each key/value head's query tiles into. From 6 (batch × key/value) heads on,
    /// one: the items already balance over 2-3 threads, and each extra part costs a dK/dV-sized zero + add pass
    /// (memory traffic of ~3 dK/dV copies; estimated, not measurable on the shared machine, at a few % of T = 1024 and
    /// more at T = 256). Below that, ~12 items. Shape-only, so results never depend on the thread count.
    @inlinable static func backwardParts(kvHeads: Int, queryTiles: Int) -> Int {
        kvHeads >= 6 ? 1 : Swift.max(1, Swift.min(queryTiles, (12 + kvHeads - 1) / Swift.max(kvHeads, 1)))
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
