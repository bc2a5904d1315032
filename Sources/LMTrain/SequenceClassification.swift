// Sequence-classification fine-tuning of BERT (`lmkit finetune`, `lmkit predict`), as transformers' run_glue.py does
// it with BertForSequenceClassification and Trainer: JSONL examples {"text", "label", optional "text_pair"} encoded
// `[CLS] text [SEP] pair [SEP]` with token types, truncated longest-first, padded per batch (the fused attention's key
// lengths); cross-entropy on the pooler's classifier; AdamW (decay on ≥2-D tensors), linear warmup + decay, gradient
// clipping at 1; an eval after every epoch reporting loss, accuracy and macro-F1 (sklearn's f1_score(average="macro"));
// the best epoch by macro-F1 kept as a BertForSequenceClassification directory (config.json with id2label,
// model.safetensors, tokenizer.json + vocab.txt) that transformers' from_pretrained reads. The start is a Hugging Face
// or sentence-transformers BERT directory (encoder weights kept, head newly initialized, as from_pretrained does) or
// a config from scratch. Not done: sequence lengths bucketed across batches, mixed precision, multi-label targets.
import Foundation
import LMModels
import LMOptim
import LMTensor
import LMTokenizers

/// One labelled (or, for prediction, unlabelled) text or text pair.
public struct ClassificationExample: Equatable, Sendable {
    public var text: String
    public var pair: String?
    /// The label as written (a JSON string, or an integer spelled in decimal); nil when the line has none.
    public var label: String?

    public init(text: String, pair: String? = nil, label: String? = nil) {
        self.text = text; self.pair = pair; self.label = label
    }
}

/// Reading and splitting classification JSONL.
public enum ClassificationData {
    /// Parses JSONL: one object per non-blank line with a string `text`, an optional string `text_pair` and a `label`
    /// (string or integer; required when `requireLabels`). Errors name the file, the line and the field.
    public static func parse(_ data: Data, source: String, requireLabels: Bool) throws -> [ClassificationExample] {
        var examples: [ClassificationExample] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let at = "\(source):\(index + 1)"
            guard line.contains(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0D) }) else { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] else {
                throw TrainError.invalidInput("\(at): not a JSON object (expected {\"text\": …, \"label\": …})")
            }
            guard let text = object["text"] as? String else {
                throw TrainError.invalidInput("\(at): field \"text\" " + (object["text"] == nil ? "is missing" : "must be a string"))
            }
            var pair: String? = nil
            if let value = object["text_pair"], !(value is NSNull) {
                guard let s = value as? String else { throw TrainError.invalidInput("\(at): field \"text_pair\" must be a string or null") }
                pair = s
            }
            var label: String? = nil
            switch object["label"] {
            case nil, is NSNull:
                if requireLabels { throw TrainError.invalidInput("\(at): field \"label\" is missing") }
            case let s as String:
                label = s
            // JSONSerialization gives NSNumber for booleans too; a JSON boolean has objCType "c".
            case let n as NSNumber where String(cString: n.objCType) != "c" && n.doubleValue == n.doubleValue.rounded() && abs(n.doubleValue) < 1e15:
                label = String(Int(n.doubleValue))
            default:
                throw TrainError.invalidInput("\(at): field \"label\" must be a string or an integer")
            }
            examples.append(ClassificationExample(text: text, pair: pair, label: label))
        }
        guard !examples.isEmpty else { throw TrainError.invalidInput("\(source): no examples (one JSON object per line)") }
        return examples
    }

    /// `parse` on a file.
    public static func read(_ path: String, requireLabels: Bool) throws -> [ClassificationExample] {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainError.invalidInput("\(path): cannot be read") }
        return try parse(data, source: path, requireLabels: requireLabels)
    }

    /// The distinct labels in a stable order: numerically when every label is an integer, else as sorted strings.
    public static func labels(of examples: [ClassificationExample]) -> [String] {
        let distinct = Set(examples.compactMap(\.label))
        if distinct.allSatisfy({ Int($0) != nil }) { return distinct.sorted { Int($0)! < Int($1)! } }
        return distinct.sorted()
    }

    /// A seeded random split (datasets' train_test_split): ⌈fraction · n⌉ examples for eval (at least 1), the rest
    /// for training, each in file order.
    public static func split(_ examples: [ClassificationExample], evalFraction: Double, seed: UInt64) throws
        -> (train: [ClassificationExample], eval: [ClassificationExample]) {
        guard evalFraction > 0 && evalFraction < 1 else { throw TrainError.invalidInput("eval fraction must be in (0, 1), got \(evalFraction)") }
        let n = examples.count, evalCount = max(1, Int((Double(n) * evalFraction).rounded(.up)))
        guard evalCount < n else { throw TrainError.invalidInput("\(n) examples are too few to split off \(evalCount) for eval") }
        let evalSet = Set(Generator(seed: seed).permutation(n).prefix(evalCount))
        return (examples.indices.filter { !evalSet.contains($0) }.map { examples[$0] }, evalSet.sorted().map { examples[$0] })
    }
}

