// BERT (Devlin et al. 2019), an encoder read top to bottom: config, embeddings, encoder, pooler, heads, model. Word +
// learned position + token-type embeddings, LayerNorm and dropout, post-LayerNorm blocks of bidirectional
// self-attention and a GELU (erf) MLP, a tanh pooler on the first token, and one head chosen by the config: masked LM
// (transform + LayerNorm + decoder tied to the word embeddings), sequence classification (on the pooler) or token
// classification. Padding is per-sequence key lengths in the fused attention kernel, never a T×T mask. Follows
// transformers' modeling_bert.py; the attention and MLP are LMNN's Transformer parts (`c_attn` = query, key, value
// stacked), whose names HuggingFaceBERT.swift maps. The masked-LM loss is DataCollatorForLanguageModeling's objective.
// Optional objective inputs: whole-word masking (google-research/bert's words: a `##` piece joins the token before it;
// transformers' whole_word_mask draws one Bernoulli per word) and sentence pairs (`[CLS] A [SEP] B [SEP]` with token
// types 0/1, A and B consecutive text split at a random point: BERT's segment-pair input without its next-sentence
// loss, which RoBERTa showed does not help; BertForPreTraining's NSP head is not implemented).
// Not implemented: next-sentence prediction, relative position embeddings, cross-attention.
import Foundation
import LMNN
import LMTensor
import LMTokenizers
import _LMSupport

/// Architecture of a `BERT` model. Defaults are bert-base-uncased's; JSON keys are transformers' BertConfig names.
public struct BERTConfig: ModelConfiguration {
    public static let modelType = "bert"

    /// Which head sits on the encoder (transformers' class): none (`BertModel`, with its pooler), `masked_lm`
    /// (`BertForMaskedLM`, no pooler), `sequence_classification` (pooler + classifier), `token_classification`.
    public enum Head: String, Codable, Sendable, CaseIterable {
        case none, maskedLM = "masked_lm", sequenceClassification = "sequence_classification", tokenClassification = "token_classification"
    }

