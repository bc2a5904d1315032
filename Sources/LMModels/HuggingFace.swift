// Hugging Face checkpoints, the shared part: the `HuggingFaceAdapter` protocol (one transformers architecture mapped
// onto an LMKit family, config.json keys and tensor names both ways; the architectures are HuggingFaceGPT2.swift and
// HuggingFaceLlama.swift), the adapter table, the typed config.json reader, `HuggingFaceConfig`, and tensor mappings.
// Key policy: a key that changes the network is used or checked, and a value LMKit does not implement is an error
// naming it; every other key (metadata, token ids, keys transformers' modeling code for the architecture does not read)
// is ignored and listed in `HuggingFaceConfig.ignoredKeys`, so real hub configs load. Directories: HuggingFaceDirectory.swift.
import Foundation
import LMTensor

// MARK: - Adapters

/// One Hugging Face architecture (a transformers `model_type`) mapped onto an LMKit family in one place: which
/// config.json keys make which LMKit configuration, and which HF tensors make which LMKit state-dict entries. A new
/// architecture is one file with a caseless enum conforming to this protocol plus one line in
/// `HuggingFaceArchitecture.adapters`. Shaped after mlx-swift-lm's per-model `sanitize(weights:)` and Codable configs.
protocol HuggingFaceAdapter: Sendable {
    /// The transformers `model_type` values read; the first is written.
    static var modelTypes: [String] { get }
    /// The `architectures` classes holding this network: the causal LM first (written), then e.g. the base model
    /// class, whose files lack the head. Any other class (a classification head) is refused.
    static var architectures: [String] { get }
    /// The LMKit configuration of a config.json. Every key that changes the network must be read through `reader`
    /// (used, or checked to hold the value LMKit implements); keys not read are reported as ignored.
    static func config(from reader: HuggingFaceConfigReader) throws -> any ModelConfiguration
    /// The architecture's config.json keys for `config` (`HuggingFaceConfig.jsonData` adds `model_type`,
    /// `architectures`, `dtype` and token ids). A configuration the architecture cannot express is `notExpressible`.
    static func configJSON(_ config: any ModelConfiguration) throws -> [String: Any]
    /// Every LMKit tensor of `config`'s model and the HF tensors it is made of (the name table, both directions).
    static func tensorMappings(_ config: any ModelConfiguration) throws -> [HuggingFaceTensorMapping]
    /// The name under which a stored HF tensor appears in `tensorMappings` (older layouts renamed), or nil for a
    /// computed buffer that is not a weight (a causal mask, RoPE frequencies). `names` are all stored names.
    static func canonicalName(_ name: String, among names: Set<String>) -> String?
    /// Whether `config(from:)` reads `sliding_window` / `use_sliding_window` itself (`HuggingFaceConfigReader.slidingWindow`);
    /// otherwise a config that turns sliding-window attention on is refused for this architecture.
    static var readsSlidingWindow: Bool { get }
    /// The LMKit state dict of HF `tensors` (already renamed by `canonicalName`). Default: `tensorMappings`.
    static func toLMKit(_ tensors: inout HuggingFaceTensors, config: any ModelConfiguration) throws -> [String: Tensor]
    /// HF tensors for an LMKit state dict, tied head omitted as `save_pretrained` does. Default: `tensorMappings`.
    static func fromLMKit(_ stateDict: [String: Tensor], config: any ModelConfiguration) throws -> [String: Tensor]
}

extension HuggingFaceAdapter {
    static func canonicalName(_ name: String, among names: Set<String>) -> String? { name }
    static var readsSlidingWindow: Bool { false }

    static func toLMKit(_ tensors: inout HuggingFaceTensors, config: any ModelConfiguration) throws -> [String: Tensor] {
        try HuggingFaceTensorMapping.toLMKit(&tensors, try tensorMappings(config))
    }

    static func fromLMKit(_ stateDict: [String: Tensor], config: any ModelConfiguration) throws -> [String: Tensor] {
        try HuggingFaceTensorMapping.fromLMKit(stateDict, try tensorMappings(config))
    }

    /// `config` as the LMKit configuration type this adapter maps to; another family is `notExpressible`.
    static func lmkitConfig<C: ModelConfiguration>(_ config: any ModelConfiguration, as _: C.Type) throws -> C {
        guard let typed = config as? C else {
            throw HuggingFaceError.notExpressible(architecture: architectures[0], field: "model_type",
                                                  "must be \(C.modelType), got \(type(of: config).modelType)")
        }
        return typed
    }

