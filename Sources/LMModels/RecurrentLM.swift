// Recurrent language models (model_type "lstm", "gru", "rnn"): embedding → dropout → RNN/LSTM/GRU stack → dropout →
// linear head, optionally tied to the embedding — PyTorch's examples/word_language_model `RNNModel`, with its names
// (`encoder.weight`, `rnn.weight_ih_l0`, `decoder.weight`, `decoder.bias`) and init (encoder and decoder U(−0.1, 0.1),
// decoder bias 0), so its state dicts load unchanged. Decoding carries the recurrent state: O(1) work per token.
import Foundation
import LMNN
import LMTensor

/// Which recurrence a recurrent family runs; one conforming type per `model_type`.
public protocol RecurrentFamily: Sendable {
    static var modelType: String { get }
    static var cell: RecurrentCell { get }
}
public enum LSTMFamily: RecurrentFamily { public static let modelType = "lstm"; public static let cell = RecurrentCell.lstm }
public enum GRUFamily: RecurrentFamily { public static let modelType = "gru"; public static let cell = RecurrentCell.gru }
/// Elman RNN; `nonlinearity` in the config picks tanh or relu.
public enum RNNFamily: RecurrentFamily { public static let modelType = "rnn"; public static let cell = RecurrentCell.rnnTanh }

/// Architecture of a recurrent language model (word_language_model's emsize, nhid, nlayers, dropout, tied).
public struct RecurrentLMConfig<Family: RecurrentFamily>: ModelConfiguration {
    public static var modelType: String { Family.modelType }
    public var vocabSize = 1
    public var embeddingSize = 200
    public var hiddenSize = 200
    public var numLayers = 2
    /// Dropout on the embeddings, between recurrent layers and on the last layer's outputs (word_language_model).
    public var dropout = 0.0
    /// The head shares the embedding matrix; needs the state size (proj_size or hidden_size) equal to embedding_size.
    public var tieWeights = false
    /// "tanh" or "relu"; the rnn family only.
    public var nonlinearity: String? = nil
    /// LSTM output projection (torch proj_size); the lstm family only. 0 = none.
    public var projSize = 0

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { nil }
    /// Width of h and of the head's input.
    public var stateSize: Int { projSize > 0 ? projSize : hiddenSize }
    public var cell: RecurrentCell { Family.cell == .rnnTanh && nonlinearity == "relu" ? .rnnReLU : Family.cell }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", embeddingSize = "embedding_size", hiddenSize = "hidden_size", numLayers = "num_layers"
        case dropout, tieWeights = "tie_weights", nonlinearity, projSize = "proj_size"
    }
    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        embeddingSize = try c.decodeIfPresent(Int.self, forKey: .embeddingSize) ?? d.embeddingSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? d.numLayers
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        tieWeights = try c.decodeIfPresent(Bool.self, forKey: .tieWeights) ?? d.tieWeights
        nonlinearity = try c.decodeIfPresent(String.self, forKey: .nonlinearity)
        projSize = try c.decodeIfPresent(Int.self, forKey: .projSize) ?? d.projSize
        try validate()
    }

    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.embeddingSize, embeddingSize), (.hiddenSize, hiddenSize), (.numLayers, numLayers)]
        where value <= 0 { throw fail(key, "must be a positive integer, got \(value)") }
        guard dropout >= 0 && dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        if let n = nonlinearity {
            guard Family.cell == .rnnTanh else { throw fail(.nonlinearity, "applies to model_type rnn only, not \(Family.modelType)") }
            guard n == "tanh" || n == "relu" else { throw fail(.nonlinearity, "must be \"tanh\" or \"relu\", got \"\(n)\"") }
        }
        if projSize != 0 {
            guard Family.cell == .lstm else { throw fail(.projSize, "applies to model_type lstm only, not \(Family.modelType)") }
            guard projSize > 0 && projSize < hiddenSize else { throw fail(.projSize, "must be in 1..<hidden_size (\(hiddenSize)), got \(projSize)") }
        }
        if tieWeights && stateSize != embeddingSize {
            throw fail(.tieWeights, "needs embedding_size (\(embeddingSize)) equal to the state size (\(stateSize), proj_size or hidden_size)")
        }
    }
}

public typealias LSTMLanguageModelConfig = RecurrentLMConfig<LSTMFamily>
public typealias GRULanguageModelConfig = RecurrentLMConfig<GRUFamily>
public typealias RNNLanguageModelConfig = RecurrentLMConfig<RNNFamily>

