// Transformer parts every attention-based family composes: multi-head (or grouped-query) self-attention with a fused
// q/k/v projection, causal or bidirectional, with per-sequence key lengths (padding) and an optional KV cache; the
// position-wise MLP (GELU or SwiGLU); a block with pre- or post-norm residuals; and the position encodings (learned,
// sinusoidal, RoPE). Member names are nanoGPT's (`c_attn`, `c_proj`, `ln_1`, `mlp.c_fc`), the checkpoint keys of
// LMKit's GPT; a family with other names maps them in its Hugging Face adapter. Attention runs in the fused kernel
// (LMKernels/Attention.swift): causal structure and padding are handled tile by tile, never as a T×T mask.
import Foundation
import LMTensor

/// How a block places its norms: `pre` (GPT-2, Llama): x + f(norm(x)); `post` (BERT, the original Transformer):
/// norm(x + f(x)).
public enum NormPosition: String, Codable, Sendable { case pre, post }

/// Normalization layers a Transformer chooses between.
public enum NormKind: String, Codable, Sendable {
    case layerNorm = "layernorm", rmsNorm = "rmsnorm"

    /// A norm over the last dimension of width `size`; `bias` applies to LayerNorm only.
    public func make(_ size: Int, eps: Double, bias: Bool) -> Module & UnaryLayer {
        switch self {
        case .layerNorm: return LayerNorm(size, eps: eps, bias: bias)
        case .rmsNorm: return RMSNorm(size, eps: eps)
        }
    }
}

/// The MLP of a block: `gelu` (GPT-2, BERT: Linear → GELU → Linear) or `swiglu` (Llama: silu(gate)·up → Linear).
public enum FeedForwardKind: String, Codable, Sendable { case gelu, swiglu }

/// How positions enter the model: a `learned` table added to the embeddings (GPT-2, BERT), a fixed `sinusoidal` one
/// (Vaswani et al. 2017, §3.5), `rope`, rotating queries and keys inside attention (Su et al. 2021), or `alibi`, a
/// per-head linear distance penalty on the attention scores (Press et al. 2022), applied inside the fused kernel.
public enum PositionEncoding: String, Codable, Sendable {
    case learned, sinusoidal, rope, alibi

    /// ALiBi's head slopes, as ofirpress/attention_with_linear_biases `get_slopes` (and HF Bloom's
    /// `build_alibi_tensor`) compute them: for n a power of two the geometric sequence 2^(−8/n), 2^(−16/n), …, 2^(−8);
    /// otherwise the slopes of the largest power of two p < n, then every other slope of 2p's sequence (the odd
    /// powers of 2^(−8/(2p))) for the remaining n − p heads.
    public static func alibiSlopes(heads n: Int) -> [Double] {
        precondition(n >= 1, "alibiSlopes: need at least one head, got \(n)")
        func powerOfTwo(_ n: Int) -> [Double] {
            let start = Foundation.pow(2, -8 / Double(n))
            return (1...n).map { Foundation.pow(start, Double($0)) }
        }
        if n & (n - 1) == 0 { return powerOfTwo(n) }
        var p = 1
        while p * 2 < n { p *= 2 }
        return powerOfTwo(p) + Array(stride(from: 0, to: 2 * p, by: 2).map { powerOfTwo(2 * p)[$0] }.prefix(n - p))
    }

    /// The sinusoidal table [length, width]: PE(p, 2i) = sin(p / 10000^(2i/width)), PE(p, 2i+1) = cos(…).
    public static func sinusoidalTable(length: Int, width: Int) -> Tensor {
        var values = [Float](repeating: 0, count: length * width)
        for p in 0..<length {
            for i in stride(from: 0, to: width, by: 2) {
                let angle = Double(p) / Foundation.pow(10000, Double(i) / Double(width))
                values[p * width + i] = Float(Foundation.sin(angle))
                if i + 1 < width { values[p * width + i + 1] = Float(Foundation.cos(angle)) }
            }
        }
        return Tensor(values, shape: [length, width])
    }
}

extension Init {
    /// N(0, std²) weights of `shape` from `generator`, or zeros without one (weights about to be loaded).
    public static func normal(_ shape: [Int], std: Double, _ generator: Generator?) -> Tensor {
        guard let generator else { return Tensor(zeros: shape) }
        return normal(Tensor(zeros: shape), std: std, generator: generator)
    }
}

