// `lmkit eval --model CKPT_OR_DIR --data FILE(.bin|.txt)`: loss, perplexity and bits per character/token of a trained
// model over a whole file in non-overlapping block_size windows (LMTrain.Evaluation). Wiring and printing only.
import ArgumentParser
import Foundation
import LMModels
import LMTokenizers
import LMTrain

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained model on a token file or a text file: loss, perplexity, bits per character.")

    @Option(help: "out_dir of `lmkit train` (or its model.safetensors / ckpt.safetensors), or a model directory with config.json (Hugging Face GPT-2/Llama, or `lmkit convert`'s nanoGPT layout).") var model: String
    @Option(help: "A token file (.bin from `lmkit prepare`) or a UTF-8 text file (.txt or anything else).") var data: String
    @Option(help: "For text: `char` (the vocabulary of the model's data directory), a tokenizer file or a directory holding one (a data directory of `lmkit prepare`, a model directory); default: the tokenizer recorded with the model.")
    var tokenizer: String?
    @Option(name: .customLong("block-size"), help: "Window length (default: the model's block_size).") var blockSize: Int?
    @Option(name: .customLong("batch-size"), help: "Windows per forward pass (recurrent models read the data as one stream, state carried across windows, and ignore it).") var batchSize = 8
    @Flag(help: "No progress bar.") var quiet = false
    @Option(name: .customLong("mc-samples"), help: "Masked diffusion: Monte-Carlo noisings per window for the likelihood bound.") var mcSamples = 32
    @Option(name: .customLong("mc-batch"), help: "Masked diffusion: noisings per forward pass (a divisor of --mc-samples).") var mcBatch = 16

    func run() throws {
        try reportingErrors {
            let loaded = try LoadedModel.load(model)
            printIgnoredConfigKeys(loaded.ignoredConfigKeys, directory: loaded.path)
            guard let window = blockSize ?? loaded.model.config.contextLength else {
                throw TrainError.invalidInput("--block-size: the model has no context length; give the window length")
            }
            guard batchSize > 0 else { throw TrainError.invalidInput("--batch-size must be positive, got \(batchSize)") }
            let bar = ProgressBar("eval", enabled: !quiet)
            let result: EvaluationResult
            if let diffusion = loaded.model as? any MaskedDiffusionSampling {
                if data.hasSuffix(".bin") {
                    let file = try TokenFile(path: data)
                    result = try Evaluation.evaluateBound(model: diffusion, tokens: file.tokens(0..<file.count), blockSize: window,
                                                          samples: mcSamples, batchSize: mcBatch, progress: { bar.update($0) })
                } else {
                    guard let bytes = FileManager.default.contents(atPath: data), let text = String(data: bytes, encoding: .utf8) else {
                        throw TrainError.invalidInput("\(data): cannot read it as UTF-8 text")
                    }
                    result = try Evaluation.evaluateBound(model: diffusion, text: text, tokenizer: try loaded.textTokenizer(override: tokenizer),
                                                          blockSize: window, samples: mcSamples, batchSize: mcBatch, progress: { bar.update($0) })
                }
                bar.finish()
                printBound(result, window: window, path: loaded.path)
                return
            }
            if let bert = loaded.model as? BERT {
                try evaluateMaskedLM(bert, loaded: loaded, window: window, bar: bar)
                return
            }
            if data.hasSuffix(".bin") {
                let file = try TokenFile(path: data)
                result = try Evaluation.evaluate(model: loaded.model, tokens: file.tokens(0..<file.count), blockSize: window,
                                                 batchSize: batchSize, progress: { bar.update($0) })
            } else {
                guard let bytes = FileManager.default.contents(atPath: data) else { throw TrainError.invalidInput("\(data): cannot read the file") }
                guard let text = String(data: bytes, encoding: .utf8) else { throw TrainError.invalidInput("\(data): not valid UTF-8 text") }
                let textTokenizer = try loaded.textTokenizer(override: tokenizer)
                guard textTokenizer.vocabularySize <= loaded.model.config.vocabularySize else {
                    let source = tokenizer.flatMap { $0 == "char" ? nil : $0 } ?? loaded.tokenizerPath ?? "of the model's data directory"
                    throw TrainError.invalidInput("tokenizer \(source) has \(textTokenizer.vocabularySize) ids, more than the model's vocab_size \(loaded.model.config.vocabularySize)")
                }
                result = try Evaluation.evaluate(model: loaded.model, text: text, tokenizer: textTokenizer, blockSize: window,
                                                 batchSize: batchSize, progress: { bar.update($0) })
            }
            bar.finish()
            print("model: \(loaded.path)")
            print("data: \(data) (\(result.predictedTokens + 1) tokens, windows of \(window))")
            print(String(format: "loss: %.6f nats/token", result.meanLoss))
            print(String(format: "perplexity: %.4f", result.perplexity))
            print(String(format: "bits per token: %.4f", result.bitsPerToken))
            if let bpc = result.bitsPerCharacter { print(String(format: "bits per character: %.6f (%d characters)", bpc, result.characters!)) }
        }
    }

    /// A masked LM: run_mlm's eval loss and masked-token accuracy on masks drawn with seed 0 (repeatable).
    func evaluateMaskedLM(_ bert: BERT, loaded: LoadedModel, window: Int, bar: ProgressBar) throws {
        let textTokenizer = try? loaded.textTokenizer(override: tokenizer)
        if let wordPiece = textTokenizer as? WordPiece { bert.wordContinuationIds = wordPiece.continuationIDs }
        else if bert.config.wholeWordMasking { throw TrainError.invalidInput("whole-word masking needs the model's WordPiece tokenizer; pass --tokenizer") }
        let tokens: [Int]
        if data.hasSuffix(".bin") {
            let file = try TokenFile(path: data)
            tokens = file.tokens(0..<file.count)
        } else {
            guard let bytes = FileManager.default.contents(atPath: data), let text = String(data: bytes, encoding: .utf8) else {
                throw TrainError.invalidInput("\(data): cannot read it as UTF-8 text")
            }
            guard let textTokenizer else { _ = try loaded.textTokenizer(override: tokenizer); return }
            tokens = try textTokenizer.encode(text)
        }
        let result = try Evaluation.evaluateMaskedLM(model: bert, tokens: tokens, blockSize: window, batchSize: batchSize, progress: { bar.update($0) })
        bar.finish()
        print("model: \(loaded.path)")
        print("data: \(data) (\(tokens.count) tokens, windows of \(window)\(bert.config.sentencePairs ? " as [CLS] A [SEP] B [SEP]" : ""))")
        print("masked LM (\(result.maskedTokens) masked positions, masks seeded 0\(bert.config.wholeWordMasking ? ", whole words" : "")):")
        print(String(format: "loss: %.6f nats/masked token", result.loss))
        print(String(format: "masked-token accuracy: %.4f", result.accuracy))
    }

    /// The masked-diffusion report: every figure is an upper bound (Monte-Carlo negative ELBO) ± its standard error.
    func printBound(_ result: EvaluationResult, window: Int, path: String) {
        let se = result.boundStandardError ?? 0, tokens = Double(result.predictedTokens)
        print("model: \(path)")
        print("data: \(data) (\(result.predictedTokens) tokens, windows of \(window), \(mcSamples) Monte-Carlo noisings each)")
        print("UPPER BOUNDS (masked diffusion: Monte-Carlo negative ELBO as LLaDA's get_log_likelihood, per block for block diffusion; ± one standard error):")
        print(String(format: "loss bound: %.6f ± %.6f nats/token", result.meanLoss, se / tokens))
        print(String(format: "perplexity bound: %.4f", result.perplexity))
        print(String(format: "bits per token bound: %.4f ± %.4f", result.bitsPerToken, se / tokens / log(2)))
        if let bpc = result.bitsPerCharacter, let characters = result.characters {
            print(String(format: "bits per character bound: %.6f ± %.6f (%d characters)", bpc, se / Double(characters) / log(2), characters))
        }
    }
}
