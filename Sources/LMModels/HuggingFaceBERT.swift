// Hugging Face BERT (model_type "bert": `BertModel`, `BertForMaskedLM`, `BertForSequenceClassification`,
// `BertForTokenClassification`) <-> LMKit's BERT: the config.json keys and the tensor names, both directions, in this
// one file. Follows transformers' configuration_bert.py and modeling_bert.py (4.x and 5.x): every key the modeling
// code reads is used or checked, the rest of config.json is listed as ignored (HuggingFace.swift). The `architectures`
// class picks LMKit's `head`; the head classes prefix the encoder with `bert.`. query/key/value are separate HF
// tensors, stacked into LMNN's `c_attn`. Not read: BertForPreTraining (NSP), BertForQuestionAnswering, decoders.
import Foundation
import LMTensor

enum BERTAdapter: HuggingFaceAdapter {
    static let modelTypes = ["bert"]
    /// The head classes LMKit implements; the class in config.json's `architectures` sets `BERTConfig.head`.
    static let classes: [(name: String, head: BERTConfig.Head)] = [
        ("BertForMaskedLM", .maskedLM), ("BertModel", .none),
        ("BertForSequenceClassification", .sequenceClassification), ("BertForTokenClassification", .tokenClassification),
    ]
    static var architectures: [String] { classes.map(\.name) }

    static func config(from r: HuggingFaceConfigReader) throws -> any ModelConfiguration {
        var c = BERTConfig()
        // HuggingFaceConfig has checked that the first class is one of `classes`; without one it is the base model.
        let className = (r.value("architectures") as? [Any])?.first as? String ?? "BertModel"
        c.head = classes.first { $0.name == className }?.head ?? .none
        c.vocabSize = try r.requiredInt("vocab_size")
        c.hiddenSize = try r.int("hidden_size") ?? 768
        c.numHiddenLayers = try r.int("num_hidden_layers") ?? 12
        c.numAttentionHeads = try r.int("num_attention_heads") ?? 12
        guard c.numAttentionHeads > 0, c.hiddenSize % c.numAttentionHeads == 0 else {
            throw r.fail("hidden_size", "a multiple of num_attention_heads (\(c.numAttentionHeads))")
        }
        c.intermediateSize = try r.int("intermediate_size") ?? 3072
        c.maxPositionEmbeddings = try r.int("max_position_embeddings") ?? 512
        c.typeVocabSize = try r.int("type_vocab_size") ?? 2
        c.layerNormEps = try r.double("layer_norm_eps") ?? 1e-12
        switch try r.string("hidden_act") ?? "gelu" {
        case "gelu": c.gelu = .erf
        case "gelu_new", "gelu_pytorch_tanh": c.gelu = .tanh
        default: throw r.fail("hidden_act", "\"gelu\" (erf) or \"gelu_new\" / \"gelu_pytorch_tanh\" (tanh)")
        }
        let dropoutKeys = ["hidden_dropout_prob", "attention_probs_dropout_prob"]
        c.dropout = dropoutKeys.contains { r.dict[$0] != nil } ? try r.dropout(dropoutKeys) : 0.1
        if let classifierDropout = try r.double("classifier_dropout"), classifierDropout != c.dropout {
            throw r.fail("classifier_dropout", "null or the same as hidden_dropout_prob (\(c.dropout)); BERTConfig has one dropout")
        }
        c.padTokenId = try r.int("pad_token_id") ?? 0
        if let positions = try r.string("position_embedding_type"), positions != "absolute" {
            throw r.fail("position_embedding_type", "\"absolute\" (relative position embeddings are not implemented)")
        }
        try r.expect("is_decoder", try r.bool("is_decoder"), false, "false (BERT as an encoder)")
        try r.expect("add_cross_attention", try r.bool("add_cross_attention"), false, "false (no cross-attention)")
        // BertForMaskedLM's decoder is the word embedding table; an untied decoder is not implemented.
        if c.head == .maskedLM {
            try r.expect("tie_word_embeddings", try r.bool("tie_word_embeddings"), true, "true (the MLM decoder is the word embedding table)")
        }
        // Feed-forward chunking computes the same function in pieces.
        try r.ignored("chunk_size_feed_forward", r.int, harmless: { _ in true }, "an integer")
        if c.head == .sequenceClassification || c.head == .tokenClassification { c.numLabels = try numLabels(r) }
        return c
    }

