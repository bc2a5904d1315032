// The FLASH family (model_type "flash"): Hua, Dai, Liu & Le 2022, "Transformer Quality in Linear Time" — a stack of
// gated attention units (GAU) with mixed chunk attention, following lucidrains/FLASH-pytorch (`FLASH`,
// `FLASHTransformer`) and JunnYu/FLASHQuad_pytorch. One layer, on x [B, T, d]:
//   n = LayerNorm(x); v, gate = split(silu(n Wh + bh)) (each [B, T, e], e = expansion_factor·d);
//   z = silu(n Wz + bz) [B, T, s]; quad_q, lin_q, quad_k, lin_k = z ⊙ γ_i + β_i (per-dimension scale and offset);
//   RoPE on all four; pad T up to a multiple of the group size g and cut into G groups;
//   quadratic (inside each group): A = relu(quad_q quad_kᵀ / g)² (causal: ⊙ lower-triangular mask), quad = A v;
//   linear (across groups): causal: lin = lin_q · Σ_{earlier groups} lin_kᵀ v / g (exclusive cumulative sum);
//                           non-causal: lin = lin_q · Σ_{all groups} lin_kᵀ v / T;
//   out = x + (gate ⊙ (quad + lin))[:T] Wo + bo.
// The relu² normalizer is the group size g — the padded group length fixed by the config, as in the paper's pseudo-code
// (`qk / C` with C the chunk size) and lucidrains (`sim / g`) — not the number of real tokens. JunnYu/FLASHQuad_pytorch#1
// asks whether GAU should divide by the padded maximum length or each sequence's actual length: dividing by the actual
// length makes position i's output depend on how many tokens follow it, so step-by-step decoding would differ from
// the full forward and padding would change real positions. With a fixed g neither happens (tested); GAU is FLASH
// with one group (group_size ≥ the sequence, e.g. = block_size), which therefore divides by the group size too.
// `attention: "softmax"` replaces relu(·/g)² by softmax(quad_q quad_kᵀ / √s) over the visible keys of the group
// (JunnYu's option). Positions: RoPE on all s query/key dimensions (lucidrains rotates 32 of them, and adds a scaled
// sinusoidal absolute embedding that we leave out). The mixed chunk attention is one fused op
// (`Tensor.mixedChunkAttention`, LMKernels/MixedChunkAttention.swift: causal row blocks, no padding, no g×g tensor kept
// for backward); `FLASHLayer.mixedChunkAttention` composes the same math from autograd ops, for attention dropout
// (which the fused op does not do) and as the tests' second reference. Decoding is recurrent across groups (the paper's §3.3 "auto-regressive decoding"):
// each layer keeps the carried Σ lin_kᵀ v of the finished groups and the keys and values of the current group (at most
// g rows), so a token costs O(g·(s + e) + s·e) whatever the position.
import Foundation
import LMNN
import LMTensor

/// Architecture of a `FLASH` model. Keys follow lucidrains' `FLASHTransformer` arguments in snake_case.
public struct FLASHConfig: ModelConfiguration {
    public static let modelType = "flash"

    /// How scores inside a group become weights: `relu2` (the paper: relu(s / g)²) or `softmax` (softmax(s / √s_qk)).
    public enum Scores: String, Codable, Sendable, CaseIterable { case relu2, softmax }

