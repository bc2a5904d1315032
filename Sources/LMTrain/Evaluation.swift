// `lmkit eval`: the loss of a model over a whole token sequence in non-overlapping windows of block_size (each token
// after the first is predicted exactly once, with the context since the start of its window — the standard
// "non-overlapping" evaluation, which is pessimistic compared with a sliding window). Reports mean loss (nats/token),
// perplexity, bits per token and, for text, bits per character = total nats / characters / ln 2.
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
}