    public var vocabSize: Int = 30522
    public var hiddenSize: Int = 768
    public var numHiddenLayers: Int = 12
    public var numAttentionHeads: Int = 12
    public var intermediateSize: Int = 3072
    public var maxPositionEmbeddings: Int = 512
    public var typeVocabSize: Int = 2
    public var layerNormEps: Double = 1e-12
    /// Dropout on embeddings, attention probabilities, residual branches and the classifier input.
    public var dropout: Double = 0.1
    /// GELU form of the MLP and the MLM transform: `erf` (BERT's "gelu") or `tanh` ("gelu_new").
    public var gelu: GELU.Approximation = .erf
    public var head: Head = .maskedLM
    /// Outputs of a classification head.
    public var numLabels: Int = 2
    /// The padding id: its embedding row gets no gradient and the masked-LM objective never masks it.
    public var padTokenId: Int = 0
    /// `[MASK]`: what the masked-LM objective puts in place of 80 % of the chosen tokens; nil when the model is not
    /// pretrained with LMKit (transformers keeps it in the tokenizer, not config.json).
    public var maskTokenId: Int? = nil
    /// Ids the masked-LM objective never chooses besides the padding id (`[CLS]`, `[SEP]`, `[UNK]`, …).
    public var specialTokenIds: [Int] = []
    /// The fraction of non-special tokens the masked-LM objective chooses per batch (DataCollatorForLanguageModeling's 0.15).
    public var mlmProbability: Double = 0.15
    /// Masked LM: choose whole words (a token and the `##` pieces after it, `BERT.wordContinuationIds`) with
    /// probability mlm_probability each, as DataCollatorForLanguageModeling(whole_word_mask=True).
    public var wholeWordMasking: Bool = false
    /// Masked LM: feed each training window as `[CLS] A [SEP] B [SEP]` (token types 0 then 1), needing cls/sep ids.
    public var sentencePairs: Bool = false
    /// `[CLS]` and `[SEP]` for sentence pairs; never masked.
    public var clsTokenId: Int? = nil
    public var sepTokenId: Int? = nil

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { maxPositionEmbeddings }
    public var headSize: Int { hiddenSize / numAttentionHeads }
    /// BertModel and BertForSequenceClassification have the pooler; BertForMaskedLM and BertForTokenClassification don't.
    public var hasPooler: Bool { head == .none || head == .sequenceClassification }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size", layerNormEps = "layer_norm_eps"
        case dropout, gelu, head, numLabels = "num_labels", padTokenId = "pad_token_id", maskTokenId = "mask_token_id"
        case specialTokenIds = "special_token_ids", mlmProbability = "mlm_probability", wholeWordMasking = "whole_word_masking"
        case sentencePairs = "sentence_pairs", clsTokenId = "cls_token_id", sepTokenId = "sep_token_id"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BERTConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? d.typeVocabSize
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        gelu = try c.decodeIfPresent(GELU.Approximation.self, forKey: .gelu) ?? d.gelu
        head = try c.decodeIfPresent(Head.self, forKey: .head) ?? d.head
        numLabels = try c.decodeIfPresent(Int.self, forKey: .numLabels) ?? d.numLabels
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? d.padTokenId
        maskTokenId = try c.decodeIfPresent(Int.self, forKey: .maskTokenId)
        specialTokenIds = try c.decodeIfPresent([Int].self, forKey: .specialTokenIds) ?? d.specialTokenIds
        mlmProbability = try c.decodeIfPresent(Double.self, forKey: .mlmProbability) ?? d.mlmProbability
        wholeWordMasking = try c.decodeIfPresent(Bool.self, forKey: .wholeWordMasking) ?? d.wholeWordMasking
        sentencePairs = try c.decodeIfPresent(Bool.self, forKey: .sentencePairs) ?? d.sentencePairs
        clsTokenId = try c.decodeIfPresent(Int.self, forKey: .clsTokenId)
        sepTokenId = try c.decodeIfPresent(Int.self, forKey: .sepTokenId)
        try validate()
    }

    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.hiddenSize, hiddenSize), (.numHiddenLayers, numHiddenLayers),
                             (.numAttentionHeads, numAttentionHeads), (.intermediateSize, intermediateSize),
                             (.maxPositionEmbeddings, maxPositionEmbeddings), (.typeVocabSize, typeVocabSize), (.numLabels, numLabels)]
        where value <= 0 { throw fail(key, "must be a positive integer, got \(value)") }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw fail(.hiddenSize, "must be a multiple of num_attention_heads (\(numAttentionHeads)), got \(hiddenSize)")
        }
        guard dropout >= 0 && dropout < 1 else { throw fail(.dropout, "must be in [0, 1), got \(dropout)") }
        guard layerNormEps > 0 && layerNormEps.isFinite else { throw fail(.layerNormEps, "must be positive, got \(layerNormEps)") }
        guard (0..<vocabSize).contains(padTokenId) else { throw fail(.padTokenId, "must be in 0..<vocab_size (\(vocabSize)), got \(padTokenId)") }
        if let mask = maskTokenId, !(0..<vocabSize).contains(mask) {
            throw fail(.maskTokenId, "must be in 0..<vocab_size (\(vocabSize)), got \(mask)")
        }
        if let bad = specialTokenIds.first(where: { !(0..<vocabSize).contains($0) }) {
            throw fail(.specialTokenIds, "must be ids in 0..<vocab_size (\(vocabSize)), got \(bad)")
        }
        guard mlmProbability > 0 && mlmProbability <= 1 else { throw fail(.mlmProbability, "must be in (0, 1], got \(mlmProbability)") }
        for (key, id) in [(CodingKeys.clsTokenId, clsTokenId), (.sepTokenId, sepTokenId)] {
            if let id, !(0..<vocabSize).contains(id) { throw fail(key, "must be in 0..<vocab_size (\(vocabSize)), got \(id)") }
        }
        if sentencePairs {
            guard clsTokenId != nil && sepTokenId != nil else { throw fail(.sentencePairs, "needs cls_token_id and sep_token_id") }
            guard typeVocabSize >= 2 else { throw fail(.sentencePairs, "needs type_vocab_size ≥ 2 (segments A and B), got \(typeVocabSize)") }
        }
    }

    /// What a WordPiece vocabulary fills in for keys a training config leaves out (its size, [MASK], [PAD], [CLS],
    /// [SEP] and every special token as never masked), so `lmkit train` on WordPiece data needs no ids by hand.
    public static func wordPieceDefaults(vocabularySize: Int, specialTokenIDs ids: [String: Int]) -> [String: Any] {
        var out: [String: Any] = ["vocab_size": vocabularySize, "special_token_ids": ids.values.sorted()]
        for (key, token) in [("mask_token_id", "[MASK]"), ("pad_token_id", "[PAD]"), ("cls_token_id", "[CLS]"), ("sep_token_id", "[SEP]")] {
            if let id = ids[token] { out[key] = id }
        }
        return out
    }

    /// A training run fills in the training block size as the position table and, unless given, a `[MASK]` id
    /// appended after the data's vocabulary (vocab_size = data vocabulary + 1), so any tokenizer's data (characters,
    /// byte-level BPE) can be pretrained with the masked-LM objective. A WordPiece vocabulary with its own `[MASK]`
    /// sets mask_token_id (and special_token_ids) in the model section instead.
    public static func trainingDefaults(vocabularySize: Int, blockSize: Int) -> [String: Any] {
        ["vocab_size": vocabularySize + 1, "mask_token_id": vocabularySize, "max_position_embeddings": blockSize]
    }
}

