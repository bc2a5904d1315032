// A masked-diffusion language model in the style of LLaDA (Nie et al. 2025, "Large Language Diffusion Models"; the
// training recipe of ML-GSAI/LLaDA: GUIDELINES.md and ML-GSAI/SMDM): a bidirectional Transformer trunk (the LMNN parts,
// `SelfAttention(causal: false)`) that predicts the original token at every masked position. The vocabulary holds one
// extra token, the mask (`mask_token_id`, by default the last id). Training draws per sequence t ~ U(0, 1), masks each
// token with probability p = (1 − ε)·t + ε and minimizes Σ_masked CE / p, divided by batch × length (LLaDA's
// normalization, GUIDELINES.md `forward_process`; SMDM divides the same sum the same way). Sampling (LLaDA's
// `generate()`) and the Monte-Carlo likelihood bound are in DiffusionSampling.swift. Not here: the SFT form (prompt
// never masked) and block diffusion.
import Foundation
import LMNN
import LMTensor

/// Architecture of a `MaskedDiffusion` model; keys are snake_case, unknown keys are errors.
public struct MaskedDiffusionConfig: ModelConfiguration {
    public static let modelType = "masked-diffusion"

    /// Ids 0..<vocab_size, the mask token included (a training run sets it to the data's vocabulary + 1).
    public var vocabSize: Int = 257
    /// The mask token's id; nil means vocab_size − 1.
    public var maskTokenId: Int? = nil
    /// Longest sequence the model accepts (the learned position table's length).
    public var blockSize: Int = 256
    public var nLayer: Int = 4
    public var nHead: Int = 4
    public var nEmbd: Int = 128
    /// Hidden width of the MLP; nil means 4·n_embd.
    public var intermediateSize: Int? = nil
    public var dropout: Double = 0
    public var bias: Bool = false
    public var position: PositionEncoding = .learned
    public var ropeTheta: Double = 10000
    public var norm: NormKind = .layerNorm
    public var normEps: Double = 1e-5
    public var mlp: FeedForwardKind = .gelu
    /// The smallest masking probability of training: p = (1 − ε)·t + ε (LLaDA's `eps = 1e-3`).
    public var maskEpsilon: Double = 1e-3

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { blockSize }
    public var maskToken: Int { maskTokenId ?? vocabSize - 1 }
    public var headSize: Int { nEmbd / nHead }
    public var hiddenSize: Int { intermediateSize ?? 4 * nEmbd }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", maskTokenId = "mask_token_id", blockSize = "block_size", nLayer = "n_layer", nHead = "n_head"
        case nEmbd = "n_embd", intermediateSize = "intermediate_size", dropout, bias, position, ropeTheta = "rope_theta"
        case norm, normEps = "norm_eps", mlp, maskEpsilon = "mask_epsilon"
    }

    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MaskedDiffusionConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        maskTokenId = try c.decodeIfPresent(Int.self, forKey: .maskTokenId)
        blockSize = try c.decodeIfPresent(Int.self, forKey: .blockSize) ?? d.blockSize
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        nHead = try c.decodeIfPresent(Int.self, forKey: .nHead) ?? d.nHead
        nEmbd = try c.decodeIfPresent(Int.self, forKey: .nEmbd) ?? d.nEmbd
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize)
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? d.bias
        position = try c.decodeIfPresent(PositionEncoding.self, forKey: .position) ?? d.position
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        norm = try c.decodeIfPresent(NormKind.self, forKey: .norm) ?? d.norm
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps) ?? d.normEps
        mlp = try c.decodeIfPresent(FeedForwardKind.self, forKey: .mlp) ?? d.mlp
        maskEpsilon = try c.decodeIfPresent(Double.self, forKey: .maskEpsilon) ?? d.maskEpsilon
        try validate()
    }

    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.blockSize, blockSize), (.nLayer, nLayer), (.nHead, nHead), (.nEmbd, nEmbd)]
        where value <= 0 { throw fail(key, "must be a positive integer, got \(value)") }
        guard vocabSize >= 2 else { throw fail(.vocabSize, "must hold at least one token and the mask token, got \(vocabSize)") }
        if let m = maskTokenId, m < 0 || m >= vocabSize { throw fail(.maskTokenId, "must be in 0..<vocab_size (\(vocabSize)), got \(m)") }
        guard nEmbd % nHead == 0 else { throw fail(.nEmbd, "must be a multiple of n_head (\(nHead)), got \(nEmbd)") }
        if let h = intermediateSize, h <= 0 { throw fail(.intermediateSize, "must be a positive integer, got \(h)") }
        guard dropout >= 0 && dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        guard ropeTheta > 0 && ropeTheta.isFinite else { throw fail(.ropeTheta, "must be positive, got \(ropeTheta)") }
        guard normEps > 0 && normEps.isFinite else { throw fail(.normEps, "must be positive, got \(normEps)") }
        guard maskEpsilon >= 0 && maskEpsilon < 1 else { throw fail(.maskEpsilon, "must be in [0, 1), got \(maskEpsilon)") }
        if position == .rope && headSize % 2 != 0 { throw fail(.nEmbd, "RoPE needs an even head size, got \(headSize)") }
    }

    /// A training run adds the mask token to the data's vocabulary (it becomes the last id) and takes the training
    /// block size as the context.
    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] {
        ["vocab_size": vocabularySize + 1, "block_size": blockSize]
    }
}

