// GPT: a decoder-only Transformer, readable top to bottom. With the default GPTConfig it is GPT-2 (Radford et al. 2019)
// as nanoGPT writes it: token + learned position embeddings, pre-LayerNorm blocks of causal self-attention and a GELU
// MLP, a final LayerNorm, and an output head tied to the token embedding. Config options turn it into a Llama-shaped
// model: RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases, untied head. Parameter names are nanoGPT's
// (`transformer.h.0.attn.c_attn.weight`), so its checkpoints map one to one; Hugging Face layouts are in HuggingFace.swift.
import Foundation
import LMNN
import LMTensor

/// A GPT language model. `callAsFunction` gives logits, `loss` the training objective, `KVCache` incremental decoding.
public final class GPT: Module {
    public let config: GPTConfig
    public let transformer: Transformer
    /// [vocab, n_embd]; the same tensor as `transformer.wte.weight` when `tieEmbeddings`.
    public let lmHead: Linear

    public override var children: [(name: String, value: Any)] { [("transformer", transformer), ("lm_head", lmHead)] }

    /// A freshly initialized model (GPT-2 init, as nanoGPT's `_init_weights`): every Linear and Embedding weight
    /// N(0, 0.02), biases 0, norm weights 1, and the residual projections (`c_proj`) N(0, 0.02/√(2·n_layer)) so the
    /// residual stream's variance does not grow with depth.
    public convenience init(_ config: GPTConfig, generator: Generator) {
        self.init(config, initializer: generator)
    }

