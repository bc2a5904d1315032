// Mixed precision: float32 ↔ float16/bfloat16 conversion against torch's bits on edge values (fixture
// tensor/mixed_precision.json from Scripts/fixtures/mixed_precision_fixture.py), half tensors, and Autocast's products
// against a float64 reference on the rounded operands and against torch.autocast("cpu").
import XCTest
import _TestSupport
@testable import LMTensor

private struct Fixture: Decodable {
    struct Conversion: Decodable { let float32_bits: [UInt32]; let bfloat16_bits: [UInt16]; let float16_bits: [UInt16] }
    struct Widening: Decodable { let half_bits: [UInt16]; let float16_as_float32_bits: [UInt32]; let bfloat16_as_float32_bits: [UInt32] }
    struct Linear: Decodable {
        let dtype: String; let N: Int; let I: Int; let O: Int
        let x: [Double]; let weight: [Double]; let bias: [Double]; let upstream: [Double]
        let y: [Double]; let dx: [Double]; let dweight: [Double]; let dbias: [Double]
    }
    let conversion: Conversion
    let widening: Widening
    let autocast_linear: [Linear]
}

final class MixedPrecisionTests: XCTestCase {
    private func fixture() throws -> Fixture { try loadFixture("tensor/mixed_precision.json") }

    func testFloat16ConversionMatchesTorchBitForBit() throws {
        let c = try fixture().conversion
        let src = c.float32_bits.map { Float(bitPattern: $0) }
        var out = [UInt16](repeating: 0, count: src.count)
        HalfPrecision.toFloat16(src, &out, src.count)
        for i in src.indices {
            // torch (F16C): overflow past 65520 → inf, subnormals exact, ties to even, NaN quiet with its sign and payload top.
            XCTAssertEqual(out[i], c.float16_bits[i], "float32 0x\(String(c.float32_bits[i], radix: 16))")
        }
        // The vectorized loop and the scalar function agree.
        XCTAssertEqual(out, src.map(HalfPrecision.float16Bits))
    }

    func testBFloat16ConversionMatchesTorchAndKeepsNaNSign() throws {
        let c = try fixture().conversion
        let src = c.float32_bits.map { Float(bitPattern: $0) }
        var out = [UInt16](repeating: 0, count: src.count)
        HalfPrecision.toBFloat16(src, &out, src.count)
        var nans = 0
        for i in src.indices {
            let hex = "float32 0x\(String(c.float32_bits[i], radix: 16))"
            if src[i].isNaN {
                // torch writes one NaN pattern (0xFFFF on this build) for every NaN; ours is quiet and keeps the sign.
                nans += 1
                XCTAssertTrue(HalfPrecision.float(bfloat16: c.bfloat16_bits[i]).isNaN, hex)
                XCTAssertEqual(out[i] & 0x7FC0, 0x7FC0, "quiet NaN, " + hex)
                XCTAssertEqual(out[i] >> 15, UInt16(c.float32_bits[i] >> 31), "sign kept, " + hex)
            } else {
                XCTAssertEqual(out[i], c.bfloat16_bits[i], hex)
            }
        }
        XCTAssertEqual(nans, 7)
        XCTAssertEqual(out, src.map(HalfPrecision.bfloat16Bits))
    }

    func testWideningMatchesTorch() throws {
        let w = try fixture().widening
        var f16 = [Float](repeating: 0, count: w.half_bits.count), bf16 = f16
        HalfPrecision.fromFloat16(w.half_bits, &f16, w.half_bits.count)
        HalfPrecision.fromBFloat16(w.half_bits, &bf16, w.half_bits.count)
        // Widening is exact; for NaN, ours keeps sign and payload (a shift for bfloat16, vcvtph2ps for float16) where
        // torch canonicalizes some NaNs to 0x7FFFFFFF, so NaNs are compared as NaNs.
        var nans = 0
        for (ours, theirs) in zip(f16 + bf16, (w.float16_as_float32_bits + w.bfloat16_as_float32_bits).map { Float(bitPattern: $0) }) {
            if theirs.isNaN { nans += 1; XCTAssertTrue(ours.isNaN) } else { XCTAssertEqual(ours.bitPattern, theirs.bitPattern) }
        }
        XCTAssertGreaterThan(nans, 0)
    }

