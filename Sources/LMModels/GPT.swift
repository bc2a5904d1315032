// GPT: a decoder-only Transformer, readable top to bottom. With the default GPTConfig it is GPT-2 (Radford et al. 2019)
// as nanoGPT writes it: token + learned position embeddings, pre-LayerNorm blocks of causal self-attention and a GELU
// MLP, a final LayerNorm, and an output head tied to the token embedding. Config options turn it into a Llama-shaped
// model: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases, untied head. Parameter names are nanoGPT's
// (`transformer.h.0.attn.c_attn.weight`), so its checkpoints map one to one; Hugging Face layouts are in
// HuggingFaceGPT2.swift and HuggingFaceLlama.swift.
import Foundation
import LMNN
import LMTensor

/// A GPT language model: logits, the next-token loss, and incremental decoding through a `KVCache`.
public final class GPT: Module, IncrementalDecoding {
    public let config: GPTConfig
    public let transformer: Transformer
    /// [vocab, n_embd]; the same tensor as `transformer.wte.weight` when `tieEmbeddings`.
    public let lmHead: Linear
    public override class var keys: [String: String] { ["lmHead": "lm_head"] }
    /// Sums and counts of the router loss values of training forwards since the last `trainingStatistics()` (MoE only).
    var routerLossSums = (balance: 0.0, z: 0.0, count: 0)

    /// A freshly initialized model (GPT-2 init, as nanoGPT's `_init_weights`): every Linear and Embedding weight
    /// N(0, 0.02), biases 0, norm weights 1, and the residual projections (`c_proj`) N(0, 0.02/√(2·n_layer)) so the
    /// residual stream's variance does not grow with depth.
    public convenience init(_ config: GPTConfig, generator: Generator) {
        self.init(config, initializer: generator)
    }

    /// `initializer` nil leaves every weight zero (for models whose weights are loaded next: a 124M-parameter random
    /// init costs seconds); dropout then draws from one generator seeded 0. Dropout layers share the generator.
    public init(_ config: GPTConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "GPT: invalid config \(config)")
        self.config = config
        let residualStd = 0.02 / (2 * Double(config.nLayer)).squareRoot()
        transformer = Transformer(config, generator: generator, dropoutGenerator: generator ?? Generator(seed: 0), residualStd: residualStd)
        lmHead = config.tieEmbeddings
            ? Linear(weight: transformer.wte.weight, bias: nil)
            : Linear(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator), bias: nil)
    }

    /// A model holding the values of `stateDict` (nanoGPT names, as `stateDict()` writes them). Strict: a missing,
    /// unexpected or mis-shaped tensor is an error naming it. With tied embeddings `lm_head.weight` may be absent.
    public convenience init(_ config: GPTConfig, stateDict: [String: Tensor]) throws {
        self.init(config, initializer: nil)
        try load(stateDict, source: "GPT weights")
    }

    public var aliasedStateDictKeys: Set<String> { config.tieEmbeddings ? ["lm_head.weight"] : [] }

    /// Logits [batch, length, vocab] for `tokens` (row-major [batch, length]). With a `cache`, the tokens continue the
    /// cached sequence: positions start at `cache.length`, and their keys and values are appended to it.
    public func callAsFunction(_ tokens: [Int], batch: Int, length: Int, cache: KVCache? = nil) -> Tensor {
        lmHead(transformer(tokens, batch: batch, length: length, cache: cache))
    }

    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor { self(tokens, batch: batch, length: length) }

    /// Mean next-token cross-entropy of `batch.targets` (-1 marks positions to ignore).
    /// The head and the loss are one op (`linearCrossEntropy`): no [B·T, vocab] logits tensor is kept for backward.
    /// With experts, in training mode, plus the router losses (`routerLoss()`); in eval mode the cross-entropy alone, so
    /// validation losses compare across dense and MoE models.
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor {
        let loss = transformer(batch.inputs, batch: batch.batch, length: batch.length, cache: nil)
            .reshape([batch.batch * batch.length, config.nEmbd])
            .linearCrossEntropy(weight: lmHead.weight, bias: lmHead.bias, targets: batch.targets, ignoreIndex: -1)
        guard isTraining, let router = routerLoss() else { return loss }
        return loss + router
    }

    /// Mean next-token cross-entropy of `targets` (row-major [batch, length]; -1 marks positions to ignore).
    public func loss(_ tokens: [Int], targets: [Int], batch: Int, length: Int) -> Tensor {
        loss(TokenBatch(inputs: tokens, targets: targets, batch: batch, length: length), generator: Generator(seed: 0))
    }

    /// A KV cache; with `sliding_window` a rolling one that holds the global tokens and the last window positions.
    public func makeDecodingState(batch: Int) -> KVCache {
        KVCache(layerCount: config.nLayer, maximumLength: config.blockSize, window: config.slidingWindow, globalTokens: config.globalTokens ?? 0)
    }

    public func decode(_ tokens: [Int], batch: Int, length: Int, state: KVCache) -> Tensor {
        self(tokens, batch: batch, length: length, cache: state)
    }

    /// Moves a state dict between RoPE layouts by permuting the rows of each head of q and k in `c_attn`.
    /// Rotating pairs (i, i + d/2) on rows ordered [0, 2, 4, …, 1, 3, 5, …] equals rotating pairs (2i, 2i+1) on the
    /// original order (the permutation Hugging Face's `convert_llama_weights_to_hf.py` applies to Meta checkpoints),
    /// so the model computes the same function after the conversion. Other tensors are returned unchanged.
    public static func convertRoPELayout(_ stateDict: [String: Tensor], config: GPTConfig,
                                         from source: GPTConfig.RoPELayout, to target: GPTConfig.RoPELayout) -> [String: Tensor] {
        guard source != target else { return stateDict }
        let hd = config.headSize, half = hd / 2
        // Row r of a half-split head holds interleaved row interleavedRow[r].
        let interleavedRow = (0..<hd).map { $0 < half ? 2 * $0 : 2 * ($0 - half) + 1 }
        var out = stateDict
        for (name, tensor) in stateDict where name.hasSuffix("attn.c_attn.weight") || name.hasSuffix("attn.c_attn.bias") {
            let rows = tensor.shape[0], width = tensor.count / rows
            let values = tensor.contiguous().to(.float32).toArray()
            var permuted = values
            let rotatedHeads = config.nHead + config.kvHeads  // q heads, then k heads; v is not rotated
            for head in 0..<rotatedHeads {
                for r in 0..<hd {
                    let (dst, src) = target == .halfSplit ? (r, interleavedRow[r]) : (interleavedRow[r], r)
                    let to = (head * hd + dst) * width, from = (head * hd + src) * width
                    permuted.replaceSubrange(to..<(to + width), with: values[from..<(from + width)])
                }
            }
            out[name] = Tensor(permuted, shape: tensor.shape)
        }
        return out
    }
}

