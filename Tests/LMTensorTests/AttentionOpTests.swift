// Tensor.scaledDotProductAttention beyond the PyTorch fixture (OpsFixtureTests): strided q/k/v views (a KV cache
// viewed up to its length, q/k/v sliced out of a fused projection) are read without a copy and give the same bits as
// contiguous inputs, gradients reach the views, and key lengths / sliding windows pass a float64 gradcheck.
@testable import LMTensor
import XCTest
import _TestSupport

final class AttentionOpTests: XCTestCase {
    /// Decoding from a preallocated cache [B, Hkv, capacity, D] viewed as `.slice(2, 0, length)`: the op reads the
    /// view itself (no contiguous copy, and no Kᵀ copy for a few query rows), with the result of contiguous inputs.
    func testCacheViewIsReadInPlace() {
        let g = Generator(seed: 11)
        let (B, H, Hkv, D, capacity, length) = (2, 4, 2, 8, 40, 23)
        let cacheK = Tensor.randn([B, Hkv, capacity, D], generator: g), cacheV = Tensor.randn([B, Hkv, capacity, D], generator: g)
        let q = Tensor.randn([B, H, 1, D], generator: g)
        let k = cacheK.slice(2, 0, length), v = cacheV.slice(2, 0, length)
        XCTAssertFalse(k.isContiguous)
        XCTAssertTrue(Tensor.attentionOperand(k) === k && Tensor.attentionOperand(v) === v && Tensor.attentionOperand(q) === q)
        XCTAssertTrue(Attention.readsKeysInPlace(AttentionShape(batch: B, heads: H, kvHeads: Hkv, queryLength: 1, keyLength: length,
                                                                headSize: D, causal: true)))
        let out = Tensor.scaledDotProductAttention(q, k, v, causal: true, keyLengths: [length, 9])
        let reference = Tensor.scaledDotProductAttention(q, k.contiguous(), v.contiguous(), causal: true, keyLengths: [length, 9])
        XCTAssertEqual(out.toArray(), reference.toArray())
        // A layout the kernel cannot read (D not the unit-stride axis) is copied.
        let transposed = Tensor.randn([B, Hkv, D, length], generator: g).transpose(2, 3)
        XCTAssertFalse(Tensor.attentionOperand(transposed) === transposed)
    }

    /// Training: q, k, v sliced out of one [B, T, H + 2·Hkv, D] projection and transposed to [B, heads, T, D] go into
    /// the op as they are (the graph node's inputs are the views), and forward and the gradient reaching the
    /// projection equal those of contiguous copies bit for bit.
    func testFusedProjectionViewsAreReadInPlaceAndTakeGradients() {
        let g = Generator(seed: 12)
        let (B, T, H, Hkv, D) = (2, 70, 4, 2, 16)
        let qkvValues = Tensor.randn([B, T, H + 2 * Hkv, D], generator: g).toArray()
        let dOut = Tensor.randn([B, H, T, D], generator: g)
        func run(copy: Bool) -> (out: [Float], grad: [Float]) {
            let qkv = Tensor(qkvValues, shape: [B, T, H + 2 * Hkv, D], requiresGrad: true)
            var q = qkv.slice(2, 0, H).transpose(1, 2), k = qkv.slice(2, H, H + Hkv).transpose(1, 2)
            var v = qkv.slice(2, H + Hkv, H + 2 * Hkv).transpose(1, 2)
            if copy { q = q.contiguous(); k = k.contiguous(); v = v.contiguous() }
            let out = Tensor.scaledDotProductAttention(q, k, v, causal: true, keyLengths: [T, 41])
            if !copy {
                XCTAssertFalse(q.isContiguous || k.isContiguous || v.isContiguous)
                let inputs = out.gradNode?.inputs ?? []
                // Node inputs are storage-free edges carrying the input's own node (Autograd.swift): a copy would have another.
                XCTAssertTrue(inputs.count == 3 && inputs[0].gradNode === q.gradNode && inputs[1].gradNode === k.gradNode
                              && inputs[2].gradNode === v.gradNode, "the op copied a view")
            }
            out.backward(dOut)
            return (out.toArray(), qkv.grad!.toArray())
        }
        let views = run(copy: false), copies = run(copy: true)
        XCTAssertEqual(views.out, copies.out)
        XCTAssertEqual(views.grad, copies.grad)
    }

