// Hugging Face checkpoints for the GPT family: GPT2Config / LlamaConfig `config.json` <-> GPTConfig, and HF tensor
// names/layouts <-> LMKit's nanoGPT state dict (GPT-2 Conv1D weights are [in, out]; Llama's q/k/v and gate/up
// projections are separate tensors). Follows transformers' modeling_gpt2.py / modeling_llama.py (4.x and 5.x keys).
// Anything in a config that would make a different model (rope_scaling, another activation, a head_dim that is not
// hidden/heads, a key LMKit does not know) is an error naming the key; nothing is silently dropped.
// Directory loading/saving (config.json + safetensors, tokenizer.json) is in HuggingFaceDirectory.swift.
import Foundation
import LMTensor

/// The Hugging Face architectures LMKit reads and writes.
public enum HuggingFaceArchitecture: String, Sendable, CaseIterable {
    /// `GPT2LMHeadModel` (`model_type` "gpt2").
    case gpt2
    /// `LlamaForCausalLM` (`model_type` "llama").
    case llama

    /// The `architectures` entry transformers writes for this model type.
    public var className: String { self == .gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM" }
}

/// A Hugging Face file that LMKit cannot use as it is; the message names the file, the key or tensor and what was expected.
public enum HuggingFaceError: Error, CustomStringConvertible, Equatable {
    /// A config key has a value LMKit does not support (or a wrong type).
    case unsupportedConfig(file: String, key: String, value: String, expected: String)
    /// A required config key is absent.
    case missingConfigKey(file: String, key: String)
    /// A tensor the model needs is not in the checkpoint.
    case missingTensor(file: String, name: String)
    /// The checkpoint holds a tensor the model does not have (not one of the known buffers).
    case unexpectedTensor(file: String, name: String)
    /// A tensor has a different shape than the config implies.
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    /// A file of the model directory is missing or malformed.
    case badFile(file: String, String)
    /// A GPT configuration that the requested HF architecture cannot express.
    case notExpressible(architecture: String, field: String, String)

    public var description: String {
        switch self {
        case let .unsupportedConfig(file, key, value, expected):
            return "\(file): config key '\(key)' is \(value); LMKit supports \(expected)"
        case let .missingConfigKey(file, key): return "\(file): required config key '\(key)' is missing"
        case let .missingTensor(file, name): return "\(file): tensor '\(name)' is missing"
        case let .unexpectedTensor(file, name): return "\(file): unexpected tensor '\(name)' (not part of this model)"
        case let .shapeMismatch(file, name, expected, found):
            return "\(file): tensor '\(name)' has shape \(found), expected \(expected) from config.json"
        case let .badFile(file, message): return "\(file): \(message)"
        case let .notExpressible(architecture, field, message):
            return "the model cannot be saved as \(architecture): GPTConfig field '\(field)' \(message)"
        }
    }
}

// MARK: - config.json

/// Keys every transformers `PretrainedConfig` may carry that do not change the network's function (token ids,
/// bookkeeping, generation defaults, training-only initialisation). Any key outside this list and the
/// architecture's own list is an error, so that a model-changing option is never dropped silently.
private let ignorableConfigKeys: Set<String> = [
    "architectures", "model_type", "_name_or_path", "name_or_path", "transformers_version", "dtype", "torch_dtype",
    "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "use_cache",
    "initializer_range", "id2label", "label2id", "num_labels", "task_specific_params", "tokenizer_class", "prefix",
    "output_past", "output_attentions", "output_hidden_states", "return_dict", "problem_type", "finetuning_task",
    "is_decoder", "is_encoder_decoder", "tie_encoder_decoder", "chunk_size_feed_forward", "pruned_heads",
    "torchscript", "use_bfloat16", "max_length", "min_length", "do_sample", "early_stopping", "num_beams",
    "temperature", "top_k", "top_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "bad_words_ids", "num_return_sequences", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "typical_p", "diversity_penalty", "num_beam_groups", "encoder_no_repeat_ngram_size", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens", "cross_attention_hidden_size", "_attn_implementation",
    "attn_implementation", "_attn_implementation_autoset",
]

/// GPT-2's own keys: used (first group) or checked to have the value the GPT model implements (second).
private let gpt2ConfigKeys: Set<String> = [
    "vocab_size", "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
    "layer_norm_epsilon", "tie_word_embeddings", "resid_pdrop", "embd_pdrop", "attn_pdrop",
    "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
    "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
]

private let llamaConfigKeys: Set<String> = [
    "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "hidden_act", "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling", "rope_parameters",
    "tie_word_embeddings", "attention_bias", "mlp_bias", "attention_dropout", "pretraining_tp",
]

/// A parsed `config.json`: the architecture, the equivalent `GPTConfig`, and the source's token ids (kept so a
/// re-saved directory carries them).
public struct HuggingFaceConfig {
    /// The transformers class the directory holds (and is written back as).
    public var architecture: HuggingFaceArchitecture
    /// The equivalent LMKit model configuration.
    public var gpt: GPTConfig
    /// `bos_token_id`, `eos_token_id`, `pad_token_id` as found (nil when absent or null).
    public var specialTokenIDs: [String: Int]

