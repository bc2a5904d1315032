// A masked-diffusion language model in the style of LLaDA (Nie et al. 2025, "Large Language Diffusion Models"; the
// training recipe of ML-GSAI/LLaDA: GUIDELINES.md and ML-GSAI/SMDM): GPT's Transformer trunk made bidirectional
// (`causal: false`) that predicts the original token at every masked position. The vocabulary holds one
// extra token, the mask (`mask_token_id`, by default the last id). Training draws per sequence t ~ U(0, 1), masks each
// token with probability p = (1 − ε)·t + ε and minimizes Σ_masked CE / p, divided by batch × length (LLaDA's
// normalization, GUIDELINES.md `forward_process`; SMDM divides the same sum the same way); LLaDA's SFT form keeps the
// prompt clean and divides each row by its answer length. With `block_length`, block diffusion (BD3-LM, at the end of
// this file). Sampling (LLaDA's `generate()`) and the Monte-Carlo likelihood bound are in DiffusionSampling.swift.
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
    /// Block diffusion (BD3-LM) with blocks of this many tokens: block-causal attention, one t per block, sampling
    /// block by block with a KV cache. nil: LLaDA's masked diffusion over the whole sequence.
    public var blockLength: Int? = nil

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { blockSize }
    public var maskToken: Int { maskTokenId ?? vocabSize - 1 }
    public var headSize: Int { nEmbd / nHead }
    public var hiddenSize: Int { intermediateSize ?? 4 * nEmbd }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", maskTokenId = "mask_token_id", blockSize = "block_size", nLayer = "n_layer", nHead = "n_head"
        case nEmbd = "n_embd", intermediateSize = "intermediate_size", dropout, bias, position, ropeTheta = "rope_theta"
        case norm, normEps = "norm_eps", mlp, maskEpsilon = "mask_epsilon", blockLength = "block_length"
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
        blockLength = try c.decodeIfPresent(Int.self, forKey: .blockLength)
        try validate()
    }

    /// The trunk's checks are GPT's (`GPTConfig.validate`, same keys and messages); then the mask token's and the
    /// diffusion keys.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        try trunk.validate()
        guard vocabSize >= 2 else { throw fail(.vocabSize, "must hold at least one token and the mask token, got \(vocabSize)") }
        if let m = maskTokenId, m < 0 || m >= vocabSize { throw fail(.maskTokenId, "must be in 0..<vocab_size (\(vocabSize)), got \(m)") }
        guard maskEpsilon >= 0 && maskEpsilon < 1 else { throw fail(.maskEpsilon, "must be in [0, 1), got \(maskEpsilon)") }
        if let n = blockLength, n <= 0 || n > blockSize { throw fail(.blockLength, "must be in 1...block_size (\(blockSize)), got \(n)") }
    }

    /// The trunk as a GPT config (GPT's `Transformer` builds it): no grouped-query heads, RoPE in the half-split
    /// layout, an untied head.
    var trunk: GPTConfig {
        var c = GPTConfig()
        c.vocabSize = vocabSize; c.blockSize = blockSize; c.nLayer = nLayer; c.nHead = nHead; c.nEmbd = nEmbd
        c.intermediateSize = intermediateSize; c.dropout = dropout; c.bias = bias; c.position = position; c.ropeTheta = ropeTheta
        c.ropeLayout = .halfSplit; c.norm = norm; c.normEps = normEps; c.mlp = mlp; c.tieEmbeddings = false
        return c
    }

    /// A training run adds the mask token to the data's vocabulary (it becomes the last id) and takes the training
    /// block size as the context.
    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] {
        ["vocab_size": vocabularySize + 1, "block_size": blockSize]
    }
}

/// LLaDA's mask-predictor: GPT's Transformer trunk made bidirectional (or block-causal), and an untied head over the
/// whole vocabulary (mask included).
public final class MaskedDiffusion: Module, LanguageModel {
    public let config: MaskedDiffusionConfig
    /// Embeddings, blocks and final norm: GPT's `Transformer` with `causal: false` and the config's `block_length`.
    public let transformer: Transformer
    /// [vocab, n_embd].
    public let lmHead: Linear

    /// The checkpoint names are LLaDA's flat ones (`wte.weight`, `h.0.attn.c_attn.weight`, `lm_head.weight`: the
    /// fixture generator's model and every saved diffusion checkpoint), so the trunk's members are walked as ours,
    /// without nanoGPT's `transformer.` prefix.
    public override var children: [(name: String, value: Any)] { transformer.children + [("lm_head", lmHead)] }

