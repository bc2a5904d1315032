// The GPT family's configuration: one Codable value that describes GPT-2 (learned positions, LayerNorm, GELU MLP,
// tied head) and, through its options, Llama-shaped models (RoPE, RMSNorm, SwiGLU, grouped-query attention, untied
// head). JSON keys are snake_case as in nanoGPT's GPTConfig; unknown keys are errors (StrictJSON), not silently dropped.
import Foundation
import LMNN
import LMTensor

/// Architecture of a `GPT` model. Defaults are GPT-2's; `validate()` runs on every decode.
public struct GPTConfig: ModelConfiguration {
    public static let modelType = "gpt"
    public typealias PositionEncoding = LMNN.PositionEncoding
    /// How RoPE pairs the dimensions of a head: `halfSplit` rotates (x[i], x[i + d/2]) — Hugging Face Llama's
    /// `rotate_half`; `interleaved` rotates (x[2i], x[2i+1]) — Meta's original Llama layout.
    /// `GPT.convertRoPELayout` permutes q/k projection rows to move a checkpoint from one layout to the other.
    public typealias RoPELayout = RotaryLayout
    public typealias Norm = NormKind
    public typealias MLPKind = FeedForwardKind

    public var vocabSize: Int = 50304
    /// Longest sequence the model accepts (the learned position table's length; RoPE has no table but keeps the limit).
    public var blockSize: Int = 1024
    public var nLayer: Int = 12
    public var nHead: Int = 12
    /// Key/value heads (grouped-query attention); nil means `nHead` (multi-head attention).
    public var nKVHead: Int? = nil
    public var nEmbd: Int = 768
    /// Hidden width of the MLP; nil means 4·nEmbd (GPT-2). Llama configs give it as `intermediate_size`.
    public var intermediateSize: Int? = nil
    public var dropout: Double = 0
    /// Biases in every Linear and LayerNorm (GPT-2: true; Llama: false).
    public var bias: Bool = true
    public var position: PositionEncoding = .learned
    public var ropeTheta: Double = 10000
    public var ropeLayout: RoPELayout = .halfSplit
    public var norm: Norm = .layerNorm
    public var normEps: Double = 1e-5
    public var mlp: MLPKind = .gelu
    /// The output head shares the token embedding matrix (GPT-2: true; most Llama checkpoints: false).
    public var tieEmbeddings: Bool = true
    /// Sliding-window attention (Mistral's `sliding_window`): position i attends to positions i − w < j ≤ i only, in
    /// the fused kernel at O(T·w) cost; decoding keeps a rolling KV cache of w positions. nil: full causal attention.
    public var slidingWindow: Int? = nil
    /// With `sliding_window`: the first N positions stay visible to every later position (Longformer-style global
    /// tokens, e.g. a prompt or attention sinks) and are never dropped from the rolling cache. nil means 0.
    public var globalTokens: Int? = nil
    /// `softmax` (default): scaled dot-product attention in the fused kernel. `linear`: φ(q)·φ(k) linear attention
    /// (fast-transformers), causal through the chunked kernel, decoded with an O(1) recurrent state per layer.
    public var attention: AttentionKind = .softmax
    /// Linear attention only: rows per chunk of the causal kernel (changes speed, not results beyond rounding).
    public var linearChunk: Int = LinearAttention.defaultChunk
    /// Linear attention only: the feature map φ, `elu` (elu + 1, fast-transformers' default) or `relu`.
    public var linearFeatureMap: LinearAttentionFeatureMap = .elu

    // Mixture of experts (LMNN/MixtureOfExperts.swift). Every key is optional so dense configs encode as before; the
    // other MoE keys are errors unless n_experts > 0.
    /// Experts per MLP; nil or 0: the dense MLP.
    public var nExperts: Int? = nil
    /// k of top-k routing; nil: 2 (Mixtral) for the mixtral router, 1 for switch (which must be 1).
    public var expertsPerToken: Int? = nil
    /// "mixtral" (top-k, renormalized weights, HF's load-balancing form) or "switch" (top-1, Switch's form); nil: mixtral.
    public var moeRouter: RouterKind? = nil
    /// Weight of the load-balancing loss in the training loss; nil: 0.01 (Switch Transformers' α; HF Mixtral's
    /// config default is 0.001, which its adapter reads from config.json).
    public var routerAuxLossCoef: Double? = nil
    /// Weight of the router z-loss (ST-MoE); nil: 0 (off, as in HF Mixtral; ST-MoE uses 0.001).
    public var routerZLossCoef: Double? = nil
    /// Router jitter ε (training only); nil: 0.
    public var routerJitter: Double? = nil
    /// Expert capacity factor with token dropping; nil: no capacity limit.
    public var capacityFactor: Double? = nil
    /// Hidden width of each expert; nil: the MLP width (intermediate_size, else 4·n_embd).
    public var moeIntermediateSize: Int? = nil

    public init() {}

