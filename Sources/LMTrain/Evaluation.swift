// `lmkit eval`: the loss of a model over a whole token sequence in non-overlapping windows of block_size (each token
// after the first is predicted exactly once, with the context since the start of its window — the standard
// "non-overlapping" evaluation, which is pessimistic compared with a sliding window). Models that carry state across
// windows (`CarriedStateTraining`: the recurrent families) instead read the sequence as one stream, each window starting
// from the state the previous one ended in, so every token is predicted from its whole history (word_language_model's
// `evaluate`, with one stream so no token loses its context at a stream start). Reports mean loss (nats/token),
// perplexity, bits per token and, for text, bits per character = total nats / characters / ln 2. Masked-diffusion
// models get LLaDA's Monte-Carlo negative-ELBO instead (`evaluateBound`): an upper bound, with its standard error.
// A masked LM (BERT) has no likelihood of the text: it gets run_mlm's eval_loss and masked-token accuracy on seeded
// masks (`evaluateMaskedLM`).
import Foundation
import LMModels
import LMTensor
import LMTokenizers

/// The result of evaluating a model on a sequence.
public struct EvaluationResult: Equatable {
    /// Tokens predicted (all but the first).
    public var predictedTokens: Int
    /// Sum of −ln p(token) over the predicted tokens.
    public var totalNats: Double
    /// Characters (Unicode scalars) of the text the predicted tokens cover; nil for a token file.
    public var characters: Int?
    /// Masked-diffusion models: `totalNats` is a Monte-Carlo estimate of an upper bound (the negative ELBO), with this
    /// standard error; nil for exact likelihoods.
    public var boundStandardError: Double? = nil
    /// Whether `totalNats` (and every figure derived from it) is an upper bound rather than an exact value.
    public var isUpperBound: Bool { boundStandardError != nil }

    public var meanLoss: Double { totalNats / Double(max(predictedTokens, 1)) }
    public var perplexity: Double { exp(meanLoss) }
    public var bitsPerToken: Double { meanLoss / log(2) }
    public var bitsPerCharacter: Double? { characters.map { totalNats / Double(max($0, 1)) / log(2) } }
}