/// Multi-head self-attention with grouped-query heads (`kvHeads` ≤ `heads`) and one fused q/k/v projection whose
/// rows are every q head, then every k head, then every v head.
public final class SelfAttention: Module {
    public let heads: Int, kvHeads: Int, headSize: Int
    /// Causal (decoder) or bidirectional (encoder).
    public let causal: Bool
    /// The RoPE pairing when positions are rotary; nil otherwise.
    public let rotaryLayout: RotaryLayout?
    /// Causal sliding window (Mistral-style band): query i sees keys i−window < j ≤ i; nil attends to the whole prefix.
    public let window: Int?
    /// Linear attention (LinearSelfAttention.swift) instead of softmax attention; the projections are the same.
    public let linear: LinearAttentionOptions?
    /// With a window: the first `globalTokens` positions are seen by every later query (Longformer global tokens).
    public let globalTokens: Int
    /// ALiBi slopes, one per head (`PositionEncoding.alibiSlopes`); nil without ALiBi.
    public let alibiSlopes: [Double]?
    /// [(heads + 2·kvHeads)·headSize, width].
    public let qkv: Linear
    /// [width, heads·headSize].
    public let output: Linear
    let attentionDropout: Dropout
    let residualDropout: Dropout
    public override class var keys: [String: String] {
        ["qkv": "c_attn", "output": "c_proj", "attentionDropout": "attn_dropout", "residualDropout": "resid_dropout"]
    }

    /// Weights N(0, initStd²), the output projection N(0, outputStd²) (GPT-2 scales it by 1/√(2·layers)); biases 0.
    public init(width: Int, heads: Int, kvHeads: Int, causal: Bool, window: Int? = nil, globalTokens: Int = 0, bias: Bool, dropout: Double,
                rotaryLayout: RotaryLayout?, alibiSlopes: [Double]? = nil, linear: LinearAttentionOptions? = nil, initStd: Double = 0.02,
                outputStd: Double, generator: Generator?, dropoutGenerator: Generator) {
        precondition(width % heads == 0 && heads % kvHeads == 0, "SelfAttention: width \(width), heads \(heads), kv heads \(kvHeads)")
        precondition(window == nil || (causal && window! > 0), "SelfAttention: a window needs causal attention and a positive size")
        precondition(globalTokens >= 0 && (globalTokens == 0 || window != nil), "SelfAttention: global tokens need a window")
        precondition(alibiSlopes == nil || alibiSlopes!.count == heads, "SelfAttention: one ALiBi slope per head")
        self.heads = heads; self.kvHeads = kvHeads; headSize = width / heads
        self.causal = causal; self.window = window; self.globalTokens = globalTokens; self.rotaryLayout = rotaryLayout
        self.alibiSlopes = alibiSlopes
        precondition(linear == nil || (window == nil && alibiSlopes == nil), "SelfAttention: linear attention takes no window and no ALiBi")
        self.linear = linear
        let qkvRows = (heads + 2 * kvHeads) * headSize
        qkv = Linear(weight: Init.normal([qkvRows, width], std: initStd, generator), bias: bias ? Tensor.zeros([qkvRows]) : nil)
        output = Linear(weight: Init.normal([width, width], std: outputStd, generator), bias: bias ? Tensor.zeros([width]) : nil)
        attentionDropout = Dropout(dropout, generator: dropoutGenerator)
        residualDropout = Dropout(dropout, generator: dropoutGenerator)
    }

