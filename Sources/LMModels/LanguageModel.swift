// The model seam: what every trainable family provides so that the trainer, checkpoints, `lmkit eval`, `lmkit sample`
// and `lmkit convert` work with it unchanged. A family is a `LanguageModel` (a Module with a Codable config, logits
// and a training loss) registered under its `model_type` in `ModelRegistry`; families that can decode one token at a
// time also conform to `IncrementalDecoding`, and `generate` (Generation.swift) is written once on top of it.
// Shaped after mlx-swift-lm (a Codable config per architecture, a registry keyed by `model_type`), with the loss on
// the model so objectives other than next-token prediction (masked LM, masked diffusion) fit the same trainer.
import Foundation
import LMNN
import LMTensor
import LMTokenizers

/// A model family's architecture: Codable with snake_case keys and strict decoding (unknown keys are errors).
/// In JSON (config.json, checkpoint metadata, the `model` section of a training config) it sits next to a
/// `"model_type"` key naming the family; `ModelRegistry` adds and reads that key, the config itself does not hold it.
public protocol ModelConfiguration: Codable, Equatable, Sendable {
    /// The registry key of the family, e.g. "gpt".
    static var modelType: String { get }
    /// Every JSON key the configuration may contain (without `model_type`); others are rejected by name.
    static var jsonKeys: [String] { get }
    /// Ids the model accepts: 0..<vocabularySize.
    var vocabularySize: Int { get }
    /// The longest sequence the model accepts (a learned position table, a trained context); nil when unbounded.
    var contextLength: Int? { get }
    /// Checks sizes and ranges; the error names the field (thrown again by `ModelRegistry` with the file).
    func validate() throws
    /// Values a training run fills in for keys the user left out: the data's vocabulary size, and the training
    /// block size where the family has a context length. Keys the config does not have must not be returned.
    static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any]
    /// Parameters the model will have, computed from the config alone (as a Double: hostile sizes must not overflow),
    /// so a model that cannot fit is refused before it is built; nil when the family cannot say (the default).
    var estimatedParameterCount: Double? { get }
    /// Floats of activations a training step keeps per token (forward values the backward needs, and their
    /// gradients); nil when the family cannot say (the default).
    var estimatedActivationsPerToken: Double? { get }
}

extension ModelConfiguration {
    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] { ["vocab_size": vocabularySize] }
    public var estimatedParameterCount: Double? { nil }
    public var estimatedActivationsPerToken: Double? { nil }
}

/// One batch of training or evaluation data: `inputs` and `targets` are row-major [batch, length] token ids,
/// `targets` being the next tokens of the text (-1 marks a position to ignore). Objectives other than next-token
/// prediction derive their own inputs and targets from it (a masked LM masks `inputs`).
public struct TokenBatch: Sendable {
    public var inputs: [Int]
    public var targets: [Int]
    public var batch: Int
    public var length: Int
    /// Supervised fine-tuning: each row is prompt + response, and the first `promptLengths[row]` positions are the
    /// prompt (never noised, never scored; `targets` is -1 wherever the next token is not the response's). nil: text.
    public var promptLengths: [Int]?

    public init(inputs: [Int], targets: [Int], batch: Int, length: Int, promptLengths: [Int]? = nil) {
        precondition(inputs.count == batch * length && targets.count == batch * length,
                     "TokenBatch: \(inputs.count) inputs and \(targets.count) targets for batch \(batch) × length \(length)")
        precondition(promptLengths.map { $0.count == batch && $0.allSatisfy { (0..<length).contains($0) } } ?? true,
                     "TokenBatch: prompt lengths \(promptLengths ?? []) for batch \(batch) × length \(length)")
        self.inputs = inputs; self.targets = targets; self.batch = batch; self.length = length; self.promptLengths = promptLengths
    }
}