    /// Float64 finite differences through key lengths (with a row of length 0 and a full one), causal and bidirectional,
    /// a sliding window, GQA, and through views of a fused projection.
    func testPaddedAttentionGradcheck() {
        let g = Generator(seed: 13)
        let q = Tensor.randn([3, 2, 5, 3], generator: g, dtype: .float64).requiringGrad()
        let k = Tensor.randn([3, 1, 5, 3], generator: g, dtype: .float64).requiringGrad()
        let v = Tensor.randn([3, 1, 5, 3], generator: g, dtype: .float64).requiringGrad()
        for causal in [true, false] {
            gradcheck("sdpa keyLengths causal \(causal)", [q, k, v]) {
                Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: causal, keyLengths: [0, 5, 3])
            }
        }
        gradcheck("sdpa window", [q, k, v]) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, keyLengths: [4, 5, 2], window: 2)
        }
        let decodeQ = Tensor.randn([3, 2, 2, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("sdpa decode window", [decodeQ, k, v]) {
            Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true, keyLengths: [5, 1, 3], window: 3)
        }
        let qkv = Tensor.randn([2, 4, 4, 3], generator: g, dtype: .float64).requiringGrad()
        gradcheck("sdpa fused views", [qkv]) {
            let x = $0[0]
            return Tensor.scaledDotProductAttention(x.slice(2, 0, 2).transpose(1, 2), x.slice(2, 2, 3).transpose(1, 2),
                                                    x.slice(2, 3, 4).transpose(1, 2), causal: false, keyLengths: [2, 4])
        }
    }

    /// Zeros for a batch row with no visible key, forward and backward (never NaN), as for an all-masked row.
    func testZeroLengthRowGivesZeros() {
        let g = Generator(seed: 14)
        let q = Tensor.randn([2, 1, 3, 4], generator: g).requiringGrad(), k = Tensor.randn([2, 1, 3, 4], generator: g).requiringGrad()
        let v = Tensor.randn([2, 1, 3, 4], generator: g).requiringGrad()
        let out = Tensor.scaledDotProductAttention(q, k, v, keyLengths: [0, 3])
        XCTAssertEqual(Array(out.toArray()[0..<12]), [Float](repeating: 0, count: 12))
        out.sum().backward()
        for grad in [q.grad!, k.grad!, v.grad!] {
            XCTAssertEqual(Array(grad.toArray()[0..<12]), [Float](repeating: 0, count: 12))
            XCTAssertFalse(grad.toArray().contains { $0.isNaN })
        }
    }

    /// The packed op is the sliced form with other strides: the same bits forward and backward, including a shape whose
    /// backward splits each key/value head into parts (one head, three query tiles) and one with GQA and padding.
    func testPackedSelfAttentionEqualsSlicedFormBitwise() {
        for (B, T, H, Hkv, D, causal, lengths) in [(1, 150, 2, 1, 16, true, nil as [Int]?), (2, 40, 4, 2, 8, false, [40, 17])] {
            let g = Generator(seed: 21)
            let data = Tensor.randn([B, T, H + 2 * Hkv, D], generator: g)
            let seed = Tensor.randn([B, T, H, D], generator: g)
            let packedInput = data.clone().requiringGrad(), slicedInput = data.clone().requiringGrad()
            let packed = Tensor.packedSelfAttention(packedInput, heads: H, kvHeads: Hkv, causal: causal, keyLengths: lengths)
            let q = slicedInput.slice(2, 0, H).transpose(1, 2), k = slicedInput.slice(2, H, H + Hkv).transpose(1, 2)
            let v = slicedInput.slice(2, H + Hkv, H + 2 * Hkv).transpose(1, 2)
            let sliced = Tensor.scaledDotProductAttention(q, k, v, causal: causal, keyLengths: lengths).transpose(1, 2)
            XCTAssertEqual(packed.toArray(), sliced.toArray(), "forward, T \(T)")
            (packed * seed).sum().backward()
            (sliced * seed).sum().backward()
            XCTAssertEqual(packedInput.grad!.toArray(), slicedInput.grad!.toArray(), "gradient, T \(T)")
        }
    }
}