/// Accuracy and macro-F1 of predicted label ids against the gold ones.
public struct ClassificationMetrics: Equatable, Sendable {
    public var accuracy: Double
    /// Mean over classes of F1 = 2·TP / (2·TP + FP + FN), over the classes present in the gold or the predicted ids, a
    /// class with no TP, FP or FN counting 0 (sklearn's f1_score(average="macro", zero_division=0)).
    public var macroF1: Double
    public var count: Int

    public init(predicted: [Int], gold: [Int]) {
        precondition(predicted.count == gold.count && !gold.isEmpty, "ClassificationMetrics: \(predicted.count) predictions for \(gold.count) labels")
        count = gold.count
        accuracy = Double(zip(predicted, gold).filter { $0 == $1 }.count) / Double(count)
        let classes = Set(predicted).union(gold)
        macroF1 = classes.map { c -> Double in
            let tp = zip(predicted, gold).filter { $0 == c && $1 == c }.count
            let fp = zip(predicted, gold).filter { $0 == c && $1 != c }.count
            let fn = zip(predicted, gold).filter { $0 != c && $1 == c }.count
            return tp == 0 ? 0 : 2 * Double(tp) / Double(2 * tp + fp + fn)
        }.reduce(0, +) / Double(classes.count)
    }
}

/// A BERT with a sequence-classification head, its WordPiece tokenizer and label names.
public final class SequenceClassifier {
    public let model: BERT
    public let tokenizer: WordPiece
    /// Label names by class id (config.json's id2label).
    public let labels: [String]
    /// Tokens per example including `[CLS]` and `[SEP]`; longer inputs are truncated longest-first.
    public let maxLength: Int