/// Token and position embeddings, the blocks, and the final norm (nanoGPT's `transformer` ModuleDict). GPT's trunk is
/// causal; the masked-diffusion family reuses it bidirectional (`causal: false`) or block-causal (`blockLength`).
public final class Transformer: Module {
    let config: GPTConfig
    /// Block diffusion: attention is bidirectional inside blocks of this many positions and causal across them.
    let blockLength: Int?
    public let wte: Embedding
    /// Learned positions [block_size, n_embd]; nil with RoPE, ALiBi or sinusoidal positions.
    public let wpe: Embedding?
    /// The fixed sinusoidal table [block_size, n_embd] (not saved); nil otherwise.
    @Buffer var sinusoidal: Tensor
    let drop: Dropout
    public let h: [TransformerBlock]
    public let lnF: Module & UnaryLayer
    public override class var keys: [String: String] { ["lnF": "ln_f"] }

    init(_ config: GPTConfig, causal: Bool = true, blockLength: Int? = nil, generator: Generator?, dropoutGenerator: Generator,
         residualStd: Double) {
        self.config = config
        self.blockLength = blockLength
        wte = Embedding(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator))
        wpe = config.position == .learned ? Embedding(weight: Init.normal([config.blockSize, config.nEmbd], std: 0.02, generator)) : nil
        _sinusoidal = Buffer(wrappedValue: config.position == .sinusoidal
            ? PositionEncoding.sinusoidalTable(length: config.blockSize, width: config.nEmbd) : Tensor(zeros: [0]), persistent: false)
        drop = Dropout(config.dropout, generator: dropoutGenerator)
        h = (0..<config.nLayer).map { _ in
            TransformerBlock(
                attention: SelfAttention(width: config.nEmbd, heads: config.nHead, kvHeads: config.kvHeads, causal: causal,
                                         window: config.slidingWindow, globalTokens: config.globalTokens ?? 0, bias: config.bias,
                                         dropout: config.dropout, rotaryLayout: config.position == .rope ? config.ropeLayout : nil,
                                         alibiSlopes: config.position == .alibi ? PositionEncoding.alibiSlopes(heads: config.nHead) : nil,
                                         linear: config.attention == .linear ? LinearAttentionOptions(featureMap: config.linearFeatureMap, chunk: config.linearChunk) : nil,
                                         outputStd: residualStd, generator: generator, dropoutGenerator: dropoutGenerator),
                mlp: config.experts > 0
                    ? MixtureOfExperts(width: config.nEmbd, hidden: config.expertHiddenSize, experts: config.experts, topK: config.topK,
                                       routing: config.router, kind: config.mlp, bias: config.bias, dropout: config.dropout,
                                       capacityFactor: config.capacityFactor, jitter: config.routerJitter ?? 0, outputStd: residualStd,
                                       generator: generator, dropoutGenerator: dropoutGenerator)
                    : FeedForward(width: config.nEmbd, hidden: config.hiddenSize, kind: config.mlp, bias: config.bias, dropout: config.dropout,
                                  outputStd: residualStd, generator: generator, dropoutGenerator: dropoutGenerator),
                norms: (config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias),
                        config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias)),
                position: .pre)
        }
        lnF = config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias)
    }

    /// Hidden states [batch, length, n_embd] after the final norm.
    func callAsFunction(_ tokens: [Int], batch: Int, length: Int, cache: KVCache?) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "Transformer: \(tokens.count) tokens for batch \(batch) × length \(length)")
        let start = cache?.length ?? 0
        precondition(start + length <= config.contextLength ?? Int.max,
                     "Transformer: positions \(start)..<\(start + length) exceed block_size \(config.blockSize)")
        if let cache { precondition(cache.layers.count == h.count, "Transformer: a KV cache of \(cache.layers.count) layers for \(h.count) blocks") }
        var x = wte(tokens, shape: [batch, length])             // [B, T, C]
        if let wpe { x = x + wpe.weight.slice(0, start, start + length) }
        if config.position == .sinusoidal { x = x + sinusoidal.slice(0, start, start + length) }
        x = drop(x)
        let rope = config.position == .rope
            ? Tensor.rotaryTables(positions: start..<(start + length), headSize: config.headSize, theta: config.ropeTheta) : nil
        for (i, block) in h.enumerated() { x = block(x, rope: rope, cache: cache?.layers[i], blockLength: blockLength) }
        return lnF(x)
    }
}

