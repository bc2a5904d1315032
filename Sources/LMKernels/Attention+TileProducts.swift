// The products inside attention tiles: a register-blocked micro-GEMM over row-major operands (BLAS per tile kept for
// comparison), with the causal band skipped per row block, and a dot-product form that reads keys in place for a few
// query rows. No packing: tiles are L1/L2-resident. Not a general GEMM (Matmul.swift is that); the left operand is read
// through element strides so one kernel serves A and Aᵀ. Layout and measurements: BENCHMARKS.md "GPT and attention".

extension Attention {
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

    /// C[i, j] = alpha · Σ_d A[i·lda + d] · B[j·ldb + d] for i < M, j < N: A·Bᵀ with both operands row-major, so keys
    /// are read where they lie (no Kᵀ copy). Entries j > i + `band` are not written (the caller masks them). For a few
    /// query rows (decoding): each key row is loaded once and dotted with every query row, which stays in L1.
    @inlinable static func keyProduct<T: KernelScalar>(
        M: Int, N: Int, K: Int, alpha: T, A: UnsafePointer<T>, lda: Int, B: UnsafePointer<T>, ldb: Int,
        C: UnsafeMutablePointer<T>, ldc: Int, band: Int
    ) {
        for j in 0..<N {
            let key = B + j * ldb
            for i in Swift.min(M, Swift.max(0, j - band))..<M { C[i * ldc + j] = alpha * rowDot(A + i * lda, key, K) }
        }
    }

    /// Σ a[d]·b[d] for d < n. Float: two SIMD8 FMA accumulators folded by halves (8 → 4 → 2 → 1), cheaper for the
    /// short rows here (D = 64) than `kernelDot`'s SIMD16 `sum()`.
    @inlinable @inline(__always) static func rowDot<T: KernelScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ n: Int) -> T {
        guard T.self == Float.self else { return T.kernelDot(a, b, n) }
        typealias V = SIMD8<Float>
        let x = UnsafeRawPointer(a), y = UnsafeRawPointer(b)
        var s0 = V(), s1 = V()
        var i = 0
        while i + 16 <= n {
            s0 = s0.addingProduct(x.loadUnaligned(fromByteOffset: 4 * i, as: V.self), y.loadUnaligned(fromByteOffset: 4 * i, as: V.self))
            s1 = s1.addingProduct(x.loadUnaligned(fromByteOffset: 4 * i + 32, as: V.self), y.loadUnaligned(fromByteOffset: 4 * i + 32, as: V.self))
            i += 16
        }
        if i + 8 <= n {
            s0 = s0.addingProduct(x.loadUnaligned(fromByteOffset: 4 * i, as: V.self), y.loadUnaligned(fromByteOffset: 4 * i, as: V.self))
            i += 8
        }
        let s8 = s0 + s1, s4 = s8.lowHalf + s8.highHalf, s2 = s4.lowHalf + s4.highHalf
        var total = s2[0] + s2[1]
        let af = x.assumingMemoryBound(to: Float.self), bf = y.assumingMemoryBound(to: Float.self)
        while i < n { total = total.addingProduct(af[i], bf[i]); i += 1 }
        return unsafeBitCast(total, to: T.self)
    }

    /// Leading dimension of a transposed head [D, T]: T rounded up to 16 and padded so that consecutive rows are not
    /// a multiple of 1 KiB apart (at T = 1024 a 4 KiB row stride put all 64 rows of a tile in one L1 set; perf showed
    /// the micro-kernel 1.5× slower than at T = 256 until this padding).
    @inlinable static func transposedStride(_ t: Int) -> Int {
        let ld = (t + 15) / 16 * 16 + 16
        return ld % 256 == 0 ? ld + 16 : ld
    }

    /// Writes the [D, T] transpose (row stride `transposedStride(T)`) of each [T, D] head of `x` to `xT`, so S = Q·Kᵀ
    /// and dP = dO·Vᵀ read their right operand row-major. Head n of `xT` is batch n / heads, head n % heads of `x`, read
    /// through `strides` (unit stride along D). Shared by all threads; O(T·D) per head like the input.
    @inlinable static func transposeHeads<T: KernelScalar>(_ x: UnsafePointer<T>, _ strides: AttentionStrides, _ xT: UnsafeMutablePointer<T>,
                                                           batch: Int, heads: Int, T t: Int, D: Int) {
        let ld = transposedStride(t)
        Parallel.forRows(batch * heads, workPerRow: t * D) { range in
            for n in range {
                let src = x + (n / heads) * strides.batch + (n % heads) * strides.head, dst = xT + n * ld * D
                var j0 = 0
                while j0 < t {  // 16 keys at a time so both sides stay within a few cache lines
                    let j1 = Swift.min(j0 + 16, t)
                    for d in 0..<D { for j in j0..<j1 { dst[d * ld + j] = src[j * strides.row + d] } }
                    j0 = j1
                }
            }
        }
    }
}