    /// `initializer` nil leaves every weight zero (for models whose weights are loaded next: a 124M-parameter random
    /// init costs seconds); dropout then draws from one generator seeded 0. Dropout layers share the generator.
    init(_ config: GPTConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "GPT: invalid config \(config)")
        self.config = config
        let residualStd = 0.02 / (2 * Double(config.nLayer)).squareRoot()
        transformer = Transformer(config, generator: generator, dropoutGenerator: generator ?? Generator(seed: 0), residualStd: residualStd)
        lmHead = config.tieEmbeddings
            ? Linear(weight: transformer.wte.weight, bias: nil)
            : Linear(weight: normalWeight([config.vocabSize, config.nEmbd], std: 0.02, generator), bias: nil)
    }

    /// A model holding the values of `stateDict` (nanoGPT names, as `stateDict()` writes them). Strict: a missing,
    /// unexpected or mis-shaped tensor is an error naming it. With tied embeddings `lm_head.weight` may be absent;
    /// when present it must equal `transformer.wte.weight`.
    public convenience init(_ config: GPTConfig, stateDict: [String: Tensor]) throws {
        self.init(config, initializer: nil)
        try load(stateDict)
    }

    /// Copies `stateDict` into this model's parameters (see `init(_:stateDict:)`).
    public func load(_ stateDict: [String: Tensor]) throws {
        let own = self.stateDict()
        var missing: [String] = [], mismatched: [String] = []
        for (name, tensor) in own.sorted(by: { $0.key < $1.key }) {
            guard let source = stateDict[name] else {
                if !(config.tieEmbeddings && name == "lm_head.weight") { missing.append(name) }
                continue
            }
            guard source.shape == tensor.shape else { mismatched.append("\(name): expected \(tensor.shape), found \(source.shape)"); continue }
        }
        let unexpected = stateDict.keys.filter { own[$0] == nil }.sorted()
        guard missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty else {
            throw GPTLoadError.stateDict(missing: missing, unexpected: unexpected, mismatched: mismatched)
        }
        noGrad {
            for (name, tensor) in own {
                guard let source = stateDict[name], !(config.tieEmbeddings && name == "lm_head.weight") else { continue }
                let values = source.contiguous().to(.float32)
                tensor.pointer(Float.self).update(from: values.pointer(Float.self), count: tensor.count)
            }
        }
    }

    /// Logits [batch, length, vocab] for `tokens` (row-major [batch, length]). With a `cache`, the tokens continue the
    /// cached sequence: positions start at `cache.length`, and their keys and values are appended to it.
    public func callAsFunction(_ tokens: [Int], batch: Int, length: Int, cache: KVCache? = nil) -> Tensor {
        lmHead(transformer(tokens, batch: batch, length: length, cache: cache))
    }

    /// Mean next-token cross-entropy of `targets` (row-major [batch, length]; -1 marks positions to ignore).
    public func loss(_ tokens: [Int], targets: [Int], batch: Int, length: Int) -> Tensor {
        precondition(targets.count == batch * length, "GPT.loss: \(targets.count) targets for batch \(batch) × length \(length)")
        return self(tokens, batch: batch, length: length).reshape([batch * length, config.vocabSize])
            .crossEntropy(targets: targets, ignoreIndex: -1)
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

/// Token and position embeddings, the blocks, and the final norm (nanoGPT's `transformer` ModuleDict).
public final class Transformer: Module {
    let config: GPTConfig
    public let wte: Embedding
    /// Learned positions [block_size, n_embd]; nil with RoPE.
    public let wpe: Embedding?
    let drop: Dropout
    public let h: [Block]
    public let lnF: Module & UnaryLayer

    public override var children: [(name: String, value: Any)] {
        var out: [(name: String, value: Any)] = [("wte", wte)]
        if let wpe { out.append(("wpe", wpe)) }
        return out + [("drop", drop), ("h", h), ("ln_f", lnF)]
    }

    init(_ config: GPTConfig, generator: Generator?, dropoutGenerator: Generator, residualStd: Double) {
        self.config = config
        wte = Embedding(weight: normalWeight([config.vocabSize, config.nEmbd], std: 0.02, generator))
        wpe = config.position == .learned ? Embedding(weight: normalWeight([config.blockSize, config.nEmbd], std: 0.02, generator)) : nil
        drop = Dropout(config.dropout, generator: dropoutGenerator)
        h = (0..<config.nLayer).map { _ in Block(config, generator: generator, dropoutGenerator: dropoutGenerator, residualStd: residualStd) }
        lnF = makeNorm(config)
    }

    /// Hidden states [batch, length, n_embd] after the final norm.
    func callAsFunction(_ tokens: [Int], batch: Int, length: Int, cache: KVCache?) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "GPT: \(tokens.count) tokens for batch \(batch) × length \(length)")
        let start = cache?.length ?? 0
        precondition(start + length <= config.blockSize,
                     "GPT: positions \(start)..<\(start + length) exceed block_size \(config.blockSize)")
        if let cache { precondition(cache.layers.count == h.count && (cache.batch == batch || cache.length == 0), "GPT: KV cache does not fit this model or batch") }
        var x = wte(tokens, shape: [batch, length])
        if let wpe { x = x + wpe.weight.slice(0, start, start + length) }
        x = drop(x)
        let rope = config.position == .rope
            ? Tensor.rotaryTables(positions: start..<(start + length), headSize: config.headSize, theta: config.ropeTheta) : nil
        for (i, block) in h.enumerated() { x = block(x, rope: rope, cache: cache?.layers[i]) }
        cache?.advance(batch: batch, by: length)
        return lnF(x)
    }
}

/// A pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
public final class Block: Module {
    public let ln1: Module & UnaryLayer
    public let attn: CausalSelfAttention
    public let ln2: Module & UnaryLayer
    public let mlp: FeedForward

    public override var children: [(name: String, value: Any)] { [("ln_1", ln1), ("attn", attn), ("ln_2", ln2), ("mlp", mlp)] }

    init(_ config: GPTConfig, generator: Generator?, dropoutGenerator: Generator, residualStd: Double) {
        ln1 = makeNorm(config)
        attn = CausalSelfAttention(config, generator: generator, dropoutGenerator: dropoutGenerator, residualStd: residualStd)
        ln2 = makeNorm(config)
        mlp = FeedForward(config, generator: generator, dropoutGenerator: dropoutGenerator, residualStd: residualStd)
    }