    /// A config for writing `gpt` as `architecture` (see `jsonData()`).
    public init(architecture: HuggingFaceArchitecture, gpt: GPTConfig, specialTokenIDs: [String: Int] = [:]) {
        self.architecture = architecture
        self.gpt = gpt
        self.specialTokenIDs = specialTokenIDs
    }

    /// Parses a transformers `config.json` (`model_type` "gpt2" or "llama"); `source` (the path) prefixes errors.
    public init(data: Data, source: String) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw HuggingFaceError.badFile(file: source, "not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else { throw HuggingFaceError.badFile(file: source, "expected a JSON object") }
        let reader = ConfigReader(dict: dict, file: source)
        guard let modelType = try reader.string("model_type") else { throw HuggingFaceError.missingConfigKey(file: source, key: "model_type") }
        guard let architecture = HuggingFaceArchitecture(rawValue: modelType) else {
            throw HuggingFaceError.unsupportedConfig(file: source, key: "model_type", value: modelType.debugDescription, expected: "\"gpt2\" or \"llama\"")
        }
        let own = architecture == .gpt2 ? gpt2ConfigKeys : llamaConfigKeys
        if let unknown = dict.keys.sorted().first(where: { !own.contains($0) && !ignorableConfigKeys.contains($0) }) {
            throw HuggingFaceError.unsupportedConfig(file: source, key: unknown, value: reader.show(dict[unknown]),
                                                     expected: "only the \(modelType) keys it knows (an unknown key may change the model)")
        }
        // The base model class (GPT2Model / LlamaModel) has the same tensors minus the head; task heads
        // (…ForSequenceClassification, GPT2DoubleHeadsModel) are other networks.
        let accepted = [architecture.className, architecture == .gpt2 ? "GPT2Model" : "LlamaModel"]
        if let architectures = dict["architectures"] as? [String], let first = architectures.first, !accepted.contains(first) {
            throw HuggingFaceError.unsupportedConfig(file: source, key: "architectures", value: "[\"\(first)\"]",
                                                     expected: accepted.map { "[\"\($0)\"]" }.joined(separator: " or ") + " (a causal language model)")
        }
        self.architecture = architecture
        self.gpt = architecture == .gpt2 ? try reader.gpt2() : try reader.llama()
        var ids: [String: Int] = [:]
        for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
            if let id = try? reader.int(key) { ids[key] = id }
        }
        self.specialTokenIDs = ids
        do { try gpt.validate() } catch let error as ConfigError {
            throw HuggingFaceError.badFile(file: source, "maps to an invalid GPT config: \(error)")
        }
    }