public enum Evaluation {
    /// Evaluates `model` on `tokens` in windows of `blockSize` (≤ the model's block size), `batchSize` windows per forward.
    /// `progress` receives the fraction done.
    public static func evaluate(model: any LanguageModel, tokens: [Int], blockSize: Int, batchSize: Int = 8,
                                progress: (Double) -> Void = { _ in }) throws -> EvaluationResult {
        guard tokens.count >= 2 else { throw TrainError.invalidInput("need at least 2 tokens to evaluate, got \(tokens.count)") }
        let context = model.config.contextLength ?? Int.max, vocabulary = model.config.vocabularySize
        guard blockSize > 0 && blockSize <= context else {
            throw TrainError.invalidInput("block size \(blockSize) must be in 1...\(context) (the model's block_size)")
        }
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
            throw TrainError.invalidInput("token \(bad) is \(tokens[bad]), outside the model's vocabulary 0..<\(vocabulary)")
        }
        // Objectives that draw (masks) get a fixed stream, so an evaluation is repeatable.
        let generator = Generator(seed: 0)
        let predicted = tokens.count - 1
        let fullWindows = predicted / blockSize, tail = predicted % blockSize
        model.eval()
        defer { model.train() }
        var total = 0.0
        if let stream = model as? any CarriedStateTraining {
            noGrad {
                var carried: [String: Tensor] = [:], start = 0
                while start < predicted {
                    let n = min(blockSize, predicted - start)
                    let batch = TokenBatch(inputs: Array(tokens[start..<start + n]), targets: Array(tokens[start + 1...start + n]),
                                           batch: 1, length: n)
                    let (loss, next) = stream.loss(batch, generator: generator, carried: carried)
                    total += Double(loss.item()) * Double(n)
                    carried = next
                    start += n
                    progress(Double(start) / Double(predicted))
                }
            }
            return EvaluationResult(predictedTokens: predicted, totalNats: total, characters: nil)
        }
        noGrad {
            var window = 0
            while window < fullWindows {
                let rows = min(batchSize, fullWindows - window)
                var x: [Int] = [], y: [Int] = []
                x.reserveCapacity(rows * blockSize); y.reserveCapacity(rows * blockSize)
                for r in 0..<rows {
                    let start = (window + r) * blockSize
                    x += tokens[start..<start + blockSize]
                    y += tokens[start + 1...start + blockSize]
                }
                let batch = TokenBatch(inputs: x, targets: y, batch: rows, length: blockSize)
                total += Double(model.loss(batch, generator: generator).item()) * Double(rows * blockSize)
                window += rows
                progress(Double(window * blockSize) / Double(predicted))
            }
            if tail > 0 {
                let start = fullWindows * blockSize
                let x = Array(tokens[start..<start + tail]), y = Array(tokens[start + 1...start + tail])
                total += Double(model.loss(TokenBatch(inputs: x, targets: y, batch: 1, length: tail), generator: generator).item()) * Double(tail)
            }
        }
        progress(1)
        return EvaluationResult(predictedTokens: predicted, totalNats: total, characters: nil)
    }

    /// Evaluates text: tokenizes it, evaluates, and counts the characters the predicted tokens cover (the text
    /// minus the characters of the first token).
    public static func evaluate(model: any LanguageModel, text: String, tokenizer: any Tokenizer, blockSize: Int, batchSize: Int = 8,
                                progress: (Double) -> Void = { _ in }) throws -> EvaluationResult {
        let ids = try tokenizer.encode(text)
        var result = try evaluate(model: model, tokens: ids, blockSize: blockSize, batchSize: batchSize, progress: progress)
        let firstCharacters = try tokenizer.decode([ids[0]]).unicodeScalars.count
        result.characters = text.unicodeScalars.count - firstCharacters
        return result
    }

    /// Masked-diffusion models: the Monte-Carlo negative-ELBO bound (LLaDA's `get_log_likelihood`, empty prompt) of
    /// every token of `tokens`, in non-overlapping windows of `blockSize` (the last one shorter), `samples` noisings
    /// per window in batches of `batchSize`. Every token is predicted (none is given as context), so
    /// `predictedTokens` = tokens.count. The standard error adds the windows' variances. Draws are seeded, so the
    /// result is repeatable.
    public static func evaluateBound(model: any MaskedDiffusionSampling, tokens: [Int], blockSize: Int, samples: Int = 32,
                                     batchSize: Int = 16, seed: UInt64 = 0, progress: (Double) -> Void = { _ in }) throws -> EvaluationResult {
        guard !tokens.isEmpty else { throw TrainError.invalidInput("need at least 1 token to evaluate") }
        let context = model.config.contextLength ?? Int.max, vocabulary = model.config.vocabularySize
        guard blockSize > 0 && blockSize <= context else {
            throw TrainError.invalidInput("block size \(blockSize) must be in 1...\(context) (the model's block_size)")
        }
        guard batchSize > 0 && samples >= batchSize else {
            throw TrainError.invalidInput("--mc-samples (\(samples)) must be at least the batch size (\(batchSize)) and positive")
        }
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= vocabulary || $0 == model.maskToken }) {
            throw TrainError.invalidInput("token \(bad) is \(tokens[bad]), the mask token or outside the model's vocabulary 0..<\(vocabulary)")
        }
        let generator = Generator(seed: seed)
        var total = 0.0, variance = 0.0
        model.eval()
        defer { model.train() }
        for start in stride(from: 0, to: tokens.count, by: blockSize) {
            let window = Array(tokens[start..<min(start + blockSize, tokens.count)])
            let bound = model.likelihoodBound(prompt: [], answer: window, samples: samples, batchSize: batchSize, generator: generator)
            total += bound.nats
            variance += bound.standardError * bound.standardError
            progress(Double(start + window.count) / Double(tokens.count))
        }
        return EvaluationResult(predictedTokens: tokens.count, totalNats: total, characters: nil, boundStandardError: variance.squareRoot())
    }

    /// `evaluateBound` on text; every character is covered.
    public static func evaluateBound(model: any MaskedDiffusionSampling, text: String, tokenizer: any Tokenizer, blockSize: Int,
                                     samples: Int = 32, batchSize: Int = 16, seed: UInt64 = 0,
                                     progress: (Double) -> Void = { _ in }) throws -> EvaluationResult {
        var result = try evaluateBound(model: model, tokens: try tokenizer.encode(text), blockSize: blockSize, samples: samples,
                                       batchSize: batchSize, seed: seed, progress: progress)
        result.characters = text.unicodeScalars.count
        return result
    }

    /// BERT's masked-LM evaluation (transformers' run_mlm eval_loss and eval_accuracy): `tokens` in non-overlapping
    /// windows of `blockSize` (a shorter last window too, when long enough for the model's inputs), masked as in
    /// training with a generator seeded `seed`, so the figures are repeatable. The loss is the mean cross-entropy over
    /// every masked position; the accuracy the fraction of them whose argmax is the original token.
    public static func evaluateMaskedLM(model: BERT, tokens: [Int], blockSize: Int, batchSize: Int = 8, seed: UInt64 = 0,
                                        progress: (Double) -> Void = { _ in }) throws -> (loss: Double, accuracy: Double, maskedTokens: Int) {
        let context = model.config.maxPositionEmbeddings, minimum = model.config.sentencePairs ? 5 : 1
        guard blockSize >= minimum && blockSize <= context else {
            throw TrainError.invalidInput("block size \(blockSize) must be in \(minimum)...\(context) (max_position_embeddings)")
        }
        guard tokens.count >= minimum else { throw TrainError.invalidInput("need at least \(minimum) tokens to evaluate, got \(tokens.count)") }
        if let bad = tokens.firstIndex(where: { $0 < 0 || $0 >= model.config.vocabSize }) {
            throw TrainError.invalidInput("token \(bad) is \(tokens[bad]), outside the model's vocabulary 0..<\(model.config.vocabSize)")
        }
        let generator = Generator(seed: seed)
        var windows = stride(from: 0, to: tokens.count - blockSize + 1, by: blockSize).map { Array(tokens[$0..<($0 + blockSize)]) }
        let tail = tokens.count % blockSize
        if tail >= minimum { windows.append(Array(tokens.suffix(tail))) }
        model.eval()
        defer { model.train() }
        var nats = 0.0, correct = 0.0, count = 0, done = 0
        while done < windows.count {
            // Full windows batchSize at a time; the short tail alone.
            let length = windows[done].count
            let rows = windows[done...].prefix(batchSize).prefix { $0.count == length }
            let batch = TokenBatch(inputs: rows.flatMap { $0 }, targets: rows.flatMap { $0 }, batch: rows.count, length: length)
            let m = model.maskedLMMetrics(batch, generator: generator)
            nats += m.loss * Double(m.count); correct += m.accuracy * Double(m.count); count += m.count
            done += rows.count
            progress(Double(done) / Double(windows.count))
        }
        return (nats / Double(max(count, 1)), correct / Double(max(count, 1)), count)
    }
}