/// Word + position + token-type embeddings, LayerNorm, dropout (transformers' BertEmbeddings).
public final class BERTEmbeddings: Module {
    /// [vocab, H]; the masked-LM decoder reuses it.
    public let wordEmbeddings: Embedding
    /// [max_position_embeddings, H].
    public let positionEmbeddings: Embedding
    /// [type_vocab_size, H].
    public let tokenTypeEmbeddings: Embedding
    public let layerNorm: LayerNorm
    let dropout: Dropout
    public override class var keys: [String: String] {
        ["wordEmbeddings": "word_embeddings", "positionEmbeddings": "position_embeddings",
         "tokenTypeEmbeddings": "token_type_embeddings", "layerNorm": "LayerNorm"]
    }

    init(_ c: BERTConfig, generator: Generator?, dropoutGenerator: Generator) {
        wordEmbeddings = Embedding(weight: Init.normal([c.vocabSize, c.hiddenSize], std: 0.02, generator), paddingIndex: c.padTokenId)
        positionEmbeddings = Embedding(weight: Init.normal([c.maxPositionEmbeddings, c.hiddenSize], std: 0.02, generator))
        tokenTypeEmbeddings = Embedding(weight: Init.normal([c.typeVocabSize, c.hiddenSize], std: 0.02, generator))
        layerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        dropout = Dropout(c.dropout, generator: dropoutGenerator)
    }

    /// [B, T, H] for token ids and token types (row-major [B, T]); positions are 0..<T.
    func callAsFunction(_ tokens: [Int], tokenTypes: [Int], batch B: Int, length T: Int) -> Tensor {
        let x = wordEmbeddings(tokens, shape: [B, T])                  // [B, T, H]
            + positionEmbeddings.weight.slice(0, 0, T)                 // [T, H]
            + tokenTypeEmbeddings(tokenTypes, shape: [B, T])           // [B, T, H]
        return dropout(layerNorm(x))
    }
}

/// The stack of post-LayerNorm blocks (transformers' BertEncoder).
public final class BERTEncoder: Module {
    public let layer: [TransformerBlock]