    /// The `config.json` transformers writes for this architecture (sorted keys), so that
    /// `AutoModelForCausalLM.from_pretrained` builds the same network.
    public func jsonData() throws -> Data {
        let c = gpt
        var dict: [String: Any] = ["architectures": [architecture.className], "model_type": architecture.rawValue,
                                   "vocab_size": c.vocabSize, "tie_word_embeddings": c.tieEmbeddings, "dtype": "float32"]
        for (key, id) in specialTokenIDs { dict[key] = id }
        func require(_ ok: Bool, _ field: String, _ message: String) throws {
            if !ok { throw HuggingFaceError.notExpressible(architecture: architecture.className, field: field, message) }
        }
        switch architecture {
        case .gpt2:
            try require(c.position == .learned, "position", "must be learned (GPT-2 has a learned position table), got \(c.position.rawValue)")
            try require(c.norm == .layerNorm, "norm", "must be layernorm, got \(c.norm.rawValue)")
            try require(c.mlp == .gelu, "mlp", "must be gelu, got \(c.mlp.rawValue)")
            try require(c.bias, "bias", "must be true (GPT-2 has biases everywhere)")
            try require(c.kvHeads == c.nHead, "n_kv_head", "must equal n_head (GPT-2 has no grouped-query attention)")
            dict.merge(["n_positions": c.blockSize, "n_embd": c.nEmbd, "n_layer": c.nLayer, "n_head": c.nHead,
                        "n_inner": c.hiddenSize == 4 * c.nEmbd ? NSNull() : c.hiddenSize as Any,
                        "activation_function": "gelu_new", "layer_norm_epsilon": c.normEps,
                        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
                        "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false,
                        "reorder_and_upcast_attn": false, "add_cross_attention": false, "use_cache": true]) { $1 }
        case .llama:
            try require(c.position == .rope, "position", "must be rope, got \(c.position.rawValue)")
            try require(c.ropeLayout == .halfSplit, "rope_layout",
                        "must be half_split (HF Llama's rotate_half); convert the weights with GPT.convertRoPELayout first")
            try require(c.norm == .rmsNorm, "norm", "must be rmsnorm, got \(c.norm.rawValue)")
            try require(c.mlp == .swiglu, "mlp", "must be swiglu, got \(c.mlp.rawValue)")
            try require(c.dropout == 0, "dropout", "must be 0 (Llama has only attention dropout), got \(c.dropout)")
            dict.merge(["hidden_size": c.nEmbd, "intermediate_size": c.hiddenSize, "num_hidden_layers": c.nLayer,
                        "num_attention_heads": c.nHead, "num_key_value_heads": c.kvHeads, "head_dim": c.headSize,
                        "hidden_act": "silu", "max_position_embeddings": c.blockSize, "rms_norm_eps": c.normEps,
                        // transformers 5 reads rope_parameters, 4.x reads rope_theta; each ignores the other's key.
                        "rope_theta": c.ropeTheta, "rope_parameters": ["rope_type": "default", "rope_theta": c.ropeTheta],
                        "attention_bias": c.bias, "mlp_bias": c.bias, "attention_dropout": 0.0,
                        "pretraining_tp": 1, "use_cache": true]) { $1 }
        }
        return try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
    }
}

extension GPTConfig {
    /// The GPT configuration of a transformers `config.json` (GPT2Config or LlamaConfig); see `HuggingFaceConfig`.
    public init(huggingFace data: Data, source: String) throws {
        self = try HuggingFaceConfig(data: data, source: source).gpt
    }
}

/// Typed access to config keys; every failure names the file, the key and the value found.
private struct ConfigReader {
    let dict: [String: Any]
    let file: String