    /// GPT-2's init (N(0, 0.02), residual projections N(0, 0.02/√(2·n_layer))); nil leaves every weight zero.
    public init(_ config: MaskedDiffusionConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "MaskedDiffusion: invalid config \(config)")
        self.config = config
        transformer = Transformer(config.trunk, causal: false, blockLength: config.blockLength, generator: generator,
                                  dropoutGenerator: generator ?? Generator(seed: 0),
                                  residualStd: 0.02 / (2 * Double(config.nLayer)).squareRoot())
        lmHead = Linear(weight: Init.normal([config.vocabSize, config.nEmbd], std: 0.02, generator), bias: nil)
    }

    /// Logits [batch, length, vocab] of every position given all of them: bidirectional attention, or block-causal
    /// with `block_length` (block diffusion).
    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor {
        self(tokens, batch: batch, length: length, cache: nil)
    }

    /// Logits [batch, length, vocab]; with a `cache`, the tokens continue the cached positions (block diffusion: the
    /// clean prefix) and their keys and values are appended to it.
    public func callAsFunction(_ tokens: [Int], batch: Int, length: Int, cache: KVCache?) -> Tensor {
        lmHead(transformer(tokens, batch: batch, length: length, cache: cache))   // [B, T, V]
    }

    /// LLaDA's pre-training loss on `batch.inputs` (the clean text x₀; `targets` are not used): per sequence
    /// t ~ U(0, 1) and p = (1 − ε)·t + ε, each token masked with probability p, then
    /// loss = Σ_{masked i} −log p_θ(x₀ᵢ | x_t) / p  ÷ (batch × length). Draws B values of t, then B × length mask
    /// uniforms, from `generator`.
    /// With `batch.promptLengths`, LLaDA's SFT loss (GUIDELINES.md, "supervised fine-tuning"): the prompt is never
    /// masked (the same draws, prompt positions left clean) and each row's sum is divided by its answer length — the
    /// positions after the prompt, end-of-text padding included — then by batch:
    /// loss = Σ_rows Σ_{masked i} −log p_θ(x₀ᵢ | x_t) / (p · answer_length) ÷ batch.
    /// With `block_length` n (BD3-LM): one t per block instead, and block b's masked tokens are predicted from the
    /// clean blocks before it and the noised block b (block-causal attention over [x₀ blocks < b, x_t block b]); the
    /// same sums and normalizations. BD3-LM vectorizes this with a 2L-token mask; here each block is one forward of
    /// (b + 1)·n tokens, ~L/(2n) times the work, which is affordable at the lengths trained on the CPU.
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor {
        let (B, L, V) = (batch.batch, batch.length, config.vocabSize)
        let divisor = Double(batch.promptLengths == nil ? B * L : B)
        if config.blockLength != nil {
            return blockDiffusionLoss(batch.inputs, batch: B, length: L, promptLengths: batch.promptLengths, generator: generator).sum()
                / divisor
        }
        let noised = MaskedDiffusion.forwardProcess(batch.inputs, batch: B, length: L, maskToken: config.maskToken,
                                                    epsilon: config.maskEpsilon, promptLengths: batch.promptLengths, generator: generator)
        let rowLoss = logits(noised.tokens, batch: B, length: L)          // [B, T, V]
            .reshape([B * L, V])
            .crossEntropy(targets: noised.targets, ignoreIndex: -1, reduction: .none)  // [B·T], 0 where unmasked
        return (rowLoss * Tensor(noised.weights, shape: [B * L])).sum() / divisor
    }

    /// The forward (noising) process: `tokens` with each position masked with probability p = (1 − ε)·t + ε,
    /// t ~ U(0, 1) per sequence; `targets` holds the clean token where masked and -1 elsewhere, `weights` 1/p where
    /// masked and 0 elsewhere. With `promptLengths` (SFT) a row's prompt is never masked and its weights are
    /// 1/(p · answer length), the answer being the row's positions after the prompt.
    public static func forwardProcess(_ tokens: [Int], batch B: Int, length L: Int, maskToken: Int, epsilon: Double,
                                      promptLengths: [Int]? = nil, generator: Generator) -> (tokens: [Int], targets: [Int], weights: [Float]) {
        let t = generator.uniform(B)
        let u = generator.uniform(B * L)
        var noisy = tokens, targets = [Int](repeating: -1, count: B * L), weights = [Float](repeating: 0, count: B * L)
        for b in 0..<B {
            let p = (1 - epsilon) * t[b] + epsilon, prompt = promptLengths?[b] ?? 0
            let weight = Float(1 / (p * Double(promptLengths == nil ? 1 : L - prompt)))
            for i in (b * L + prompt)..<((b + 1) * L) where u[i] < p {
                precondition(tokens[i] != maskToken, "MaskedDiffusion: the data contains the mask token \(maskToken)")
                noisy[i] = maskToken; targets[i] = tokens[i]; weights[i] = weight
            }
        }
        return (noisy, targets, weights)
    }
}