    /// [B, T, width] → [B, T, width]. `rope`: cos/sin tables of the T positions; `keyLengths`: per sequence, the
    /// number of real (unpadded) positions, so key j of sequence b is attended to only when j < keyLengths[b];
    /// `cache`: keys and values of earlier positions, appended to (decoding); `blockLength` (bidirectional layers
    /// only): block-causal attention for this call, bidirectional inside blocks of that length and causal across them.
    public func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)? = nil, keyLengths: [Int]? = nil,
                               cache: KVCache.Layer? = nil, blockLength: Int? = nil) -> Tensor {
        if let linear { return linearAttention(x, linear, rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength) }
        let (B, T, C) = (x.shape[0], x.shape[1], x.shape[2])
        let H = heads, Hkv = kvHeads, hd = headSize
        let qkv = self.qkv(x).reshape([B, T, H + 2 * Hkv, hd])
        if rope == nil && cache == nil && !(isTraining && attentionDropout.p > 0) {
            // The common training and encoding case: the kernel reads the projection and writes merged heads in place.
            let y = Tensor.packedSelfAttention(qkv, heads: H, kvHeads: Hkv, causal: causal, keyLengths: keyLengths, window: window,
                                               blockLength: blockLength, globalTokens: globalTokens, alibiSlopes: alibiSlopes)
            return residualDropout(output(y.reshape([B, T, C])))
        }
        var q = qkv.slice(2, 0, H), k = qkv.slice(2, H, H + Hkv)
        let v = qkv.slice(2, H + Hkv, H + 2 * Hkv)
        if let rope, let rotaryLayout {
            q = q.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: rotaryLayout)
            k = k.rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: rotaryLayout)
        }
        // [B, heads, T, hd]; with a cache, keys and values of earlier positions come first.
        var keys = k.transpose(1, 2), values = v.transpose(1, 2)
        if let cache { (keys, values) = cache.append(keys: keys, values: values) }
        let keyGap = cache?.droppedPositions ?? 0  // a rolling cache holds the global prefix, then the recent positions
        let queries = q.transpose(1, 2)
        let y: Tensor
        if isTraining && attentionDropout.p > 0 {
            y = attentionWithDropout(queries, keys, values, keyLengths: keyLengths, blockLength: blockLength, keyGap: keyGap)
        } else {
            y = Tensor.scaledDotProductAttention(queries, keys, values, causal: causal, keyLengths: keyLengths, window: window,
                                                 blockLength: blockLength, globalTokens: globalTokens, alibiSlopes: alibiSlopes, keyGap: keyGap)
        }
        return residualDropout(output(y.transpose(1, 2).reshape([B, T, C])))
    }

    /// Dropout on the attention probabilities needs them materialized (the fused kernel never forms them), so training
    /// with dropout > 0 takes this path, as nanoGPT's does without flash attention: softmax(QKᵀ/√d + mask) → dropout → ·V.
    func attentionWithDropout(_ q: Tensor, _ k: Tensor, _ v: Tensor, keyLengths: [Int]?, blockLength: Int? = nil, keyGap: Int = 0) -> Tensor {
        let (B, H, Tq, hd) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let Hkv = k.shape[1], Tk = k.shape[2], group = H / Hkv
        func expandHeads(_ t: Tensor) -> Tensor {
            group == 1 ? t : t.unsqueeze(2).expand([B, Hkv, group, Tk, hd]).reshape([B, H, Tk, hd])
        }
        var scores = q.matmul(expandHeads(k).transpose(2, 3)) * (1 / Double(hd).squareRoot())
        if causal { scores = scores + Tensor.triuMask(Tq, Tk, diagonal: Tk - Tq + 1) * -1e30 }
        // Window (global keys exempt) and ALiBi through the kernel's own rules, as [Tq, Tk] and [H, Tq, Tk] additions.
        let rules = AttentionShape(batch: B, heads: H, kvHeads: Hkv, queryLength: Tq, keyLength: Tk, headSize: hd, causal: causal,
                                   window: window, globalTokens: globalTokens, alibiSlopes: alibiSlopes, keyGap: keyGap)
        if window != nil {
            var hidden = [Float](repeating: 0, count: Tq * Tk)
            for i in 0..<Tq { for j in 0..<Tk where !rules.visible(batch: 0, i, j) { hidden[i * Tk + j] = -1e30 } }
            scores = scores + Tensor(hidden, shape: [Tq, Tk])
        }
        if alibiSlopes != nil {
            var bias = [Float](repeating: 0, count: H * Tq * Tk)
            for h in 0..<H { for i in 0..<Tq { for j in 0..<Tk { bias[(h * Tq + i) * Tk + j] = Float(rules.alibiBias(head: h, i, j)) } } }
            scores = scores + Tensor(bias, shape: [1, H, Tq, Tk])
        }
        if let blockLength {
            var hidden = [Float](repeating: 0, count: Tq * Tk)
            for i in 0..<Tq { for j in 0..<Tk where j / blockLength > (i + Tk - Tq) / blockLength { hidden[i * Tk + j] = -1e30 } }
            scores = scores + Tensor(hidden, shape: [Tq, Tk])
        }
        if let keyLengths {
            var padding = [Float](repeating: 0, count: B * Tk)
            for b in 0..<B { for j in keyLengths[b]..<Tk { padding[b * Tk + j] = -1e30 } }
            scores = scores + Tensor(padding, shape: [B, 1, 1, Tk])
        }
        return attentionDropout(scores.softmax(axis: -1)).matmul(expandHeads(v))
    }
}

