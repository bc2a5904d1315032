// Training configuration with nanoGPT's names and defaults (train.py's globals), read from JSON with StrictJSON (an
// unknown key is an error naming it and the file) and overridden by `--key value` flags the way nanoGPT's
// configurator.py applies `--key=value` (validated here: unknown key or a value of the wrong type is an error naming
// the flag). The model is a nested section `"model": {"model_type": "gpt", "n_layer": 4, …}` that the family's config
// decodes (ModelRegistry); nanoGPT's flat model keys (`"n_layer": 4` at the top) are the `gpt` family's and keep
// working, and `--model.KEY value` reaches any family's key. nanoGPT-only keys without meaning here (device, compile,
// wandb_*) are rejected with a hint rather than ignored.
import Foundation
import _LMSupport
import LMModels

/// Everything a training run needs besides the data. JSON keys are nanoGPT's (snake_case).
public struct TrainConfig: Codable, Equatable, Sendable {
    // I/O
    public var outDir = "out"
    /// Directory made by `lmkit prepare` (train.bin, val.bin, meta.json, tokenizer). nanoGPT: data/<dataset>.
    public var dataDir = "data/shakespeare_char"
    public var evalInterval = 2000
    public var logInterval = 1
    public var evalIters = 200
    /// Evaluate once at step 0 (or at the resumed step) and exit.
    public var evalOnly = false
    /// Save at every eval, not only when the val loss improves.
    public var alwaysSaveCheckpoint = true
    /// "scratch" or "resume" (resume from out_dir/ckpt.safetensors; `--resume` sets it).
    public var initFrom = "scratch"
    // data
    public var gradientAccumulationSteps = 40
    public var batchSize = 12
    public var blockSize = 1024
    /// How training batches are drawn: "random" (nanoGPT's random windows) or "streams" (truncated BPTT as in
    /// word_language_model: batch_size contiguous streams read window after window, the model's state carried across
    /// windows and detached at their boundaries; needs a `CarriedStateTraining` model such as lstm / gru / rnn).
    /// Evaluation keeps random windows from a fresh state.
    public var dataOrder = "random"
    /// Supervised fine-tuning instead of text: a JSONL file of {"prompt": …, "response": …} (LLaDA's SFT; see
    /// `SFTExamples`), tokenized with data_dir's tokenizer; data_dir's token files are then unused. gpt and
    /// masked-diffusion models.
    public var sftData: String? = nil
    /// SFT validation examples (same form); nil holds out the last 10 % of sft_data.
    public var sftValData: String? = nil
    /// The text of the token that ends and pads every response, one token of data_dir's tokenizer (e.g. "\n" for a
    /// char vocabulary); nil: the tokenizer's end-of-text token (<|endoftext|>, <|end_of_text|>, </s>, <eos>).
    public var sftEOS: String? = nil
    /// The model: its `model_type` and the family's config keys. Keys left out take the family's defaults, except
    /// that a training run fills vocab_size from the data and (for families with a context) block_size from the
    /// training block size, as nanoGPT does.
    public var model = ModelSection()
    // AdamW
    public var learningRate = 6e-4
    /// Number of optimizer steps.
    public var maxIters = 600_000
    public var weightDecay = 1e-1
    public var beta1 = 0.9
    public var beta2 = 0.95
    /// Clip the global gradient norm to this value; 0 disables clipping.
    public var gradClip = 1.0
    // learning-rate schedule
    public var decayLR = true
    public var warmupIters = 2000
    public var lrDecayIters = 600_000
    public var minLR = 6e-5
    // reproducibility
    /// Seeds model init, dropout and the data sampler (nanoGPT: torch.manual_seed(1337 + seed_offset)).
    public var seed: UInt64 = 1337
    /// Recompute each block's activations in backward instead of keeping them (torch.utils.checkpoint per block):
    /// the same gradients, less memory, one more forward pass of the blocks per step.
    public var gradientCheckpointing = false
    // data parallel (`mpirun -np N lmkit train`; Docs/Distributed.md). batch_size stays the global micro-batch.
    /// Gradients are averaged in buckets of about this many megabytes (10^6 bytes), each sent as soon as backward
    /// has produced it (PyTorch DDP's bucket_cap_mb).
    public var ddpBucketCapMB = 25.0
    /// 1: ZeRO stage 1, each rank keeps the AdamW state of only its share of the parameters (ZeroRedundancy.swift);
    /// 0: every rank keeps all of it (DDP). DeepSpeed's zero_optimization.stage; stages 2 and 3 are not implemented.
    public var zeroStage = 0
    /// nanoGPT's dtype: "float32", "bfloat16" or "float16". The low-precision ones train under Autocast (products read
    /// bfloat16/float16 inputs and accumulate in float32; weights, gradients and AdamW state stay float32); "float16"
    /// adds a GradScaler (dynamic loss scaling, torch's defaults) whose state goes into checkpoints.
    public var dtype = "float32"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case outDir = "out_dir", dataDir = "data_dir", evalInterval = "eval_interval", logInterval = "log_interval"
        case evalIters = "eval_iters", evalOnly = "eval_only", alwaysSaveCheckpoint = "always_save_checkpoint", initFrom = "init_from"
        case gradientAccumulationSteps = "gradient_accumulation_steps", batchSize = "batch_size", blockSize = "block_size"
        case dataOrder = "data_order", sftData = "sft_data", sftValData = "sft_val_data", sftEOS = "sft_eos"
        case model
        case learningRate = "learning_rate", maxIters = "max_iters", weightDecay = "weight_decay", beta1, beta2
        case gradClip = "grad_clip", decayLR = "decay_lr", warmupIters = "warmup_iters", lrDecayIters = "lr_decay_iters"
        case minLR = "min_lr", seed, gradientCheckpointing = "gradient_checkpointing", dtype
        case ddpBucketCapMB = "ddp_bucket_cap_mb", zeroStage = "zero_stage"
    }

    /// The value type of each key, for parsing `--key value` overrides.
    enum ValueKind { case int, double, bool, string, unsigned }

    static let kinds: [CodingKeys: ValueKind] = [
        .outDir: .string, .dataDir: .string, .evalInterval: .int, .logInterval: .int, .evalIters: .int, .evalOnly: .bool,
        .alwaysSaveCheckpoint: .bool, .initFrom: .string, .gradientAccumulationSteps: .int, .batchSize: .int, .blockSize: .int, .dataOrder: .string,
        .sftData: .string, .sftValData: .string, .sftEOS: .string,
        .learningRate: .double, .maxIters: .int, .weightDecay: .double,
        .beta1: .double, .beta2: .double, .gradClip: .double, .decayLR: .bool, .warmupIters: .int, .lrDecayIters: .int,
        .minLR: .double, .seed: .unsigned, .gradientCheckpointing: .bool, .dtype: .string,
        .ddpBucketCapMB: .double, .zeroStage: .int,
    ]

    /// nanoGPT train.py keys that have no meaning in LMKit, with what to do instead.
    static let nanoGPTOnlyKeys: [String: String] = [
        "device": "LMKit trains on the CPU; remove it",
        "compile": "there is no compile step; remove it", "backend": "data parallelism runs over MPI: start `mpirun -np N lmkit train`; remove it",
        "wandb_log": "remove it (the loss curve goes to out_dir/loss.csv and loss.svg)", "wandb_project": "remove it",
        "wandb_run_name": "remove it", "dataset": "use data_dir (the directory `lmkit prepare` wrote)",
    ]

    /// All JSON keys of the training config itself (with `model`).
    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// nanoGPT's flat model keys: the `gpt` family's, accepted at the top level and moved into `model`.
    /// `block_size` is both a training key and a model key, as in nanoGPT: it stays a training key, and the model's
    /// block_size defaults to it.
    public static var flatModelKeys: [String] { GPTConfig.jsonKeys.filter { CodingKeys(rawValue: $0) == nil } }

    /// Every key allowed at the top level of a training config file.
    static var allowedKeys: [String] { jsonKeys + flatModelKeys }

    /// A dynamic key, for the flat model keys.
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainConfig()
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: key) ?? fallback }
        outDir = try value(.outDir, d.outDir)
        dataDir = try value(.dataDir, d.dataDir)
        evalInterval = try value(.evalInterval, d.evalInterval)
        logInterval = try value(.logInterval, d.logInterval)
        evalIters = try value(.evalIters, d.evalIters)
        evalOnly = try value(.evalOnly, d.evalOnly)
        alwaysSaveCheckpoint = try value(.alwaysSaveCheckpoint, d.alwaysSaveCheckpoint)
        initFrom = try value(.initFrom, d.initFrom)
        gradientAccumulationSteps = try value(.gradientAccumulationSteps, d.gradientAccumulationSteps)
        batchSize = try value(.batchSize, d.batchSize)
        blockSize = try value(.blockSize, d.blockSize)
        dataOrder = try value(.dataOrder, d.dataOrder)
        sftData = try c.decodeIfPresent(String.self, forKey: .sftData)
        sftValData = try c.decodeIfPresent(String.self, forKey: .sftValData)
        sftEOS = try c.decodeIfPresent(String.self, forKey: .sftEOS)
        model = try value(.model, d.model)
        // nanoGPT's flat model keys belong to the gpt family; they take precedence over the section's (they are what
        // `--n_layer 6` overrides write).
        let flat = try decoder.container(keyedBy: AnyKey.self)
        for key in Self.flatModelKeys {
            guard flat.contains(AnyKey(key)) else { continue }
            let value = try flat.decode(ConfigValue.self, forKey: AnyKey(key))
            guard model.modelType == GPTConfig.modelType else {
                throw ConfigError.invalidValue(field: key, "is a gpt model key at the top level, but model_type is \"\(model.modelType)\"; put it in the \"model\" section")
            }
            model[key] = value
        }
        learningRate = try value(.learningRate, d.learningRate)
        maxIters = try value(.maxIters, d.maxIters)
        weightDecay = try value(.weightDecay, d.weightDecay)
        beta1 = try value(.beta1, d.beta1)
        beta2 = try value(.beta2, d.beta2)
        gradClip = try value(.gradClip, d.gradClip)
        decayLR = try value(.decayLR, d.decayLR)
        warmupIters = try value(.warmupIters, d.warmupIters)
        lrDecayIters = try value(.lrDecayIters, d.lrDecayIters)
        minLR = try value(.minLR, d.minLR)
        seed = try value(.seed, d.seed)
        gradientCheckpointing = try value(.gradientCheckpointing, d.gradientCheckpointing)
        ddpBucketCapMB = try value(.ddpBucketCapMB, d.ddpBucketCapMB)
        zeroStage = try value(.zeroStage, d.zeroStage)
        dtype = try value(.dtype, d.dtype)
        try validate()
    }

    /// Ranges of every training key; the model keys are checked by `modelConfig(vocabularySize:)`.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { .invalidValue(field: key.rawValue, message) }
        for (key, v) in [(CodingKeys.evalInterval, evalInterval), (.logInterval, logInterval), (.evalIters, evalIters),
                         (.gradientAccumulationSteps, gradientAccumulationSteps), (.batchSize, batchSize), (.blockSize, blockSize)]
        where v <= 0 { throw fail(key, "must be a positive integer, got \(v)") }
        // Counts of forward passes per step or per eval: beyond a million a single step never ends in practice.
        for (key, v) in [(CodingKeys.gradientAccumulationSteps, gradientAccumulationSteps), (.evalIters, evalIters)] where v > 1_000_000 {
            throw fail(key, "must be at most 1000000 (forward passes per step or eval), got \(v)")
        }
        // Tokens per step must be countable (an Int) before memory is estimated from them.
        let (perMicroBatch, overflow1) = batchSize.multipliedReportingOverflow(by: blockSize)
        let (perStep, overflow2) = perMicroBatch.multipliedReportingOverflow(by: gradientAccumulationSteps)
        if overflow1 || overflow2 || perStep > 1 << 48 {
            throw fail(.batchSize, "× block_size × gradient_accumulation_steps (\(batchSize) × \(blockSize) × \(gradientAccumulationSteps)) tokens per step is beyond any machine's memory")
        }
        for (key, v) in [(CodingKeys.maxIters, maxIters), (.warmupIters, warmupIters), (.lrDecayIters, lrDecayIters)]
        where v < 0 { throw fail(key, "must be a non-negative integer, got \(v)") }
        for (key, v) in [(CodingKeys.learningRate, learningRate), (.minLR, minLR), (.weightDecay, weightDecay), (.gradClip, gradClip)]
        where !(v >= 0 && v.isFinite) { throw fail(key, "must be a finite number ≥ 0, got \(v)") }
        for (key, v) in [(CodingKeys.beta1, beta1), (.beta2, beta2)] where !(v >= 0 && v < 1) {
            throw fail(key, "must be in [0, 1), got \(v)")
        }
        guard ddpBucketCapMB > 0 && ddpBucketCapMB <= 1e5 else {
            throw fail(.ddpBucketCapMB, "must be a number of megabytes in (0, 100000], got \(ddpBucketCapMB)")
        }
        guard zeroStage == 0 || zeroStage == 1 else {
            throw fail(.zeroStage, "must be 0 (DDP) or 1 (optimizer state sharded over the ranks), got \(zeroStage); stages 2 and 3 are not implemented")
        }
        if decayLR && lrDecayIters <= warmupIters {
            throw fail(.lrDecayIters, "must be greater than warmup_iters (\(warmupIters)) when decay_lr is true, got \(lrDecayIters)")
        }
        guard initFrom == "scratch" || initFrom == "resume" else {
            throw fail(.initFrom, "must be \"scratch\" or \"resume\", got \"\(initFrom)\" (loading GPT-2 weights is not part of `lmkit train`)")
        }
        guard dataOrder == "random" || dataOrder == "streams" else {
            throw fail(.dataOrder, "must be \"random\" or \"streams\", got \"\(dataOrder)\"")
        }
        guard Self.dtypes.contains(dtype) else {
            throw fail(.dtype, "must be \"float32\", \"bfloat16\" or \"float16\", got \"\(dtype)\"")
        }
        guard !outDir.isEmpty else { throw fail(.outDir, "must not be empty") }
        for (key, value) in [(CodingKeys.sftValData, sftValData), (.sftEOS, sftEOS)] where value != nil && sftData == nil {
            throw fail(key, "needs sft_data (the training examples)")
        }
        if sftData != nil && dataOrder != "random" { throw fail(.sftData, "trains on whole examples; data_order must be \"random\", got \"\(dataOrder)\"") }
        // The model section's keys and values, checked now so a typo fails before any data is read (the data's
        // vocabulary is not known yet; 1 stands in for it, and 0 for the [CLS]/[SEP] ids a WordPiece vocabulary fills in).
        _ = try modelConfig(vocabularySize: 1, defaults: model.modelType == BERTConfig.modelType ? ["cls_token_id": 0, "sep_token_id": 0] : [:])
    }

    /// The values of `dtype` (nanoGPT's).
    static let dtypes = ["float32", "bfloat16", "float16"]

    /// The model's architecture: the `model` section decoded by its family, with vocab_size (the data's vocabulary)
    /// and the family's other training defaults filled in where the section leaves them out. A given vocab_size must
    /// cover the data's ids.
    public func modelConfig(vocabularySize dataVocabulary: Int, defaults: [String: Any] = [:]) throws -> any ModelConfiguration {
        let source = "the training config's model section"
        var object = model.jsonObject()
        for (key, value) in defaults where object[key] == nil { object[key] = value }
        for (key, value) in try ModelRegistry.trainingDefaults(modelType: model.modelType, vocabularySize: dataVocabulary, blockSize: blockSize)
        where object[key] == nil { object[key] = value }
        let config = try ModelRegistry.decodeConfig(object, source: source)
        if config.vocabularySize < dataVocabulary {
            throw ConfigError.invalidValue(field: "vocab_size", "is \(config.vocabularySize), smaller than the data's vocabulary (\(dataVocabulary))")
        }
        return config
    }

    /// nanoGPT's get_lr(it), literally: linear warmup (it+1)/(warmup_iters+1), cosine from learning_rate to min_lr
    /// until lr_decay_iters, then min_lr. With decay_lr false, learning_rate at every step. Bit-identical to get_lr
    /// (Tests/Fixtures/train/get_lr.json); LMOptim's CosineSchedule computes the same curve as a factor of the base rate
    /// and differs from get_lr by 1 ulp on about a third of the steps, so it is not used here.
    public func learningRate(at it: Int) -> Double {
        guard decayLR else { return learningRate }
        if it < warmupIters { return learningRate * Double(it + 1) / Double(warmupIters + 1) }
        if it > lrDecayIters { return minLR }
        let decayRatio = Double(it - warmupIters) / Double(lrDecayIters - warmupIters)
        let coefficient = 0.5 * (1.0 + cos(Double.pi * decayRatio))
        return minLR + coefficient * (learningRate - minLR)
    }

    /// Tokens consumed per optimizer step: gradient_accumulation_steps · batch_size · block_size.
    public var tokensPerIteration: Int { gradientAccumulationSteps * batchSize * blockSize }

    // MARK: - Loading

    /// Decodes a config from JSON `data`, rejecting unknown keys; `source` names it in errors.
    public static func decode(_ data: Data, source: String) throws -> TrainConfig {
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for key in object.keys.sorted() where nanoGPTOnlyKeys[key] != nil {
                throw ConfigError.malformed(file: source, "key '\(key)' is a nanoGPT setting LMKit does not use: \(nanoGPTOnlyKeys[key]!)")
            }
        }
        return try StrictJSON.decode(TrainConfig.self, from: data, allowedKeys: allowedKeys, source: source)
    }

    /// Loads `path` (nil: nanoGPT's defaults) and applies `overrides`: command-line words `--key value` or
    /// `--key=value` (dashes in keys may be written as underscores or dashes).
    public static func load(path: String?, overrides: [String]) throws -> TrainConfig {
        var object: [String: Any] = [:]
        let source = path ?? "the default config"
        if let path {
            let data: Data
            do { data = try FileReading.contents(path) } catch let error as FileError {
                throw ConfigError.malformed(file: path, "cannot read the config file: \(error.message)")
            }
            // Keys are checked against the file alone, so the error names it; values are validated after the overrides
            // (an override may be what makes them consistent, e.g. --warmup_iters with a file's lr_decay_iters).
            let parsed: Any
            do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
                throw ConfigError.malformed(file: path, "not valid JSON: \(StrictJSON.syntaxErrorDescription(error, in: data))")
            }
            guard let dictionary = parsed as? [String: Any] else {
                throw ConfigError.malformed(file: path, "not a JSON object (expected {\"key\": value, …} with nanoGPT's config keys)")
            }
            try StrictJSON.checkDuplicateKeys(data, source: path)
            for key in dictionary.keys.sorted() where nanoGPTOnlyKeys[key] != nil {
                throw ConfigError.malformed(file: path, "key '\(key)' is a nanoGPT setting LMKit does not use: \(nanoGPTOnlyKeys[key]!)")
            }
            let unknown = dictionary.keys.filter { !allowedKeys.contains($0) }.sorted()
            if !unknown.isEmpty { throw ConfigError.unknownKeys(file: path, unknown, allowed: jsonKeys) }
            object = dictionary
        }
        for (key, value) in try parseOverrides(overrides) {
            if key.hasPrefix("model.") {
                var section = object["model"] as? [String: Any] ?? [:]
                let name = String(key.dropFirst("model.".count))
                section[name] = value
                object["model"] = section
                // A flat key of the same name (a nanoGPT-style file) would take precedence when decoding; the command
                // line must win.
                object.removeValue(forKey: name)
            } else {
                object[key] = value
            }
        }
        let merged = try JSONSerialization.data(withJSONObject: object)
        return try decode(merged, source: overrides.isEmpty ? source : "\(source) with the command-line overrides")
    }

    /// `["--max_iters", "100", "--dropout=0.1"]` → `[("max_iters", 100), ("dropout", 0.1)]` as JSON values.
    static func parseOverrides(_ words: [String]) throws -> [(String, Any)] {
        var result: [(String, Any)] = []
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--"), word.count > 2 else {
                throw ConfigError.invalidValue(field: word, "is not a `--key value` override (expected a flag such as --max_iters 100)")
            }
            var name = String(word.dropFirst(2)), text: String
            if let eq = name.firstIndex(of: "=") {
                text = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            } else {
                guard i + 1 < words.count else { throw ConfigError.invalidValue(field: "--\(name)", "needs a value") }
                i += 1
                text = words[i]
            }
            let key = name.replacingOccurrences(of: "-", with: "_")
            if key.hasPrefix("model.") || flatModelKeys.contains(key) {
                // A model key: its type is the family's, checked when the section is decoded. The text is read as a
                // JSON scalar (number, true/false, null/none) when it is one, else as a string.
                guard key != "model." else { throw ConfigError.invalidValue(field: "--\(name)", "needs a key after \"model.\" (e.g. --model.n_layer 6)") }
                result.append((key, ConfigValue(commandLine: text).jsonValue))
                i += 1
                continue
            }
            guard let codingKey = CodingKeys(rawValue: key), codingKey != .model, let kind = kinds[codingKey] else {
                let hint = nanoGPTOnlyKeys[key].map { " (a nanoGPT setting LMKit does not use: \($0))" }
                    ?? suggestion(for: key).map { " (did you mean --\($0)?)" } ?? ""
                throw ConfigError.invalidValue(field: "--\(name)", "is not a training config key\(hint); keys: \(jsonKeys.filter { $0 != "model" }.joined(separator: ", ")), and the model's as --model.KEY")
            }
            func bad(_ expected: String) -> ConfigError { .invalidValue(field: "--\(name)", "expects \(expected), got \"\(text)\"") }
            let value: Any
            switch kind {
            case .int:
                guard let v = Int(text) else { throw bad("an integer") }
                value = v
            case .unsigned:
                guard let v = UInt64(text) else { throw bad("a non-negative integer") }
                value = v
            case .double:
                guard let v = Double(text), v.isFinite else { throw bad("a number") }
                value = v
            case .bool:
                switch text {
                case "true", "True", "1": value = true
                case "false", "False", "0": value = false
                default: throw bad("true or false")
                }
            case .string: value = text
            }
            result.append((key, value))
            i += 1
        }
        return result
    }

    /// The closest key to a mistyped one (edit distance ≤ 2), for "did you mean".
    static func suggestion(for key: String) -> String? {
        StrictJSON.suggestion(for: key, among: allowedKeys)
    }

    /// The resolved config as pretty JSON with sorted keys (printed at start, stored in checkpoints).
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Validated configs encode; a non-finite number (possible only without validate()) is shown, not trapped on.
        guard let data = try? encoder.encode(self) else { return "{}  // not encodable as JSON: \(self)" }
        return String(decoding: data, as: UTF8.self)
    }
}
