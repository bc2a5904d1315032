// A Hugging Face model directory as `save_pretrained` writes it: config.json, model.safetensors (or shards listed in
// model.safetensors.index.json), and optionally tokenizer.json (or BERT's vocab.txt). Loads it, through the
// architecture's adapter (HuggingFace.swift), into the LMKit model its config maps to (+ its tokenizer: WordPiece for
// BERT, byte-level BPE otherwise), and saves an LMKit model back in the same layout, atomically (safetensors first,
// config.json last). Does not download from the hub, and does
// not read pytorch_model.bin (pickle): convert those with transformers first.
import Foundation
import LMCheckpoint
import LMTensor
import LMTokenizers

/// A loaded Hugging Face model directory: the model, its config and (when the directory has one) its tokenizer.
public struct HuggingFaceModelDirectory {
    /// The directory read.
    public let path: String
    /// The parsed config.json (architecture, LMKit config, special token ids, ignored keys).
    public let config: HuggingFaceConfig
    /// The model with the checkpoint's weights, in eval mode.
    public let model: any LanguageModel
    /// The directory's tokenizer when it has one and it was requested: WordPiece for BERT (tokenizer.json, else
    /// vocab.txt), byte-level BPE (tokenizer.json) for the causal families.
    public let tokenizer: (any Tokenizer)?
    /// config.json keys ignored because they do not change the model (sorted).
    public var ignoredConfigKeys: [String] { config.ignoredKeys }

    /// Reads `path`/config.json and the weights; with `loadTokenizer`, also the tokenizer when present: for BERT the
    /// WordPiece of tokenizer.json or vocab.txt (`wordPiece(_:)`), otherwise tokenizer.json as byte-level BPE (a
    /// tokenizer.json of another kind is then an error naming the field; pass false to skip it).
    public static func load(_ path: String, loadTokenizer: Bool = true) throws -> HuggingFaceModelDirectory {
        let config = try readConfig(path)
        let (tensors, source) = try readTensors(path)
        let stateDict = try HuggingFaceWeights.toLMKit(tensors, config: config, file: source)
        let model = try ModelRegistry.loadModel(config.model, stateDict: stateDict, source: source)
        model.eval()
        var tokenizer: (any Tokenizer)? = nil
        let tokenizerPath = path + "/tokenizer.json", fm = FileManager.default
        if loadTokenizer && config.model is BERTConfig {
            if fm.fileExists(atPath: tokenizerPath) || fm.fileExists(atPath: path + "/vocab.txt") { tokenizer = try wordPiece(path) }
        } else if loadTokenizer && fm.fileExists(atPath: tokenizerPath) {
            tokenizer = try ByteLevelBPE.load(tokenizerJSON: tokenizerPath)
        }
        if let tokenizer, tokenizer.vocabularySize > config.model.vocabularySize {
            throw HuggingFaceError.badFile(file: fm.fileExists(atPath: tokenizerPath) ? tokenizerPath : path + "/vocab.txt",
                                           "has \(tokenizer.vocabularySize) token ids but config.json's vocab_size is \(config.model.vocabularySize)")
        }
        return HuggingFaceModelDirectory(path: path, config: config, model: model, tokenizer: tokenizer)
    }