    public init(model: BERT, tokenizer: WordPiece, labels: [String], maxLength: Int) throws {
        guard model.config.head == .sequenceClassification, model.config.numLabels == labels.count else {
            throw TrainError.invalidInput("a sequence classifier needs head sequence_classification with \(labels.count) labels (got \(model.config.head.rawValue), \(model.config.numLabels))")
        }
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw TrainError.invalidInput("the tokenizer has \(tokenizer.vocabularySize) ids but the model's vocab_size is \(model.config.vocabSize)")
        }
        guard (3...model.config.maxPositionEmbeddings).contains(maxLength) else {
            throw TrainError.invalidInput("max length \(maxLength) must be in 3...\(model.config.maxPositionEmbeddings) (max_position_embeddings)")
        }
        self.model = model; self.tokenizer = tokenizer; self.labels = labels; self.maxLength = maxLength
    }

    /// Starts from a pretrained BERT directory: a sentence-transformers one (modules.json; its max_seq_length is the
    /// default length) or a Hugging Face one (BertModel, BertForMaskedLM, BertForSequenceClassification, …). Encoder
    /// and pooler weights are kept; what the new head needs and the source lacks (classifier, a pooler missing from an
    /// MLM checkpoint, a classifier of another label count) is initialized from `seed` and listed in `newWeights`.
    public static func pretrained(_ path: String, labels: [String], maxLength: Int?, seed: UInt64) throws
        -> (classifier: SequenceClassifier, newWeights: [String]) {
        let base: BERT, tokenizer: WordPiece, defaultLength: Int
        if FileManager.default.fileExists(atPath: path + "/modules.json") {
            let encoder = try SentenceEncoder.load(path)
            (base, tokenizer, defaultLength) = (encoder.model, encoder.tokenizer, encoder.maxSequenceLength)
        } else {
            let loaded = try HuggingFaceModelDirectory.load(path, loadTokenizer: false)
            guard let bert = loaded.model as? BERT else {
                throw TrainError.invalidInput("\(path)/config.json: model_type \(type(of: loaded.model.config).modelType) is not a BERT")
            }
            (base, tokenizer, defaultLength) = (bert, try HuggingFaceModelDirectory.wordPiece(path), min(512, bert.config.maxPositionEmbeddings))
        }
        var config = base.config
        config.head = .sequenceClassification
        config.numLabels = labels.count
        let model = BERT(config, initializer: Generator(seed: seed))
        var state = model.stateDict(), newWeights: [String] = []
        let source = base.stateDict()
        for (name, tensor) in state.sorted(by: { $0.key < $1.key }) {
            if let pretrained = source[name], pretrained.shape == tensor.shape { state[name] = pretrained } else { newWeights.append(name) }
        }
        try model.load(state, source: path)
        model.train()
        return (try SequenceClassifier(model: model, tokenizer: tokenizer, labels: labels, maxLength: maxLength ?? defaultLength), newWeights)
    }

    /// A randomly initialized BERT (seeded) from `config`, a JSON object of BERTConfig keys. Unset keys: vocab_size
    /// (the tokenizer's), pad_token_id (its `[PAD]`), max_position_embeddings (`maxLength`); head and num_labels are
    /// set from `labels`. Unknown keys are errors naming them.
    public static func scratch(config: [String: Any], source: String, tokenizer: WordPiece, labels: [String], maxLength: Int,
                               seed: UInt64) throws -> SequenceClassifier {
        var object = config
        if let type = object["model_type"] as? String, type != BERTConfig.modelType {
            throw TrainError.invalidInput("\(source): model_type must be \"bert\" for sequence classification, got \(type.debugDescription)")
        }
        for key in ["head", "num_labels"] where object[key] != nil {
            throw TrainError.invalidInput("\(source): \(key) is set from the training labels; remove it")
        }
        object["model_type"] = BERTConfig.modelType
        object["vocab_size"] = object["vocab_size"] ?? tokenizer.vocabularySize
        object["pad_token_id"] = object["pad_token_id"] ?? tokenizer.id(for: "[PAD]") ?? 0
        object["max_position_embeddings"] = object["max_position_embeddings"] ?? maxLength
        object["head"] = BERTConfig.Head.sequenceClassification.rawValue
        object["num_labels"] = labels.count
        let decoded: any ModelConfiguration
        do { decoded = try ModelRegistry.decodeConfig(object, source: source) } catch { throw TrainError.invalidInput("\(error)") }
        return try SequenceClassifier(model: BERT(decoded as! BERTConfig, initializer: Generator(seed: seed)), tokenizer: tokenizer,
                                      labels: labels, maxLength: maxLength)
    }

    /// Loads a directory `save(to:)` wrote (or any BertForSequenceClassification directory with a WordPiece
    /// vocabulary): labels from id2label, the length from tokenizer_config.json's model_max_length.
    public static func load(_ path: String) throws -> SequenceClassifier {
        let loaded = try HuggingFaceModelDirectory.load(path)
        guard let bert = loaded.model as? BERT, bert.config.head == .sequenceClassification else {
            throw TrainError.invalidInput("\(path)/config.json: not a BertForSequenceClassification model")
        }
        guard let tokenizer = loaded.tokenizer as? WordPiece else { throw TrainError.invalidInput("\(path): has neither tokenizer.json nor vocab.txt") }
        let config = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/config.json")))) as? [String: Any]
        let id2label = config?["id2label"] as? [String: Any] ?? [:]
        let labels = (0..<bert.config.numLabels).map { id2label["\($0)"] as? String ?? "LABEL_\($0)" }
        let tokenizerConfig = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/tokenizer_config.json")))) as? [String: Any]
        let length = min((tokenizerConfig?["model_max_length"] as? NSNumber)?.intValue ?? 512, bert.config.maxPositionEmbeddings)
        return try SequenceClassifier(model: bert, tokenizer: tokenizer, labels: labels, maxLength: length)
    }

    /// Writes a BertForSequenceClassification directory: model.safetensors, config.json with id2label / label2id,
    /// tokenizer.json + vocab.txt, tokenizer_config.json (model_max_length, lowercasing). Every file atomically.
    public func save(to directory: String) throws {
        try HuggingFaceModelDirectory.save(model, to: directory, architecture: .bert,
                                           tokenizer: tokenizer)
        let configPath = directory + "/config.json"
        guard var config = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath)))) as? [String: Any] else {
            throw TrainError.invalidInput("\(configPath): cannot be read back")
        }
        config["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ("\($0.offset)", $0.element) })
        config["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        try writeAtomically([UInt8](try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])), to: configPath)
        let tokenizerConfig: [String: Any] = ["tokenizer_class": "BertTokenizer", "model_max_length": maxLength, "do_lower_case": tokenizer.lowercase]
        try writeAtomically([UInt8](try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.sortedKeys, .prettyPrinted])),
                            to: directory + "/tokenizer_config.json")
    }

    /// Token ids and types of one example (`[CLS] text [SEP] pair [SEP]`, truncated to `maxLength`).
    public func encode(_ example: ClassificationExample) throws -> (ids: [Int], types: [Int]) {
        let e = try tokenizer.encode(example.text, pair: example.pair, maxLength: maxLength)
        return (e.ids, e.typeIDs)
    }

    /// Logits [B, labels] of encoded examples, padded to the longest (padding is not attended to).
    func logits(_ encoded: [(ids: [Int], types: [Int])]) -> Tensor {
        let T = encoded.map(\.ids.count).max()!, pad = model.config.padTokenId
        let tokens = encoded.flatMap { $0.ids + [Int](repeating: pad, count: T - $0.ids.count) }
        let types = encoded.flatMap { $0.types + [Int](repeating: 0, count: T - $0.types.count) }
        return model(tokens, batch: encoded.count, length: T, tokenTypes: types, lengths: encoded.map(\.ids.count)).logits!
    }

    /// Softmax probabilities [examples][labels], in eval mode, `batchSize` examples per forward (longest first).
    public func probabilities(_ examples: [ClassificationExample], batchSize: Int = 32, progress: ((Int) -> Void)? = nil) throws -> [[Double]] {
        try probabilities(encoded: examples.map(encode), batchSize: batchSize, progress: progress).probabilities
    }

    /// Probabilities and the summed cross-entropy against `gold` (when given) of already encoded examples.
    func probabilities(encoded: [(ids: [Int], types: [Int])], gold: [Int]? = nil, batchSize: Int,
                       progress: ((Int) -> Void)? = nil) -> (probabilities: [[Double]], totalLoss: Double) {
        precondition(batchSize > 0, "SequenceClassifier: batchSize must be positive")
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        // Longest first, as sentence-transformers does, so each batch pads little.
        let order = encoded.indices.sorted { encoded[$0].ids.count > encoded[$1].ids.count }
        var out = [[Double]](repeating: [], count: encoded.count), total = 0.0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let members = Array(order[start..<min(start + batchSize, order.count)])
            let logits = noGrad { self.logits(members.map { encoded[$0] }) }
            if let gold { total += Double(noGrad { logits.crossEntropy(targets: members.map { gold[$0] }) }.item()) * Double(members.count) }
            let p = noGrad { logits.softmax(axis: -1) }.toArray(), L = labels.count
            for (row, index) in members.enumerated() { out[index] = p[(row * L)..<((row + 1) * L)].map(Double.init) }
            progress?(min(start + batchSize, order.count))
        }
        return (out, total)
    }

    /// Label ids of `examples` (which must all carry a label in `labels`).
    public func labelIDs(_ examples: [ClassificationExample], source: String) throws -> [Int] {
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($0.element, $0.offset) })
        return try examples.enumerated().map { i, e in
            guard let label = e.label, let id = index[label] else {
                throw TrainError.invalidInput("\(source): example \(i + 1) has label \((e.label ?? "none").debugDescription), which is not one of the model's labels \(labels)")
            }
            return id
        }
    }
}

