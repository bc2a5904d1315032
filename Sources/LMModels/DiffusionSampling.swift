// Sampling and likelihood for masked-diffusion models, written once for any family that predicts masked tokens from
// the whole sequence: LLaDA's `generate()` (ML-GSAI/LLaDA: generate.py) — semi-autoregressive blocks, the same number of
// tokens unmasked at each step of a block, Gumbel-max temperature in float64, low-confidence or random remasking,
// unsupervised classifier-free guidance — and the Monte-Carlo bound of LLaDA's `get_log_likelihood`
// (get_log_likelihood.py). Random draws come from LMKit's Philox generator, not torch's; at temperature 0 with
// low-confidence remasking nothing is drawn and tokens equal LLaDA's (Scripts/fixtures/diffusion_fixture.py).
import Foundation
import LMTensor

/// How `generateDiffusion` chooses which predicted tokens to keep at each step.
public enum Remasking: String, Codable, Sendable, CaseIterable {
    /// Keep the predictions with the highest probability (LLaDA's default).
    case lowConfidence = "low_confidence"
    /// Keep predictions at uniformly random masked positions.
    case random
}

/// Options of LLaDA's `generate()`.
public struct DiffusionGenerationOptions: Sendable {
    /// Network evaluations in all; a multiple of the number of blocks. nil: one token per step (LLaDA: `length`;
    /// block diffusion: `block_length` steps per block).
    public var steps: Int? = nil
    /// Tokens generated (LLaDA's `gen_length`).
    public var length = 64
    /// Length of a semi-autoregressive block; a divisor of `length`. nil means `length` (one block).
    public var blockLength: Int? = nil
    /// 0 = argmax; otherwise Gumbel-max sampling at this temperature (computed in float64).
    public var temperature: Double = 0
    public var remasking: Remasking = .lowConfidence
    /// Unsupervised classifier-free guidance: logits = u + (s + 1)·(c − u), u the logits with the prompt masked; 0 = off.
    public var cfgScale: Double = 0
    public var seed: UInt64 = 1337

    public init() {}
}

/// A model that predicts the clean tokens at masked positions from a whole sequence (`logits` over all positions).
public protocol MaskedDiffusionSampling: LanguageModel {
    /// The id of the mask token.
    var maskToken: Int { get }
    /// The family's sampler (`lmkit sample`); by default LLaDA's `generateDiffusion`.
    func sampleDiffusion(prompt: [Int], options: DiffusionGenerationOptions, onBlock: ([Int]) -> Void) throws -> [Int]
    /// A Monte-Carlo upper bound on −log p(answer | prompt) (`lmkit eval`); by default LLaDA's `llaDALikelihoodBound`.
    func likelihoodBound(prompt: [Int], answer: [Int], samples: Int, batchSize: Int, generator: Generator) -> LikelihoodBound
}

extension MaskedDiffusionSampling {
    public func sampleDiffusion(prompt: [Int], options: DiffusionGenerationOptions, onBlock: ([Int]) -> Void) throws -> [Int] {
        try generateDiffusion(prompt: prompt, options: options, onBlock: onBlock)
    }

    public func likelihoodBound(prompt: [Int], answer: [Int], samples: Int, batchSize: Int, generator: Generator) -> LikelihoodBound {
        llaDALikelihoodBound(prompt: prompt, answer: answer, samples: samples, batchSize: batchSize, generator: generator)
    }
}

public enum DiffusionGenerationError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String { switch self { case .invalid(let m): return m } }
}