    /// The WordPiece tokenizer of a BERT directory: tokenizer.json when present (it carries the normalizer settings),
    /// else vocab.txt (lowercasing, as bert-base-uncased). The error names both files when neither is there.
    public static func wordPiece(_ path: String) throws -> WordPiece {
        let json = path + "/tokenizer.json", vocab = path + "/vocab.txt"
        if FileManager.default.fileExists(atPath: json) { return try WordPiece.load(tokenizerJSON: json) }
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw HuggingFaceError.badFile(file: path, "has neither tokenizer.json nor vocab.txt (a BERT directory needs its WordPiece vocabulary)")
        }
        return try WordPiece.load(vocabTXT: vocab)
    }

    /// The `model_type` string of `path`/config.json; nil when the file is absent, not JSON, or has none.
    public static func modelType(ofDirectory path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path + "/config.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["model_type"] as? String
    }

    /// Whether `path` holds a Hugging Face model directory: a config.json whose `model_type` is one an adapter reads
    /// (gpt2, llama). LMKit's own directories (an `lmkit train` out_dir, `lmkit convert --to gpt`) carry a registry
    /// family's name ("gpt") or no model_type, so they are never taken for Hugging Face ones. A name both use ("bert",
    /// "mamba") is Hugging Face's only with transformers' `architectures` key, which save_pretrained always writes and
    /// LMKit's own config.json never does.
    public static func isHuggingFaceDirectory(_ path: String) -> Bool {
        guard let modelType = modelType(ofDirectory: path), HuggingFaceArchitecture(modelType: modelType) != nil else { return false }
        guard ModelRegistry.modelTypes.contains(modelType) else { return true }
        guard let data = FileManager.default.contents(atPath: path + "/config.json"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return object["architectures"] != nil
    }

    /// The parsed `path`/config.json.
    public static func readConfig(_ path: String) throws -> HuggingFaceConfig {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HuggingFaceError.badFile(file: path, "is not a directory (expected a Hugging Face model directory with config.json and model.safetensors)")
        }
        let configPath = path + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw HuggingFaceError.badFile(file: configPath, "cannot be read (a Hugging Face model directory needs config.json)")
        }
        return try HuggingFaceConfig(data: data, source: configPath)
    }

    /// Every tensor of the directory's weights (float32; F16/BF16 files are decoded) and a description of the
    /// file(s) for error messages: model.safetensors, or the shards named by model.safetensors.index.json.
    public static func readTensors(_ path: String) throws -> (tensors: [String: Tensor], source: String) {
        let single = path + "/model.safetensors", index = path + "/model.safetensors.index.json"
        let fm = FileManager.default
        if fm.fileExists(atPath: single) {
            return (try SafetensorsFile(path: single).tensors(), single)
        }
        guard let data = fm.contents(atPath: index) else {
            let hint = fm.fileExists(atPath: path + "/pytorch_model.bin")
                ? " (pytorch_model.bin is a pickle LMKit does not read: re-save with save_pretrained(dir, safe_serialization=True))" : ""
            throw HuggingFaceError.badFile(file: path, "has neither model.safetensors nor model.safetensors.index.json\(hint)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let weightMap = object["weight_map"] as? [String: Any] else {
            throw HuggingFaceError.badFile(file: index, "expected a JSON object with a \"weight_map\" object {tensor: shard file}")
        }
        var byShard: [String: [String]] = [:]
        for (name, shard) in weightMap {
            guard let shard = shard as? String, !shard.contains("/") else {
                throw HuggingFaceError.badFile(file: index, "weight_map[\"\(name)\"] must be a file name in the same directory")
            }
            byShard[shard, default: []].append(name)
        }
        var tensors: [String: Tensor] = [:]
        for (shard, names) in byShard.sorted(by: { $0.key < $1.key }) {
            let file = try SafetensorsFile(path: path + "/" + shard)
            for name in names {
                guard let entry = file.entry(name) else {
                    throw HuggingFaceError.missingTensor(file: file.path, name: name + " (listed in model.safetensors.index.json)")
                }
                tensors[name] = file.tensor(for: entry)
            }
            if let extra = file.names.first(where: { weightMap[$0] as? String != shard }) {
                throw HuggingFaceError.badFile(file: file.path, "holds tensor '\(extra)' that model.safetensors.index.json does not map to this shard")
            }
        }
        return (tensors, index)
    }

    /// The HF architecture a model configuration saves as when none is asked for: the first adapter that can express
    /// it (GPT-2 for learned positions, Llama for RoPE). The error lists why each one cannot.
    public static func defaultArchitecture(for config: any ModelConfiguration) throws -> HuggingFaceArchitecture {
        var reasons: [String] = []
        for architecture in HuggingFaceArchitecture.all {
            do {
                _ = try architecture.adapter.configJSON(config)
                return architecture
            } catch { reasons.append("\(error)") }
        }
        throw HuggingFaceError.notExpressible(architecture: "any Hugging Face architecture", field: "model_type",
                                              "\(type(of: config).modelType) matches none: " + reasons.joined(separator: "; "))
    }

    /// Writes `model` to `directory` (created if needed) as `architecture` (default: `defaultArchitecture`) in
    /// transformers' layout: model.safetensors (as `dtype`; float32 by default) then config.json, each atomically, plus
    /// the tokenizer when `tokenizer` is given (tokenizer.json; a WordPiece also as vocab.txt, which BertTokenizer
    /// reads). Configurations the architecture cannot express are errors naming the config field, and nothing is
    /// written then.
    public static func save(_ model: any LanguageModel, to directory: String, architecture: HuggingFaceArchitecture? = nil,
                            specialTokenIDs: [String: Int] = [:], tokenizer: (any Tokenizer)? = nil,
                            dtype: SafetensorsDType = .float32) throws {
        let hf = HuggingFaceConfig(architecture: try architecture ?? defaultArchitecture(for: model.config), model: model.config,
                                   specialTokenIDs: specialTokenIDs)
        let configData = try hf.jsonData()  // checks expressibility before anything is written
        let tensors = try HuggingFaceWeights.fromLMKit(model.stateDict(), config: hf)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw HuggingFaceError.badFile(file: directory, "cannot create the directory (\(error.localizedDescription))")
        }
        try saveSafetensors(tensors, to: directory + "/model.safetensors", metadata: ["format": "pt"], dtype: dtype)
        switch tokenizer {
        case let bpe as ByteLevelBPE: try bpe.writeTokenizerJSON(to: directory + "/tokenizer.json")
        case let wordPiece as WordPiece:
            try wordPiece.writeTokenizerJSON(to: directory + "/tokenizer.json")
            try wordPiece.writeVocabTXT(to: directory + "/vocab.txt")
        case nil: break
        case let other?: throw HuggingFaceError.badFile(file: directory, "cannot hold a \(type(of: other)) tokenizer (byte-level BPE or WordPiece)")
        }
        try writeFileAtomically(configData + Data("\n".utf8), to: directory + "/config.json")
    }
}