/// Settings of a fine-tuning run (transformers' TrainingArguments names in the comments).
public struct FineTuneOptions: Sendable {
    /// num_train_epochs.
    public var epochs = 3
    /// per_device_train_batch_size.
    public var batchSize = 16
    /// per_device_eval_batch_size.
    public var evalBatchSize = 64
    /// learning_rate (peak, after warmup).
    public var learningRate = 5e-5
    /// weight_decay (AdamW, on ≥2-D tensors).
    public var weightDecay = 0.01
    /// warmup_ratio: the fraction of all steps spent warming up linearly from 0.
    public var warmupFraction = 0.1
    /// max_grad_norm (0 = no clipping).
    public var gradClip = 1.0
    /// seed: batch order and dropout.
    public var seed: UInt64 = 0
    public init() {}
}

/// The eval after one epoch.
public struct FineTuneEval: Sendable {
    public var epoch: Int
    public var step: Int
    /// Mean training loss over the epoch's steps.
    public var trainLoss: Double
    /// Mean cross-entropy on the eval set.
    public var evalLoss: Double
    public var metrics: ClassificationMetrics
    /// Seconds since the run started.
    public var seconds: Double
    /// Whether this eval has the best macro-F1 so far (and so was saved).
    public var isBest: Bool
}

/// Fine-tunes a `SequenceClassifier` on labelled examples, evaluating after each epoch and keeping the best.
public final class FineTuner {
    public let classifier: SequenceClassifier
    public let options: FineTuneOptions
    private let train: [(ids: [Int], types: [Int])], trainGold: [Int]
    private let eval: [(ids: [Int], types: [Int])], evalGold: [Int]
    /// After each optimizer step: step (1-based), total steps, loss, learning rate.
    public var onStep: (Int, Int, Double, Double) -> Void = { _, _, _, _ in }
    public var onEval: (FineTuneEval) -> Void = { _ in }

