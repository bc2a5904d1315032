// Hugging Face GPT-2 (`GPT2LMHeadModel`, model_type "gpt2") <-> LMKit's GPT with its GPT-2 options: the config.json
// keys and the tensor names, both directions, in this one file. Follows transformers' configuration_gpt2.py and
// modeling_gpt2.py (4.x and 5.x): every key the modeling code reads for the causal LM is used or checked here, the
// rest of config.json is listed as ignored (HuggingFace.swift). Conv1D weights are stored [in, out]; LMKit stores
// torch Linear's [out, in]. LMKit's GPT names are nanoGPT's, which are GPT-2's own under `transformer.`.
import Foundation
import LMTensor

enum GPT2Adapter: HuggingFaceAdapter {
    static let modelTypes = ["gpt2"]
    /// `GPT2Model` files (the hub's openai-community/gpt2) hold the same tensors without the head's class prefix.
    static let architectures = ["GPT2LMHeadModel", "GPT2Model"]

    static func config(from r: HuggingFaceConfigReader) throws -> any ModelConfiguration {
        // GPT2Config.attribute_map makes hidden_size, max_position_embeddings, num_attention_heads and
        // num_hidden_layers aliases of the n_* keys; the defaults are GPT2Config's (GPT-2 small).
        var c = GPTConfig()
        c.nEmbd = try r.int("n_embd", alias: "hidden_size") ?? 768
        c.nLayer = try r.int("n_layer", alias: "num_hidden_layers") ?? 12
        c.nHead = try r.int("n_head", alias: "num_attention_heads") ?? 12
        c.nKVHead = nil
        c.blockSize = try r.int("n_positions", alias: "max_position_embeddings") ?? 1024
        if let nCtx = try r.int("n_ctx"), nCtx != c.blockSize { throw r.fail("n_ctx", "the same value as n_positions (\(c.blockSize))") }
        c.vocabSize = try r.requiredInt("vocab_size")
        c.intermediateSize = try r.int("n_inner")
        let activation = try r.string("activation_function") ?? "gelu_new"
        guard ["gelu_new", "gelu_pytorch_tanh"].contains(activation) else {
            throw r.fail("activation_function", "\"gelu_new\" or \"gelu_pytorch_tanh\" (the tanh GELU of LMKit's GPT)")
        }
        c.normEps = try r.double("layer_norm_epsilon") ?? 1e-5
        c.tieEmbeddings = try r.bool("tie_word_embeddings") ?? true
        c.dropout = try r.dropout(["resid_pdrop", "embd_pdrop", "attn_pdrop"])
        try r.expect("scale_attn_weights", try r.bool("scale_attn_weights"), true, "true (attention scaled by 1/sqrt(head size))")
        try r.expect("scale_attn_by_inverse_layer_idx", try r.bool("scale_attn_by_inverse_layer_idx"), false, "false")
        try r.expect("add_cross_attention", try r.bool("add_cross_attention"), false, "false (decoder-only models)")
        // Scaling keys first and a float32 softmax compute the same function in LMKit's float32 arithmetic.
        try r.ignored("reorder_and_upcast_attn", r.bool, harmless: { _ in true }, "true or false")
        c.bias = true
        c.position = .learned
        c.norm = .layerNorm
        c.mlp = .gelu
        return c
    }

    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        try require(c.experts == 0, "n_experts", "must be 0 (GPT-2 has a dense MLP; a mixture of experts saves as mixtral), got \(c.experts)")
        try require(c.attention == .softmax, "attention", "must be softmax (transformers has no linear attention), got \(c.attention.rawValue)")
        try require(c.position == .learned, "position", "must be learned (GPT-2 has a learned position table), got \(c.position.rawValue)")
        try require(c.norm == .layerNorm, "norm", "must be layernorm, got \(c.norm.rawValue)")
        try require(c.mlp == .gelu, "mlp", "must be gelu, got \(c.mlp.rawValue)")
        try require(c.bias, "bias", "must be true (GPT-2 has biases everywhere)")
        try require(c.kvHeads == c.nHead, "n_kv_head", "must equal n_head (GPT-2 has no grouped-query attention)")
        try require(c.slidingWindow == nil, "sliding_window", "must be absent (GPT-2 attends to the whole prefix)")
        return ["vocab_size": c.vocabSize, "tie_word_embeddings": c.tieEmbeddings,
                "n_positions": c.blockSize, "n_embd": c.nEmbd, "n_layer": c.nLayer, "n_head": c.nHead,
                "n_inner": c.hiddenSize == 4 * c.nEmbd ? NSNull() : c.hiddenSize as Any,
                "activation_function": "gelu_new", "layer_norm_epsilon": c.normEps,
                "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
                "scale_attn_weights": true, "scale_attn_by_inverse_layer_idx": false,
                "reorder_and_upcast_attn": false, "add_cross_attention": false, "use_cache": true]
    }

    /// Older files keep the causal mask as buffers `attn.bias` / `attn.masked_bias`; GPT2Model files lack the
    /// `transformer.` prefix that GPT2LMHeadModel (and LMKit) put on every name but the head.
    static func canonicalName(_ name: String, among names: Set<String>) -> String? {
        if name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias") { return nil }
        let unprefixed = !names.contains("transformer.wte.weight") && names.contains("wte.weight")
        return unprefixed && name != "lm_head.weight" ? "transformer." + name : name
    }

    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        let C = c.nEmbd, I = c.hiddenSize
        var mappings: [HuggingFaceTensorMapping] = [.same("transformer.wte.weight", [c.vocabSize, C]),
                                                    .same("transformer.wpe.weight", [c.blockSize, C])]
        for i in 0..<c.nLayer {
            let block = "transformer.h.\(i)."
            for norm in ["ln_1", "ln_2"] {
                mappings += [.same(block + norm + ".weight", [C]), .same(block + norm + ".bias", [C])]
            }
            for (name, inputs, outputs) in [("attn.c_attn", C, 3 * C), ("attn.c_proj", C, C), ("mlp.c_fc", C, I), ("mlp.c_proj", I, C)] {
                mappings += [.transposed(block + name + ".weight", [inputs, outputs]), .same(block + name + ".bias", [outputs])]
            }
        }
        return mappings + [.same("transformer.ln_f.weight", [C]), .same("transformer.ln_f.bias", [C]),
                           .head(vocabulary: c.vocabSize, width: C, tiedTo: c.tieEmbeddings ? "transformer.wte.weight" : nil)]
    }
}

extension HuggingFaceArchitecture {
    /// `GPT2LMHeadModel` (`model_type` "gpt2").
    public static let gpt2 = HuggingFaceArchitecture(GPT2Adapter.self)
}