    func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)?, cache: KVCache.Layer?) -> Tensor {
        let x = x + attn(ln1(x), rope: rope, cache: cache)
        return x + mlp(ln2(x))
    }
}

/// Multi-head (or grouped-query) causal self-attention with one fused q/k/v projection.
public final class CausalSelfAttention: Module {
    let config: GPTConfig
    /// [(n_head + 2·n_kv_head)·head_size, n_embd]: rows of every q head, then every k head, then every v head.
    public let cAttn: Linear
    public let cProj: Linear
    let attentionDropout: Dropout
    let residualDropout: Dropout

    public override var children: [(name: String, value: Any)] {
        [("c_attn", cAttn), ("c_proj", cProj), ("attn_dropout", attentionDropout), ("resid_dropout", residualDropout)]
    }

    init(_ config: GPTConfig, generator: Generator?, dropoutGenerator: Generator, residualStd: Double) {
        self.config = config
        let qkvRows = (config.nHead + 2 * config.kvHeads) * config.headSize
        cAttn = Linear(weight: normalWeight([qkvRows, config.nEmbd], std: 0.02, generator), bias: config.bias ? Tensor.zeros([qkvRows]) : nil)
        cProj = Linear(weight: normalWeight([config.nEmbd, config.nEmbd], std: residualStd, generator),
                       bias: config.bias ? Tensor.zeros([config.nEmbd]) : nil)
        attentionDropout = Dropout(config.dropout, generator: dropoutGenerator)
        residualDropout = Dropout(config.dropout, generator: dropoutGenerator)
    }