    public var vocabularySize: Int { vocabSize }
    /// block_size, except for a sliding window with relative positions (RoPE, ALiBi): every position then sees the same
    /// span of keys at the same relative offsets, so sequences and generations may run past block_size (nil: no limit).
    /// Learned and sinusoidal positions are absolute tables of block_size rows, so those models keep the limit.
    public var contextLength: Int? { slidingWindow != nil && (position == .rope || position == .alibi) ? nil : blockSize }
    public var kvHeads: Int { nKVHead ?? nHead }
    public var headSize: Int { nEmbd / nHead }
    public var hiddenSize: Int { intermediateSize ?? 4 * nEmbd }
    /// Experts per MLP, 0 for a dense model.
    public var experts: Int { nExperts ?? 0 }
    public var topK: Int { expertsPerToken ?? (router == .switchTop1 ? 1 : Swift.min(2, experts)) }
    public var router: RouterKind { moeRouter ?? .mixtral }
    public var auxLossCoefficient: Double { routerAuxLossCoef ?? 0.01 }
    public var zLossCoefficient: Double { routerZLossCoef ?? 0 }
    public var expertHiddenSize: Int { moeIntermediateSize ?? hiddenSize }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", blockSize = "block_size", nLayer = "n_layer", nHead = "n_head", nKVHead = "n_kv_head"
        case nEmbd = "n_embd", intermediateSize = "intermediate_size", dropout, bias, position
        case ropeTheta = "rope_theta", ropeLayout = "rope_layout", norm, normEps = "norm_eps", mlp
        case tieEmbeddings = "tie_embeddings", slidingWindow = "sliding_window", globalTokens = "global_tokens"
        case nExperts = "n_experts", expertsPerToken = "experts_per_token", moeRouter = "moe_router"
        case routerAuxLossCoef = "router_aux_loss_coef", routerZLossCoef = "router_z_loss_coef", routerJitter = "router_jitter"
        case capacityFactor = "capacity_factor", moeIntermediateSize = "moe_intermediate_size"
        case attention, linearChunk = "linear_chunk", linearFeatureMap = "linear_feature_map"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GPTConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize) ?? d.blockSize
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        nHead = try c.decodeIfPresent(Int.self, forKey: .nHead) ?? d.nHead
        nKVHead = try c.decodeIfPresent(Int.self, forKey: .nKVHead)
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd) ?? d.nEmbd
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? d.bias
        position = try c.decodeIfPresent(PositionEncoding.self, forKey: .position) ?? d.position
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        ropeLayout = try c.decodeIfPresent(RoPELayout.self, forKey: .ropeLayout) ?? d.ropeLayout
        norm = try c.decodeIfPresent(Norm.self, forKey: .norm) ?? d.norm
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps) ?? d.normEps
        mlp = try c.decodeIfPresent(MLPKind.self, forKey: .mlp) ?? d.mlp
        tieEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieEmbeddings) ?? d.tieEmbeddings
        slidingWindow = try c.decodeIfPresent(Int.self, forKey: .slidingWindow)
        globalTokens = try c.decodeIfPresent(Int.self, forKey: .globalTokens)
        nExperts = try c.decodeIfPresent(Int.self, forKey: .nExperts)
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken)
        moeRouter = try c.decodeIfPresent(RouterKind.self, forKey: .moeRouter)
        routerAuxLossCoef = try c.decodeIfPresent(Double.self, forKey: .routerAuxLossCoef)
        routerZLossCoef = try c.decodeIfPresent(Double.self, forKey: .routerZLossCoef)
        routerJitter = try c.decodeIfPresent(Double.self, forKey: .routerJitter)
        capacityFactor = try c.decodeIfPresent(Double.self, forKey: .capacityFactor)
        moeIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .moeIntermediateSize)
        attention = try c.decodeIfPresent(AttentionKind.self, forKey: .attention) ?? d.attention
        linearChunk = try c.decodeIfPresent(Int.self, forKey: .linearChunk) ?? d.linearChunk
        linearFeatureMap = try c.decodeIfPresent(LinearAttentionFeatureMap.self, forKey: .linearFeatureMap) ?? d.linearFeatureMap
        try validate()
    }

    /// Checks sizes and ranges; the error names the field and what was expected.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.blockSize, blockSize), (.nLayer, nLayer), (.nHead, nHead), (.nEmbd, nEmbd)]
        where value <= 0 { throw fail(key, "must be a positive integer, got \(value)") }
        guard nEmbd % nHead == 0 else { throw fail(.nEmbd, "must be a multiple of n_head (\(nHead)), got \(nEmbd)") }
        if let kv = nKVHead, kv <= 0 || nHead % kv != 0 { throw fail(.nKVHead, "must divide n_head (\(nHead)), got \(kv)") }
        if let h = intermediateSize, h <= 0 { throw fail(.intermediateSize, "must be a positive integer, got \(h)") }
        guard dropout >= 0 && dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        guard ropeTheta > 0 && ropeTheta.isFinite else { throw fail(.ropeTheta, "must be positive, got \(ropeTheta)") }
        guard normEps > 0 && normEps.isFinite else { throw fail(.normEps, "must be positive, got \(normEps)") }
        if position == .rope && headSize % 2 != 0 { throw fail(.nEmbd, "RoPE needs an even head size, got \(headSize)") }
        guard linearChunk >= 1 else { throw fail(.linearChunk, "must be a positive integer, got \(linearChunk)") }
        if let w = slidingWindow, w <= 0 { throw fail(.slidingWindow, "must be a positive integer (or absent for full attention), got \(w)") }
        if let g = globalTokens {
            guard g >= 0 else { throw fail(.globalTokens, "must be ≥ 0, got \(g)") }
            guard slidingWindow != nil || g == 0 else { throw fail(.globalTokens, "needs sliding_window (without a window every token is global)") }
        }
        if attention == .linear && (slidingWindow != nil || position == .alibi) {
            throw fail(.attention, "linear attention takes no sliding_window and no alibi positions (it has no score matrix to band or bias)")
        }
        try validateExperts(fail)
    }

    private func validateExperts(_ fail: (CodingKeys, String) -> ConfigError) throws {
        if let n = nExperts, n < 0 { throw fail(.nExperts, "must be 0 (dense MLP) or a positive number of experts, got \(n)") }
        guard experts > 0 else {
            let set: [(CodingKeys, Bool)] = [(.expertsPerToken, expertsPerToken != nil), (.moeRouter, moeRouter != nil),
                                             (.routerAuxLossCoef, routerAuxLossCoef != nil), (.routerZLossCoef, routerZLossCoef != nil),
                                             (.routerJitter, routerJitter != nil), (.capacityFactor, capacityFactor != nil),
                                             (.moeIntermediateSize, moeIntermediateSize != nil)]
            if let key = set.first(where: { $0.1 })?.0 { throw fail(key, "applies only to a mixture of experts; set n_experts > 0 or remove it") }
            return
        }
        if let k = expertsPerToken, !(1...experts).contains(k) { throw fail(.expertsPerToken, "must be in 1...n_experts (\(experts)), got \(k)") }
        if router == .switchTop1 && topK != 1 { throw fail(.expertsPerToken, "must be 1 with moe_router \"switch\" (top-1 routing), got \(topK)") }
        for (key, value) in [(CodingKeys.routerAuxLossCoef, routerAuxLossCoef), (.routerZLossCoef, routerZLossCoef)] {
            if let v = value, !(v >= 0 && v.isFinite) { throw fail(key, "must be a finite number ≥ 0, got \(v)") }
        }
        if let j = routerJitter, !(j >= 0 && j < 1) { throw fail(.routerJitter, "must be in [0, 1), got \(j)") }
        if let cf = capacityFactor, !(cf > 0 && cf.isFinite) { throw fail(.capacityFactor, "must be a positive number (or null for no token dropping), got \(cf)") }
        if let h = moeIntermediateSize, h <= 0 { throw fail(.moeIntermediateSize, "must be a positive integer, got \(h)") }
    }
}