    /// Throws `notExpressible` naming `field` unless `ok`.
    static func require(_ ok: Bool, _ field: String, _ message: String) throws {
        if !ok { throw HuggingFaceError.notExpressible(architecture: architectures[0], field: field, message) }
    }
}

/// A Hugging Face architecture LMKit reads and writes, named by its transformers `model_type` ("gpt2", "llama").
/// The named values (`.gpt2`, `.llama`) are declared in the adapters' files.
public struct HuggingFaceArchitecture: Hashable, Sendable, CustomStringConvertible {
    /// The adapters, one line each. Add an architecture here.
    static let adapters: [any HuggingFaceAdapter.Type] = [
        GPT2Adapter.self,
        LlamaAdapter.self,
        BERTAdapter.self,
        MambaAdapter.self,
        MixtralAdapter.self,
    ]

    let adapter: any HuggingFaceAdapter.Type

    init(_ adapter: any HuggingFaceAdapter.Type) { self.adapter = adapter }

    /// The architecture whose adapter reads `modelType`; nil for one LMKit does not read.
    public init?(modelType: String) {
        guard let adapter = Self.adapters.first(where: { $0.modelTypes.contains(modelType) }) else { return nil }
        self.adapter = adapter
    }

    /// Every architecture, in table order.
    public static var all: [HuggingFaceArchitecture] { adapters.map(HuggingFaceArchitecture.init) }
    /// Every `model_type` LMKit reads.
    public static var modelTypes: [String] { adapters.flatMap { $0.modelTypes } }

    /// The `model_type` written to config.json.
    public var modelType: String { adapter.modelTypes[0] }
    /// The transformers class written to `architectures` (e.g. `LlamaForCausalLM`).
    public var className: String { adapter.architectures[0] }
    public var description: String { modelType }

    public static func == (a: HuggingFaceArchitecture, b: HuggingFaceArchitecture) -> Bool { a.modelType == b.modelType }
    public func hash(into hasher: inout Hasher) { hasher.combine(modelType) }
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
    /// An LMKit configuration that the requested HF architecture cannot express.
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
            return "the model cannot be saved as \(architecture): config field '\(field)' \(message)"
        }
    }
}

// MARK: - config.json

/// A parsed `config.json`: the architecture, the equivalent LMKit configuration, the source's token ids (kept so a
/// re-saved directory carries them) and the keys ignored because they do not change the model.
public struct HuggingFaceConfig {
    /// The transformers architecture the directory holds (and is written back as).
    public var architecture: HuggingFaceArchitecture
    /// The equivalent LMKit model configuration (a `GPTConfig` for GPT-2 and Llama).
    public var model: any ModelConfiguration
    /// `bos_token_id`, `eos_token_id`, `pad_token_id` as found (absent when missing, null or not one integer).
    public var specialTokenIDs: [String: Int]
    /// config.json keys read and ignored because they do not change the network (`_name_or_path`, `torch_dtype`,
    /// `use_cache`, `unk_token_id`, …), sorted. Empty for a config made in code.
    public var ignoredKeys: [String]

    static let specialTokenKeys = ["bos_token_id", "eos_token_id", "pad_token_id"]

    /// A config for writing `model` as `architecture` (see `jsonData()`).
    public init(architecture: HuggingFaceArchitecture, model: any ModelConfiguration, specialTokenIDs: [String: Int] = [:]) {
        self.architecture = architecture
        self.model = model
        self.specialTokenIDs = specialTokenIDs
        self.ignoredKeys = []
    }

    /// Parses a transformers `config.json` of an architecture LMKit reads; `source` (the path) prefixes errors.
    public init(data: Data, source: String) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw HuggingFaceError.badFile(file: source, "not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else { throw HuggingFaceError.badFile(file: source, "expected a JSON object") }
        let reader = HuggingFaceConfigReader(dict, file: source)
        guard let modelType = try reader.string("model_type") else { throw HuggingFaceError.missingConfigKey(file: source, key: "model_type") }
        guard let architecture = HuggingFaceArchitecture(modelType: modelType) else {
            throw reader.fail("model_type", "the Hugging Face model types \(HuggingFaceArchitecture.modelTypes.map(\.debugDescription).joined(separator: ", "))")
        }
        let accepted = architecture.adapter.architectures
        if let first = (reader.value("architectures") as? [Any])?.first, !accepted.contains(where: { $0 == first as? String }) {
            throw reader.fail("architectures", accepted.map { "[\"\($0)\"]" }.joined(separator: " or ") + " (a causal language model)")
        }
        try reader.checkSharedModelKeys(slidingWindowReadByAdapter: architecture.adapter.readsSlidingWindow)
        let model = try architecture.adapter.config(from: reader)
        do { try model.validate() } catch let error as ConfigError {
            throw HuggingFaceError.badFile(file: source, "maps to an invalid \(type(of: model).modelType) config: \(error)")
        }
        self.architecture = architecture
        self.model = model
        self.specialTokenIDs = reader.tokenIDs(Self.specialTokenKeys)
        self.ignoredKeys = reader.unreadKeys
    }

