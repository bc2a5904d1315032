// Hugging Face Llama (`LlamaForCausalLM`, model_type "llama": Llama 1-3 shapes, SmolLM2, TinyLlama) <-> LMKit's GPT
// with its Llama options (RoPE, RMSNorm, SwiGLU, grouped-query attention): the config.json keys and the tensor names,
// both directions, in this one file. Follows transformers' configuration_llama.py, modeling_llama.py and
// modeling_rope_utils.py (4.x and 5.x): every key the modeling code reads is used or checked here, the rest of
// config.json is listed as ignored (HuggingFace.swift). q/k/v and gate/up are separate HF tensors, stacked in LMKit.
import Foundation
import LMTensor

enum LlamaAdapter: HuggingFaceAdapter {
    static let modelTypes = ["llama"]
    /// `LlamaModel` files hold the same tensors without the head.
    static let architectures = ["LlamaForCausalLM", "LlamaModel"]

    static func config(from r: HuggingFaceConfigReader) throws -> any ModelConfiguration {
        var c = GPTConfig()
        c.vocabSize = try r.requiredInt("vocab_size")
        c.nEmbd = try r.requiredInt("hidden_size")
        c.intermediateSize = try r.requiredInt("intermediate_size")
        c.nLayer = try r.requiredInt("num_hidden_layers")
        c.nHead = try r.requiredInt("num_attention_heads")
        c.nKVHead = try r.int("num_key_value_heads") ?? c.nHead
        guard c.nHead > 0, c.nEmbd % c.nHead == 0 else { throw r.fail("hidden_size", "a multiple of num_attention_heads (\(c.nHead))") }
        if let headDim = try r.int("head_dim"), headDim != c.nEmbd / c.nHead {
            throw r.fail("head_dim", "hidden_size / num_attention_heads = \(c.nEmbd / c.nHead)")
        }
        let activation = try r.string("hidden_act") ?? "silu"
        guard activation == "silu" else { throw r.fail("hidden_act", "\"silu\" (SwiGLU MLP)") }
        c.blockSize = try r.int("max_position_embeddings") ?? 2048
        c.normEps = try r.double("rms_norm_eps") ?? 1e-6
        c.tieEmbeddings = try r.bool("tie_word_embeddings") ?? false
        c.ropeTheta = try ropeTheta(r)
        // A nanotron key (SmolLM2) that transformers never reads: it always pairs (i, i + d/2). Only the value that
        // agrees with that is harmless; true would describe weights in another layout.
        try r.ignored("rope_interleaved", r.bool, harmless: { !$0 }, "false (transformers' Llama rotates half-split pairs)")
        let attentionBias = try r.bool("attention_bias") ?? false
        let mlpBias = try r.bool("mlp_bias") ?? false
        guard attentionBias == mlpBias else {
            throw r.fail("mlp_bias", "the same value as attention_bias (\(attentionBias)); GPTConfig has one bias flag")
        }
        c.bias = attentionBias
        // 4.x splits the projections into pretraining_tp slices whose results are concatenated or summed (the same
        // function); 5.x does not read it.
        try r.ignored("pretraining_tp", r.int, harmless: { $0 >= 1 }, "a positive integer")
        c.dropout = try r.double("attention_dropout") ?? 0
        guard c.dropout >= 0 && c.dropout < 1 else { throw r.fail("attention_dropout", "a probability in [0, 1)") }
        c.position = .rope
        c.ropeLayout = .halfSplit
        c.norm = .rmsNorm
        c.mlp = .swiglu
        return c
    }