/// The recurrent state of decoding: the stack's (h, c) after the tokens seen so far.
public final class RecurrentDecodingState: DecodingState {
    public private(set) var length = 0
    public var state: RecurrentState?
    public init() {}
    func advance(_ steps: Int, to state: RecurrentState) { length += steps; self.state = state }
}

/// A recurrent language model: logits, the next-token loss, and O(1)-per-token decoding.
public final class RecurrentLanguageModel<Family: RecurrentFamily>: Module, IncrementalDecoding {
    public let config: RecurrentLMConfig<Family>
    /// [vocab, embedding_size].
    public let encoder: Embedding
    public let rnn: RecurrentNetwork
    /// [vocab, state size]; its weight is `encoder.weight` when tied.
    public let decoder: Linear
    let drop: Dropout

    /// `initializer` nil: weights are loaded next (the recurrent stack is still drawn from a fixed seed, which is
    /// cheap at these sizes), dropout draws from a generator seeded 0.
    public init(_ config: RecurrentLMConfig<Family>, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "\(Family.modelType): invalid config \(config)")
        self.config = config
        let g = generator ?? Generator(seed: 0)
        func uniform(_ shape: [Int]) -> Tensor {
            Init.uniform(Tensor(zeros: shape, requiresGrad: true), low: -0.1, high: 0.1, generator: g)
        }
        encoder = Embedding(weight: uniform([config.vocabSize, config.embeddingSize]))
        rnn = RecurrentNetwork(cell: config.cell, inputSize: config.embeddingSize, hiddenSize: config.hiddenSize,
                               layerCount: config.numLayers, batchFirst: true, dropout: config.dropout,
                               projectionSize: config.projSize, generator: g)
        decoder = Linear(weight: config.tieWeights ? encoder.weight : uniform([config.vocabSize, config.stateSize]),
                         bias: Tensor(zeros: [config.vocabSize]))
        drop = Dropout(config.dropout, generator: g)
    }

    public var aliasedStateDictKeys: Set<String> { config.tieWeights ? ["decoder.weight"] : [] }

    /// Logits [batch, length, vocab] for row-major ids [batch, length] starting from `state` (nil = zeros), and the
    /// state after the last step.
    public func callAsFunction(_ tokens: [Int], batch: Int, length: Int, state: RecurrentState? = nil) -> (logits: Tensor, state: RecurrentState) {
        precondition(tokens.count == batch * length && length > 0, "\(Family.modelType): \(tokens.count) tokens for batch \(batch) × length \(length)")
        let x = drop(encoder(tokens, shape: [batch, length]))  // [B, T, E]
        let (h, final) = rnn(x, state: state)                   // [B, T, P]
        return (decoder(drop(h)), final)                        // [B, T, V]
    }

    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor { self(tokens, batch: batch, length: length).logits }

    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor { nextTokenLoss(batch) }

    public func makeDecodingState(batch: Int) -> RecurrentDecodingState { RecurrentDecodingState() }

    public func decode(_ tokens: [Int], batch: Int, length: Int, state: RecurrentDecodingState) -> Tensor {
        let (logits, next) = self(tokens, batch: batch, length: length, state: state.state)
        state.advance(length, to: next.detached())
        return logits
    }
}

extension RecurrentLanguageModel: CarriedStateTraining {
    /// Truncated BPTT: the window starts from the carried (h, c) and hands its final state on, detached.
    public func loss(_ batch: TokenBatch, generator: Generator, carried: [String: Tensor]) -> (loss: Tensor, carried: [String: Tensor]) {
        let start = carried["h"].map { RecurrentState(h: $0, c: carried["c"]) }
        let (logits, final) = self(batch.inputs, batch: batch.batch, length: batch.length, state: start)  // [B, T, V]
        let loss = logits.reshape([batch.batch * batch.length, config.vocabularySize]).crossEntropy(targets: batch.targets, ignoreIndex: -1)
        var next = ["h": final.h.detach()]
        if let c = final.c { next["c"] = c.detach() }
        return (loss, next)
    }
}

public typealias LSTMLanguageModel = RecurrentLanguageModel<LSTMFamily>
public typealias GRULanguageModel = RecurrentLanguageModel<GRUFamily>
public typealias RNNLanguageModel = RecurrentLanguageModel<RNNFamily>