    /// The `config.json` transformers writes for this architecture (sorted keys), so that
    /// `AutoModelForCausalLM.from_pretrained` builds the same network.
    public func jsonData() throws -> Data {
        var dict = try architecture.adapter.configJSON(model)
        // An adapter with several head classes (BERT) names the one its configuration has.
        if dict["architectures"] == nil { dict["architectures"] = [architecture.className] }
        dict["model_type"] = architecture.modelType
        dict["dtype"] = "float32"
        for (key, id) in specialTokenIDs { dict[key] = id }
        return try JSONSerialization.data(withJSONObject: dict, options: [.prettyPrinted, .sortedKeys])
    }

    /// The one line `lmkit` prints about `keys` ignored in `file`, or nil when there are none:
    /// `config.json: ignored keys that do not change the model: _name_or_path, unk_token_id`.
    public static func ignoredKeysLine(_ keys: [String], file: String) -> String? {
        keys.isEmpty ? nil : "\(file): ignored keys that do not change the model: \(keys.joined(separator: ", "))"
    }
}

/// Typed access to the keys of a config.json. Every failure names the file, the key and the value found. The reader
/// records which keys were read, so that the rest can be reported as ignored.
final class HuggingFaceConfigReader {
    let dict: [String: Any]
    let file: String
    private var read: Set<String> = []

    init(_ dict: [String: Any], file: String) {
        self.dict = dict
        self.file = file
    }

    /// Keys of the file nothing read, sorted.
    var unreadKeys: [String] { dict.keys.filter { !read.contains($0) }.sorted() }

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

    /// The value of `key` (nil when absent or null), which now counts as read.
    func value(_ key: String) -> Any? {
        read.insert(key)
        guard let value = dict[key], !(value is NSNull) else { return nil }
        return value
    }

    private func isBool(_ value: Any) -> Bool {
        // JSONSerialization gives NSNumber for both; a JSON boolean bridges to Bool with objCType "c".
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c" || type(of: value) == Bool.self
    }