    public var vocabSize: Int = 50304
    /// The longest sequence the model accepts (RoPE has no table; the limit is the trained context).
    public var blockSize: Int = 1024
    public var nLayer: Int = 8
    public var nEmbd: Int = 512
    /// s, the shared query/key width (the paper's and lucidrains' 128).
    public var queryKeyDim: Int = 128
    /// e = expansion_factor · n_embd, the width of v and the gate (the paper's 2).
    public var expansionFactor: Double = 2
    /// g, the group (chunk) length of mixed chunk attention (the paper's 256). One group: GAU.
    public var groupSize: Int = 256
    public var attention: Scores = .relu2
    /// Dropout on the quadratic attention weights (lucidrains' `dropout`).
    public var dropout: Double = 0
    /// Biases in the Linear layers and the LayerNorms (torch defaults: true).
    public var bias: Bool = true
    public var normEps: Double = 1e-5
    public var ropeTheta: Double = 10000
    /// The output head shares the token embedding matrix.
    public var tieEmbeddings: Bool = true

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { blockSize }
    /// e, the width of v and of the gate.
    public var hiddenSize: Int { Int((Double(nEmbd) * expansionFactor).rounded()) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", blockSize = "block_size", nLayer = "n_layer", nEmbd = "n_embd", queryKeyDim = "query_key_dim"
        case expansionFactor = "expansion_factor", groupSize = "group_size", attention, dropout, bias, normEps = "norm_eps"
        case ropeTheta = "rope_theta", tieEmbeddings = "tie_embeddings"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = FLASHConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize) ?? d.blockSize
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd) ?? d.nEmbd
        queryKeyDim = try c.decodeIfPresent(Int.self, forKey: .queryKeyDim) ?? d.queryKeyDim
        expansionFactor = try c.decodeIfPresent(Double.self, forKey: .expansionFactor) ?? d.expansionFactor
        groupSize = try c.decodeIfPresent(Int.self, forKey: .groupSize) ?? d.groupSize
        attention = try c.decodeIfPresent(Scores.self, forKey: .attention) ?? d.attention
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? d.bias
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps) ?? d.normEps
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        tieEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieEmbeddings) ?? d.tieEmbeddings
        try validate()
    }

    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// Checks sizes and ranges; the error names the field and what was expected.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.blockSize, blockSize), (.nLayer, nLayer), (.nEmbd, nEmbd),
                             (.queryKeyDim, queryKeyDim), (.groupSize, groupSize)] where value <= 0 {
            throw fail(key, "must be a positive integer, got \(value)")
        }
        guard queryKeyDim % 2 == 0 else { throw fail(.queryKeyDim, "must be even (RoPE rotates pairs), got \(queryKeyDim)") }
        guard expansionFactor > 0 && expansionFactor.isFinite && Double(nEmbd) * expansionFactor <= 1e7 else {
            throw fail(.expansionFactor, "must be positive, got \(expansionFactor)")
        }
        let e = Double(nEmbd) * expansionFactor
        guard e == e.rounded() else {
            throw fail(.expansionFactor, "must make n_embd · expansion_factor (\(nEmbd) · \(expansionFactor) = \(e)) an integer")
        }
        guard dropout >= 0 && dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        guard normEps > 0 && normEps.isFinite else { throw fail(.normEps, "must be positive, got \(normEps)") }
        guard ropeTheta > 0 && ropeTheta.isFinite else { throw fail(.ropeTheta, "must be positive, got \(ropeTheta)") }
    }

    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] {
        ["vocab_size": vocabularySize, "block_size": blockSize]
    }

    /// Embedding, per layer (to_hidden, to_qk, γ/β, to_out, LayerNorm, biases), the final norm and an untied head.
    public var estimatedParameterCount: Double? {
        let d = Double(nEmbd), e = Double(hiddenSize), s = Double(queryKeyDim), v = Double(vocabSize)
        let layer = d * 2 * e + d * s + 8 * s + e * d + (bias ? 2 * e + s + d + 2 * d : d)
        return v * d + Double(nLayer) * layer + (bias ? 2 * d : d) + (tieEmbeddings ? 0 : v * d)
    }

    /// Per layer and token: the input, its norm and output (d each); to_hidden before and after SiLU, v·gate products,
    /// quad, lin and their sum (about 6e); z, the four scaled copies and their rotations (about 9s); the group's score
    /// row before and after relu² (3g); doubled for gradients; plus logits and their gradient. An estimate.
    public var estimatedActivationsPerToken: Double? {
        let d = Double(nEmbd), e = Double(hiddenSize), s = Double(queryKeyDim), g = Double(groupSize)
        return 2 * (Double(nLayer) * (3 * d + 6 * e + 9 * s + 3 * g) + 2 * Double(vocabSize))
    }
}