/// LLaDA's mask-predictor: a bidirectional Transformer, an untied head over the whole vocabulary (mask included).
public final class MaskedDiffusion: Module, LanguageModel {
    public let config: MaskedDiffusionConfig
    /// [vocab, n_embd].
    public let wte: Embedding
    /// Learned positions [block_size, n_embd]; nil with RoPE or sinusoidal positions.
    public let wpe: Embedding?
    @Buffer var sinusoidal: Tensor
    let drop: Dropout
    public let h: [TransformerBlock]
    public let lnF: Module & UnaryLayer
    /// [vocab, n_embd].
    public let lmHead: Linear
    public override class var keys: [String: String] { ["lnF": "ln_f", "lmHead": "lm_head"] }

    /// GPT-2's init (N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer))); nil leaves every weight zero.
    public init(_ config: MaskedDiffusionConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "MaskedDiffusion: invalid config \(config)")
        self.config = config
        let dropoutGenerator = generator ?? Generator(seed: 0)
        let residualStd = 0.02 / (2 * Double(config.nLayer)).squareRoot()
        wte = Embedding(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator))
        wpe = config.position == .learned ? Embedding(weight: Init.normal([config.blockSize, config.nEmbd], std: 0.02, generator)) : nil
        _sinusoidal = Buffer(wrappedValue: config.position == .sinusoidal
            ? PositionEncoding.sinusoidalTable(length: config.blockSize, width: config.nEmbd) : Tensor(zeros: [0]), persistent: false)
        drop = Dropout(config.dropout, generator: dropoutGenerator)
        h = (0..<config.nLayer).map { _ in
            TransformerBlock(
                attention: SelfAttention(width: config.nEmbd, heads: config.nHead, kvHeads: config.nHead, causal: false, bias: config.bias,
                                         dropout: config.dropout, rotaryLayout: config.position == .rope ? .halfSplit : nil,
                                         outputStd: residualStd, generator: generator, dropoutGenerator: dropoutGenerator),
                mlp: FeedForward(width: config.nEmbd, hidden: config.hiddenSize, kind: config.mlp, bias: config.bias, dropout: config.dropout,
                                 outputStd: residualStd, generator: generator, dropoutGenerator: dropoutGenerator),
                norms: (config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias),
                        config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias)),
                position: .pre)
        }
        lnF = config.norm.make(config.nEmbd, eps: config.normEps, bias: config.bias)
        lmHead = Linear(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator), bias: nil)
    }

    /// Logits [batch, length, vocab] of every position given all of them (bidirectional attention).
    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "MaskedDiffusion: \(tokens.count) tokens for batch \(batch) × length \(length)")
        precondition(length <= config.blockSize, "MaskedDiffusion: length \(length) exceeds block_size \(config.blockSize)")
        var x = wte(tokens, shape: [batch, length])             // [B, T, C]
        if let wpe { x = x + wpe.weight.slice(0, 0, length) }
        if config.position == .sinusoidal { x = x + sinusoidal.slice(0, 0, length) }
        x = drop(x)
        let rope = config.position == .rope
            ? Tensor.rotaryTables(positions: 0..<length, headSize: config.headSize, theta: config.ropeTheta) : nil
        for block in h { x = block(x, rope: rope) }
        return lmHead(lnF(x))                                   // [B, T, V]
    }

    /// LLaDA's pre-training loss on `batch.inputs` (the clean text x₀; `targets` are not used): per sequence
    /// t ~ U(0, 1) and p = (1 − ε)·t + ε, each token masked with probability p, then
    /// loss = Σ_{masked i} −log p_θ(x₀ᵢ | x_t) / p  ÷ (batch × length). Draws B values of t, then B × length mask
    /// uniforms, from `generator`.
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor {
        let (B, L, V) = (batch.batch, batch.length, config.vocabSize)
        let noised = MaskedDiffusion.forwardProcess(batch.inputs, batch: B, length: L, maskToken: config.maskToken,
                                                    epsilon: config.maskEpsilon, generator: generator)
        let rowLoss = logits(noised.tokens, batch: B, length: L)          // [B, T, V]
            .reshape([B * L, V])
            .crossEntropy(targets: noised.targets, ignoreIndex: -1, reduction: .none)  // [B·T], 0 where unmasked
        return (rowLoss * Tensor(noised.weights, shape: [B * L])).sum() / Double(B * L)
    }

    /// The forward (noising) process: `tokens` with each position masked with probability p = (1 − ε)·t + ε,
    /// t ~ U(0, 1) per sequence; `targets` holds the clean token where masked and -1 elsewhere, `weights` 1/p where
    /// masked and 0 elsewhere.
    public static func forwardProcess(_ tokens: [Int], batch B: Int, length L: Int, maskToken: Int, epsilon: Double,
                                      generator: Generator) -> (tokens: [Int], targets: [Int], weights: [Float]) {
        let t = generator.uniform(B)
        let u = generator.uniform(B * L)
        var noisy = tokens, targets = [Int](repeating: -1, count: B * L), weights = [Float](repeating: 0, count: B * L)
        for b in 0..<B {
            let p = (1 - epsilon) * t[b] + epsilon
            for i in (b * L)..<((b + 1) * L) where u[i] < p {
                precondition(tokens[i] != maskToken, "MaskedDiffusion: the data contains the mask token \(maskToken)")
                noisy[i] = maskToken; targets[i] = tokens[i]; weights[i] = Float(1 / p)
            }
        }
        return (noisy, targets, weights)
    }
}

extension MaskedDiffusion: MaskedDiffusionSampling {
    public var maskToken: Int { config.maskToken }
}
