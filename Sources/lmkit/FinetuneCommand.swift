// `lmkit finetune` and `lmkit predict`: sequence classification with BERT from JSONL ({"text", "label", optional
// "text_pair"}), as transformers' run_glue.py with BertForSequenceClassification. Wiring onto LMTrain's
// SequenceClassifier / FineTuner: reading, splitting, printing one line per eval and the progress bar.
import ArgumentParser
import Foundation
import LMModels
import LMTokenizers
import LMTrain

struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune BERT for sequence classification on JSONL ({\"text\", \"label\", optional \"text_pair\"}).",
        discussion: """
        Start from --model (a Hugging Face or sentence-transformers BERT directory: encoder kept, classification head \
        new) or from scratch with --config (BERT config JSON) and --tokenizer (WordPiece vocab.txt / tokenizer.json). \
        Evaluates after every epoch (loss, accuracy, macro-F1) on --eval or a seeded --eval-fraction of --train, and \
        keeps the best epoch by macro-F1 in OUT/best, a BertForSequenceClassification directory (transformers' \
        from_pretrained reads it; `lmkit predict --model OUT/best`). OUT/eval_results.jsonl has every eval.
        """)

    @Option(help: "Training JSONL.") var train: String
    @Option(help: "Eval JSONL (default: split --eval-fraction off --train).") var eval: String?
    @Option(name: .customLong("eval-fraction"), help: "Fraction of --train held out for eval when --eval is not given.") var evalFraction = 0.1
    @Option(help: "Pretrained BERT directory (Hugging Face or sentence-transformers).") var model: String?
    @Option(help: "From scratch: BERT config JSON (hidden_size, num_hidden_layers, …; vocab_size defaults to the tokenizer's).") var config: String?
    @Option(help: "From scratch: WordPiece tokenizer (vocab.txt or tokenizer.json, e.g. from `lmkit tokenizer train --type wordpiece`).") var tokenizer: String?
    @Option(help: "Output directory (best/ and eval_results.jsonl).") var out: String
    @Option(help: "Epochs.") var epochs = 3
    @Option(name: .customLong("batch-size"), help: "Examples per optimizer step.") var batchSize = 16
    @Option(name: .customLong("learning-rate"), help: "Peak learning rate (AdamW).") var learningRate = 5e-5
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay on weight matrices.") var weightDecay = 0.01
    @Option(help: "Fraction of steps of linear warmup (then linear decay to 0).") var warmup = 0.1
    @Option(name: .customLong("max-length"), help: "Tokens per example with [CLS]/[SEP] (default: the model's max_seq_length, or 128 from scratch).") var maxLength: Int?
    @Option(help: "Seed of the split, the head's init, batch order and dropout.") var seed: UInt64 = 0
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        if (model == nil) == (config == nil) { throw ValidationError("give either --model DIR (pretrained) or --config FILE with --tokenizer (from scratch)") }
        if config != nil && tokenizer == nil { throw ValidationError("--config needs --tokenizer (a WordPiece vocab.txt or tokenizer.json)") }
        if model != nil && tokenizer != nil { throw ValidationError("--tokenizer is for --config; a --model directory brings its own") }
        if !(evalFraction > 0 && evalFraction < 1) { throw ValidationError("--eval-fraction must be in (0, 1), got \(evalFraction)") }
    }

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        try reportingErrors {
            let all = try ClassificationData.read(train, requireLabels: true)
            let (trainSet, evalSet) = try eval.map { (all, try ClassificationData.read($0, requireLabels: true)) }
                ?? ClassificationData.split(all, evalFraction: evalFraction, seed: seed)
            let labels = ClassificationData.labels(of: trainSet)
            guard labels.count >= 2 else { throw TrainError.invalidInput("\(train): needs at least 2 distinct labels, found \(labels)") }
            let classifier: SequenceClassifier
            if let model {
                let (loaded, newWeights) = try SequenceClassifier.pretrained(model, labels: labels, maxLength: maxLength, seed: seed)
                classifier = loaded
                print("model: \(model); newly initialized: \(newWeights.joined(separator: ", "))")
            } else {
                guard let wordPiece = try loadTokenizer(tokenizer!) as? WordPiece else {
                    throw TrainError.invalidInput("--tokenizer \(tokenizer!): not a WordPiece tokenizer")
                }
                guard let data = FileManager.default.contents(atPath: config!),
                      let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    throw TrainError.invalidInput("--config \(config!): cannot be read as a JSON object")
                }
                classifier = try SequenceClassifier.scratch(config: object, source: config!, tokenizer: wordPiece, labels: labels,
                                                            maxLength: maxLength ?? 128, seed: seed)
                print("model: from scratch (\(config!)), tokenizer \(tokenizer!)")
            }
            var options = FineTuneOptions()
            (options.epochs, options.batchSize, options.learningRate) = (epochs, batchSize, learningRate)
            (options.weightDecay, options.warmupFraction, options.seed) = (weightDecay, warmup, seed)
            let tuner = try FineTuner(classifier: classifier, train: trainSet, eval: evalSet, options: options,
                                      trainSource: train, evalSource: eval ?? train)
            print(String(format: "%.2fM parameters, labels %@, %d train / %d eval examples, max length %d, %d steps",
                         Double(classifier.model.parameterCount) / 1e6, labels.description, trainSet.count, evalSet.count,
                         classifier.maxLength, tuner.totalSteps))
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let bar = ProgressBar("finetune", enabled: !quiet)
            tuner.onStep = { step, total, loss, lr in
                bar.update(Double(step) / Double(total), String(format: "step %d/%d loss %.4f lr %.2e", step, total, loss, lr))
            }
            var lines: [String] = []
            let best = out + "/best"
            tuner.onEval = { e in
                bar.finish()
                print(String(format: "epoch %d (step %d): train loss %.4f, eval loss %.4f, accuracy %.4f, macro-F1 %.4f, %.0fs%@", e.epoch, e.step,
                             e.trainLoss, e.evalLoss, e.metrics.accuracy, e.metrics.macroF1, e.seconds, e.isBest ? " (best: saved to \(best))" : ""))
                lines.append(String(format: "{\"epoch\": %d, \"step\": %d, \"train_loss\": %.6f, \"eval_loss\": %.6f, \"eval_accuracy\": %.6f, \"eval_macro_f1\": %.6f, \"seconds\": %.1f}",
                                    e.epoch, e.step, e.trainLoss, e.evalLoss, e.metrics.accuracy, e.metrics.macroF1, e.seconds))
                try? writeFileAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: out + "/eval_results.jsonl")
            }
            let evals = try tuner.run(bestDirectory: best)
            let top = evals.max { $0.metrics.macroF1 < $1.metrics.macroF1 || ($0.metrics.macroF1 == $1.metrics.macroF1 && $0.epoch > $1.epoch) }!
            print(String(format: "best: epoch %d, accuracy %.4f, macro-F1 %.4f (%@)", top.epoch, top.metrics.accuracy, top.metrics.macroF1, best))
        }
    }
}

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify JSONL texts with a fine-tuned BERT (a BertForSequenceClassification directory).",
        discussion: """
        Reads {"text", optional "text_pair"} lines from --input (or stdin) and writes one JSON line each: \
        {"label": best label, "probabilities": {label: p, …}}. When every input line has a "label", also prints \
        accuracy and macro-F1 on stderr.
        """)

    @Option(help: "A BertForSequenceClassification directory (`lmkit finetune`'s OUT/best, or transformers' save_pretrained).") var model: String
    @Option(help: "JSONL file (default: stdin).") var input: String?
    @Option(name: .customLong("batch-size"), help: "Examples per forward pass.") var batchSize = 32

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be ≥ 1, got \(batchSize)") }
    }

    func run() throws {
        try reportingErrors {
            let classifier = try SequenceClassifier.load(model)
            let source = input ?? "<stdin>"
            let data = try input.map { path in
                guard let d = FileManager.default.contents(atPath: path) else { throw TrainError.invalidInput("\(path): cannot be read") }
                return d
            } ?? FileHandle.standardInput.readDataToEndOfFile()
            let examples = try ClassificationData.parse(data, source: source, requireLabels: false)
            let probabilities = try classifier.probabilities(examples, batchSize: batchSize)
            var out = "", predicted: [Int] = []
            for p in probabilities {
                let best = p.indices.max { p[$0] < p[$1] }!
                predicted.append(best)
                let object: [String: Any] = ["label": classifier.labels[best],
                                             "probabilities": Dictionary(uniqueKeysWithValues: zip(classifier.labels, p))]
                out += String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
            if examples.allSatisfy({ $0.label != nil }) {
                let m = ClassificationMetrics(predicted: predicted, gold: try classifier.labelIDs(examples, source: source))
                FileHandle.standardError.write(Data(String(format: "%d examples: accuracy %.4f, macro-F1 %.4f\n", m.count, m.accuracy, m.macroF1).utf8))
            }
        }
    }
}