    func int(_ key: String) throws -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(value), Double(number.intValue) == number.doubleValue else {
            throw fail(key, "an integer")
        }
        return number.intValue
    }

    /// `key` or its alias (transformers' `attribute_map`, e.g. GPT-2's `hidden_size` for `n_embd`); both present must agree.
    func int(_ key: String, alias: String) throws -> Int? {
        let (value, aliased) = (try int(key), try int(alias))
        if let value, let aliased, value != aliased { throw fail(alias, "the same value as '\(key)' (\(value)), which it aliases") }
        return value ?? aliased
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let value = try int(key) else { throw HuggingFaceError.missingConfigKey(file: file, key: key) }
        return value
    }

    func double(_ key: String) throws -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value as? NSNumber, !isBool(value) else { throw fail(key, "a number") }
        return number.doubleValue
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value as? Bool, isBool(value) else { throw fail(key, "true or false") }
        return flag
    }

    func string(_ key: String) throws -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value as? String else { throw fail(key, "a string") }
        return text
    }

    /// A key whose value must be exactly `expected` (or absent) because LMKit implements only that behaviour.
    func expect<T: Equatable>(_ key: String, _ value: T?, _ expected: T, _ what: String) throws {
        if let value, value != expected { throw fail(key, what) }
    }

    /// A key that does not change the model while `harmless` holds for its value (read with `get`): it stays unread,
    /// so it is listed as ignored; any other value is an error saying `expected`.
    func ignored<T>(_ key: String, _ get: (String) throws -> T?, harmless: (T) -> Bool, _ expected: String) throws {
        let wasRead = read.contains(key)
        defer { if !wasRead { read.remove(key) } }
        if let value = try get(key), !harmless(value) { throw fail(key, expected) }
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

    /// The keys among `keys` that hold one integer (token ids; null means none). Another value (a list of ids) is
    /// left unread, so it is listed as ignored.
    func tokenIDs(_ keys: [String]) -> [String: Int] {
        var ids: [String: Int] = [:]
        for key in keys {
            if dict[key] is NSNull { read.insert(key) }
            guard let number = dict[key] as? NSNumber, !isBool(number), Double(number.intValue) == number.doubleValue else { continue }
            read.insert(key)
            ids[key] = number.intValue
        }
        return ids
    }

    /// Keys that transformers' shared code (not one architecture's modeling file) reads and that change any network.
    func checkSharedModelKeys(slidingWindowReadByAdapter: Bool) throws {
        // from_pretrained: quantized checkpoints store other tensors (or were dequantized with rounding LMKit does not redo).
        if value("quantization_config") != nil {
            throw fail("quantization_config", "none (quantized checkpoints are not read: save a dequantized copy with transformers)")
        }
        // masking_utils.create_causal_mask: is_causal false makes every layer attend both ways.
        try ignored("is_causal", bool, harmless: { $0 }, "true (causal attention)")
        // PreTrainedModel (4.x) prunes these heads when it builds the model.
        try ignored("pruned_heads", { self.value($0) }, harmless: { ($0 as? [String: Any])?.isEmpty == true }, "{} (no pruned heads)")
        // Sliding-window attention (Mistral / Qwen2 style): read by the adapters whose architecture has it.
        if slidingWindowReadByAdapter { return }
        let useSlidingWindow = try bool("use_sliding_window")
        if useSlidingWindow == true { throw fail("use_sliding_window", "false (this architecture attends to the whole context)") }
        if useSlidingWindow == false { read.remove("use_sliding_window") }
        try ignored("sliding_window", { self.value($0) }, harmless: { _ in useSlidingWindow == false },
                    "null (this architecture attends to the whole context), or use_sliding_window false")
    }

    /// Mistral-style sliding-window attention: `sliding_window` W (null or absent: none), unless `use_sliding_window` is
    /// false (Qwen2's switch). Query i then attends to keys i − W < j ≤ i, as transformers' sliding-window causal mask
    /// (`kv_idx > q_idx - sliding_window`) and GPTConfig's `sliding_window`.
    func slidingWindow() throws -> Int? {
        let use = try bool("use_sliding_window")
        guard let window = try int("sliding_window") else { return nil }
        guard window > 0 else { throw fail("sliding_window", "a positive number of positions, or null") }
        return use == false ? nil : window
    }
}

// MARK: - Tensors

/// One LMKit state-dict tensor and the HF tensors it is made of: one tensor (possibly stored transposed, as GPT-2's
/// Conv1D [in, out]), several stacked along axis 0 (Llama's q, k, v into `c_attn`), or a tied head that HF files omit.
/// An adapter's list of mappings is its whole name table; `toLMKit` and `fromLMKit` are derived from it.
struct HuggingFaceTensorMapping {
    /// The LMKit state-dict name.
    var lmkit: String
    /// The HF tensors, in stacking order, with their HF shapes.
    var parts: [(name: String, shape: [Int])]
    /// HF stores the transpose of a single 2-D part.
    var transposed = false
    /// For a tied head: the LMKit tensor it shares. A stored HF copy must equal it; saving omits it.
    var tiedTo: String? = nil

    /// HF `name` holds LMKit `lmkit` as it is.
    static func one(_ name: String, _ lmkit: String, _ shape: [Int]) -> Self { Self(lmkit: lmkit, parts: [(name, shape)]) }
    /// The same name on both sides.
    static func same(_ name: String, _ shape: [Int]) -> Self { one(name, name, shape) }
    /// HF `name` [in, out] holds the transpose of LMKit's [out, in] (same name on both sides).
    static func transposed(_ name: String, _ shape: [Int]) -> Self { Self(lmkit: name, parts: [(name, shape)], transposed: true) }
    /// LMKit `lmkit` is the HF `parts` stacked along axis 0.
    static func stacked(_ lmkit: String, _ parts: [(name: String, shape: [Int])]) -> Self { Self(lmkit: lmkit, parts: parts) }
    /// The output head `lm_head.weight` [vocab, width] (its name in transformers and LMKit), tied to `embedding` when given.
    static func head(vocabulary: Int, width: Int, tiedTo embedding: String?) -> Self {
        Self(lmkit: "lm_head.weight", parts: [("lm_head.weight", [vocabulary, width])], tiedTo: embedding)
    }