    func show(_ value: Any?) -> String {
        guard let value, !(value is NSNull) else { return "null" }
        if let s = value as? String { return s.debugDescription }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]),
           let text = String(data: data, encoding: .utf8) { return text }
        return "\(value)"
    }
    func fail(_ key: String, _ expected: String) -> HuggingFaceError {
        .unsupportedConfig(file: file, key: key, value: show(dict[key]), expected: expected)
    }
    func present(_ key: String) -> Any? {
        guard let value = dict[key], !(value is NSNull) else { return nil }
        return value
    }
    func isBool(_ value: Any) -> Bool {
        // JSONSerialization gives NSNumber for both; a JSON boolean bridges to Bool with objCType "c".
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c" || type(of: value) == Bool.self
    }
    func int(_ key: String) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(value), Double(number.intValue) == number.doubleValue else {
            throw fail(key, "an integer")
        }
        return number.intValue
    }
    func requiredInt(_ key: String) throws -> Int {
        guard let value = try int(key) else { throw HuggingFaceError.missingConfigKey(file: file, key: key) }
        return value
    }
    func double(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(value) else { throw fail(key, "a number") }
        return number.doubleValue
    }
    func bool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard let flag = value as? Bool, isBool(value) else { throw fail(key, "true or false") }
        return flag
    }
    func string(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value as? String else { throw fail(key, "a string") }
        return text
    }
    /// A key whose value must be exactly `expected` (or absent) because LMKit's GPT implements only that behaviour.
    func expect<T: Equatable>(_ key: String, _ value: T?, _ expected: T, _ what: String) throws {
        if let value, value != expected { throw fail(key, what) }
    }
    /// Equal dropout probabilities (GPTConfig has one `dropout`); they do not change inference but do change training.
    func dropout(_ keys: [String]) throws -> Double {
        let values = try keys.map { try double($0) }
        let present = values.compactMap { $0 }
        guard let first = present.first else { return 0 }
        if let index = values.firstIndex(where: { $0 != nil && $0 != first }) {
            throw fail(keys[index], "the same dropout as '\(keys[values.firstIndex { $0 != nil }!])' (\(first)); GPTConfig has one dropout")
        }
        guard first >= 0 && first < 1 else { throw fail(keys[0], "a probability in [0, 1)") }
        return first
    }

    func gpt2() throws -> GPTConfig {
        var c = GPTConfig()
        c.vocabSize = try requiredInt("vocab_size")
        c.blockSize = try int("n_positions") ?? 1024
        if let nCtx = try int("n_ctx"), nCtx != c.blockSize { throw fail("n_ctx", "the same value as n_positions (\(c.blockSize))") }
        c.nEmbd = try int("n_embd") ?? 768
        c.nLayer = try int("n_layer") ?? 12
        c.nHead = try int("n_head") ?? 12
        c.nKVHead = nil
        c.intermediateSize = try int("n_inner")
        let activation = try string("activation_function") ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw fail("activation_function", "\"gelu_new\" or \"gelu_pytorch_tanh\" (the tanh GELU of LMKit's GPT)")
        }
        c.normEps = try double("layer_norm_epsilon") ?? 1e-5
        c.tieEmbeddings = try bool("tie_word_embeddings") ?? true
        c.dropout = try dropout(["resid_pdrop", "embd_pdrop", "attn_pdrop"])
        try expect("scale_attn_weights", try bool("scale_attn_weights"), true, "true (attention scaled by 1/sqrt(head size))")
        try expect("scale_attn_by_inverse_layer_idx", try bool("scale_attn_by_inverse_layer_idx"), false, "false")
        try expect("add_cross_attention", try bool("add_cross_attention"), false, "false (decoder-only models)")
        _ = try bool("reorder_and_upcast_attn")  // float32 throughout: upcasting changes nothing
        c.bias = true
        c.position = .learned
        c.norm = .layerNorm
        c.mlp = .gelu
        return c
    }

    func llama() throws -> GPTConfig {
        var c = GPTConfig()
        c.vocabSize = try requiredInt("vocab_size")
        c.nEmbd = try requiredInt("hidden_size")
        c.intermediateSize = try requiredInt("intermediate_size")
        c.nLayer = try requiredInt("num_hidden_layers")
        c.nHead = try requiredInt("num_attention_heads")
        c.nKVHead = try int("num_key_value_heads") ?? c.nHead
        guard c.nHead > 0, c.nEmbd % c.nHead == 0 else { throw fail("hidden_size", "a multiple of num_attention_heads (\(c.nHead))") }
        if let headDim = try int("head_dim"), headDim != c.nEmbd / c.nHead {
            throw fail("head_dim", "hidden_size / num_attention_heads = \(c.nEmbd / c.nHead)")
        }
        let activation = try string("hidden_act") ?? "silu"
        guard activation == "silu" else { throw fail("hidden_act", "\"silu\" (SwiGLU MLP)") }
        c.blockSize = try int("max_position_embeddings") ?? 2048
        c.normEps = try double("rms_norm_eps") ?? 1e-6
        c.tieEmbeddings = try bool("tie_word_embeddings") ?? false
        if present("rope_scaling") != nil { throw fail("rope_scaling", "null (RoPE scaling is not implemented)") }
        var theta = try double("rope_theta")
        if let parameters = present("rope_parameters") {
            guard let p = parameters as? [String: Any] else { throw fail("rope_parameters", "an object") }
            let type = p["rope_type"] as? String ?? p["type"] as? String ?? "default"
            guard type == "default" else { throw fail("rope_parameters", "rope_type \"default\" (RoPE scaling is not implemented)") }
            if let other = p.keys.sorted().first(where: { !["rope_type", "type", "rope_theta"].contains($0) }) {
                throw fail("rope_parameters", "only rope_type and rope_theta (found '\(other)')")
            }
            if let t = p["rope_theta"] {
                guard let number = t as? NSNumber else { throw fail("rope_parameters", "a numeric rope_theta") }
                if let theta, theta != number.doubleValue { throw fail("rope_parameters", "the same rope_theta as the top-level key (\(theta))") }
                theta = number.doubleValue
            }
        }
        c.ropeTheta = theta ?? 10000
        let attentionBias = try bool("attention_bias") ?? false
        let mlpBias = try bool("mlp_bias") ?? false
        guard attentionBias == mlpBias else {
            throw fail("mlp_bias", "the same value as attention_bias (\(attentionBias)); GPTConfig has one bias flag")
        }
        c.bias = attentionBias
        try expect("pretraining_tp", try int("pretraining_tp"), 1, "1 (tensor-parallel slicing changes the arithmetic)")
        c.dropout = try double("attention_dropout") ?? 0
        guard c.dropout >= 0 && c.dropout < 1 else { throw fail("attention_dropout", "a probability in [0, 1)") }
        c.position = .rope
        c.ropeLayout = .halfSplit
        c.norm = .rmsNorm
        c.mlp = .swiglu
        return c
    }
}

