// The `model` section of a training config: a `model_type` and that family's keys, kept as JSON values until the
// family's config decodes them (ModelRegistry), so LMTrain never needs to know a family's fields.
import Foundation
import LMModels

/// A JSON value in a config: what a model section holds before its family decodes it.
public enum ConfigValue: Codable, Equatable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    case null, bool(Bool), int(Int), double(Double), string(String), array([ConfigValue]), object([String: ConfigValue])

    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(nilLiteral: ()) { self = .null }

    /// A command-line word: a JSON scalar when it reads as one (`6`, `0.1`, `true`, `null`; `none`/`None` are null as
    /// in nanoGPT's configurator), else the text as a string.
    public init(commandLine text: String) {
        switch text {
        case "true", "True": self = .bool(true)
        case "false", "False": self = .bool(false)
        case "null", "none", "None": self = .null
        default:
            if let i = Int(text) { self = .int(i) } else if let d = Double(text), d.isFinite { self = .double(d) } else { self = .string(text) }
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) { self = .double(d) } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([ConfigValue].self) { self = .array(a) } else { self = .object(try c.decode([String: ConfigValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .int(i): try c.encode(i)
        case let .double(d): try c.encode(d)
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    /// Numbers compare by value (JSON does not keep 0 and 0.0 apart).
    public static func == (a: ConfigValue, b: ConfigValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        default: return false
        }
    }

    /// The value as JSONSerialization represents it.
    public var jsonValue: Any {
        switch self {
        case .null: return NSNull()
        case let .bool(b): return b
        case let .int(i): return i
        case let .double(d): return d
        case let .string(s): return s
        case let .array(a): return a.map(\.jsonValue)
        case let .object(o): return o.mapValues(\.jsonValue)
        }
    }
}

/// `{"model_type": "gpt", "n_layer": 4, …}`: the family and its keys as given. Validated when the model is built
/// (`TrainConfig.modelConfig(vocabularySize:)`), where an unknown key is an error naming it.
public struct ModelSection: Codable, Equatable, Sendable {
    /// The registry key of the family (default "gpt", nanoGPT's model).
    public var modelType: String
    /// The family's keys, without `model_type`.
    public var keys: [String: ConfigValue]

    public init(modelType: String = GPTConfig.modelType, keys: [String: ConfigValue] = [:]) {
        self.modelType = modelType
        self.keys = keys
    }

    public subscript(key: String) -> ConfigValue? {
        get { keys[key] }
        set { keys[key] = newValue }
    }

    /// The keys as a JSON object, with `model_type`.
    public func jsonObject() -> [String: Any] {
        var object = keys.mapValues(\.jsonValue)
        object["model_type"] = modelType
        return object
    }

    public init(from decoder: Decoder) throws {
        var keys = try decoder.singleValueContainer().decode([String: ConfigValue].self)
        let typeGiven = keys["model_type"] != nil
        switch keys.removeValue(forKey: "model_type") {
        case nil: modelType = GPTConfig.modelType
        case let .string(name)?: modelType = name
        case let other?: throw ConfigError.invalidValue(field: "model.model_type", "must be a string naming a model family, got \(other)")
        }
        // `"objective": "masked-diffusion"` or `"block-diffusion"` (the words) is an alias of the
        // masked-diffusion family, without or with its block_length; it is not kept (the section then reads as
        // `"model_type": "masked-diffusion"`).
        if let objective = keys.removeValue(forKey: "objective") {
            let field = "model.objective", blockLength = (keys["block_length"] ?? .null) != .null
            guard case let .string(name) = objective, name == "masked-diffusion" || name == "block-diffusion" else {
                throw ConfigError.invalidValue(field: field, "must be \"masked-diffusion\" or \"block-diffusion\", got \(objective)")
            }
            guard !typeGiven || modelType == MaskedDiffusionConfig.modelType else {
                throw ConfigError.invalidValue(field: field, "\"\(name)\" is a masked-diffusion model, but model_type is \"\(modelType)\"")
            }
            guard blockLength || name == "masked-diffusion" else {
                throw ConfigError.invalidValue(field: field, "\"block-diffusion\" needs block_length (the tokens of a block) in the model section")
            }
            guard !blockLength || name == "block-diffusion" else {
                throw ConfigError.invalidValue(field: field, "\"masked-diffusion\" has no block_length; with block_length it is \"block-diffusion\"")
            }
            modelType = MaskedDiffusionConfig.modelType
        }
        self.keys = keys
    }

    public func encode(to encoder: Encoder) throws {
        var object = keys
        object["model_type"] = .string(modelType)
        var c = encoder.singleValueContainer()
        try c.encode(object)
    }
}
