// Linear attention inside `SelfAttention` (Katharopoulos et al. 2020; fast-transformers' `LinearAttention` /
// `CausalLinearAttention` with `elu_feature_map`): the same fused q/k/v and output projections as softmax attention
// (same checkpoint keys), with softmax(qkᵀ/√d)v replaced by φ(q)·Σφ(k)vᵀ / (φ(q)·Σφ(k) + eps) in the chunked kernel
// (LMKernels/LinearAttention.swift). Decoding keeps the [B, H, hd, hd + 1] state S = Σφ(k)vᵀ, z = Σφ(k) in the KV
// cache's layer instead of keys and values, so each token costs O(1) in the sequence length.
// Not here: attention dropout (linear attention forms no probabilities to drop; fast-transformers has none either),
// sliding windows and block-causal attention (rejected).
import LMTensor

/// Which attention a Transformer block computes: `softmax` (scaled dot-product) or `linear` (kernelized, φ(q)·φ(k)).
public enum AttentionKind: String, Codable, Sendable, CaseIterable { case softmax, linear }

/// Settings of linear attention: the feature map φ and the causal kernel's chunk length.
public struct LinearAttentionOptions: Sendable, Equatable {
    public var featureMap: LinearAttentionFeatureMap
    public var chunk: Int
    public var eps: Double

    public init(featureMap: LinearAttentionFeatureMap = .elu, chunk: Int = LinearAttention.defaultChunk, eps: Double = LinearAttention.defaultEpsilon) {
        precondition(chunk >= 1, "LinearAttentionOptions: chunk must be ≥ 1, got \(chunk)")
        self.featureMap = featureMap; self.chunk = chunk; self.eps = eps
    }
}

extension SelfAttention {
    /// [B, T, width] → [B, T, width] through linear attention. RoPE, when given, rotates q and k before φ (positions
    /// then enter the kernel's dot products, as in RoFormer's linear-attention variant). `keyLengths`: causal rows never
    /// see the padding after them; bidirectional rows get padded keys' features zeroed. `cache`: continue from (and
    /// advance) the layer's recurrent state.
    func linearAttention(_ x: Tensor, _ options: LinearAttentionOptions, rope: (cos: Tensor, sin: Tensor)?, keyLengths: [Int]?,
                         cache: KVCache.Layer?, blockLength: Int?) -> Tensor {
        precondition(blockLength == nil, "SelfAttention: linear attention has no block-causal form")
        precondition(cache == nil || causal, "SelfAttention: recurrent decoding needs causal linear attention")
        let (B, T, C) = (x.shape[0], x.shape[1], x.shape[2])
        let H = heads, Hkv = kvHeads, hd = headSize
        let qkv = self.qkv(x).reshape([B, T, H + 2 * Hkv, hd])
        var q = qkv.slice(2, 0, H), k = qkv.slice(2, H, H + Hkv)
        var v = qkv.slice(2, H + Hkv, H + 2 * Hkv)
        if let rope, let rotaryLayout {
            q = q.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: rotaryLayout)
            k = k.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: rotaryLayout)
        }
        q = q.linearAttentionFeatures(options.featureMap).transpose(1, 2)   // [B, H, T, hd]
        k = k.linearAttentionFeatures(options.featureMap).transpose(1, 2)   // [B, Hkv, T, hd]
        v = v.transpose(1, 2)                                               // [B, Hkv, T, hd]
        if Hkv < H {  // grouped-query heads share k and v
            k = k.unsqueeze(2).expand([B, Hkv, H / Hkv, T, hd]).reshape([B, H, T, hd])
            v = v.unsqueeze(2).expand([B, Hkv, H / Hkv, T, hd]).reshape([B, H, T, hd])
        }
        if let keyLengths, !causal {
            var keep = [Float](repeating: 0, count: B * T)
            for b in 0..<B { for j in 0..<keyLengths[b] { keep[b * T + j] = 1 } }
            k = k * Tensor(keep, shape: [B, 1, T, 1])
        }
        let y: Tensor                                                       // [B, H, T, hd]
        if let cache {
            if cache.linearState == nil { cache.linearState = Tensor(zeros: [B, H, hd, hd + 1]) }
            y = noGrad { Tensor.linearAttentionStep(q, k, v, state: cache.linearState!, chunk: options.chunk, eps: options.eps) }
            cache.length += T
        } else {
            y = Tensor.linearAttention(q, k, v, causal: causal, chunk: options.chunk, eps: options.eps)
        }
        return residualDropout(output(y.transpose(1, 2).reshape([B, T, C])))
    }
}
