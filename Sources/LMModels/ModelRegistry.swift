// The registry of model families, keyed by `model_type`: it decodes a family's config from JSON (strictly, naming the
// file and key), builds a fresh model or one holding a state dict, and writes the config back with its `model_type`.
// Training checkpoints, an out_dir's config.json, and `lmkit train|eval|sample|convert` all go through it, so a new
// family is one file plus one line in `families`. JSON without `model_type` is a GPT config: LMKit wrote those before
// the registry existed (checkpoints, out_dirs, `lmkit convert --to gpt` directories).
import Foundation
import _LMSupport
import LMCheckpoint
import LMTensor

public enum ModelRegistry {
    /// The families by `model_type`. Add a family here.
    nonisolated(unsafe) private static var families: [String: any LanguageModel.Type] = [
        GPTConfig.modelType: GPT.self,
        LSTMLanguageModelConfig.modelType: LSTMLanguageModel.self, GRULanguageModelConfig.modelType: GRULanguageModel.self,
        RNNLanguageModelConfig.modelType: RNNLanguageModel.self,
        BERTConfig.modelType: BERT.self,
        MaskedDiffusionConfig.modelType: MaskedDiffusion.self,
        MambaConfig.modelType: Mamba.self,
        S4DConfig.modelType: S4D.self,
        FLASHConfig.modelType: FLASH.self,
    ]

    /// The `model_type` JSON written before the registry lacks.
    public static let legacyModelType = GPTConfig.modelType

    /// Registers `family` under its configuration's `model_type` (replacing one of the same name): for families
    /// defined outside LMModels, such as a test's.
    public static func register(_ family: any LanguageModel.Type) {
        families[modelType(of: family)] = family
    }

    /// Every registered `model_type`, sorted.
    public static var modelTypes: [String] { families.keys.sorted() }

    /// The family registered as `modelType`; the error lists the known ones.
    public static func family(_ modelType: String, source: String) throws -> any LanguageModel.Type {
        guard let family = families[modelType] else {
            throw ConfigError.invalidValue(field: "model_type", "in \(source) is \"\(modelType)\"; known model types: \(modelTypes.joined(separator: ", "))")
        }
        return family
    }

    private static func modelType<M: LanguageModel>(of _: M.Type) -> String { M.Configuration.modelType }

    // MARK: - Configs

    /// Decodes a config from a JSON object `{"model_type": …, <the family's keys>}` (no `model_type`: a GPT config).
    /// Unknown keys, wrong types and invalid values are errors naming `source` and the key.
    public static func decodeConfig(_ data: Data, source: String) throws -> any ModelConfiguration {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError.malformed(file: source, "not valid JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else { throw ConfigError.malformed(file: source, "expected a JSON object with the model's keys") }
        return try decodeConfig(dictionary, source: source)
    }

    /// `decodeConfig(_:source:)` on an already parsed JSON object.
    public static func decodeConfig(_ object: [String: Any], source: String) throws -> any ModelConfiguration {
        var keys = object
        let modelType = keys.removeValue(forKey: "model_type") ?? legacyModelType
        guard let name = modelType as? String else {
            throw ConfigError.malformed(file: source, "field 'model_type': expected a string naming the model family (\(modelTypes.joined(separator: ", ")))")
        }
        let data = try JSONSerialization.data(withJSONObject: keys)
        func decode<M: LanguageModel>(_: M.Type) throws -> any ModelConfiguration {
            try StrictJSON.decode(M.Configuration.self, from: data, allowedKeys: M.Configuration.jsonKeys, source: source)
        }
        return try decode(try family(name, source: source))
    }

    /// The config as a JSON object with its `model_type`. Throws when the config holds a value JSON cannot carry (a
    /// non-finite number: `validate()` refuses those, so a config that passed it always encodes).
    public static func jsonObject(_ config: any ModelConfiguration) throws -> [String: Any] {
        let data = try JSONEncoder().encode(config)
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError.invalidValue(field: "model_type", "\(type(of: config).modelType): the config does not encode as a JSON object")
        }
        object["model_type"] = type(of: config).modelType
        return object
    }