    init(_ c: BERTConfig, generator: Generator?, dropoutGenerator: Generator) {
        layer = (0..<c.numHiddenLayers).map { _ in
            TransformerBlock(
                attention: SelfAttention(width: c.hiddenSize, heads: c.numAttentionHeads, kvHeads: c.numAttentionHeads, causal: false,
                                         bias: true, dropout: c.dropout, rotaryLayout: nil, outputStd: 0.02,
                                         generator: generator, dropoutGenerator: dropoutGenerator),
                mlp: FeedForward(width: c.hiddenSize, hidden: c.intermediateSize, kind: .gelu, gelu: c.gelu, bias: true,
                                 dropout: c.dropout, outputStd: 0.02, generator: generator, dropoutGenerator: dropoutGenerator),
                norms: (LayerNorm(c.hiddenSize, eps: c.layerNormEps), LayerNorm(c.hiddenSize, eps: c.layerNormEps)),
                position: .post)
        }
    }

    /// [B, T, H] → [B, T, H]; key j of sequence b is attended to only when j < keyLengths[b].
    func callAsFunction(_ x: Tensor, keyLengths: [Int]?) -> Tensor {
        layer.reduce(x) { h, block in block(h, keyLengths: keyLengths) }
    }
}

/// tanh(dense(first token)) (transformers' BertPooler).
public final class BERTPooler: Module {
    public let dense: Linear

    init(_ c: BERTConfig, generator: Generator?) {
        dense = Linear(weight: Init.normal([c.hiddenSize, c.hiddenSize], std: 0.02, generator), bias: Tensor.zeros([c.hiddenSize]))
    }

    /// [B, T, H] → [B, H].
    func callAsFunction(_ hidden: Tensor) -> Tensor {
        let (B, H) = (hidden.shape[0], hidden.shape[2])
        return dense(hidden.slice(1, 0, 1).reshape([B, H])).tanh()
    }
}

/// The masked-LM head's transform: dense → GELU → LayerNorm (transformers' BertPredictionHeadTransform).
public final class BERTPredictionTransform: Module {
    public let dense: Linear
    public let layerNorm: LayerNorm
    let gelu: GELU.Approximation
    public override class var keys: [String: String] { ["layerNorm": "LayerNorm"] }

    init(_ c: BERTConfig, generator: Generator?) {
        dense = Linear(weight: Init.normal([c.hiddenSize, c.hiddenSize], std: 0.02, generator), bias: Tensor.zeros([c.hiddenSize]))
        layerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
        gelu = c.gelu
    }

    func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(dense(x).gelu(gelu)) }
}

/// The masked-LM head: transform, then the decoder whose weight is the word embedding table, plus its own bias.
/// Holds no copy of the table, so the state dict has no aliased key.
public final class BERTMaskedLMHead: Module {
    public let transform: BERTPredictionTransform
    /// [vocab].
    public let bias: Tensor

    init(_ c: BERTConfig, generator: Generator?) {
        transform = BERTPredictionTransform(c, generator: generator)
        bias = Tensor.zeros([c.vocabSize]).requiringGrad()
    }

    /// [B, T, H] → [B, T, vocab] with the decoder `wordEmbeddings` [vocab, H].
    func callAsFunction(_ hidden: Tensor, wordEmbeddings: Tensor) -> Tensor {
        let (B, T, H) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
        let h = transform(hidden).reshape([B * T, H])                 // [B·T, H]
        let logits = h.matmul(wordEmbeddings.transpose(0, 1)) + bias   // [B·T, vocab]
        return logits.reshape([B, T, wordEmbeddings.shape[0]])
    }
}

/// The masked-LM head wrapped as transformers names it (`cls.predictions.…`).
public final class BERTPreTrainingHeads: Module {
    public let predictions: BERTMaskedLMHead
    init(_ c: BERTConfig, generator: Generator?) { predictions = BERTMaskedLMHead(c, generator: generator) }
}

