// Level-1 vector kernels over raw Float buffers: dot, axpy, scale, norm, normalize, as word2vec needs them.
// Explicit SIMD16<Float> accumulators with `addingProduct` (plain float reductions are not vectorized, see
// shared/reference/swift-on-this-machine.md §5); no Tensor, no allocation. Tails are handled scalar.
// Decision note (measured, `lmkit bench word2vec --kernels`, BENCHMARKS.md "Word2Vec"): on random rows at dim 100-300
// these loops match cblas_sdot (24 vs 28 ns at 100, within ±10 % at 200-300) and beat cblas_saxpy (20 vs 25 ns at 100,
// 112 vs 157 at 300); more importantly they inline and fuse (outputLayerUpdate), which a BLAS call cannot. So no BLAS here.

/// Vector kernels over `UnsafePointer<Float>` + element count. All functions are `@inlinable` so that hot loops
/// (word2vec's per-pair updates) inline them and keep operands in registers.
public enum VectorKernels {
    /// Returns `Σ x[i]·y[i]` for `i < count`, accumulated in four SIMD16 lanes then a scalar tail.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var i = 0
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
        while i + 32 <= count {
            acc0 = acc0.addingProduct(rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                                      ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
            acc1 = acc1.addingProduct(rx.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self),
                                      ry.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self))
            i += 32
        }
        if i + 16 <= count {
            acc0 = acc0.addingProduct(rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                                      ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self))
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum = sum.addingProduct(x[i], y[i])
            i += 1
        }
        return sum
    }

    /// `y[i] += alpha·x[i]` for `i < count` (BLAS saxpy with unit strides). `x` and `y` may not overlap partially.
    @inlinable
    public static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        let a = SIMD16<Float>(repeating: alpha)
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        while i + 16 <= count {
            let yv = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let xv = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            ry.storeBytes(of: yv.addingProduct(a, xv), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            y[i] = y[i].addingProduct(alpha, x[i])
            i += 1
        }
    }

    /// The word2vec output-layer step for one (input, output) row pair, fused into one pass:
    /// `accumulator += g·output` using the old `output`, then `output += g·input`
    /// (word2vec.c: `neu1e += g·syn1neg[l2]; syn1neg[l2] += g·syn0[l1]`). `output` must not overlap the other two.
    @inlinable
    public static func outputLayerUpdate(gradient g: Float, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                         accumulator: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        let gv = SIMD16<Float>(repeating: g)
        let ri = UnsafeRawPointer(input), ro = UnsafeMutableRawPointer(output), ra = UnsafeMutableRawPointer(accumulator)
        while i + 16 <= count {
            let o = ro.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let a = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            let x = ri.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            ra.storeBytes(of: a.addingProduct(gv, o), toByteOffset: i * 4, as: SIMD16<Float>.self)
            ro.storeBytes(of: o.addingProduct(gv, x), toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            let o = output[i]
            accumulator[i] = accumulator[i].addingProduct(g, o)
            output[i] = o.addingProduct(g, input[i])
            i += 1
        }
    }

    /// `x[i] *= alpha` for `i < count`.
    @inlinable
    public static func scale(_ x: UnsafeMutablePointer<Float>, by alpha: Float, count: Int) {
        var i = 0
        let a = SIMD16<Float>(repeating: alpha)
        let rx = UnsafeMutableRawPointer(x)
        while i + 16 <= count {
            let v = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            rx.storeBytes(of: v * a, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            x[i] *= alpha
            i += 1
        }
    }

    /// Sets `x[i] = 0` for `i < count`.
    @inlinable
    public static func zero(_ x: UnsafeMutablePointer<Float>, count: Int) {
        x.update(repeating: 0, count: count)
    }

    /// Euclidean norm `sqrt(Σ x[i]²)`.
    @inlinable
    public static func norm(_ x: UnsafePointer<Float>, count: Int) -> Float {
        dot(x, x, count: count).squareRoot()
    }

    /// Scales `x` to unit Euclidean norm in place and returns the norm it had. A zero vector is left unchanged
    /// (returns 0), matching gensim's `matutils.unitvec`, which returns zero vectors as they are.
    @discardableResult @inlinable
    public static func normalize(_ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
        let n = norm(UnsafePointer(x), count: count)
        if n > 0 { scale(x, by: 1 / n, count: count) }
        return n
    }
}