    /// The config as pretty JSON with sorted keys and its `model_type` (config.json, checkpoint metadata).
    public static func jsonData(_ config: any ModelConfiguration) throws -> Data {
        try JSONSerialization.data(withJSONObject: try jsonObject(config), options: [.prettyPrinted, .sortedKeys])
    }

    /// Whether two configs describe the same model (same family and values).
    public static func same(_ a: any ModelConfiguration, _ b: any ModelConfiguration) -> Bool {
        func equal<C: ModelConfiguration>(_ a: C) -> Bool { (b as? C) == a }
        return equal(a)
    }

    /// The keys a training run fills in for `modelType` when its section leaves them out (`ModelConfiguration.trainingDefaults`).
    public static func trainingDefaults(modelType: String, vocabularySize: Int, blockSize: Int) throws -> [String: Any] {
        func defaults<M: LanguageModel>(_: M.Type) -> [String: Any] {
            M.Configuration.trainingDefaults(vocabularySize: vocabularySize, blockSize: blockSize)
        }
        return defaults(try family(modelType, source: "the training config's model section"))
    }

    // MARK: - Models

    /// A fresh model of `config`'s family: initialized from `generator`, or zero weights when it is nil (to load next).
    public static func makeModel(_ config: any ModelConfiguration, generator: Generator?) throws -> any LanguageModel {
        try checkMemory(config)
        func make<M: LanguageModel>(_: M.Type) -> any LanguageModel { M(config as! M.Configuration, initializer: generator) }
        return make(try family(type(of: config).modelType, source: "the config"))
    }

    /// The estimated bytes of `config`'s model: float32 weights, and for training (`trainingTokens` per micro-batch)
    /// their gradient and two AdamW moments plus the activations of that many tokens. nil when the family gives no
    /// parameter count.
    public static func estimatedBytes(_ config: any ModelConfiguration, trainingTokens: Int? = nil) -> Double? {
        guard let parameters = config.estimatedParameterCount else { return nil }
        guard let tokens = trainingTokens else { return 4 * parameters }
        return 16 * parameters + 4 * Double(tokens) * (config.estimatedActivationsPerToken ?? 0)
    }

    /// Throws `ConfigError` with the estimate and the machine's memory when `config`'s model (trained on
    /// `trainingTokens` per micro-batch, if given) cannot fit in the memory available: refusing before building beats
    /// dying in an allocation.
    public static func checkMemory(_ config: any ModelConfiguration, trainingTokens: Int? = nil) throws {
        guard let bytes = estimatedBytes(config, trainingTokens: trainingTokens) else { return }
        let what = "the \(type(of: config).modelType) model (\(String(format: "%.3g", config.estimatedParameterCount ?? 0)) parameters\(trainingTokens.map { ", training on \($0) tokens per micro-batch" } ?? ""))"
        try MachineMemory.check(bytes, for: what, error: { ConfigError.malformed(file: "the model config", $0) })
    }

    /// A model of `config`'s family holding `stateDict` (strict; see `LanguageModel.load(_:source:)`).
    public static func loadModel(_ config: any ModelConfiguration, stateDict: [String: Tensor], source: String) throws -> any LanguageModel {
        let model = try makeModel(config, generator: nil)
        try model.load(stateDict, source: source)
        return model
    }
}

extension LanguageModel {
    /// Copies `stateDict` into the parameters through LMCheckpoint's strict load: a missing, unexpected or mis-shaped
    /// tensor is an error naming it, with hints (a stray prefix, a transposed weight). `aliasedStateDictKeys` may be
    /// absent. `source` (a file) names where the tensors came from.
    public func load(_ stateDict: [String: Tensor], source: String) throws {
        try loadStateDict(self.stateDict(), from: stateDict, source: source, optional: aliasedStateDictKeys)
    }
}