/// The position-wise part of a block: a dense `FeedForward` or a routed `MixtureOfExperts`.
public protocol FeedForwardLayer: Module {
    /// [B, T, width] → [B, T, width]; `keyLengths`: per sequence, the real positions (later ones are padding).
    func callAsFunction(_ x: Tensor, keyLengths: [Int]?) -> Tensor
}

extension FeedForwardLayer {
    /// Without padding.
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, keyLengths: nil) }
}

/// The position-wise MLP: GELU (tanh, GPT-2; erf, BERT) or SwiGLU (silu(gate)·up, Llama), then a projection back.
public final class FeedForward: Module, FeedForwardLayer {
    public let kind: FeedForwardKind
    let approximation: GELU.Approximation
    /// GELU: [hidden, width]. SwiGLU: [2·hidden, width], gate rows then up rows.
    public let input: Linear
    public let output: Linear
    let dropout: Dropout
    public override class var keys: [String: String] { ["input": "c_fc", "output": "c_proj"] }

    public init(width: Int, hidden: Int, kind: FeedForwardKind, gelu approximation: GELU.Approximation = .tanh, bias: Bool,
                dropout: Double, initStd: Double = 0.02, outputStd: Double, generator: Generator?, dropoutGenerator: Generator) {
        self.kind = kind
        self.approximation = approximation
        let rows = kind == .swiglu ? 2 * hidden : hidden
        input = Linear(weight: Init.normal([rows, width], std: initStd, generator), bias: bias ? Tensor.zeros([rows]) : nil)
        output = Linear(weight: Init.normal([width, hidden], std: outputStd, generator), bias: bias ? Tensor.zeros([width]) : nil)
        self.dropout = Dropout(dropout, generator: dropoutGenerator)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = input(x)
        switch kind {
        case .gelu:
            return dropout(output(h.gelu(approximation)))
        case .swiglu:
            let halves = h.split([h.shape[h.rank - 1] / 2, h.shape[h.rank - 1] / 2], axis: h.rank - 1)
            return dropout(output(halves[0].silu() * halves[1]))
        }
    }

    /// Position-wise: padding does not change the real positions' outputs.
    public func callAsFunction(_ x: Tensor, keyLengths: [Int]?) -> Tensor { self(x) }
}

/// A Transformer block: attention then MLP, each in a residual with a norm before (`pre`) or after (`post`).
public final class TransformerBlock: Module, GradientCheckpointable {
    public let normPosition: NormPosition
    public let attentionNorm: Module & UnaryLayer
    public let attn: SelfAttention
    public let mlpNorm: Module & UnaryLayer
    public let mlp: any FeedForwardLayer
    public override class var keys: [String: String] { ["attentionNorm": "ln_1", "mlpNorm": "ln_2"] }

    public init(attention: SelfAttention, mlp: any FeedForwardLayer, norms: (Module & UnaryLayer, Module & UnaryLayer), position: NormPosition) {
        normPosition = position
        attentionNorm = norms.0
        attn = attention
        mlpNorm = norms.1
        self.mlp = mlp
    }

    /// Recompute this block's activations in backward instead of keeping them (training only; see `Tensor.checkpoint`).
    public var gradientCheckpointing = false