    /// RoPE's base: `rope_theta` (4.x), `rope_parameters` (5.x) or `rope_scaling` (4.x; 5.x reads it as
    /// rope_parameters). Only the default RoPE over the whole head is implemented: a scaling type is an error.
    private static func ropeTheta(_ r: HuggingFaceConfigReader) throws -> Double {
        var theta = try r.double("rope_theta")
        for key in ["rope_scaling", "rope_parameters"] {
            guard let value = r.value(key) else { continue }
            guard let p = value as? [String: Any] else { throw r.fail(key, "an object") }
            let type = p["rope_type"] as? String ?? p["type"] as? String ?? "default"
            guard type == "default" else { throw r.fail(key, "rope_type \"default\" (RoPE scaling is not implemented)") }
            if let other = p.keys.sorted().first(where: { !["rope_type", "type", "rope_theta", "partial_rotary_factor"].contains($0) }) {
                throw r.fail(key, "only rope_type, rope_theta and partial_rotary_factor (found '\(other)')")
            }
            if let factor = p["partial_rotary_factor"], (factor as? NSNumber)?.doubleValue != 1 {
                throw r.fail(key, "partial_rotary_factor 1 (RoPE over the whole head)")
            }
            if let t = p["rope_theta"] {
                guard let number = t as? NSNumber else { throw r.fail(key, "a numeric rope_theta") }
                if let theta, theta != number.doubleValue { throw r.fail(key, "the same rope_theta as elsewhere in config.json (\(theta))") }
                theta = number.doubleValue
            }
        }
        if let factor = try r.double("partial_rotary_factor"), factor != 1 {
            throw r.fail("partial_rotary_factor", "1 (RoPE over the whole head)")
        }
        return theta ?? 10000
    }

    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        try require(c.experts == 0, "n_experts", "must be 0 (Llama has a dense MLP; a mixture of experts saves as mixtral), got \(c.experts)")
        try require(c.attention == .softmax, "attention", "must be softmax (transformers has no linear attention), got \(c.attention.rawValue)")
        try require(c.position == .rope, "position", "must be rope, got \(c.position.rawValue)")
        try require(c.norm == .rmsNorm, "norm", "must be rmsnorm, got \(c.norm.rawValue)")
        try require(c.mlp == .swiglu, "mlp", "must be swiglu, got \(c.mlp.rawValue)")
        try require(c.dropout == 0, "dropout", "must be 0 (Llama has only attention dropout), got \(c.dropout)")
        try require(c.slidingWindow == nil, "sliding_window", "must be absent (Llama attends to the whole prefix)")
        return ["vocab_size": c.vocabSize, "tie_word_embeddings": c.tieEmbeddings,
                "hidden_size": c.nEmbd, "intermediate_size": c.hiddenSize, "num_hidden_layers": c.nLayer,
                "num_attention_heads": c.nHead, "num_key_value_heads": c.kvHeads, "head_dim": c.headSize,
                "hidden_act": "silu", "max_position_embeddings": c.blockSize, "rms_norm_eps": c.normEps,
                // transformers 5 reads rope_parameters, 4.x reads rope_theta; each ignores the other's key.
                "rope_theta": c.ropeTheta, "rope_parameters": ["rope_type": "default", "rope_theta": c.ropeTheta],
                "attention_bias": c.bias, "mlp_bias": c.bias, "attention_dropout": 0.0,
                "pretraining_tp": 1, "use_cache": true]
    }

    /// RoPE frequency buffers of older files are computed, not learned.
    static func canonicalName(_ name: String, among names: Set<String>) -> String? {
        name.hasSuffix("rotary_emb.inv_freq") || name.hasSuffix("rotary_emb.original_inv_freq") ? nil : name
    }

    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        let C = c.nEmbd, I = c.hiddenSize, Q = c.nHead * c.headSize, KV = c.kvHeads * c.headSize
        var mappings: [HuggingFaceTensorMapping] = [.one("model.embed_tokens.weight", "transformer.wte.weight", [c.vocabSize, C])]
        for i in 0..<c.nLayer {
            let hf = "model.layers.\(i).", block = "transformer.h.\(i)."
            mappings += [.one(hf + "input_layernorm.weight", block + "ln_1.weight", [C]),
                         .one(hf + "post_attention_layernorm.weight", block + "ln_2.weight", [C])]
            for part in c.bias ? ["weight", "bias"] : ["weight"] {
                // A bias has the weight's rows only.
                func shape(_ rows: Int, _ columns: Int) -> [Int] { part == "weight" ? [rows, columns] : [rows] }
                mappings += [
                    .stacked(block + "attn.c_attn.\(part)", [(hf + "self_attn.q_proj.\(part)", shape(Q, C)),
                                                            (hf + "self_attn.k_proj.\(part)", shape(KV, C)),
                                                            (hf + "self_attn.v_proj.\(part)", shape(KV, C))]),
                    .one(hf + "self_attn.o_proj.\(part)", block + "attn.c_proj.\(part)", shape(C, Q)),
                    .stacked(block + "mlp.c_fc.\(part)", [(hf + "mlp.gate_proj.\(part)", shape(I, C)), (hf + "mlp.up_proj.\(part)", shape(I, C))]),
                    .one(hf + "mlp.down_proj.\(part)", block + "mlp.c_proj.\(part)", shape(C, I)),
                ]
            }
        }
        return mappings + [.one("model.norm.weight", "transformer.ln_f.weight", [C]),
                           .head(vocabulary: c.vocabSize, width: C, tiedTo: c.tieEmbeddings ? "transformer.wte.weight" : nil)]
    }

    /// A model held in the interleaved RoPE layout is saved with its q/k rows permuted to HF's half-split layout
    /// (`GPT.convertRoPELayout`: the same function).
    static func fromLMKit(_ stateDict: [String: Tensor], config: any ModelConfiguration) throws -> [String: Tensor] {
        var c = try lmkitConfig(config, as: GPTConfig.self)
        var tensors = stateDict
        if c.position == .rope && c.ropeLayout == .interleaved {
            tensors = GPT.convertRoPELayout(stateDict, config: c, from: .interleaved, to: .halfSplit)
            c.ropeLayout = .halfSplit
        }
        return try HuggingFaceTensorMapping.fromLMKit(tensors, try tensorMappings(c))
    }
}

extension HuggingFaceArchitecture {
    /// `LlamaForCausalLM` (`model_type` "llama").
    public static let llama = HuggingFaceArchitecture(LlamaAdapter.self)
}