extension MaskedDiffusionSampling {
    /// LLaDA's `generate()` for one prompt: starts from the prompt followed by `length` mask tokens and, block by block
    /// (left to right), runs steps/blocks steps, each predicting every masked position (argmax of logits plus Gumbel
    /// noise; never the mask token) and committing the `k` most confident predictions inside the current block, with k spreading the block's
    /// masks evenly over its steps (the first `masks mod steps` steps take one more). Returns the generated tokens.
    /// `onBlock` receives each finished block's tokens.
    public func generateDiffusion(prompt: [Int], options: DiffusionGenerationOptions,
                                  onBlock: ([Int]) -> Void = { _ in }) throws -> [Int] {
        let P = prompt.count, G = options.length, L = P + G, V = config.vocabularySize, mask = maskToken
        let blockLength = options.blockLength ?? G
        guard G > 0 else { return [] }
        guard blockLength > 0 && G % blockLength == 0 else {
            throw DiffusionGenerationError.invalid("block length \(blockLength) must divide the generation length \(G)")
        }
        let blocks = G / blockLength, steps = options.steps ?? G
        guard steps > 0 && steps % blocks == 0 else {
            throw DiffusionGenerationError.invalid("steps \(steps) must be a positive multiple of the number of blocks \(blocks)")
        }
        if let context = config.contextLength, L > context {
            throw DiffusionGenerationError.invalid("prompt (\(P)) + length (\(G)) exceeds the model's context \(context)")
        }
        if let bad = prompt.first(where: { $0 < 0 || $0 >= V || $0 == mask }) {
            throw DiffusionGenerationError.invalid("prompt token \(bad) is the mask token or outside 0..<\(V)")
        }
        guard options.temperature >= 0 && options.cfgScale >= 0 else {
            throw DiffusionGenerationError.invalid("temperature and cfg scale must be ≥ 0")
        }
        let stepsPerBlock = steps / blocks
        let generator = Generator(seed: options.seed)
        var x = prompt + [Int](repeating: mask, count: G)
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        for block in 0..<blocks {
            let blockStart = P + block * blockLength, blockEnd = blockStart + blockLength
            let transfers = Self.transferCounts(masked: x[blockStart..<blockEnd].filter { $0 == mask }.count, steps: stepsPerBlock)
            for step in 0..<stepsPerBlock {
                let logits = noGrad {   // [L·V]
                    guard options.cfgScale > 0 else { return self.logits(x, batch: 1, length: L).toArray() }
                    return Self.guided(self.logits(x + Self.maskingPrompt(x, length: P, mask: mask), batch: 2, length: L).toArray(),
                                       scale: options.cfgScale)
                }
                // LLaDA draws noise for every position and a random confidence for every position at each step.
                Self.denoise(&x, block: blockStart..<blockEnd, logits: logits, firstRow: 0, vocabulary: V,
                             count: transfers[step],
                             noise: options.temperature > 0 ? generator.uniform(L * V) : [],
                             random: options.remasking == .random ? generator.uniform(L) : [], options: options, mask: mask)
            }
            onBlock(Array(x[blockStart..<blockEnd]))
        }
        return Array(x[P...])
    }

    /// LLaDA's `get_num_transfer_tokens`: `masked` tokens spread over `steps` steps, the first `masked mod steps`
    /// steps taking one more.
    static func transferCounts(masked: Int, steps: Int) -> [Int] {
        (0..<steps).map { masked / steps + ($0 < masked % steps ? 1 : 0) }
    }

    /// One denoising step of LLaDA's `generate()` on the masked positions of `block`: each is predicted from its row
    /// of `logits` (row r is position firstRow + r; argmax of logits plus Gumbel noise, never the mask token) and the
    /// `count` most confident predictions (or those at the largest `random` draws) are committed to `x`. `noise`
    /// holds V draws per logits row (empty at temperature 0), `random` one per row (empty for low-confidence).
    static func denoise(_ x: inout [Int], block: Range<Int>, logits: [Float], firstRow: Int, vocabulary V: Int, count: Int,
                        noise: [Double], random: [Double], options: DiffusionGenerationOptions, mask: Int) {
        var candidates: [(position: Int, token: Int, confidence: Double)] = []
        for i in block where x[i] == mask {
            let r = i - firstRow, row = logits[(r * V)..<((r + 1) * V)]
            let token = gumbelArgmax(row, noise: noise.isEmpty ? nil : noise[(r * V)..<((r + 1) * V)],
                                     temperature: options.temperature, excluding: mask)
            candidates.append((i, token, options.remasking == .random ? random[r] : probability(of: token, in: row)))
        }
        // torch.topk: the k largest confidences (ties: the lower position first); positions outside the block have
        // confidence −∞ in LLaDA and are never committed.
        candidates.sort { $0.confidence != $1.confidence ? $0.confidence > $1.confidence : $0.position < $1.position }
        for c in candidates.prefix(count) { x[c.position] = c.token }
    }

    /// `x` with its first `length` positions (the prompt) masked: the unconditional input of classifier-free guidance.
    static func maskingPrompt(_ x: [Int], length: Int, mask: Int) -> [Int] {
        [Int](repeating: mask, count: length) + x[length...]
    }

    /// Unsupervised classifier-free guidance on logits [2, rows·V] (conditional rows, then the same rows with the
    /// prompt masked): u + (s + 1)·(c − u).
    static func guided(_ both: [Float], scale: Double) -> [Float] {
        let n = both.count / 2, s = Float(scale + 1)
        return (0..<n).map { both[n + $0] + s * (both[$0] - both[n + $0]) }
    }