extension GPTConfig {
    /// Embeddings, per-layer attention (q, k, v, output), MLP (two matrices, three for SwiGLU), norms and biases, the
    /// learned position table and an untied head. Exact up to biases and norms; used to refuse what cannot fit.
    public var estimatedParameterCount: Double? {
        let c = Double(nEmbd), v = Double(vocabSize), h = Double(hiddenSize), kv = Double(kvHeads) * Double(headSize)
        let attention = c * (c + 2 * kv) + c * c
        let e = Double(experts), he = Double(expertHiddenSize), expertMatrices = mlp == .gelu ? 2.0 : 3.0
        let feedForward = experts > 0 ? e * (expertMatrices * c * he + (bias ? he + c : 0)) + e * c : expertMatrices * c * h
        let layer = attention + feedForward + 4 * c + (bias ? 2 * c + 2 * kv + (experts > 0 ? 0 : h + c) : 0)
        return v * c + (position == .learned ? Double(blockSize) * c : 0) + Double(nLayer) * layer + 2 * c
            + (tieEmbeddings ? 0 : v * c)
    }

    /// Per layer: the block input, two norm outputs, q/k/v, attention output and projection, the MLP's hidden
    /// activations (before and after the nonlinearity) and output; doubled for gradients; plus logits and their
    /// gradient. An estimate, not a measurement.
    public var estimatedActivationsPerToken: Double? {
        let c = Double(nEmbd)
        // Each token passes through k experts: k hidden activations and k gathered copies of its input.
        let h = experts > 0 ? Double(topK) * (Double(expertHiddenSize) + 2 * c) : Double(hiddenSize)
        return 2 * (Double(nLayer) * (8 * c + 3 * h) + 2 * Double(vocabSize))
    }

    /// All JSON keys a GPT config may contain.
    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// A training run sets vocab_size from the data and block_size from the training block size unless given, and
    /// leaves biases out as nanoGPT's train.py does (`bias = False`; GPTConfig's own default is GPT-2's true).
    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] {
        ["vocab_size": vocabularySize, "block_size": blockSize, "bias": false]
    }

    /// Decodes a config, rejecting unknown keys; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> GPTConfig {
        try StrictJSON.decode(GPTConfig.self, from: data, allowedKeys: jsonKeys, source: source)
    }

    /// The JSON form (snake_case keys, sorted), as stored in checkpoints.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