/// lucidrains' `OffsetScale`: `heads` copies of z [.., s], copy i scaled by γ[i] and shifted by β[i].
public final class OffsetScale: Module {
    /// [heads, s], init N(0, 0.02²).
    public let gamma: Tensor
    /// [heads, s], init 0.
    public let beta: Tensor

    init(dimension: Int, heads: Int, _ generator: Generator?) {
        gamma = Init.normal([heads, dimension], std: 0.02, generator).requiringGrad()
        beta = Tensor(zeros: [heads, dimension], requiresGrad: true)
    }

    /// z [B, T, s] → [B, T, heads, s].
    func callAsFunction(_ z: Tensor) -> Tensor { z.unsqueeze(2) * gamma + beta }
}

/// One FLASH layer (a GAU with mixed chunk attention) with its pre-norm and residual; see the file header.
public final class FLASHLayer: Module, GradientCheckpointable {
    public let groupSize: Int, queryKeyDim: Int, hiddenSize: Int
    public let causal: Bool
    public let scores: FLASHConfig.Scores
    public let norm: LayerNorm
    /// [2e, d]: v rows, then gate rows.
    public let toHidden: Linear
    /// [s, d].
    public let toQK: Linear
    public let qkOffsetScale: OffsetScale
    /// [d, e].
    public let toOut: Linear
    let attentionDropout: Dropout
    public override class var keys: [String: String] {
        ["toHidden": "to_hidden", "toQK": "to_qk", "qkOffsetScale": "qk_offset_scale", "toOut": "to_out", "attentionDropout": "dropout"]
    }

    public init(width: Int, queryKeyDim: Int, hiddenSize: Int, groupSize: Int, causal: Bool, scores: FLASHConfig.Scores = .relu2,
                bias: Bool = true, normEps: Double = 1e-5, dropout: Double = 0, outputStd: Double = 0.02, generator: Generator?,
                dropoutGenerator: Generator = Generator(seed: 0)) {
        precondition(groupSize > 0 && queryKeyDim % 2 == 0, "FLASHLayer: group size \(groupSize) must be positive, query/key width \(queryKeyDim) even")
        self.groupSize = groupSize; self.queryKeyDim = queryKeyDim; self.hiddenSize = hiddenSize
        self.causal = causal; self.scores = scores
        func linear(_ inputs: Int, _ outputs: Int, std: Double) -> Linear {
            Linear(weight: Init.normal([outputs, inputs], std: std, generator), bias: bias ? Tensor.zeros([outputs]) : nil)
        }
        norm = LayerNorm(width, eps: normEps, bias: bias)
        toHidden = linear(width, 2 * hiddenSize, std: 0.02)
        toQK = linear(width, queryKeyDim, std: 0.02)
        qkOffsetScale = OffsetScale(dimension: queryKeyDim, heads: 4, generator)
        toOut = linear(hiddenSize, width, std: outputStd)
        attentionDropout = Dropout(dropout, generator: dropoutGenerator)
    }

    /// Recompute this layer's activations in backward instead of keeping them (training only; see `Tensor.checkpoint`).
    public var gradientCheckpointing = false

