// Conversion between the two directory layouts a GPT can live in: a Hugging Face model directory (transformers'
// names and config.json) and the nanoGPT layout (GPTConfig JSON + nanoGPT-named model.safetensors, which
// `GPT(config, stateDict:)` reads directly). Both carry an optional tokenizer.json, copied byte for byte.
// Wiring for `lmkit convert`; it does not cast or quantize beyond the safetensors dtypes F32/F16/BF16.
import Foundation
import LMCheckpoint
import LMTensor
import LMTokenizers

/// The directory layouts `ModelDirectoryConversion` reads and writes.
public enum ModelDirectoryLayout: String, Sendable, CaseIterable {
    /// transformers' `save_pretrained` layout (GPT2LMHeadModel / LlamaForCausalLM).
    case huggingFace = "hf"
    /// LMKit's GPTConfig JSON (config.json) + nanoGPT-named model.safetensors (tied head written once, as wte).
    case nanoGPT = "gpt"
}

/// A GPT read from either layout, with what is needed to write it back.
public struct LoadedModelDirectory {
    /// The model with the directory's weights.
    public let model: GPT
    /// The layout the directory was in.
    public let layout: ModelDirectoryLayout
    /// The HF config when the source was a Hugging Face directory (architecture, special token ids).
    public let huggingFace: HuggingFaceConfig?
    /// The source's tokenizer.json, if it has one.
    public let tokenizerPath: String?
}

/// Reading a GPT from, and writing it to, either directory layout (`lmkit convert`).
public enum ModelDirectoryConversion {
    /// Reads `path` in whichever layout it is: a config.json with `model_type` is Hugging Face, otherwise GPTConfig.
    public static func load(_ path: String) throws -> LoadedModelDirectory {
        let tokenizer = FileManager.default.fileExists(atPath: path + "/tokenizer.json") ? path + "/tokenizer.json" : nil
        if HuggingFaceModelDirectory.isHuggingFaceDirectory(path) {
            let loaded = try HuggingFaceModelDirectory.load(path, loadTokenizer: false)
            return LoadedModelDirectory(model: loaded.model, layout: .huggingFace, huggingFace: loaded.config, tokenizerPath: tokenizer)
        }
        let configPath = path + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw HuggingFaceError.badFile(file: configPath, "cannot be read (a model directory needs config.json and model.safetensors)")
        }
        let config = try GPTConfig.decode(data, source: configPath)
        let weightsPath = path + "/model.safetensors"
        let tensors = try SafetensorsFile(path: weightsPath).tensors()
        let model = GPT(config, initializer: nil)
        try model.load(tensors, source: weightsPath)
        return LoadedModelDirectory(model: model, layout: .nanoGPT, huggingFace: nil, tokenizerPath: tokenizer)
    }

    /// Writes `source` to `directory` in `layout`. `architecture` picks the HF class (default: the source's, else
    /// GPT-2 for learned positions and Llama for RoPE); `ropeLayout` (nanoGPT layout only) permutes q/k rows.
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
            if let ropeLayout, config.position == .rope, ropeLayout != config.ropeLayout {
                stateDict = GPT.convertRoPELayout(stateDict, config: config, from: config.ropeLayout, to: ropeLayout)
                config.ropeLayout = ropeLayout
            }
            if config.tieEmbeddings { stateDict["lm_head.weight"] = nil }
            do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                throw HuggingFaceError.badFile(file: directory, "cannot create the directory (\(error.localizedDescription))")
            }
            try saveSafetensors(stateDict, to: directory + "/model.safetensors", metadata: ["format": "pt"], dtype: dtype)
            try writeFileAtomically(config.jsonData() + Data("\n".utf8), to: directory + "/config.json")
        }
        if let tokenizer = source.tokenizerPath, tokenizer != directory + "/tokenizer.json" {
            guard let data = FileManager.default.contents(atPath: tokenizer) else {
                throw HuggingFaceError.badFile(file: tokenizer, "cannot be read")
            }
            try writeFileAtomically(data, to: directory + "/tokenizer.json")
        }
    }
}