// MARK: - Tensor names and layouts

/// Converts between HF checkpoint tensors and LMKit's nanoGPT-named state dict (see Docs/Formats.md, "Hugging Face
/// checkpoints"). Pure functions over `[String: Tensor]`; the result tensors are contiguous copies or views.
public enum HuggingFaceWeights {
    /// HF buffers that are computed, not learned (GPT-2's causal mask `attn.bias` / `attn.masked_bias`, Llama's RoPE
    /// `inv_freq`); they are skipped when reading.
    public static func isKnownBuffer(_ name: String, architecture: HuggingFaceArchitecture) -> Bool {
        switch architecture {
        case .gpt2: return name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias")
        case .llama: return name.hasSuffix("rotary_emb.inv_freq") || name.hasSuffix("rotary_emb.original_inv_freq")
        }
    }

    /// The nanoGPT state dict (torch Linear layout, both `transformer.wte.weight` and `lm_head.weight` when tied,
    /// sharing one tensor) for HF `tensors`; every missing, unexpected or mis-shaped tensor is an error naming it.
    public static func toGPT(_ tensors: [String: Tensor], config hf: HuggingFaceConfig, file: String) throws -> [String: Tensor] {
        let c = hf.gpt
        var remaining = tensors.filter { !isKnownBuffer($0.key, architecture: hf.architecture) }
        // GPT2Model checkpoints (the hub's gpt2) have no "transformer." prefix; GPT2LMHeadModel's do.
        let prefix: String
        switch hf.architecture {
        case .gpt2: prefix = remaining.keys.contains("transformer.wte.weight") ? "transformer." : ""
        case .llama: prefix = "model."
        }
        func take(_ name: String, _ shape: [Int]) throws -> Tensor {
            guard let tensor = remaining.removeValue(forKey: name) else { throw HuggingFaceError.missingTensor(file: file, name: name) }
            guard tensor.shape == shape else { throw HuggingFaceError.shapeMismatch(file: file, name: name, expected: shape, found: tensor.shape) }
            return tensor
        }
        let C = c.nEmbd, V = c.vocabSize, hd = c.headSize, H = c.nHead, KV = c.kvHeads, I = c.hiddenSize
        var out: [String: Tensor] = [:]
        switch hf.architecture {
        case .gpt2:
            out["transformer.wte.weight"] = try take(prefix + "wte.weight", [V, C])
            out["transformer.wpe.weight"] = try take(prefix + "wpe.weight", [c.blockSize, C])
            for i in 0..<c.nLayer {
                let hfBlock = "\(prefix)h.\(i).", block = "transformer.h.\(i)."
                // Conv1D stores [in, out]; torch Linear (LMKit) stores [out, in].
                func conv(_ name: String, _ inFeatures: Int, _ outFeatures: Int, to target: String) throws {
                    out[block + target + ".weight"] = try take(hfBlock + name + ".weight", [inFeatures, outFeatures]).transpose(0, 1).contiguous()
                    out[block + target + ".bias"] = try take(hfBlock + name + ".bias", [outFeatures])
                }
                for norm in ["ln_1", "ln_2"] {
                    out[block + norm + ".weight"] = try take(hfBlock + norm + ".weight", [C])
                    out[block + norm + ".bias"] = try take(hfBlock + norm + ".bias", [C])
                }
                try conv("attn.c_attn", C, 3 * C, to: "attn.c_attn")
                try conv("attn.c_proj", C, C, to: "attn.c_proj")
                try conv("mlp.c_fc", C, I, to: "mlp.c_fc")
                try conv("mlp.c_proj", I, C, to: "mlp.c_proj")
            }
            out["transformer.ln_f.weight"] = try take(prefix + "ln_f.weight", [C])
            out["transformer.ln_f.bias"] = try take(prefix + "ln_f.bias", [C])
        case .llama:
            out["transformer.wte.weight"] = try take("model.embed_tokens.weight", [V, C])
            for i in 0..<c.nLayer {
                let hfBlock = "model.layers.\(i).", block = "transformer.h.\(i)."
                out[block + "ln_1.weight"] = try take(hfBlock + "input_layernorm.weight", [C])
                out[block + "ln_2.weight"] = try take(hfBlock + "post_attention_layernorm.weight", [C])
                let q = try take(hfBlock + "self_attn.q_proj.weight", [H * hd, C])
                let k = try take(hfBlock + "self_attn.k_proj.weight", [KV * hd, C])
                let v = try take(hfBlock + "self_attn.v_proj.weight", [KV * hd, C])
                out[block + "attn.c_attn.weight"] = Tensor.concat([q, k, v], axis: 0)
                out[block + "attn.c_proj.weight"] = try take(hfBlock + "self_attn.o_proj.weight", [C, H * hd])
                let gate = try take(hfBlock + "mlp.gate_proj.weight", [I, C])
                let up = try take(hfBlock + "mlp.up_proj.weight", [I, C])
                out[block + "mlp.c_fc.weight"] = Tensor.concat([gate, up], axis: 0)
                out[block + "mlp.c_proj.weight"] = try take(hfBlock + "mlp.down_proj.weight", [C, I])
                if c.bias {
                    out[block + "attn.c_attn.bias"] = Tensor.concat([try take(hfBlock + "self_attn.q_proj.bias", [H * hd]),
                                                                     try take(hfBlock + "self_attn.k_proj.bias", [KV * hd]),
                                                                     try take(hfBlock + "self_attn.v_proj.bias", [KV * hd])], axis: 0)
                    out[block + "attn.c_proj.bias"] = try take(hfBlock + "self_attn.o_proj.bias", [C])
                    out[block + "mlp.c_fc.bias"] = Tensor.concat([try take(hfBlock + "mlp.gate_proj.bias", [I]),
                                                                  try take(hfBlock + "mlp.up_proj.bias", [I])], axis: 0)
                    out[block + "mlp.c_proj.bias"] = try take(hfBlock + "mlp.down_proj.bias", [C])
                }
            }
            out["transformer.ln_f.weight"] = try take("model.norm.weight", [C])
        }
        if c.tieEmbeddings {
            // transformers does not save a tied head; if a file has one anyway it must be the embedding.
            if let head = remaining.removeValue(forKey: "lm_head.weight") {
                guard head.shape == [V, C] else { throw HuggingFaceError.shapeMismatch(file: file, name: "lm_head.weight", expected: [V, C], found: head.shape) }
                guard head.contiguous().toArray() == out["transformer.wte.weight"]!.contiguous().toArray() else {
                    throw HuggingFaceError.badFile(file: file, "tensor 'lm_head.weight' differs from the token embedding but config.json says tie_word_embeddings: true")
                }
            }
            out["lm_head.weight"] = out["transformer.wte.weight"]
        } else {
            out["lm_head.weight"] = try take("lm_head.weight", [V, C])
        }
        if let extra = remaining.keys.sorted().first { throw HuggingFaceError.unexpectedTensor(file: file, name: extra) }
        return out
    }