    /// x [B, T, d] → x + FLASH(x) [B, T, d]; `rope`: cos/sin tables [T, s/2] of the T positions.
    public func callAsFunction(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)) -> Tensor {
        if gradientCheckpointing && isTraining {
            return Tensor.checkpoint([x], generators: dropoutGenerators()) { [self] in forward($0[0], rope: rope) }
        }
        return forward(x, rope: rope)
    }

    func forward(_ x: Tensor, rope: (cos: Tensor, sin: Tensor)) -> Tensor {
        let (B, T) = (x.shape[0], x.shape[1])
        let (s, e) = (queryKeyDim, hiddenSize)
        let normed = norm(x)                                                     // [B, T, d]
        let hidden = toHidden(normed).silu().split([e, e], axis: 2)              // v, gate: [B, T, e] each
        let z = toQK(normed).silu()                                              // [B, T, s]
        let qk = qkOffsetScale(z).rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: .halfSplit)  // [B, T, 4, s]
        let mixed: Tensor                                                        // [B, T, e]
        if attentionDropout.p > 0 && isTraining {  // dropout on the group weights: the composed form
            let part = (0..<4).map { qk.slice(2, $0, $0 + 1).reshape([B, T, s]) }   // quad_q, lin_q, quad_k, lin_k
            mixed = Self.mixedChunkAttention(quadQ: part[0], linQ: part[1], quadK: part[2], linK: part[3], v: hidden[0],
                                             groupSize: groupSize, causal: causal, scores: scores, dropout: attentionDropout)
        } else {
            mixed = Tensor.mixedChunkAttention(qk, hidden[0], groupSize: groupSize, causal: causal, softmax: scores == .softmax)
        }
        return x + toOut(hidden[1] * mixed)                                      // [B, T, d]
    }

    /// FLASH's mixed chunk attention on quad_q, lin_q, quad_k, lin_k [B, T, s] and v [B, T, e] → [B, T, e]: T padded
    /// with zero rows to G groups of `groupSize`, quadratic attention inside each group (relu(qkᵀ/g)², or softmax over
    /// the visible keys), plus linear attention across groups (causal: earlier groups, / g; non-causal: all, / T).
    /// Any dtype (float64 for gradchecks); `dropout` applies to the quadratic weights.
    public static func mixedChunkAttention(quadQ: Tensor, linQ: Tensor, quadK: Tensor, linK: Tensor, v: Tensor, groupSize g: Int,
                                           causal: Bool, scores: FLASHConfig.Scores, dropout: Dropout? = nil) -> Tensor {
        let (B, T, s, e) = (v.shape[0], v.shape[1], quadQ.shape[2], v.shape[2])
        let G = (T + g - 1) / g, padded = G * g, dtype = v.dtype
        // Zero rows after the sequence fill the last group; zero keys and values add nothing to any sum.
        func grouped(_ t: Tensor) -> Tensor {                                    // [B, T, w] → [B, G, g, w]
            let w = t.shape[2]
            let full = padded == T ? t : Tensor.concat([t, Tensor(zeros: [B, padded - T, w], dtype: t.dtype)], axis: 1)
            return full.reshape([B, G, g, w])
        }
        let (qq, lq, qk, lk, vg) = (grouped(quadQ), grouped(linQ), grouped(quadK), grouped(linK), grouped(v))

        // Quadratic attention inside each group.
        let sim = qq.matmul(qk.transpose(2, 3))                                  // [B, G, g, g]
        var weights: Tensor
        switch scores {
        case .relu2:
            let r = (sim * (1 / Double(g))).relu()
            weights = r * r
            if causal { weights = weights * Tensor.trilMask(g, g, dtype: dtype) }
        case .softmax:
            var logits = sim * (1 / Double(s).squareRoot())
            if causal { logits = logits + Tensor.triuMask(g, g, diagonal: 1, dtype: dtype) * -1e30 }
            if !causal && padded > T {  // bidirectional rows must not see the padding (causal rows never do)
                var hide = [Double](repeating: 0, count: padded)
                for j in T..<padded { hide[j] = -1e30 }
                logits = logits + Tensor(doubles: hide, shape: [1, G, 1, g]).to(dtype)
            }
            weights = logits.softmax(axis: -1)
        }
        if let dropout { weights = dropout(weights) }
        let quad = weights.matmul(vg)                                            // [B, G, g, e]

        // Linear attention across groups.
        let lin: Tensor
        if causal {
            let kv = lk.transpose(2, 3).matmul(vg) * (1 / Double(g))             // [B, G, s, e]
            lin = lq.matmul(kv.cumsum(axis: 1) - kv)                             // earlier groups only
        } else {
            let kv = lk.transpose(2, 3).matmul(vg).sum(axes: [1]) * (1 / Double(T))  // [B, s, e]
            lin = lq.matmul(kv.unsqueeze(1))                                     // [B, G, g, e]
        }
        return (quad + lin).reshape([B, padded, e]).slice(1, 0, T)               // [B, T, e]
    }
}

