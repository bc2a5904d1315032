// Conversion between the two directory layouts a model can live in: a Hugging Face model directory (transformers'
// names and config.json, through the architecture's adapter) and LMKit's own layout (the registry's config JSON with
// its `model_type` + the LMKit-named model.safetensors, which `ModelRegistry.loadModel` reads directly; an `lmkit
// train` out_dir is one). Both carry an optional tokenizer.json, copied byte for byte.
// Wiring for `lmkit convert`; it does not cast or quantize beyond the safetensors dtypes F32/F16/BF16.
import Foundation
import LMCheckpoint
import LMTensor
import LMTokenizers

/// The directory layouts `ModelDirectoryConversion` reads and writes.
public enum ModelDirectoryLayout: String, Sendable, CaseIterable {
    /// transformers' `save_pretrained` layout (GPT2LMHeadModel / LlamaForCausalLM).
    case huggingFace = "hf"
    /// LMKit's layout: config.json as `ModelRegistry.jsonData` writes it (with `model_type`; without one it is a GPT
    /// config, as written before the registry) + LMKit-named model.safetensors (a tied head written once).
    case nanoGPT = "gpt"
}

/// A model read from either layout, with what is needed to write it back.
public struct LoadedModelDirectory {
    /// The directory read.
    public let path: String
    /// The model with the directory's weights.
    public let model: any LanguageModel
    /// The layout the directory was in.
    public let layout: ModelDirectoryLayout
    /// The HF config when the source was a Hugging Face directory (architecture, special token ids, ignored keys).
    public let huggingFace: HuggingFaceConfig?
    /// The source's tokenizer.json, if it has one.
    public let tokenizerPath: String?

    /// config.json keys ignored because they do not change the model (Hugging Face directories only; LMKit's own
    /// config.json is strict).
    public var ignoredConfigKeys: [String] { huggingFace?.ignoredKeys ?? [] }
}

/// Reading a model from, and writing it to, either directory layout (`lmkit convert`).
public enum ModelDirectoryConversion {
    /// Reads `path` in whichever layout it is: a config.json whose `model_type` is a Hugging Face architecture's (gpt2,
    /// llama) is Hugging Face; one with a registry family's `model_type` (gpt) or none is LMKit's.
    public static func load(_ path: String) throws -> LoadedModelDirectory {
        let tokenizer = FileManager.default.fileExists(atPath: path + "/tokenizer.json") ? path + "/tokenizer.json" : nil
        let configPath = path + "/config.json"
        if let modelType = HuggingFaceModelDirectory.modelType(ofDirectory: path) {
            if HuggingFaceModelDirectory.isHuggingFaceDirectory(path) {
                let loaded = try HuggingFaceModelDirectory.load(path, loadTokenizer: false)
                return LoadedModelDirectory(path: path, model: loaded.model, layout: .huggingFace, huggingFace: loaded.config,
                                            tokenizerPath: tokenizer)
            }
            guard ModelRegistry.modelTypes.contains(modelType) else {
                throw HuggingFaceError.unsupportedConfig(
                    file: configPath, key: "model_type", value: modelType.debugDescription,
                    expected: "a Hugging Face model type (\(HuggingFaceArchitecture.modelTypes.joined(separator: ", "))) or an LMKit model family (\(ModelRegistry.modelTypes.joined(separator: ", ")))")
            }
        }
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw HuggingFaceError.badFile(file: configPath, "cannot be read (a model directory needs config.json and model.safetensors)")
        }
        let config = try ModelRegistry.decodeConfig(data, source: configPath)
        let weightsPath = path + "/model.safetensors"
        let model = try ModelRegistry.loadModel(config, stateDict: try SafetensorsFile(path: weightsPath).tensors(), source: weightsPath)
        return LoadedModelDirectory(path: path, model: model, layout: .nanoGPT, huggingFace: nil, tokenizerPath: tokenizer)
    }

    /// Writes `source` to `directory` in `layout`. `architecture` picks the HF class (default: the source's, else the
    /// first that can express the model); `ropeLayout` (LMKit layout, RoPE GPT models only) permutes q/k rows.
    public static func save(_ source: LoadedModelDirectory, to directory: String, layout: ModelDirectoryLayout,
                            architecture: HuggingFaceArchitecture? = nil, ropeLayout: GPTConfig.RoPELayout? = nil,
                            dtype: SafetensorsDType = .float32) throws {
        switch layout {
        case .huggingFace:
            if let ropeLayout, ropeLayout != .halfSplit {
                throw HuggingFaceError.notExpressible(architecture: "LlamaForCausalLM", field: "rope_layout",
                                                      "must be half_split in a Hugging Face directory (requested \(ropeLayout.rawValue))")
            }
            try HuggingFaceModelDirectory.save(source.model, to: directory,
                                               architecture: architecture ?? source.huggingFace?.architecture,
                                               specialTokenIDs: source.huggingFace?.specialTokenIDs ?? [:], dtype: dtype)
        case .nanoGPT:
            var config = source.model.config
            var stateDict = source.model.stateDict()
            if let ropeLayout {
                guard var gpt = config as? GPTConfig else {
                    throw HuggingFaceError.notExpressible(architecture: "LMKit \(type(of: config).modelType)", field: "rope_layout",
                                                          "applies to gpt models only")
                }
                if gpt.position == .rope && ropeLayout != gpt.ropeLayout {
                    stateDict = GPT.convertRoPELayout(stateDict, config: gpt, from: gpt.ropeLayout, to: ropeLayout)
                    gpt.ropeLayout = ropeLayout
                    config = gpt
                }
            }
            for alias in source.model.aliasedStateDictKeys { stateDict[alias] = nil }
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw HuggingFaceError.badFile(file: directory, "cannot create the directory (\(error.localizedDescription))")
            }
            try saveSafetensors(stateDict, to: directory + "/model.safetensors", metadata: ["format": "pt"], dtype: dtype)
            try writeFileAtomically(try ModelRegistry.jsonData(config) + Data("\n".utf8), to: directory + "/config.json")
        }
        if let tokenizer = source.tokenizerPath, tokenizer != directory + "/tokenizer.json" {
            guard let data = FileManager.default.contents(atPath: tokenizer) else {
                throw HuggingFaceError.badFile(file: tokenizer, "cannot be read")
            }
            try writeFileAtomically(data, to: directory + "/tokenizer.json")
        }
    }
}