/// A BERT encoder with the head its config names. State-dict names: `embeddings.…`, `encoder.layer.<i>.{attn.c_attn,
/// attn.c_proj, ln_1, mlp.c_fc, mlp.c_proj, ln_2}.…`, `pooler.dense.…`, `cls.predictions.{transform.…, bias}`,
/// `classifier.…`.
public final class BERT: Module, LanguageModel {
    /// What one forward pass returns.
    public struct Output {
        /// The last hidden state [B, T, H].
        public var hidden: Tensor
        /// The pooler's output [B, H] (BertModel, sequence classification); nil otherwise.
        public var pooled: Tensor?
        /// The head's output: masked LM [B, T, vocab], sequence classification [B, labels], token classification
        /// [B, T, labels]; nil without a head.
        public var logits: Tensor?
    }

    public let config: BERTConfig
    public let embeddings: BERTEmbeddings
    public let encoder: BERTEncoder
    public let pooler: BERTPooler?
    public let cls: BERTPreTrainingHeads?
    /// [labels, H] on the pooled output (sequence) or on every position (token); nil for the other heads.
    public let classifier: Linear?
    let classifierDropout: Dropout
    /// Ids of word-continuation pieces (WordPiece `##…`): whole-word masking keeps them with the token before. Not
    /// part of the config (it is the tokenizer's); `lmkit train` and `lmkit eval` set it from the WordPiece vocabulary.
    public var wordContinuationIds: Set<Int> = []
    public override class var keys: [String: String] { ["classifierDropout": "classifier_dropout"] }

