// Fused per-parameter update loops with explicit SIMD8<Float> lanes. Every lane performs exactly the scalar operation
// sequence torch's single-tensor CPU path performs (same roundings, FMAs where ATen's scalar loop contracts to FMA),
// so the SIMD form changes speed, not results. Work is split into 4096-element blocks that run on several threads
// above LMKernels' `Parallel.minimumWork`; an element's result never depends on the block or thread that computes it.

import LMTensor
#if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
import _Builtin_intrinsics.intel
#endif

enum UpdateKernels {
    /// Lane-wise correctly rounded √v. `SIMD8<Float>.squareRoot()` compiles to 8 scalar `vsqrtss` with a NaN branch
    /// each (perf annotate of Adam.update: AdamW over 10M floats took 55 ms, most of it there); the AVX intrinsic is
    /// one `vsqrtps` with identical results.
    @inline(__always) static func squareRoot(_ v: SIMD8<Float>) -> SIMD8<Float> {
        #if arch(x86_64) && canImport(_Builtin_intrinsics.intel)
        return _mm256_sqrt_ps(v)
        #else
        return v.squareRoot()
        #endif
    }

    /// Elements per parallel block (a multiple of the 8 lanes).
    static let blockSize = 4096

    /// Calls `body(start, count)` over consecutive blocks covering 0..<n, in parallel for large n.
    @inline(__always)
    static func forBlocks(_ n: Int, _ body: (Int, Int) -> Void) {
        let blocks = (n + blockSize - 1) / blockSize
        Parallel.forRows(blocks, workPerRow: blockSize) { range in
            for b in range { let start = b * blockSize; body(start, Swift.min(blockSize, n - start)) }
        }
    }

    /// Block `start..<start + count` of tensor `item` in a pass over several tensors.
    struct Block { let item: Int, start: Int, count: Int }

    /// The blocks of tensors of `counts` elements, tensor by tensor, each tensor's blocks in order (the same blocks
    /// `forBlocks` makes of one tensor).
    static func blocks(_ counts: [Int]) -> [Block] {
        var out: [Block] = []
        out.reserveCapacity(counts.reduce(0) { $0 + ($1 + blockSize - 1) / blockSize })
        for (item, n) in counts.enumerated() {
            for start in stride(from: 0, to: n, by: blockSize) { out.append(Block(item: item, start: start, count: Swift.min(blockSize, n - start))) }
        }
        return out
    }

    /// Calls `body(b, blocks[b])` for every block of several tensors in one parallel region (torch's `foreach`
    /// optimizers): a GPT's ~50 parameters, most below `Parallel.minimumWork` alone, were each updated on the calling
    /// thread while the other threads waited. Each block is computed by one thread with the same code, so the results
    /// are those of one `forBlocks` call per tensor, on any number of threads.
    static func forBlocks(_ blocks: [Block], _ body: (Int, Block) -> Void) {
        let total = blocks.reduce(0) { $0 + $1.count }
        blocks.withUnsafeBufferPointer { list in
            Parallel.forRows(list.count, workPerRow: total / Swift.max(list.count, 1)) { range in
                for b in range { body(b, list[b]) }
            }
        }
    }

    @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Runs `lanes` over `count` elements at `base` of up to four arrays: full groups of 8 in place, the tail through a
    /// zero-padded copy (padding lanes are computed and discarded).
    @inline(__always)
    static func map4(_ count: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ d: UnsafeMutablePointer<Float>,
                     _ lanes: (inout SIMD8<Float>, SIMD8<Float>, inout SIMD8<Float>, inout SIMD8<Float>) -> Void) {
        var i = 0
        while i + 8 <= count {
            var va = load(a + i), vc = load(c + i), vd = load(d + i)
            lanes(&va, load(b + i), &vc, &vd)
            store(va, a + i); store(vc, c + i); store(vd, d + i)
            i += 8
        }
        if i < count {
            var va = SIMD8<Float>(), vb = SIMD8<Float>(), vc = SIMD8<Float>(), vd = SIMD8<Float>()
            for j in 0..<(count - i) { va[j] = a[i + j]; vb[j] = b[i + j]; vc[j] = c[i + j]; vd[j] = d[i + j] }
            lanes(&va, vb, &vc, &vd)
            for j in 0..<(count - i) { a[i + j] = va[j]; c[i + j] = vc[j]; d[i + j] = vd[j] }
        }
    }

    /// `map4` with a fifth updated array `e` (Adam's AMSGrad maximum).
    @inline(__always)
    static func map5(_ count: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ e: UnsafeMutablePointer<Float>,
                     _ lanes: (inout SIMD8<Float>, SIMD8<Float>, inout SIMD8<Float>, inout SIMD8<Float>, inout SIMD8<Float>) -> Void) {
        var i = 0
        while i + 8 <= count {
            var va = load(a + i), vc = load(c + i), vd = load(d + i), ve = load(e + i)
            lanes(&va, load(b + i), &vc, &vd, &ve)
            store(va, a + i); store(vc, c + i); store(vd, d + i); store(ve, e + i)
            i += 8
        }
        if i < count {
            var va = SIMD8<Float>(), vb = SIMD8<Float>(), vc = SIMD8<Float>(), vd = SIMD8<Float>(), ve = SIMD8<Float>()
            for j in 0..<(count - i) { va[j] = a[i + j]; vb[j] = b[i + j]; vc[j] = c[i + j]; vd[j] = d[i + j]; ve[j] = e[i + j] }
            lanes(&va, vb, &vc, &vd, &ve)
            for j in 0..<(count - i) { a[i + j] = va[j]; c[i + j] = vc[j]; d[i + j] = vd[j]; e[i + j] = ve[j] }
        }
    }

    /// `map4` for three arrays: `a` and `c` are updated, `b` is read.
    @inline(__always)
    static func map3(_ count: Int, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                     _ lanes: (inout SIMD8<Float>, SIMD8<Float>, inout SIMD8<Float>) -> Void) {
        var i = 0
        while i + 8 <= count {
            var va = load(a + i), vc = load(c + i)
            lanes(&va, load(b + i), &vc)
            store(va, a + i); store(vc, c + i)
            i += 8
        }
        if i < count {
            var va = SIMD8<Float>(), vb = SIMD8<Float>(), vc = SIMD8<Float>()
            for j in 0..<(count - i) { va[j] = a[i + j]; vb[j] = b[i + j]; vc[j] = c[i + j] }
            lanes(&va, vb, &vc)
            for j in 0..<(count - i) { a[i + j] = va[j]; c[i + j] = vc[j] }
        }
    }

    /// Σ x² over `count` floats: SIMD16 float partial sums per block of at most 4096, accumulated in double, so the
    /// result is accurate for any length (torch reduces in float32; both round to the same float in practice).
    static func sumOfSquares(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let n = Swift.min(blockSize, count - start)
            total += blockSumOfSquares(x + start, n)
            start += n
        }
        return total
    }

    /// One block's term of `sumOfSquares` (n ≤ blockSize): SIMD16 float partial sums, then the total in double.
    @inline(__always) static func blockSumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD16<Float>()
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            acc = acc.addingProduct(v, v)
            i += 16
        }
        var blockSum = Double(acc.sum())
        while i < n { blockSum += Double(p[i]) * Double(p[i]); i += 1 }
        return blockSum
    }
}