    /// transformers' num_labels: `id2label`'s size when present, else `num_labels`, else 2; both present must agree.
    private static func numLabels(_ r: HuggingFaceConfigReader) throws -> Int {
        let explicit = try r.int("num_labels")
        guard let id2label = r.value("id2label") else { return explicit ?? 2 }
        guard let labels = id2label as? [String: Any], !labels.isEmpty else { throw r.fail("id2label", "an object {\"0\": label, …}") }
        if let explicit, explicit != labels.count { throw r.fail("num_labels", "the number of id2label entries (\(labels.count))") }
        return labels.count
    }

    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any] {
        let c = try lmkitConfig(config, as: BERTConfig.self)
        var json: [String: Any] = [
            "architectures": [classes.first { $0.head == c.head }!.name],
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "num_hidden_layers": c.numHiddenLayers,
            "num_attention_heads": c.numAttentionHeads, "intermediate_size": c.intermediateSize,
            "max_position_embeddings": c.maxPositionEmbeddings, "type_vocab_size": c.typeVocabSize,
            "layer_norm_eps": c.layerNormEps, "hidden_act": c.gelu == .erf ? "gelu" : "gelu_new",
            "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.dropout, "classifier_dropout": NSNull(),
            "pad_token_id": c.padTokenId, "position_embedding_type": "absolute", "is_decoder": false,
            "add_cross_attention": false, "tie_word_embeddings": true, "use_cache": true,
        ]
        if c.head == .sequenceClassification || c.head == .tokenClassification {
            json["id2label"] = Dictionary(uniqueKeysWithValues: (0..<c.numLabels).map { ("\($0)", "LABEL_\($0)") })
            json["label2id"] = Dictionary(uniqueKeysWithValues: (0..<c.numLabels).map { ("LABEL_\($0)", $0) })
        }
        return json
    }

    /// `position_ids` is a computed buffer of older files; the MLM decoder (weight and bias) is tied to the word
    /// embeddings and `cls.predictions.bias`, which transformers re-ties on load, so a stored copy is not read.
    static func canonicalName(_ name: String, among names: Set<String>) -> String? {
        if name.hasSuffix("embeddings.position_ids") || name.hasPrefix("cls.predictions.decoder.") { return nil }
        return name
    }

    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping] {
        let c = try lmkitConfig(config, as: BERTConfig.self)
        let (V, H, I) = (c.vocabSize, c.hiddenSize, c.intermediateSize)
        let prefix = c.head == .none ? "" : "bert."
        func encoder(_ name: String, _ shape: [Int]) -> HuggingFaceTensorMapping { .one(prefix + name, name, shape) }
        func dense(_ hf: String, _ lmkit: String, _ out: Int, _ inputs: Int) -> [HuggingFaceTensorMapping] {
            [.one(hf + ".weight", lmkit + ".weight", [out, inputs]), .one(hf + ".bias", lmkit + ".bias", [out])]
        }
        var mappings: [HuggingFaceTensorMapping] = [
            encoder("embeddings.word_embeddings.weight", [V, H]),
            encoder("embeddings.position_embeddings.weight", [c.maxPositionEmbeddings, H]),
            encoder("embeddings.token_type_embeddings.weight", [c.typeVocabSize, H]),
            encoder("embeddings.LayerNorm.weight", [H]), encoder("embeddings.LayerNorm.bias", [H]),
        ]
        for i in 0..<c.numHiddenLayers {
            let hf = prefix + "encoder.layer.\(i).", block = "encoder.layer.\(i)."
            for part in ["weight", "bias"] {
                let shape = part == "weight" ? [H, H] : [H]
                mappings.append(.stacked(block + "attn.c_attn.\(part)", ["query", "key", "value"].map { (hf + "attention.self.\($0).\(part)", shape) }))
            }
            mappings += dense(hf + "attention.output.dense", block + "attn.c_proj", H, H)
            mappings += [.one(hf + "attention.output.LayerNorm.weight", block + "ln_1.weight", [H]),
                         .one(hf + "attention.output.LayerNorm.bias", block + "ln_1.bias", [H])]
            mappings += dense(hf + "intermediate.dense", block + "mlp.c_fc", I, H)
            mappings += dense(hf + "output.dense", block + "mlp.c_proj", H, I)
            mappings += [.one(hf + "output.LayerNorm.weight", block + "ln_2.weight", [H]),
                         .one(hf + "output.LayerNorm.bias", block + "ln_2.bias", [H])]
        }
        if c.hasPooler { mappings += dense(prefix + "pooler.dense", "pooler.dense", H, H) }
        switch c.head {
        case .none: break
        case .maskedLM:
            mappings += dense("cls.predictions.transform.dense", "cls.predictions.transform.dense", H, H)
            mappings += [.same("cls.predictions.transform.LayerNorm.weight", [H]), .same("cls.predictions.transform.LayerNorm.bias", [H]),
                         .same("cls.predictions.bias", [V])]
        case .sequenceClassification, .tokenClassification:
            mappings += dense("classifier", "classifier", c.numLabels, H)
        }
        return mappings
    }
}

extension HuggingFaceArchitecture {
    /// BERT (`model_type` "bert"): BertForMaskedLM, BertModel, BertForSequenceClassification, BertForTokenClassification.
    public static let bert = HuggingFaceArchitecture(BERTAdapter.self)
}