    /// [B, T, width] → [B, T, width]; the arguments after `x` are passed to the attention.
    public func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)? = nil, keyLengths: [Int]? = nil,
                               cache: KVCache.Layer? = nil, blockLength: Int? = nil) -> Tensor {
        if gradientCheckpointing && isTraining && cache == nil {
            // A mixture of experts hands its router losses to the model beside its output; a replayed graph would cut
            // them off from the router, so only the attention half is recomputed in such blocks.
            if mlp is MixtureOfExperts {
                let h = Tensor.checkpoint([x], generators: dropoutGenerators()) { [self] in
                    attentionHalf($0[0], rope: rope, keyLengths: keyLengths, cache: nil, blockLength: blockLength)
                }
                return mlpHalf(h, keyLengths: keyLengths)
            }
            return Tensor.checkpoint([x], generators: dropoutGenerators()) { [self] in
                halves($0[0], rope: rope, keyLengths: keyLengths, cache: nil, blockLength: blockLength)
            }
        }
        return halves(x, rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength)
    }

    /// Attention half then MLP half. Pre-norm with a LayerNorm before the MLP: the attention residual's add and that
    /// norm run as one pass (`Tensor.addLayerNorm`, the same values and gradients).
    func halves(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)?, keyLengths: [Int]?, cache: KVCache.Layer?, blockLength: Int?) -> Tensor {
        if normPosition == .pre, let norm = mlpNorm as? LayerNorm, x.shape.last == norm.size {
            let a = attn(attentionNorm(x), rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength)
            let (h, n) = x.addLayerNorm(a, weight: norm.weight, bias: norm.bias, eps: norm.eps)
            return h + mlp(n, keyLengths: keyLengths)
        }
        return mlpHalf(attentionHalf(x, rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength), keyLengths: keyLengths)
    }

    func attentionHalf(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)?, keyLengths: [Int]?, cache: KVCache.Layer?, blockLength: Int?) -> Tensor {
        switch normPosition {
        case .pre: return x + attn(attentionNorm(x), rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength)
        case .post: return attentionNorm(x + attn(x, rope: rope, keyLengths: keyLengths, cache: cache, blockLength: blockLength))
        }
    }

    func mlpHalf(_ x: Tensor, keyLengths: [Int]?) -> Tensor {
        switch normPosition {
        case .pre: return x + mlp(mlpNorm(x), keyLengths: keyLengths)
        case .post: return mlpNorm(x + mlp(x, keyLengths: keyLengths))
        }
    }
}

/// Keys and values of the positions decoded so far, per layer, so each new token costs one position's work. Each layer
/// preallocates [B, kvHeads, capacity, headSize] and doubles the capacity when full (up to `maximumLength`), so
/// decoding T tokens copies O(T) values in all; attention reads the filled prefix as a strided view. Keys are stored
/// after RoPE (positions are absolute). Not thread-safe; one cache per batch of sequences.
///
/// With a sliding `window` the cache rolls: it keeps the first `globalTokens` positions and the last window − 1 before
/// each append, no more (Mistral's rolling buffer), so its memory stays O(globalTokens + window) however long the
/// generation. It is compacted, not a ring: when full, the recent positions move down behind the global prefix (one
/// O(window) copy per ~window tokens), so attention still reads one strided view, in position order, with
/// `droppedPositions` telling ALiBi how far the global keys are.
public final class KVCache {
    public final class Layer {
        /// [B, kvHeads, capacity, headSize]; nil until the first append.
        var keys: Tensor?, values: Tensor?
        /// Positions consumed (the next position's index).
        public internal(set) var length = 0
        /// Linear attention's recurrent state [B, heads, hd, hd + 1] (S = Σ φ(k)vᵀ, then z = Σ φ(k)); keys and values
        /// are not kept, so the layer's memory does not grow with the sequence. nil until the first step.
        var linearState: Tensor?
        /// Positions held in the buffer: the global prefix, then the most recent ones; `length` without a window.
        public internal(set) var stored = 0
        let maximumLength: Int?
        /// The rolling window (nil: keep every position) and the global prefix it never drops.
        let window: Int?, globalTokens: Int

        init(maximumLength: Int?, window: Int? = nil, globalTokens: Int = 0) {
            self.maximumLength = maximumLength; self.window = window; self.globalTokens = globalTokens
        }

        /// Positions dropped between the global prefix and the ones held.
        public var droppedPositions: Int { length - stored }
        /// Positions the buffer has room for (its memory: 2·B·kvHeads·capacity·headSize floats).
        public var capacity: Int { keys?.shape[2] ?? 0 }