extension MaskedDiffusion: MaskedDiffusionSampling {
    public var maskToken: Int { config.maskToken }

    /// LLaDA's sampler, or block by block with a KV cache for a block-diffusion model.
    public func sampleDiffusion(prompt: [Int], options: DiffusionGenerationOptions, onBlock: ([Int]) -> Void) throws -> [Int] {
        config.blockLength == nil
            ? try generateDiffusion(prompt: prompt, options: options, onBlock: onBlock)
            : try generateBlockDiffusion(prompt: prompt, options: options, onBlock: onBlock)
    }

    /// LLaDA's Monte-Carlo bound; for a block-diffusion model (empty prompt only) the BD3-LM bound instead: the sum
    /// over blocks of LLaDA's estimator for the block given the clean blocks before it (`exactCounts`).
    public func likelihoodBound(prompt: [Int], answer: [Int], samples: Int, batchSize: Int, generator: Generator) -> LikelihoodBound {
        guard config.blockLength != nil else {
            return llaDALikelihoodBound(prompt: prompt, answer: answer, samples: samples, batchSize: batchSize, generator: generator)
        }
        precondition(prompt.isEmpty && !answer.isEmpty && batchSize > 0 && samples >= batchSize,
                     "likelihoodBound (block diffusion): an empty prompt, \(samples) samples in batches of \(batchSize)")
        let n = answer.count
        var estimates: [Double] = []
        noGrad {
            for _ in 0..<(samples / batchSize) {
                let rows = blockDiffusionLoss([[Int]](repeating: answer, count: batchSize).flatMap { $0 }, batch: batchSize, length: n,
                                              generator: generator, exactCounts: true).toArray()   // blocks in order, each [B·width]
                var totals = [Double](repeating: 0, count: batchSize)
                var offset = 0
                for start in stride(from: 0, to: n, by: config.blockLength!) {
                    let width = Swift.min(config.blockLength!, n - start)
                    for row in 0..<batchSize { for r in 0..<width { totals[row] += Double(rows[offset + row * width + r]) } }
                    offset += batchSize * width
                }
                estimates += totals
            }
        }
        return LikelihoodBound(estimates: estimates)
    }
}

// MARK: - Block diffusion (BD3-LM: Arriola et al. 2025, "Block Diffusion", kuleshov-group/bd3lms)

extension MaskedDiffusion {
    /// Per-token weighted losses of BD3-LM's objective (CE/p at masked positions, 0 elsewhere), block after block,
    /// each block's rows [B·width]. Draws B × blocks values of t, then B × L mask uniforms. `exactCounts` (the
    /// likelihood bound): per block and row a mask count m ~ U{1…width} and m positions drawn uniformly, weight width/m
    /// — LLaDA's get_log_likelihood per block, whose expectation is the block's negative ELBO without ε's clipping.
    /// With `promptLengths` (SFT), a row's prompt positions are never masked and its weights are divided by its
    /// answer length (L − prompt).
    func blockDiffusionLoss(_ tokens: [Int], batch B: Int, length L: Int, promptLengths: [Int]? = nil, generator: Generator,
                            exactCounts: Bool = false) -> Tensor {
        let n = config.blockLength!, blocks = (L + n - 1) / n, V = config.vocabSize, eps = config.maskEpsilon
        var t: [Double] = [], u: [Double] = []
        var chosen = [Bool](repeating: false, count: B * L), countWeight = [Double](repeating: 0, count: B * blocks)
        if exactCounts {
            for row in 0..<B {
                for b in 0..<blocks {
                    let start = b * n, width = Swift.min(L, start + n) - start
                    let m = generator.integers(1, low: 1, high: width + 1)[0]
                    for r in generator.permutation(width).prefix(m) { chosen[row * L + start + r] = true }
                    countWeight[row * blocks + b] = Double(width) / Double(m)
                }
            }
        } else {
            t = generator.uniform(B * blocks)
            u = generator.uniform(B * L)
        }
        var parts: [Tensor] = []
        for b in 0..<blocks {
            let start = b * n, end = Swift.min(L, start + n), width = end - start
            var input: [Int] = [], targets: [Int] = [], weights: [Float] = []
            for row in 0..<B {
                let p = exactCounts ? 0 : (1 - eps) * t[row * blocks + b] + eps
                let prompt = promptLengths?[row] ?? 0, answer = Double(promptLengths == nil ? 1 : L - prompt)
                let weight = Float((exactCounts ? countWeight[row * blocks + b] : 1 / p) / answer)
                input += tokens[(row * L)..<(row * L + start)]
                for i in (row * L + start)..<(row * L + end) {
                    let masked = i - row * L >= prompt && (exactCounts ? chosen[i] : u[i] < p)
                    input.append(masked ? config.maskToken : tokens[i])
                    targets.append(masked ? tokens[i] : -1)
                    weights.append(masked ? weight : 0)
                }
            }
            let logits = self(input, batch: B, length: end, cache: nil)            // [B, end, V]
                .slice(1, start, end).contiguous().reshape([B * width, V])        // the noised block's rows
            let rowLoss = logits.crossEntropy(targets: targets, ignoreIndex: -1, reduction: .none)   // [B·width]
            parts.append(rowLoss * Tensor(weights, shape: [B * width]))
        }
        return Tensor.concat(parts, axis: 0)
    }