/// A trainable language model family. Parameters and the state dict come from `Module`'s walk; the names are the
/// checkpoint keys.
public protocol LanguageModel: Module {
    associatedtype Configuration: ModelConfiguration
    var config: Configuration { get }
    /// A fresh model. With a generator, weights are initialized from it (and dropout draws from it); with nil, every
    /// weight is zero because a state dict is loaded next (a random init of a large model costs seconds).
    init(_ config: Configuration, initializer generator: Generator?)
    /// Logits [batch, length, vocabularySize] for row-major token ids [batch, length].
    func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor
    /// The training objective on `batch`, a scalar. `generator` serves objectives that draw (masks, noise levels);
    /// it is the run's model generator, saved in checkpoints so that resume replays the same draws.
    func loss(_ batch: TokenBatch, generator: Generator) -> Tensor
    /// State-dict keys a checkpoint may omit because they alias another tensor (a head tied to the embedding).
    var aliasedStateDictKeys: Set<String> { get }
}

extension LanguageModel {
    public var aliasedStateDictKeys: Set<String> { [] }

    /// Mean next-token cross-entropy of `targets`, the loss of every causal family.
    public func nextTokenLoss(_ batch: TokenBatch) -> Tensor {
        logits(batch.inputs, batch: batch.batch, length: batch.length)
            .reshape([batch.batch * batch.length, config.vocabularySize])
            .crossEntropy(targets: batch.targets, ignoreIndex: -1)
    }
}

/// The per-sequence state of incremental decoding: a KV cache for Transformers, hidden states for recurrent nets,
/// convolution and scan states for state-space models. One state per batch of sequences; not thread-safe.
public protocol DecodingState: AnyObject {
    /// Positions consumed so far.
    var length: Int { get }
}

/// A family that decodes step by step: "prefill" the prompt, then "append" one token at a time, each costing one
/// position's work. `generate` (Generation.swift) and `lmkit sample` work through this protocol only.
public protocol IncrementalDecoding: LanguageModel {
    associatedtype State: DecodingState
    /// An empty state for `batch` sequences.
    func makeDecodingState(batch: Int) -> State
    /// Logits [batch, length, vocabularySize] of `tokens` (row-major [batch, length]) continuing what `state` holds;
    /// `state` is advanced past them. Equal (to rounding) to the full forward's logits at the same positions.
    func decode(_ tokens: [Int], batch: Int, length: Int, state: State) -> Tensor
}

extension IncrementalDecoding {
    /// Feeds the prompt of one sequence and returns the logits of its last position.
    public func prefill(_ prompt: [Int], state: State) -> [Float] {
        let logits = decode(prompt, batch: 1, length: prompt.count, state: state)
        let V = config.vocabularySize
        return Array(logits.toArray()[((prompt.count - 1) * V)..<(prompt.count * V)])
    }

    /// Feeds one more token of one sequence and returns the logits of the next position.
    public func append(_ token: Int, state: State) -> [Float] { decode([token], batch: 1, length: 1, state: state).toArray() }
}

/// Optional training hooks for a family that needs the training data's tokenizer (BERT on WordPiece data), so the
/// trainer asks the model instead of knowing the family.
public protocol TokenizerAwareTraining: LanguageModel {
    /// Model keys the data's tokenizer supplies when a training config leaves them out (BERT: vocab_size and the
    /// [MASK]/[PAD]/[CLS]/[SEP] ids of a WordPiece vocabulary).
    static func trainingDefaults(tokenizer: any Tokenizer) -> [String: Any]
    /// Called once before the first step with the data's tokenizer (nil when the data has none); throws for data the
    /// model cannot train on as configured (whole-word masking without word pieces).
    func prepareForTraining(tokenizer: (any Tokenizer)?) throws
}

/// A model whose evaluation reports an accuracy beside its loss (a masked LM: masked-token accuracy, run_mlm's
/// eval_accuracy). The trainer's evals print it.
public protocol AccuracyReporting: LanguageModel {
    /// Mean loss and accuracy over the `count` predicted positions of `batch`; nil when this configuration has none.
    func lossAndAccuracy(_ batch: TokenBatch, generator: Generator) -> (loss: Double, accuracy: Double, count: Int)?
}

/// A model with numbers worth printing beside the training loss (a mixture of experts: its router losses and expert
/// usage). The trainer asks at every log step and prints what it gets; the model decides what the numbers cover
/// (typically everything since the previous call) and resets.
public protocol TrainingStatisticsReporting: LanguageModel {
    /// Named values, in print order; empty when there is nothing to report.
    func trainingStatistics() -> [(String, Double)]
}