        /// Appends [B, Hkv, T, hd] keys/values and returns views of everything held so far (including them).
        func append(keys newKeys: Tensor, values newValues: Tensor) -> (Tensor, Tensor) {
            let (B, Hkv, T, hd) = (newKeys.shape[0], newKeys.shape[1], newKeys.shape[2], newKeys.shape[3])
            if let window, let keys, stored + T > keys.shape[2] { roll(keep: window - 1) }
            let needed = stored + T
            if keys == nil || keys!.shape[2] < needed {
                var capacity = Swift.max(keys?.shape[2] ?? 16, 16)
                if let window { capacity = Swift.max(keys?.shape[2] ?? 0, globalTokens + 2 * window) }  // a roll every ~window tokens
                while capacity < needed { capacity *= 2 }
                if let maximumLength, window == nil { capacity = Swift.min(capacity, Swift.max(maximumLength, needed)) }
                keys = Self.grow(keys, to: [B, Hkv, capacity, hd], filled: stored)
                values = Self.grow(values, to: [B, Hkv, capacity, hd], filled: stored)
            }
            precondition(keys!.shape[0] == B && keys!.shape[1] == Hkv && keys!.shape[3] == hd,
                         "KVCache: keys of shape \(newKeys.shape) do not fit a cache of shape \(keys!.shape)")
            Self.write(newKeys, into: keys!, at: stored)
            Self.write(newValues, into: values!, at: stored)
            stored = needed
            length += T
            return (keys!.slice(2, 0, stored), values!.slice(2, 0, stored))
        }

        /// Keeps the global prefix and the last `keep` positions after it (the oldest any coming query can see: the
        /// first new query, at position `length`, sees positions > length − window), moved down behind the prefix.
        func roll(keep: Int) {
            let prefix = Swift.min(globalTokens, stored), recent = Swift.min(keep, stored - prefix)
            guard let keys, let values, stored - recent > prefix else { return }
            let (BH, capacity, hd) = (keys.shape[0] * keys.shape[1], keys.shape[2], keys.shape[3])
            for buffer in [keys, values] {
                let p = buffer.pointer(Float.self)
                for row in 0..<BH {  // overlapping ranges when recent > stored - recent - prefix: memmove
                    memmove(p + (row * capacity + prefix) * hd, p + (row * capacity + stored - recent) * hd, recent * hd * MemoryLayout<Float>.stride)
                }
            }
            stored = prefix + recent
        }

        /// A zeroed buffer of `shape` holding the first `filled` positions of `old`.
        static func grow(_ old: Tensor?, to shape: [Int], filled: Int) -> Tensor {
            let grown = Tensor(zeros: shape)
            if let old, filled > 0 { write(old.slice(2, 0, filled), into: grown, at: 0) }
            return grown
        }

        /// Copies `source` [B, H, T, hd] into positions start..<start+T of the contiguous `buffer` [B, H, capacity, hd].
        static func write(_ source: Tensor, into buffer: Tensor, at start: Int) {
            let values = source.detach().contiguous()
            let (BH, T, hd, capacity) = (source.shape[0] * source.shape[1], source.shape[2], source.shape[3], buffer.shape[2])
            let from = values.pointer(Float.self), to = buffer.pointer(Float.self)
            for row in 0..<BH { (to + (row * capacity + start) * hd).update(from: from + row * T * hd, count: T * hd) }
        }
    }

    public let layers: [Layer]

    /// An empty cache of `layerCount` layers; capacity never grows past `maximumLength` (the model's context) unless
    /// one append needs more. With a `window` it rolls instead (see above) and `maximumLength` does not apply.
    public init(layerCount: Int, maximumLength: Int?, window: Int? = nil, globalTokens: Int = 0) {
        precondition(window.map { $0 >= 1 } ?? true && globalTokens >= 0, "KVCache: window \(String(describing: window)), global tokens \(globalTokens)")
        layers = (0..<layerCount).map { _ in Layer(maximumLength: maximumLength, window: window, globalTokens: globalTokens) }
    }

    /// Positions cached so far.
    public var length: Int { layers.first?.length ?? 0 }

    /// Forgets every position from `length` on (block diffusion scores a noisy block against the cache, then drops it).
    public func truncate(to length: Int) {
        precondition(length >= 0 && length <= self.length, "KVCache: cannot truncate \(self.length) positions to \(length)")
        precondition(length == self.length || layers.allSatisfy { $0.linearState == nil },
                     "KVCache: a linear-attention state sums every position and cannot be truncated")
        precondition(layers.allSatisfy { $0.droppedPositions == 0 }, "KVCache: cannot truncate a cache that rolled past positions")
        for layer in layers { layer.length = length; layer.stored = length }
    }
}