    /// HF tensors (transformers' names and layouts, tied head omitted as save_pretrained does) for a nanoGPT-named
    /// state dict of a model with `config`. The state dict must be complete (GPT.stateDict()).
    public static func fromGPT(_ stateDict: [String: Tensor], config hf: HuggingFaceConfig) throws -> [String: Tensor] {
        let c = hf.gpt
        func get(_ name: String) throws -> Tensor {
            guard let t = stateDict[name] else { throw HuggingFaceError.missingTensor(file: "state dict", name: name) }
            return t.contiguous()
        }
        let hd = c.headSize, H = c.nHead, KV = c.kvHeads, I = c.hiddenSize
        var out: [String: Tensor] = [:]
        switch hf.architecture {
        case .gpt2:
            let p = "transformer."
            out[p + "wte.weight"] = try get("transformer.wte.weight")
            out[p + "wpe.weight"] = try get("transformer.wpe.weight")
            for i in 0..<c.nLayer {
                let block = "transformer.h.\(i)."
                for name in ["ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias",
                             "attn.c_attn.bias", "attn.c_proj.bias", "mlp.c_fc.bias", "mlp.c_proj.bias"] {
                    out[block + name] = try get(block + name)
                }
                for name in ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"] {
                    out[block + name] = try get(block + name).transpose(0, 1).contiguous()
                }
            }
            out[p + "ln_f.weight"] = try get("transformer.ln_f.weight")
            out[p + "ln_f.bias"] = try get("transformer.ln_f.bias")
        case .llama:
            out["model.embed_tokens.weight"] = try get("transformer.wte.weight")
            for i in 0..<c.nLayer {
                let block = "transformer.h.\(i).", hfBlock = "model.layers.\(i)."
                out[hfBlock + "input_layernorm.weight"] = try get(block + "ln_1.weight")
                out[hfBlock + "post_attention_layernorm.weight"] = try get(block + "ln_2.weight")
                for part in c.bias ? ["weight", "bias"] : ["weight"] {
                    let qkv = try get(block + "attn.c_attn.\(part)").split([H * hd, KV * hd, KV * hd], axis: 0)
                    out[hfBlock + "self_attn.q_proj.\(part)"] = qkv[0].contiguous()
                    out[hfBlock + "self_attn.k_proj.\(part)"] = qkv[1].contiguous()
                    out[hfBlock + "self_attn.v_proj.\(part)"] = qkv[2].contiguous()
                    out[hfBlock + "self_attn.o_proj.\(part)"] = try get(block + "attn.c_proj.\(part)")
                    let gateUp = try get(block + "mlp.c_fc.\(part)").split([I, I], axis: 0)
                    out[hfBlock + "mlp.gate_proj.\(part)"] = gateUp[0].contiguous()
                    out[hfBlock + "mlp.up_proj.\(part)"] = gateUp[1].contiguous()
                    out[hfBlock + "mlp.down_proj.\(part)"] = try get(block + "mlp.c_proj.\(part)")
                }
            }
            out["model.norm.weight"] = try get("transformer.ln_f.weight")
        }
        if !c.tieEmbeddings { out["lm_head.weight"] = try get("lm_head.weight") }
        return out
    }
}