/// One layer's decoding state: Σ lin_kᵀ v / g over the finished groups [B, s, e], and the current group's quad_k,
/// lin_k [B, m, s] and v [B, m, e] (m < g rows; nil when m = 0).
public final class FLASHLayerState {
    var linKV: Tensor?
    var quadK: Tensor?, linK: Tensor?, v: Tensor?
    var rows: Int { v?.shape[1] ?? 0 }
}

/// The decoding state of a FLASH model: per layer the carried linear-attention sum and the current group's keys and
/// values. Its size is bounded by the group size, not the sequence length.
public final class FLASHState: DecodingState {
    public private(set) var length = 0
    public let layers: [FLASHLayerState]
    let batch: Int

    init(layers: Int, batch: Int) {
        self.layers = (0..<layers).map { _ in FLASHLayerState() }
        self.batch = batch
    }

    func advance(by n: Int) { length += n }
}

extension FLASHLayer {
    /// The causal layer on x [B, L, d] continuing the sequence `state` holds (its first position is `start`; `rope` holds
    /// the tables of positions start..<start + L), advancing `state`. Equal to the rows start..<start + L of the full
    /// forward. No gradient.
    func step(_ x: Tensor, rope: (cos: Tensor, sin: Tensor), start: Int, state: FLASHLayerState) -> Tensor {
        precondition(causal, "FLASHLayer: recurrent decoding needs a causal layer")
        let (B, L) = (x.shape[0], x.shape[1])
        let (g, s, e) = (groupSize, queryKeyDim, hiddenSize)
        let normed = norm(x)
        let hidden = toHidden(normed).silu().split([e, e], axis: 2)              // v, gate: [B, L, e]
        let qk = qkOffsetScale(toQK(normed).silu()).rotaryEmbedding(cos: rope.cos, sin: rope.sin, layout: .halfSplit)
        let part = (0..<4).map { qk.slice(2, $0, $0 + 1).reshape([B, L, s]) }   // quad_q, lin_q, quad_k, lin_k
        if state.linKV == nil { state.linKV = Tensor(zeros: [B, s, e], dtype: x.dtype) }
        var outputs: [Tensor] = []
        var lo = 0
        while lo < L {
            // The rows of this call that fall in the current group.
            let hi = Swift.min(L, lo + g - (start + lo) % g), n = hi - lo
            precondition((start + lo) % g == state.rows, "FLASHLayer: decoding state holds \(state.rows) rows of the group at position \(start + lo)")
            func rows(_ t: Tensor) -> Tensor { t.slice(1, lo, hi) }
            func joined(_ old: Tensor?, _ new: Tensor) -> Tensor { old.map { Tensor.concat([$0, new], axis: 1) } ?? new.contiguous() }
            let keys = joined(state.quadK, rows(part[2])), linKeys = joined(state.linK, rows(part[3]))
            let values = joined(state.v, rows(hidden[0]))                       // [B, m, ·], m = rows so far in the group
            let m = values.shape[1]
            let sim = rows(part[0]).matmul(keys.transpose(1, 2))                 // [B, n, m]
            let weights: Tensor
            switch scores {
            case .relu2:
                let r = (sim * (1 / Double(g))).relu()
                weights = r * r * Tensor.trilMask(n, m, diagonal: m - n, dtype: x.dtype)
            case .softmax:
                weights = (sim * (1 / Double(s).squareRoot()) + Tensor.triuMask(n, m, diagonal: m - n + 1, dtype: x.dtype) * -1e30)
                    .softmax(axis: -1)
            }
            outputs.append(weights.matmul(values) + rows(part[1]).matmul(state.linKV!))  // [B, n, e]
            if m == g {  // the group is complete: fold it into the carried sum
                state.linKV = state.linKV! + linKeys.transpose(1, 2).matmul(values) * (1 / Double(g))
                state.quadK = nil; state.linK = nil; state.v = nil
            } else {
                state.quadK = keys; state.linK = linKeys; state.v = values
            }
            lo = hi
        }
        let mixed = outputs.count == 1 ? outputs[0] : Tensor.concat(outputs, axis: 1)   // [B, L, e]
        return x + toOut(hidden[1] * mixed)
    }
}