    /// The LMKit state dict from `tensors`; each mapping takes its parts (tied heads last, after what they share).
    static func toLMKit(_ tensors: inout HuggingFaceTensors, _ mappings: [HuggingFaceTensorMapping]) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for m in mappings where m.tiedTo == nil {
            let parts = try m.parts.map { try tensors.take($0.name, $0.shape) }
            let tensor = parts.count == 1 ? parts[0] : Tensor.concat(parts, axis: 0)
            out[m.lmkit] = m.transposed ? tensor.transpose(0, 1).contiguous() : tensor
        }
        for m in mappings {
            guard let shared = m.tiedTo else { continue }
            guard let embedding = out[shared] else { throw HuggingFaceError.missingTensor(file: "the mapping", name: shared) }
            // transformers does not save a tied head; if a file has one anyway it must be the shared tensor.
            for part in m.parts {
                if let stored = try tensors.takeIfPresent(part.name, part.shape),
                   stored.contiguous().toArray() != embedding.contiguous().toArray() {
                    throw HuggingFaceError.badFile(file: tensors.file, "tensor '\(part.name)' differs from the tensor it is tied to but config.json says tie_word_embeddings: true")
                }
            }
            out[m.lmkit] = embedding
        }
        return out
    }

    /// HF tensors for an LMKit state dict (contiguous; tied heads omitted). The state dict must be complete.
    static func fromLMKit(_ stateDict: [String: Tensor], _ mappings: [HuggingFaceTensorMapping]) throws -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for m in mappings where m.tiedTo == nil {
            guard let tensor = stateDict[m.lmkit] else { throw HuggingFaceError.missingTensor(file: "state dict", name: m.lmkit) }
            let stored = m.transposed ? tensor.transpose(0, 1).contiguous() : tensor.contiguous()
            let pieces = m.parts.count == 1 ? [stored] : stored.split(m.parts.map { $0.shape[0] }, axis: 0)
            for (part, piece) in zip(m.parts, pieces) { out[part.name] = piece.contiguous() }
        }
        return out
    }
}

/// The tensors of a checkpoint while an adapter takes them one by one: each take checks the shape, and what is left
/// at the end is an unexpected tensor. Errors name `file` and the tensor.
struct HuggingFaceTensors {
    private(set) var remaining: [String: Tensor]
    let file: String

    init(_ tensors: [String: Tensor], file: String) {
        self.remaining = tensors
        self.file = file
    }

    mutating func take(_ name: String, _ shape: [Int]) throws -> Tensor {
        guard let tensor = try takeIfPresent(name, shape) else { throw HuggingFaceError.missingTensor(file: file, name: name) }
        return tensor
    }

    mutating func takeIfPresent(_ name: String, _ shape: [Int]) throws -> Tensor? {
        guard let tensor = remaining.removeValue(forKey: name) else { return nil }
        guard tensor.shape == shape else { throw HuggingFaceError.shapeMismatch(file: file, name: name, expected: shape, found: tensor.shape) }
        return tensor
    }

    /// Fails naming the first tensor nothing took.
    func finish() throws {
        if let extra = remaining.keys.sorted().first { throw HuggingFaceError.unexpectedTensor(file: file, name: extra) }
    }
}

/// Converts between HF checkpoint tensors and LMKit's state dict through the architecture's adapter (see Docs/Formats.md,
/// "Hugging Face checkpoints"). Pure functions over `[String: Tensor]`.
public enum HuggingFaceWeights {
    /// The LMKit state dict for HF `tensors` (computed buffers skipped, older names renamed); every missing,
    /// unexpected or mis-shaped tensor is an error naming it and `file`.
    public static func toLMKit(_ tensors: [String: Tensor], config: HuggingFaceConfig, file: String) throws -> [String: Tensor] {
        let adapter = config.architecture.adapter
        let names = Set(tensors.keys)
        var canonical: [String: Tensor] = [:]
        for (name, tensor) in tensors {
            if let renamed = adapter.canonicalName(name, among: names) { canonical[renamed] = tensor }
        }
        var remaining = HuggingFaceTensors(canonical, file: file)
        let stateDict = try adapter.toLMKit(&remaining, config: config.model)
        try remaining.finish()
        return stateDict
    }

    /// HF tensors (transformers' names and layouts, tied head omitted as save_pretrained does) for a complete LMKit
    /// state dict of a model with `config.model`.
    public static func fromLMKit(_ stateDict: [String: Tensor], config: HuggingFaceConfig) throws -> [String: Tensor] {
        try config.architecture.adapter.fromLMKit(stateDict, config: config.model)
    }
}