    /// BD3-LM sampling: blocks of `block_length` left to right (the first may hold the prompt's tail), each denoised
    /// in steps/blocks steps with LLaDA's rule (the same count unmasked per step, low-confidence or random remasking,
    /// Gumbel-max temperature, unsupervised classifier-free guidance), attending to the clean prefix. With `cache`, the
    /// prefix's keys and values are computed once (a noisy block is scored against the cache and dropped; a finished
    /// block is appended); without, every step runs the whole prefix. Guidance runs a second row whose prompt is
    /// masked (its own cached prefix: the masked prompt and the same generated blocks), as LLaDA's generate() does.
    /// Arbitrary lengths up to the context.
    public func generateBlockDiffusion(prompt: [Int], options: DiffusionGenerationOptions, cache useCache: Bool = true,
                                       onBlock: ([Int]) -> Void = { _ in }) throws -> [Int] {
        guard let n = config.blockLength else { throw DiffusionGenerationError.invalid("the model has no block_length: it is not a block-diffusion model") }
        if let asked = options.blockLength, asked != n {
            throw DiffusionGenerationError.invalid("block length \(asked) differs from the model's block_length \(n) (a block-diffusion model samples in the blocks it was trained on)")
        }
        let P = prompt.count, G = options.length, L = P + G, V = config.vocabSize, mask = maskToken
        guard G > 0 else { return [] }
        guard L <= config.blockSize else { throw DiffusionGenerationError.invalid("prompt (\(P)) + length (\(G)) exceeds the model's context \(config.blockSize)") }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= V || $0 == mask }) {
            throw DiffusionGenerationError.invalid("prompt token \(bad) is the mask token or outside 0..<\(V)")
        }
        guard options.temperature >= 0 && options.cfgScale >= 0 else {
            throw DiffusionGenerationError.invalid("temperature and cfg scale must be ≥ 0")
        }
        let firstBlock = P / n, blocks = (L - 1) / n - firstBlock + 1, steps = options.steps ?? blocks * n
        guard steps > 0 && steps % blocks == 0 else {
            throw DiffusionGenerationError.invalid("steps \(steps) must be a positive multiple of the number of blocks \(blocks)")
        }
        let stepsPerBlock = steps / blocks, guided = options.cfgScale > 0, rows = guided ? 2 : 1
        let generator = Generator(seed: options.seed)
        var x = prompt + [Int](repeating: mask, count: G)
        // The rows the network sees over positions `range`: x, and with guidance x with the prompt masked.
        func input(_ range: Range<Int>) -> [Int] {
            guided ? Array(x[range]) + Self.maskingPrompt(x, length: P, mask: mask)[range] : Array(x[range])
        }
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        let cache = KVCache(layerCount: config.nLayer, maximumLength: config.blockSize)
        if useCache && firstBlock > 0 { _ = noGrad { self(input(0..<(firstBlock * n)), batch: rows, length: firstBlock * n, cache: cache) } }
        for block in firstBlock..<(firstBlock + blocks) {
            let start = block * n, end = Swift.min(L, start + n), width = end - start
            let transfers = Self.transferCounts(masked: x[start..<end].filter { $0 == mask }.count, steps: stepsPerBlock)
            for step in 0..<stepsPerBlock {
                let logits: [Float] = noGrad {   // [width·V], the block's rows
                    let all: Tensor   // [rows, width, V]
                    if useCache {
                        defer { cache.truncate(to: start) }
                        all = self(input(start..<end), batch: rows, length: width, cache: cache)
                    } else {
                        all = self(input(0..<end), batch: rows, length: end, cache: nil).slice(1, start, end)
                    }
                    let values = all.contiguous().toArray()
                    return guided ? Self.guided(values, scale: options.cfgScale) : values
                }
                Self.denoise(&x, block: start..<end, logits: logits, firstRow: start, vocabulary: V, count: transfers[step],
                             noise: options.temperature > 0 ? generator.uniform(width * V) : [],
                             random: options.remasking == .random ? generator.uniform(width) : [], options: options, mask: mask)
            }
            if useCache { _ = noGrad { self(input(start..<end), batch: rows, length: width, cache: cache) } }
            onBlock(Array(x[Swift.max(start, P)..<end]))
        }
        return Array(x[P...])
    }
}