    /// BERT's init (transformers' `_init_weights`): Linear and Embedding weights N(0, 0.02), biases 0, norms 1.
    /// `initializer` nil leaves every weight zero (to load next); dropout then draws from a generator seeded 0.
    public init(_ config: BERTConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "BERT: invalid config \(config)")
        self.config = config
        let dropoutGenerator = generator ?? Generator(seed: 0)
        embeddings = BERTEmbeddings(config, generator: generator, dropoutGenerator: dropoutGenerator)
        encoder = BERTEncoder(config, generator: generator, dropoutGenerator: dropoutGenerator)
        pooler = config.hasPooler ? BERTPooler(config, generator: generator) : nil
        cls = config.head == .maskedLM ? BERTPreTrainingHeads(config, generator: generator) : nil
        let classifies = config.head == .sequenceClassification || config.head == .tokenClassification
        classifier = classifies
            ? Linear(weight: Init.normal([config.numLabels, config.hiddenSize], std: 0.02, generator), bias: Tensor.zeros([config.numLabels]))
            : nil
        classifierDropout = Dropout(config.dropout, generator: dropoutGenerator)
    }

    /// The forward pass on row-major [batch, length] ids. `tokenTypes` (default all 0) are segment ids; `lengths`, per
    /// sequence, the real (unpadded, right-padded) positions: later keys are not attended to (the fused kernel's key
    /// lengths), while padded positions still get outputs, as in transformers.
    public func callAsFunction(_ tokens: [Int], batch: Int, length: Int, tokenTypes: [Int]? = nil, lengths: [Int]? = nil) -> Output {
        precondition(tokens.count == batch * length && length > 0, "BERT: \(tokens.count) tokens for batch \(batch) × length \(length)")
        precondition(length <= config.maxPositionEmbeddings, "BERT: length \(length) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
        if let tokenTypes { precondition(tokenTypes.count == tokens.count, "BERT: \(tokenTypes.count) token types for \(tokens.count) tokens") }
        if let lengths {
            precondition(lengths.count == batch && lengths.allSatisfy { $0 >= 1 && $0 <= length },
                         "BERT: lengths \(lengths) must be \(batch) values in 1...\(length)")
        }
        let keyLengths = lengths.flatMap { $0.allSatisfy { $0 == length } ? nil : $0 }
        let x = embeddings(tokens, tokenTypes: tokenTypes ?? [Int](repeating: 0, count: tokens.count), batch: batch, length: length)
        let hidden = encoder(x, keyLengths: keyLengths)                                // [B, T, H]
        let pooled = pooler?(hidden)                                                   // [B, H]
        var logits: Tensor? = nil
        switch config.head {
        case .none: break
        case .maskedLM: logits = cls!.predictions(hidden, wordEmbeddings: embeddings.wordEmbeddings.weight)  // [B, T, V]
        case .sequenceClassification: logits = classifier!(classifierDropout(pooled!))                    // [B, labels]
        case .tokenClassification: logits = classifier!(classifierDropout(hidden))                        // [B, T, labels]
        }
        return Output(hidden: hidden, pooled: pooled, logits: logits)
    }

    /// Masked-LM logits [batch, length, vocab] (the seam's `logits`); only a `masked_lm` model has them.
    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor {
        precondition(config.head == .maskedLM, "BERT: logits over the vocabulary need head masked_lm (this model's head is \(config.head.rawValue))")
        return self(tokens, batch: batch, length: length).logits!
    }

    /// The masked-LM objective on `batch.inputs` (targets are not used): `maskedLMBatch` draws the masks (and the
    /// sentence-pair split) from `generator`, and the loss is the mean cross-entropy over the chosen positions.
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor {
        let (inputs, types, labels) = maskedLMBatch(batch, generator: generator)
        return maskedLMLogits(inputs, tokenTypes: types, batch: batch.batch, length: batch.length).crossEntropy(targets: labels, ignoreIndex: -100)
    }

    /// Logits [B·T, vocab] of the masked-LM head.
    func maskedLMLogits(_ inputs: [Int], tokenTypes: [Int]?, batch B: Int, length T: Int) -> Tensor {
        precondition(config.head == .maskedLM, "BERT: the masked-LM objective needs head masked_lm (got \(config.head.rawValue))")
        return self(inputs, batch: B, length: T, tokenTypes: tokenTypes).logits!.reshape([B * T, config.vocabSize])
    }

    /// One draw of the masked-LM objective's inputs for the windows of `batch`: with `sentence_pairs`, each window
    /// becomes `[CLS] A [SEP] B [SEP]` (its first T−3 tokens, split after a uniformly drawn 1…T−4 tokens; one uniform
    /// per row) with token types 0 then 1; then `maskedLMInputs` masks it. Labels are -100 where nothing is predicted.
    public func maskedLMBatch(_ batch: TokenBatch, generator: Generator) -> (inputs: [Int], tokenTypes: [Int]?, labels: [Int]) {
        var tokens = batch.inputs, types: [Int]? = nil
        if config.sentencePairs, let cls = config.clsTokenId, let sep = config.sepTokenId {
            let T = batch.length
            precondition(T >= 5, "BERT: sentence pairs need windows of at least 5 tokens ([CLS] A [SEP] B [SEP]), got \(T)")
            let splits = generator.uniform(batch.batch)
            var typeIds = [Int](repeating: 0, count: tokens.count)
            for b in 0..<batch.batch {
                let row = Array(batch.inputs[(b * T)..<(b * T + T - 3)])
                let a = 1 + min(T - 5, Int(splits[b] * Double(T - 4)))
                tokens.replaceSubrange((b * T)..<((b + 1) * T), with: [cls] + row[0..<a] + [sep] + row[a...] + [sep])
                for t in (a + 2)..<T { typeIds[b * T + t] = 1 }
            }
            types = typeIds
        }
        let (inputs, labels) = maskedLMInputs(tokens, length: batch.length, generator: generator)
        return (inputs, types, labels)
    }

    /// The masked-LM loss and masked-token accuracy (argmax equal to the label, over the chosen positions) of one draw
    /// of masks on `batch`, as transformers' run_mlm evaluation reports them; `count` is the number of chosen positions.
    public func maskedLMMetrics(_ batch: TokenBatch, generator: Generator) -> (loss: Double, accuracy: Double, count: Int) {
        let (inputs, types, labels) = maskedLMBatch(batch, generator: generator)
        let V = config.vocabSize
        let logits = noGrad { self.maskedLMLogits(inputs, tokenTypes: types, batch: batch.batch, length: batch.length) }
        let loss = noGrad { logits.crossEntropy(targets: labels, ignoreIndex: -100) }.item()
        let values = logits.toArray()
        var correct = 0, count = 0
        for (i, label) in labels.enumerated() where label != -100 {
            let row = values[(i * V)..<((i + 1) * V)]
            if row.indices.max(by: { row[$0] < row[$1] })! - i * V == label { correct += 1 }
            count += 1
        }
        return (Double(loss), count == 0 ? 0 : Double(correct) / Double(count), count)
    }

    /// DataCollatorForLanguageModeling's masking of `tokens`: each token that is not the padding id or one of
    /// `specialTokenIds` is chosen with probability `mlmProbability`; a chosen token becomes `[MASK]` with probability
    /// 0.8, a uniformly random id with 0.1, and stays with 0.1. Labels are the original id at chosen positions and -100
    /// elsewhere. A fresh draw on every call (dynamic masking); exactly 3 uniforms and one random id per token are
    /// drawn, so the generator advances the same whatever is chosen. When nothing is chosen, the first eligible
    /// position of the draw's permutation is (a batch without a label has no loss). With `whole_word_masking`, the
    /// draw of a word's first token decides for the whole word (its `wordContinuationIds` pieces that follow, within
    /// the same row of `length` tokens).
    public func maskedLMInputs(_ tokens: [Int], length: Int? = nil, generator: Generator) -> (inputs: [Int], labels: [Int]) {
        guard let mask = config.maskTokenId else {
            preconditionFailure("BERT: the masked-LM objective needs mask_token_id in the model config")
        }
        let n = tokens.count, rowLength = length ?? n
        let special = Set(config.specialTokenIds + [config.padTokenId] + [config.clsTokenId, config.sepTokenId].compactMap { $0 })
        let choose = generator.uniform(n), replace = generator.uniform(n), randomIds = generator.integers(n, low: 0, high: config.vocabSize)
        let fallback = generator.uniform(1)[0]
        var inputs = tokens, labels = [Int](repeating: -100, count: n)
        func pick(_ i: Int) {
            labels[i] = tokens[i]
            if replace[i] < 0.8 { inputs[i] = mask } else if replace[i] < 0.9 { inputs[i] = randomIds[i] }
        }
        var wordChosen = false
        for i in 0..<n where !special.contains(tokens[i]) {
            let continuesWord = config.wholeWordMasking && i % rowLength != 0 && wordContinuationIds.contains(tokens[i]) && !special.contains(tokens[i - 1])
            if !continuesWord { wordChosen = choose[i] < config.mlmProbability }
            if wordChosen { pick(i) }
        }
        if !labels.contains(where: { $0 != -100 }) {
            let eligible = (0..<n).filter { !special.contains(tokens[$0]) }
            if !eligible.isEmpty { pick(eligible[min(eligible.count - 1, Int(fallback * Double(eligible.count)))]) }
        }
        return (inputs, labels)
    }
}

extension BERT: TokenizerAwareTraining, AccuracyReporting {
    public static func trainingDefaults(tokenizer: any Tokenizer) -> [String: Any] {
        guard let wordPiece = tokenizer as? WordPiece else { return [:] }
        return BERTConfig.wordPieceDefaults(vocabularySize: wordPiece.vocabularySize, specialTokenIDs: wordPiece.specialTokenIDs)
    }

    /// Whole-word masking needs to know which ids continue a word (WordPiece's `##` pieces).
    public func prepareForTraining(tokenizer: (any Tokenizer)?) throws {
        guard config.wholeWordMasking else { return }
        guard let wordPiece = tokenizer as? WordPiece else {
            throw ConfigError.invalidValue(field: "whole_word_masking", "needs WordPiece data (`lmkit prepare` with a WordPiece tokenizer): words are a token and the ## pieces after it")
        }
        wordContinuationIds = wordPiece.continuationIDs
    }

    public func lossAndAccuracy(_ batch: TokenBatch, generator: Generator) -> (loss: Double, accuracy: Double, count: Int)? {
        config.head == .maskedLM ? maskedLMMetrics(batch, generator: generator) : nil
    }
}