extension KVCache: DecodingState {}

// MARK: - Mixture of experts

extension GPT: TrainingStatisticsReporting {
    /// The blocks' mixture-of-experts MLPs (empty for a dense model).
    public var expertLayers: [MixtureOfExperts] { transformer.h.compactMap { $0.mlp as? MixtureOfExperts } }

    /// router_aux_loss_coef · load-balancing loss (HF Mixtral's form for the mixtral router, Switch's for switch) +
    /// router_z_loss_coef · z-loss, over the routing of the last forward of every expert layer; nil for a dense model
    /// or when both coefficients are 0. Every term with a nonzero coefficient is added: never skipped.
    public func routerLoss() -> Tensor? {
        let records = expertLayers.compactMap(\.lastRecord)
        guard !records.isEmpty else { return nil }
        // A term whose coefficient is 0 is still computed for the training log, but without a graph.
        func term(_ coefficient: Double, _ loss: () -> Tensor?) -> Tensor? { coefficient > 0 ? loss() : noGrad(loss) }
        let balance = term(config.auxLossCoefficient) {
            MixtureOfExperts.loadBalancingLoss(records, form: config.router == .switchTop1 ? .switchTransformers : .mixtral)
        }
        let z = term(config.zLossCoefficient) { MixtureOfExperts.zLoss(records) }
        if isTraining, let balance, let z {
            routerLossSums = (routerLossSums.balance + Double(balance.item()), routerLossSums.z + Double(z.item()), routerLossSums.count + 1)
        }
        var total: Tensor?
        for (coefficient, term) in [(config.auxLossCoefficient, balance), (config.zLossCoefficient, z)] where coefficient > 0 {
            guard let term else { continue }
            total = total.map { $0 + term * coefficient } ?? term * coefficient
        }
        return total
    }

    /// Since the last call: mean load-balancing loss (`aux_loss`, the configured form) and z-loss, the least and most
    /// loaded expert over all layers (`expert_load_min`/`max`: fraction of a layer's top-k choices; 1/E is balanced),
    /// and the fraction of choices dropped by the capacity factor. Empty for a dense model.
    public func trainingStatistics() -> [(String, Double)] {
        let usage = expertLayers.compactMap { $0.takeUsage() }
        let sums = routerLossSums
        routerLossSums = (0, 0, 0)
        guard !usage.isEmpty else { return [] }
        let loads = usage.flatMap(\.load)
        var out: [(String, Double)] = []
        if sums.count > 0 { out += [("aux_loss", sums.balance / Double(sums.count)), ("z_loss", sums.z / Double(sums.count))] }
        out += [("expert_load_min", loads.min() ?? 0), ("expert_load_max", loads.max() ?? 0),
                ("dropped", usage.map(\.dropped).reduce(0, +) / Double(usage.count))]
        return out
    }
}