    func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)?, cache: KVCache.Layer?) -> Tensor {
        let (B, T, C) = (x.shape[0], x.shape[1], x.shape[2])
        let H = config.nHead, Hkv = config.kvHeads, hd = config.headSize
        let qkv = cAttn(x).reshape([B, T, H + 2 * Hkv, hd])
        var q = qkv.slice(2, 0, H), k = qkv.slice(2, H, H + Hkv)
        let v = qkv.slice(2, H + Hkv, H + 2 * Hkv)
        if let rope {
            q = q.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: config.ropeLayout)
            k = k.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: config.ropeLayout)
        }
        // [B, heads, T, hd]; with a cache, keys and values of earlier positions come first.
        var keys = k.transpose(1, 2), values = v.transpose(1, 2)
        if let cache { (keys, values) = cache.append(keys: keys, values: values) }
        let queries = q.transpose(1, 2)
        let y: Tensor
        if isTraining && config.dropout > 0 {
            y = attentionWithDropout(queries, keys, values)
        } else {
            y = Tensor.scaledDotProductAttention(queries, keys, values, causal: true)
        }
        return residualDropout(cProj(y.transpose(1, 2).reshape([B, T, C])))
    }

    /// Dropout on the attention probabilities needs them materialized (the fused kernel never forms them), so training
    /// with dropout > 0 takes this path, as nanoGPT's does without flash attention: softmax(QKᵀ/√d + causal) → dropout → ·V.
    func attentionWithDropout(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> Tensor {
        let (B, H, Tq, hd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let Hkv = k.shape[1], Tk = k.shape[2], group = H / Hkv
        func expandHeads(_ t: Tensor) -> Tensor {
            group == 1 ? t : t.unsqueeze(2).expand([B, Hkv, group, Tk, hd]).reshape([B, H, Tk, hd])
        }
        let scores = q.matmul(expandHeads(k).transpose(2, 3)) * (1 / Double(hd).squareRoot())
        let masked = scores + Tensor.triuMask(Tq, Tk, diagonal: Tk - Tq + 1) * -1e30
        return attentionDropout(masked.softmax(axis: -1)).matmul(expandHeads(v))
    }
}

/// The position-wise MLP: GELU (tanh) for GPT-2, or SwiGLU (silu(gate)·up) for Llama, then a projection back.
public final class FeedForward: Module {
    let kind: GPTConfig.MLPKind
    /// GELU: [hidden, n_embd]. SwiGLU: [2·hidden, n_embd], gate rows then up rows.
    public let cFc: Linear
    public let cProj: Linear
    let dropout: Dropout

    public override var children: [(name: String, value: Any)] { [("c_fc", cFc), ("c_proj", cProj), ("dropout", dropout)] }

    init(_ config: GPTConfig, generator: Generator?, dropoutGenerator: Generator, residualStd: Double) {
        kind = config.mlp
        let hidden = config.hiddenSize, fcRows = config.mlp == .swiglu ? 2 * hidden : hidden
        cFc = Linear(weight: normalWeight([fcRows, config.nEmbd], std: 0.02, generator), bias: config.bias ? Tensor.zeros([fcRows]) : nil)
        cProj = Linear(weight: normalWeight([config.nEmbd, hidden], std: residualStd, generator),
                       bias: config.bias ? Tensor.zeros([config.nEmbd]) : nil)
        dropout = Dropout(config.dropout, generator: dropoutGenerator)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        let h = cFc(x)
        switch kind {
        case .gelu:
            return dropout(cProj(h.gelu(.tanh)))
        case .swiglu:
            let halves = h.split([h.shape[h.rank - 1] / 2, h.shape[h.rank - 1] / 2], axis: h.rank - 1)
            return dropout(cProj(halves[0].silu() * halves[1]))
        }
    }
}

/// Keys and values of the positions decoded so far, per layer, so each new token costs one position's work.
/// Keys are stored after RoPE (positions are absolute). Not thread-safe; one cache per sequence batch.
public final class KVCache {
    public final class Layer {
        var keys: Tensor?, values: Tensor?
        /// Appends [B, Hkv, T, hd] keys/values and returns everything cached so far (including them).
        func append(keys newKeys: Tensor, values newValues: Tensor) -> (Tensor, Tensor) {
            let k = keys.map { Tensor.concat([$0, newKeys.detach()], axis: 2) } ?? newKeys.detach().contiguous()
            let v = values.map { Tensor.concat([$0, newValues.detach()], axis: 2) } ?? newValues.detach().contiguous()
            keys = k; values = v
            return (k, v)
        }
    }

    public let layers: [Layer]
    /// Positions cached so far.
    public private(set) var length = 0
    public private(set) var batch = 0

    /// An empty cache for `model`.
    public init(for model: GPT) { layers = (0..<model.config.nLayer).map { _ in Layer() } }

    func advance(batch: Int, by count: Int) { self.batch = batch; length += count }

    /// Forgets everything (the next forward starts at position 0).
    public func reset() {
        for layer in layers { layer.keys = nil; layer.values = nil }
        length = 0; batch = 0
    }
}

/// A problem with weights given to a model; the message names the tensors.
public enum GPTLoadError: Error, CustomStringConvertible {
    case stateDict(missing: [String], unexpected: [String], mismatched: [String])

    public var description: String {
        switch self {
        case let .stateDict(missing, unexpected, mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing tensors: \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected tensors: \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty { parts.append("shape mismatches: \(mismatched.joined(separator: "; "))") }
            return "GPT weights do not match the config: " + parts.joined(separator: "; ")
        }
    }
}

func makeNorm(_ config: GPTConfig) -> Module & UnaryLayer {
    switch config.norm {
    case .layerNorm: return LayerNorm(config.nEmbd, eps: config.normEps, bias: config.bias)
    case .rmsNorm: return RMSNorm(config.nEmbd, eps: config.normEps)
    }
}

/// N(0, std²) weights drawn from `generator`, or zeros without one (weights about to be loaded).
func normalWeight(_ shape: [Int], std: Double, _ generator: Generator?) -> Tensor {
    guard let generator else { return Tensor(zeros: shape) }
    return Init.normal(Tensor(zeros: shape), std: std, generator: generator)
}