    /// argmax_v exp(l_v) / (−log u_v)^temperature in float64 (LLaDA's `add_gumbel_noise`); argmax of the logits at
    /// temperature 0. Ties go to the lowest id, as torch.argmax.
    /// The mask token (`excluding`) is never chosen: LLaDA's generate() could commit it, but it is no text (a model
    /// trained with this loss never targets it; an undertrained one may still rank it first).
    static func gumbelArgmax(_ row: ArraySlice<Float>, noise: ArraySlice<Double>?, temperature: Double, excluding: Int) -> Int {
        var best = row.startIndex, bestValue = -Double.infinity
        let excluded = row.startIndex + excluding
        if let noise, temperature > 0 {
            for (k, v) in zip(row.indices, noise.indices) where k != excluded {
                let value = Foundation.exp(Double(row[k])) / Foundation.pow(-Foundation.log(noise[v]), temperature)
                if value > bestValue { bestValue = value; best = k }
            }
        } else {
            for k in row.indices where k != excluded && Double(row[k]) > bestValue { bestValue = Double(row[k]); best = k }
        }
        return best - row.startIndex
    }

    /// softmax(row)[token] in float64.
    static func probability(of token: Int, in row: ArraySlice<Float>) -> Double {
        let maximum = Double(row.max()!)
        var total = 0.0
        for v in row { total += Foundation.exp(Double(v) - maximum) }
        return Foundation.exp(Double(row[row.startIndex + token]) - maximum) / total
    }
}

/// A Monte-Carlo estimate of an upper bound on −log p(answer | prompt) in nats, with its standard error.
public struct LikelihoodBound: Equatable, Sendable {
    /// The mean of the per-sample estimates.
    public var nats: Double
    /// The standard error of `nats`: the sample standard deviation over √samples, treating the samples as independent
    /// (the stratified mask counts only lower the true variance, so this overstates it).
    public var standardError: Double
    public var samples: Int

    /// The mean and its standard error of independent per-sample estimates.
    public init(estimates: [Double]) {
        let mean = estimates.reduce(0, +) / Double(estimates.count)
        let variance = estimates.count > 1
            ? estimates.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(estimates.count - 1) : 0
        self.init(nats: mean, standardError: (variance / Double(estimates.count)).squareRoot(), samples: estimates.count)
    }

    public init(nats: Double, standardError: Double, samples: Int) {
        self.nats = nats; self.standardError = standardError; self.samples = samples
    }
}

extension MaskedDiffusionSampling {
    /// LLaDA's `get_log_likelihood` (get_log_likelihood.py, cfg 0) as a negative log-likelihood bound: per batch of
    /// `batchSize` copies, a mask count k ~ U{1…n} (n = answer length) spread over the batch as
    /// round(linspace(k, k + (b−1)·n/b)) wrapped into 1…n, each copy masking that many answer positions chosen
    /// uniformly (the prompt is never masked), and the estimate Σ_masked −log p_θ(xᵢ | x_masked) · n / (masks).
    /// The expectation of the estimate is the negative ELBO, ≥ −log p(answer | prompt). `samples` is rounded down to
    /// a multiple of `batchSize`. Draws come from `generator` (LMKit's Philox, not torch's).
    public func llaDALikelihoodBound(prompt: [Int], answer: [Int], samples: Int = 128, batchSize: Int = 16,
                                     generator: Generator) -> LikelihoodBound {
        precondition(!answer.isEmpty && batchSize > 0 && samples >= batchSize,
                     "likelihoodBound: answer of \(answer.count) tokens, \(samples) samples in batches of \(batchSize)")
        let n = answer.count, P = prompt.count, L = P + n, V = config.vocabularySize, b = batchSize
        let sequence = prompt + answer
        var estimates: [Double] = []
        for _ in 0..<(samples / batchSize) {
            let k = generator.integers(1, low: 1, high: n + 1)[0]
            var tokens: [Int] = [], targets: [Int] = [], weights: [Float] = []
            for row in 0..<b {
                let point = Double(k) + Double(row) * Double(n) / Double(b)   // torch.linspace(k, k + (b−1)·n/b, b)[row]
                let masks = (Int(point.rounded(.toNearestOrEven)) - 1) % n + 1
                let order = generator.permutation(n)
                var rowTokens = sequence, rowTargets = [Int](repeating: -1, count: L)
                for position in order.prefix(masks) {
                    rowTokens[P + position] = maskToken; rowTargets[P + position] = sequence[P + position]
                }
                tokens += rowTokens; targets += rowTargets
                weights += [Float](repeating: Float(Double(n) / Double(masks)), count: L)
            }
            let rowLoss = noGrad {
                logits(tokens, batch: b, length: L).reshape([b * L, V])
                    .crossEntropy(targets: targets, ignoreIndex: -1, reduction: .none).toArray()   // [b·L]
            }
            for row in 0..<b {
                var total = 0.0
                for i in (row * L)..<((row + 1) * L) { total += Double(rowLoss[i]) * Double(weights[i]) }
                estimates.append(total)
            }
        }
        return LikelihoodBound(estimates: estimates)
    }
}
