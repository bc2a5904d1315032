// Hugging Face Mixtral (`MixtralForCausalLM`, model_type "mixtral") <-> LMKit's GPT with its Llama options and a
// mixture-of-experts MLP (mixtral router): a Llama whose MLP is `MixtralSparseMoeBlock`. Follows transformers 5.x
// configuration_mixtral.py and modeling_mixtral.py: the attention, norms and RoPE keys are Llama's (HuggingFaceLlama.swift,
// with Mixtral's defaults), the expert keys are read here. Tensors use the names save_pretrained writes:
// `block_sparse_moe.gate.weight` [E, C] and `block_sparse_moe.experts.<j>.w1|w3` [I, C] (gate, up: stacked into
// LMKit's SwiGLU `c_fc`) and `.w2` [C, I] (`c_proj`). Not read: the fused in-memory layout of transformers 5
// (`mlp.experts.gate_up_proj`), which save_pretrained converts back to these names. `sliding_window` maps to GPTConfig's
// `sliding_window` (same band: keys i − W < j ≤ i).
import Foundation
import LMTensor

enum MixtralAdapter: HuggingFaceAdapter {
    static let modelTypes = ["mixtral"]
    static let architectures = ["MixtralForCausalLM", "MixtralModel"]
    static let readsSlidingWindow = true

    static func config(from r: HuggingFaceConfigReader) throws -> any ModelConfiguration {
        // MixtralConfig's defaults where they differ from LlamaConfig's (read before Llama's reader marks the keys read).
        let given = Set(r.dict.filter { !($0.value is NSNull) }.keys)
        guard var c = try LlamaAdapter.config(from: r) as? GPTConfig else { throw r.fail("model_type", "a GPT-shaped model") }
        if !given.contains("rms_norm_eps") { c.normEps = 1e-5 }
        if !given.contains("max_position_embeddings") { c.blockSize = 4096 * 32 }
        if !given.contains("rope_theta") && !given.contains("rope_parameters") && !given.contains("rope_scaling") { c.ropeTheta = 1e6 }
        c.nExperts = try r.requiredInt("num_local_experts")
        c.expertsPerToken = try r.int("num_experts_per_tok") ?? 2
        guard c.experts > 0, (1...c.experts).contains(c.topK) else {
            throw r.fail("num_experts_per_tok", "1...num_local_experts (\(c.experts)) experts per token")
        }
        c.moeRouter = .mixtral
        c.slidingWindow = try r.slidingWindow()
        c.moeIntermediateSize = c.intermediateSize
        c.routerAuxLossCoef = try r.double("router_aux_loss_coef") ?? 0.001
        // transformers multiplies the block input (router and experts) by the noise; LMKit the router input only.
        c.routerJitter = try r.double("router_jitter_noise") ?? 0
        guard c.routerJitter! >= 0 && c.routerJitter! < 1 else { throw r.fail("router_jitter_noise", "a number in [0, 1)") }
        // Whether transformers returns router logits (and so adds the aux loss); LMKit always adds it in training.
        try r.ignored("output_router_logits", r.bool, harmless: { _ in true }, "true or false")
        return c
    }

    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        try require(c.experts > 0, "n_experts", "must be positive (Mixtral's MLP is a mixture of experts), got \(c.experts)")
        try require(c.router == .mixtral, "moe_router", "must be mixtral, got \(c.router.rawValue)")
        try require(c.capacityFactor == nil, "capacity_factor", "must be null (Mixtral drops no tokens), got \(c.capacityFactor ?? 0)")
        try require(!c.bias, "bias", "must be false (Mixtral has no biases)")
        try require((c.globalTokens ?? 0) == 0, "global_tokens", "must be 0 (Mixtral's sliding window has no global tokens), got \(c.globalTokens ?? 0)")
        var dense = c
        dense.nExperts = nil; dense.expertsPerToken = nil; dense.moeRouter = nil; dense.routerAuxLossCoef = nil
        dense.routerZLossCoef = nil; dense.routerJitter = nil; dense.moeIntermediateSize = nil
        dense.slidingWindow = nil
        dense.intermediateSize = c.expertHiddenSize
        var json = try LlamaAdapter.configJSON(dense)
        for key in ["attention_bias", "mlp_bias", "pretraining_tp"] { json[key] = nil }
        json["num_local_experts"] = c.experts
        json["num_experts_per_tok"] = c.topK
        json["router_aux_loss_coef"] = c.auxLossCoefficient
        json["router_jitter_noise"] = c.routerJitter ?? 0
        json["output_router_logits"] = false
        json["sliding_window"] = c.slidingWindow.map { $0 as Any } ?? NSNull()
        return json
    }

    static func canonicalName(_ name: String, among names: Set<String>) -> String? {
        LlamaAdapter.canonicalName(name, among: names)
    }

    /// Llama's table without its dense MLP, plus the router and the experts of every layer.
    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping] {
        let c = try lmkitConfig(config, as: GPTConfig.self)
        let C = c.nEmbd, I = c.expertHiddenSize
        var mappings = try LlamaAdapter.tensorMappings(config).filter { !$0.lmkit.contains(".mlp.") }
        for i in 0..<c.nLayer {
            let hf = "model.layers.\(i).block_sparse_moe.", moe = "transformer.h.\(i).mlp."
            mappings.append(.one(hf + "gate.weight", moe + "gate.weight", [c.experts, C]))
            for j in 0..<c.experts {
                mappings += [.stacked(moe + "experts.\(j).c_fc.weight", [(hf + "experts.\(j).w1.weight", [I, C]),
                                                                        (hf + "experts.\(j).w3.weight", [I, C])]),
                             .one(hf + "experts.\(j).w2.weight", moe + "experts.\(j).c_proj.weight", [C, I])]
            }
        }
        return mappings
    }
}

extension HuggingFaceArchitecture {
    /// `MixtralForCausalLM` (`model_type` "mixtral").
    public static let mixtral = HuggingFaceArchitecture(MixtralAdapter.self)
}