    func testHalfTensorsConvertCopyAndTakeGradients() {
        let values: [Float] = [1, -2.5, 3.14159, 65504, 70000, 1e-8, -0.0, 0.1]
        let x = Tensor(values, shape: [2, 4], requiresGrad: true)
        for low in [DType.bfloat16, .float16] {
            let h = x.to(low)
            XCTAssertEqual(h.dtype, low)
            XCTAssertEqual(h.storage.byteCount, 16)
            let expected = values.map { low == .bfloat16 ? HalfPrecision.float(bfloat16: HalfPrecision.bfloat16Bits($0))
                                                         : HalfPrecision.float(float16: HalfPrecision.float16Bits($0)) }
            XCTAssertEqual(h.toArray().map(\.bitPattern), expected.map(\.bitPattern))
            // A strided view of half storage copies element by element.
            XCTAssertEqual(h.transpose(0, 1).contiguous().toArray(), [0, 4, 1, 5, 2, 6, 3, 7].map { expected[$0] })
            XCTAssertEqual(Tensor.full([3], 0.1, dtype: low).toArray(), [Float](repeating: expected[7], count: 3))
            // d/dx of x.to(low).to(float32) is the identity, returned as float32.
            x.zeroGrad()
            (h.to(.float32) * Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 4])).sum().backward()
            XCTAssertEqual(x.grad?.dtype, .float32)
            XCTAssertEqual(x.grad?.toArray(), [1, 2, 3, 4, 5, 6, 7, 8])
        }
        XCTAssertEqual(x.to(.float64).to(.bfloat16).to(.float16).toArray(), x.to(.bfloat16).toArray().map { Float(Float16($0)) })
    }

    /// y = round(x)·round(W)ᵀ + b in float64, and the gradients with the upstream gradient rounded too.
    private func reference(_ x: [Double], _ w: [Double], _ b: [Double], _ g: [Double], N: Int, I: Int, O: Int, low: DType)
        -> (y: [Double], dx: [Double], dw: [Double], db: [Double]) {
        func r(_ v: Double) -> Double {
            low == .bfloat16 ? Double(HalfPrecision.float(bfloat16: HalfPrecision.bfloat16Bits(Float(v))))
                             : Double(Float(Float16(Float(v))))
        }
        let xr = x.map(r), wr = w.map(r), gr = g.map(r)
        var y = [Double](repeating: 0, count: N * O), dx = [Double](repeating: 0, count: N * I)
        var dw = [Double](repeating: 0, count: O * I), db = [Double](repeating: 0, count: O)
        for n in 0..<N {
            for o in 0..<O {
                var s = b[o]
                for i in 0..<I { s += xr[n * I + i] * wr[o * I + i] }
                y[n * O + o] = s
                db[o] += g[n * O + o]
                for i in 0..<I {
                    dx[n * I + i] += gr[n * O + o] * wr[o * I + i]
                    dw[o * I + i] += gr[n * O + o] * xr[n * I + i]
                }
            }
        }
        return (y, dx, dw, db)
    }

    func testAutocastLinearIsARoundedProductWithFloat32AccumulationAndMatchesTorch() throws {
        for case let f in try fixture().autocast_linear {
            let low: DType = f.dtype == "bfloat16" ? .bfloat16 : .float16
            let x = Tensor(f.x.map(Float.init), shape: [f.N, f.I], requiresGrad: true)
            let w = Tensor(f.weight.map(Float.init), shape: [f.O, f.I], requiresGrad: true)
            let b = Tensor(f.bias.map(Float.init), shape: [f.O], requiresGrad: true)
            let y = Autocast.with(low) { x.linear(w, bias: b) }
            XCTAssertEqual(y.dtype, .float32)
            y.backward(Tensor(f.upstream.map(Float.init), shape: [f.N, f.O]))
            // Exactly the rounded operands' product, accumulated in float32.
            let ref = reference(f.x.map { Double(Float($0)) }, f.weight.map { Double(Float($0)) }, f.bias.map { Double(Float($0)) },
                                f.upstream.map { Double(Float($0)) }, N: f.N, I: f.I, O: f.O, low: low)
            assertClose(y, ref.y, rtol: 1e-6, atol: 1e-5)
            assertClose(x.grad!, ref.dx, rtol: 1e-6, atol: 1e-5)
            assertClose(w.grad!, ref.dw, rtol: 1e-6, atol: 1e-5)
            assertClose(b.grad!, ref.db, rtol: 1e-6, atol: 1e-5)
            // torch.autocast rounds its output and gradients to the low dtype as well: agreement within that rounding.
            let tol = low == .bfloat16 ? 1.6e-2 : 2e-3
            assertClose(y, f.y, rtol: tol, atol: tol)
            assertClose(x.grad!, f.dx, rtol: tol, atol: tol)
            assertClose(w.grad!, f.dweight, rtol: tol, atol: tol)
            assertClose(b.grad!, f.dbias, rtol: tol, atol: tol)
            // And it is not the float32 product (the rounding is real).
            let exact = noGrad { x.linear(w, bias: b) }.toArray()
            XCTAssertNotEqual(exact, y.toArray())
        }
    }

    /// Shapes where x, W, g and their gradients share buffer sizes (a GPT's square projections), so a scratch buffer
    /// released too early would be handed to another operand; the same leaf weight used twice accumulates.
    func testAutocastLinearOnSquareShapesAndSharedWeights() {
        let gen = Generator(seed: 9)
        for (N, I, O) in [(32, 32, 32), (64, 48, 48), (16, 40, 16)] {
            for low in [DType.bfloat16, .float16] {
                let xv = Tensor.randn([N, I], generator: gen).toDoubles().map { Double(Float($0)) }
                let wv = Tensor.randn([O, I], generator: gen).toDoubles().map { Double(Float($0)) }
                let gv = Tensor.randn([N, O], generator: gen).toDoubles().map { Double(Float($0)) }
                let x = Tensor(xv.map(Float.init), shape: [N, I], requiresGrad: true)
                let w = Tensor(wv.map(Float.init), shape: [O, I], requiresGrad: true)
                let g = Tensor(gv.map(Float.init), shape: [N, O])
                let y = Autocast.with(low) { (x * 1).linear(w, bias: nil) }
                y.backward(g)
                let ref = reference(xv, wv, [Double](repeating: 0, count: O), gv, N: N, I: I, O: O, low: low)
                assertClose(y, ref.y, rtol: 1e-5, atol: 1e-4)
                assertClose(x.grad!, ref.dx, rtol: 1e-5, atol: 1e-4)
                assertClose(w.grad!, ref.dw, rtol: 1e-5, atol: 1e-4)
                // A second use of the same weight adds its gradient into the same `.grad`.
                let dw1 = w.grad!.toDoubles()
                Autocast.with(low) { x.linear(w, bias: nil) }.backward(g)
                assertClose(w.grad!, zip(dw1, ref.dw).map { $0 + $1 }, rtol: 1e-5, atol: 1e-4)
            }
        }
    }

    func testAutocastLinearKeepsHalfCopyAndFreesTheFloat32Input() {
        let g = Generator(seed: 3)
        let w = Tensor.randn([8, 32], generator: g).requiringGrad()
        func inputStorageOutlivesForward(_ low: DType?) -> Bool {
            weak var storage: Storage?
            let out: Tensor = Autocast.with(low) {
                let h = Tensor.randn([16, 32], generator: g).requiringGrad() * 2  // a computed activation
                storage = h.storage
                return h.linear(w, bias: nil)
            }
            let alive = storage != nil
            out.sum().backward()
            return alive
        }
        XCTAssertTrue(inputStorageOutlivesForward(nil), "float32 linear saves its input for dW")
        XCTAssertFalse(inputStorageOutlivesForward(.bfloat16), "under autocast only the bfloat16 copy is kept")
        XCTAssertFalse(inputStorageOutlivesForward(.float16))
    }

    func testAutocastPackedAttentionMatchesFloat32OnRoundedInputs() {
        let g = Generator(seed: 5)
        let (B, T, H, D) = (2, 20, 2, 8)
        let values = Tensor.randn([B, T, 3 * H, D], generator: g).toArray()
        let upstream = Tensor.randn([B, T, H, D], generator: g)
        for low in [DType.bfloat16, .float16] {
            let a = Tensor(values, shape: [B, T, 3 * H, D], requiresGrad: true)
            let out = Autocast.with(low) { Tensor.packedSelfAttention(a, heads: H, kvHeads: H, causal: true) }
            out.backward(upstream)
            // Reference: the float32 op on the rounded qkv (same forward bits), gradient within the rounding of g and out.
            let rounded = Tensor(values, shape: [B, T, 3 * H, D]).autocastRounded(low).requiringGrad()
            let ref = Tensor.packedSelfAttention(rounded, heads: H, kvHeads: H, causal: true)
            ref.backward(upstream)
            XCTAssertEqual(out.toArray().map(\.bitPattern), ref.toArray().map(\.bitPattern))
            let tol = low == .bfloat16 ? 2e-2 : 3e-3
            assertClose(a.grad!, rounded.grad!.toDoubles(), rtol: tol, atol: tol)
            // Unrounded float32: close to, not equal to.
            let exact = noGrad { Tensor.packedSelfAttention(Tensor(values, shape: [B, T, 3 * H, D]), heads: H, kvHeads: H, causal: true) }
            assertClose(out, exact.toDoubles(), rtol: tol, atol: tol)
            XCTAssertNotEqual(out.toArray(), exact.toArray())
        }
    }

    /// A checkpointed block replays in the forward's precision even when backward runs outside the autocast scope
    /// (torch.utils.checkpoint restores the autocast state too): gradients equal the plain graph's bit for bit.
    func testCheckpointReplaysUnderTheForwardsAutocast() {
        let gen = Generator(seed: 21)
        let w1 = Tensor.randn([24, 16], generator: gen).requiringGrad(), w2 = Tensor.randn([16, 24], generator: gen).requiringGrad()
        let xv = Tensor.randn([10, 16], generator: gen).toArray(), upstream = Tensor.randn([10, 16], generator: gen)
        func body(_ t: [Tensor]) -> Tensor { t[0].linear(w1, bias: nil).gelu().linear(w2, bias: nil) }
        func grads(checkpointed: Bool) -> [[UInt32]] {
            w1.zeroGrad(); w2.zeroGrad()
            let x = Tensor(xv, shape: [10, 16], requiresGrad: true)
            let y = Autocast.with(.bfloat16) { checkpointed ? Tensor.checkpoint([x], body) : body([x]) }
            y.backward(upstream)
            return [x.grad!, w1.grad!, w2.grad!].map { $0.toArray().map(\.bitPattern) }
        }
        XCTAssertEqual(grads(checkpointed: true), grads(checkpointed: false))
    }

    func testAutocastScopeNestsAndLeavesFloat64Alone() {
        XCTAssertNil(Autocast.dtype)
        Autocast.with(.bfloat16) {
            XCTAssertEqual(Autocast.dtype, .bfloat16)
            Autocast.with(.float32) { XCTAssertNil(Autocast.dtype) }
            XCTAssertEqual(Autocast.dtype, .bfloat16)
            // float64 (gradient checks) is never rounded, as torch.autocast leaves float64 alone.
            let a = Tensor(doubles: [1 + 1e-9, 2], shape: [1, 2]), b = Tensor(doubles: [1, 1], shape: [2, 1])
            XCTAssertEqual(a.matmul(b).toDoubles(), [3 + 1e-9])
            // float32 matmul reads rounded operands: 1 + 2^-10 is not a bfloat16.
            let c = Tensor([1 + 1.0 / 1024, 0], shape: [1, 2]), d = Tensor([1, 1], shape: [2, 1])
            XCTAssertEqual(c.matmul(d).toArray(), [1])
        }
        XCTAssertNil(Autocast.dtype)
    }
}