/// A FLASH language model: token embedding, `n_layer` FLASH layers (causal), a final LayerNorm and a head.
public final class FLASH: Module, IncrementalDecoding {
    public let config: FLASHConfig
    public let tokenEmb: Embedding
    public let layers: [FLASHLayer]
    public let normF: LayerNorm
    /// [vocab, d]; the embedding table itself when `tieEmbeddings`.
    public let lmHead: Linear
    public override class var keys: [String: String] { ["tokenEmb": "token_emb", "normF": "norm_f", "lmHead": "lm_head"] }

    public init(_ config: FLASHConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "FLASH: invalid config \(config)")
        self.config = config
        tokenEmb = Embedding(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator))
        let dropoutGenerator = generator ?? Generator(seed: 0)
        let outputStd = 0.02 / (2 * Double(config.nLayer)).squareRoot()  // GPT-2's scaled residual projections
        layers = (0..<config.nLayer).map { _ in
            FLASHLayer(width: config.nEmbd, queryKeyDim: config.queryKeyDim, hiddenSize: config.hiddenSize, groupSize: config.groupSize,
                       causal: true, scores: config.attention, bias: config.bias, normEps: config.normEps, dropout: config.dropout,
                       outputStd: outputStd, generator: generator, dropoutGenerator: dropoutGenerator)
        }
        normF = LayerNorm(config.nEmbd, eps: config.normEps, bias: config.bias)
        lmHead = config.tieEmbeddings
            ? Linear(weight: tokenEmb.weight, bias: nil)
            : Linear(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator), bias: nil)
    }

    public var aliasedStateDictKeys: Set<String> { config.tieEmbeddings ? ["lm_head.weight"] : [] }

    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "FLASH: \(tokens.count) tokens for batch \(batch) × length \(length)")
        precondition(length <= config.blockSize, "FLASH: \(length) positions exceed block_size \(config.blockSize)")
        let rope = Tensor.rotaryTables(positions: 0..<length, headSize: config.queryKeyDim, theta: config.ropeTheta)
        var x = tokenEmb(tokens, shape: [batch, length])                 // [B, T, d]
        for layer in layers { x = layer(x, rope: rope) }                 // [B, T, d]
        return lmHead(normF(x))                                          // [B, T, vocab]
    }

    /// Mean next-token cross-entropy of `batch.targets` (-1 marks positions to ignore).
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor { nextTokenLoss(batch) }

    public func makeDecodingState(batch: Int) -> FLASHState { FLASHState(layers: config.nLayer, batch: batch) }

    /// Logits of `tokens` continuing the sequences `state` holds, through each layer's recurrent state (equal to the
    /// full forward's logits at the same positions).
    public func decode(_ tokens: [Int], batch: Int, length: Int, state: FLASHState) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "FLASH: \(tokens.count) tokens for batch \(batch) × length \(length)")
        precondition(state.batch == batch, "FLASH: a decoding state for batch \(state.batch), given batch \(batch)")
        let start = state.length
        precondition(start + length <= config.blockSize, "FLASH: positions \(start)..<\(start + length) exceed block_size \(config.blockSize)")
        let logits = noGrad {
            let rope = Tensor.rotaryTables(positions: start..<(start + length), headSize: config.queryKeyDim, theta: config.ropeTheta)
            var x = tokenEmb(tokens, shape: [batch, length])                 // [B, L, d]
            for (i, layer) in layers.enumerated() { x = layer.step(x, rope: rope, start: start, state: state.layers[i]) }
            return lmHead(normF(x))                                          // [B, L, vocab]
        }
        state.advance(by: length)
        return logits
    }
}
