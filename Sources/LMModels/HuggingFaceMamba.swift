// Hugging Face Mamba (`MambaForCausalLM` or `MambaModel`, model_type "mamba": state-spaces/mamba-*-hf) <-> LMKit's Mamba: the
// config.json keys, both directions, in this one file. Follows transformers' configuration_mamba.py and
// modeling_mamba.py (5.x): every key the modeling code reads is used or checked here; keys that only steer the
// initialization or the choice of a kernel are listed as ignored. LMKit's Mamba uses transformers' tensor names and
// shapes, so the name table maps every tensor to itself.
// LMKit's own Mamba family is also called "mamba": a config.json is Hugging Face's when it names `architectures`
// (save_pretrained always writes it), LMKit's otherwise (HuggingFaceModelDirectory.isHuggingFaceDirectory).
import Foundation
import LMTensor

enum MambaAdapter: HuggingFaceAdapter {
    static let modelTypes = ["mamba"]
    /// `MambaModel` files hold the backbone alone, without the `backbone.` prefix; with the tied head (the default)
    /// they are the whole causal LM. Saving writes `MambaForCausalLM`.
    static let architectures = ["MambaForCausalLM", "MambaModel"]

    /// MambaModel names lack the `backbone.` prefix that MambaForCausalLM (and LMKit) put on every name but the head.
    static func canonicalName(_ name: String, among names: Set<String>) -> String? {
        let unprefixed = !names.contains("backbone.embeddings.weight") && names.contains("embeddings.weight")
        return unprefixed && name != "lm_head.weight" ? "backbone." + name : name
    }

    static func config(from r: HuggingFaceConfigReader) throws -> any ModelConfiguration {
        var c = MambaConfig()
        c.vocabSize = try r.requiredInt("vocab_size")
        c.dModel = try r.requiredInt("hidden_size")
        c.nLayer = try r.requiredInt("num_hidden_layers")
        c.dState = try r.int("state_size") ?? 16
        c.dConv = try r.int("conv_kernel") ?? 4
        c.expand = try r.int("expand") ?? 2
        // MambaConfig always sets intermediate_size = expand · hidden_size; another value is not a model it builds.
        if let inner = try r.int("intermediate_size"), inner != c.expand * c.dModel {
            throw r.fail("intermediate_size", "expand · hidden_size = \(c.expand * c.dModel)")
        }
        // time_step_rank is "auto" (⌈hidden_size / 16⌉) or an integer.
        if let rank = r.value("time_step_rank") as? String {
            guard rank == "auto" else { throw r.fail("time_step_rank", "\"auto\" or a positive integer") }
            c.dtRank = (c.dModel + 15) / 16
        } else {
            c.dtRank = try r.int("time_step_rank") ?? (c.dModel + 15) / 16
        }
        let activation = try r.string("hidden_act") ?? "silu"
        guard activation == "silu" else { throw r.fail("hidden_act", "\"silu\"") }
        c.bias = try r.bool("use_bias") ?? false
        c.convBias = try r.bool("use_conv_bias") ?? true
        c.normEps = try r.double("layer_norm_epsilon") ?? 1e-5
        c.tieEmbeddings = try r.bool("tie_word_embeddings") ?? true
        // The Δ initialization range: no effect on a loaded model, kept for training from the config.
        c.dtMin = try r.double("time_step_min") ?? 0.001
        c.dtMax = try r.double("time_step_max") ?? 0.1
        c.dtInitFloor = try r.double("time_step_floor") ?? 1e-4
        // Initialization-only keys and kernel choices (LMKit computes in float32 with its own scan).
        for key in ["time_step_scale", "time_step_init_scheme", "initializer_range", "rescale_prenorm_residual",
                    "residual_in_fp32", "use_mambapy", "use_associative_scan"] {
            try r.ignored(key, { r.value($0) }, harmless: { _ in true }, "any value")
        }
        return c
    }

    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any] {
        let c = try lmkitConfig(config, as: MambaConfig.self)
        return ["vocab_size": c.vocabSize, "hidden_size": c.dModel, "num_hidden_layers": c.nLayer, "state_size": c.dState,
                "conv_kernel": c.dConv, "expand": c.expand, "intermediate_size": c.dInner, "time_step_rank": c.resolvedDtRank,
                "hidden_act": "silu", "use_bias": c.bias, "use_conv_bias": c.convBias, "layer_norm_epsilon": c.normEps,
                "tie_word_embeddings": c.tieEmbeddings, "time_step_min": c.dtMin, "time_step_max": c.dtMax,
                "time_step_floor": c.dtInitFloor, "residual_in_fp32": true, "use_cache": true]
    }

    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping] {
        let c = try lmkitConfig(config, as: MambaConfig.self)
        let (C, E, N, R, K) = (c.dModel, c.dInner, c.dState, c.resolvedDtRank, c.dConv)
        var mappings: [HuggingFaceTensorMapping] = [.same("backbone.embeddings.weight", [c.vocabSize, C])]
        for i in 0..<c.nLayer {
            let p = "backbone.layers.\(i)."
            mappings += [.same(p + "norm.weight", [C]),
                         .same(p + "mixer.in_proj.weight", [2 * E, C]),
                         .same(p + "mixer.conv1d.weight", [E, 1, K]),
                         .same(p + "mixer.x_proj.weight", [R + 2 * N, E]),
                         .same(p + "mixer.dt_proj.weight", [E, R]), .same(p + "mixer.dt_proj.bias", [E]),
                         .same(p + "mixer.A_log", [E, N]), .same(p + "mixer.D", [E]),
                         .same(p + "mixer.out_proj.weight", [C, E])]
            if c.convBias { mappings.append(.same(p + "mixer.conv1d.bias", [E])) }
            if c.bias { mappings += [.same(p + "mixer.in_proj.bias", [2 * E]), .same(p + "mixer.out_proj.bias", [C])] }
        }
        return mappings + [.same("backbone.norm_f.weight", [C]),
                           .head(vocabulary: c.vocabSize, width: C, tiedTo: c.tieEmbeddings ? "backbone.embeddings.weight" : nil)]
    }
}

extension HuggingFaceArchitecture {
    /// `MambaForCausalLM` (`model_type` "mamba").
    public static let mamba = HuggingFaceArchitecture(MambaAdapter.self)
}