    /// Encodes both sets once; every label must be one of the classifier's.
    public init(classifier: SequenceClassifier, train: [ClassificationExample], eval: [ClassificationExample], options: FineTuneOptions,
                trainSource: String = "train", evalSource: String = "eval") throws {
        guard options.epochs > 0 && options.batchSize > 0 && options.evalBatchSize > 0 else {
            throw TrainError.invalidInput("epochs (\(options.epochs)), batch size (\(options.batchSize)) and eval batch size (\(options.evalBatchSize)) must be positive")
        }
        guard options.learningRate > 0 && options.weightDecay >= 0 && (0..<1).contains(options.warmupFraction) && options.gradClip >= 0 else {
            throw TrainError.invalidInput("learning rate (\(options.learningRate)) must be positive, weight decay (\(options.weightDecay)) and grad clip (\(options.gradClip)) non-negative, warmup (\(options.warmupFraction)) in [0, 1)")
        }
        guard !train.isEmpty && !eval.isEmpty else { throw TrainError.invalidInput("need at least one training and one eval example") }
        self.classifier = classifier
        self.options = options
        self.train = try train.map(classifier.encode)
        self.eval = try eval.map(classifier.encode)
        trainGold = try classifier.labelIDs(train, source: trainSource)
        evalGold = try classifier.labelIDs(eval, source: evalSource)
    }

    /// Optimizer steps of the whole run.
    public var totalSteps: Int { options.epochs * ((train.count + options.batchSize - 1) / options.batchSize) }

    /// Eval loss and metrics of the current weights on the eval set.
    public func evaluate() -> (loss: Double, metrics: ClassificationMetrics) {
        let (p, total) = classifier.probabilities(encoded: eval, gold: evalGold, batchSize: options.evalBatchSize)
        let predicted = p.map { row in row.indices.max { row[$0] < row[$1] }! }
        return (total / Double(eval.count), ClassificationMetrics(predicted: predicted, gold: evalGold))
    }

    /// Runs every epoch; with `bestDirectory`, saves the classifier there whenever macro-F1 improves. Returns the evals.
    public func run(bestDirectory: String? = nil) throws -> [FineTuneEval] {
        let model = classifier.model
        model.train()
        let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: options.learningRate,
                                                                     weightDecay: options.weightDecay))
        let schedule = LinearSchedule(warmupSteps: Int((Double(totalSteps) * options.warmupFraction).rounded()), totalSteps: totalSteps)
        let order = Generator(seed: options.seed &+ 1)
        let start = Date()
        var step = 0, best = -1.0, evals: [FineTuneEval] = []
        for epoch in 1...options.epochs {
            var lossSum = 0.0, steps = 0
            let permutation = order.permutation(train.count)
            for batchStart in stride(from: 0, to: permutation.count, by: options.batchSize) {
                let members = Array(permutation[batchStart..<min(batchStart + options.batchSize, permutation.count)])
                let lr = options.learningRate * schedule.factor(at: step)
                optimizer.setLearningRate(lr)
                let loss = classifier.logits(members.map { train[$0] }).crossEntropy(targets: members.map { trainGold[$0] })
                let value = Double(loss.item())
                guard value.isFinite else {
                    throw TrainError.invalidInput("step \(step + 1) gave a non-finite loss (\(value)); lower the learning rate")
                }
                loss.backward()
                if options.gradClip > 0 { _ = try? GradientClipping.clipGradientNorm(model.parameters(), maxNorm: options.gradClip) }
                optimizer.step()
                optimizer.zeroGrad()
                step += 1; steps += 1; lossSum += value
                onStep(step, totalSteps, value, lr)
            }
            let (evalLoss, metrics) = evaluate()
            let isBest = metrics.macroF1 > best
            if isBest {
                best = metrics.macroF1
                if let bestDirectory { try classifier.save(to: bestDirectory) }
            }
            let result = FineTuneEval(epoch: epoch, step: step, trainLoss: lossSum / Double(steps), evalLoss: evalLoss, metrics: metrics,
                                      seconds: Date().timeIntervalSince(start), isBest: isBest)
            evals.append(result)
            onEval(result)
        }
        return evals
    }
}
