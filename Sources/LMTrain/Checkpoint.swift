// Training checkpoints (Docs/Formats.md "Training checkpoint"): out_dir/ckpt.safetensors holds everything a bit-identical
// resume needs in ONE atomically written file — model weights under nanoGPT names, the AdamW state under `optimizer.`,
// and in the metadata the model and training configs, the step, the best val loss and the RNG positions (data
// sampler, dropout). out_dir/model.safetensors (weights + config only) is exported after it for `lmkit eval`, sampling
// and other tools. One file for resume means an interruption can never pair weights of one step with optimizer
// state of another. Float64 optimizer scalars (step counts, weight decay) are stored as F64 so resume stays exact.
import Foundation
import LMCheckpoint
import LMModels
import LMOptim
import LMTensor
import LMTokenizers

/// The state of a run at a checkpoint (the moment after the eval at `iteration`, before its training step).
public struct TrainingCheckpoint {
    public static let formatName = "lmkit-train-checkpoint"
    public static let formatVersion = 1
    public static let fileName = "ckpt.safetensors"
    public static let modelFileName = "model.safetensors"

    public var modelConfig: any ModelConfiguration
    public var trainConfig: TrainConfig
    /// nanoGPT's iter_num: optimizer steps done so far.
    public var iteration: Int
    public var bestValLoss: Double
    /// The eval at `iteration` (reported again after resume without recomputing it).
    public var lastTrainLoss: Double
    public var lastValLoss: Double
    /// Philox seed and offset of the data sampler (train and val batches share it, as nanoGPT's torch RNG).
    public var dataSeed: UInt64
    public var dataOffset: UInt64
    /// Seed and offset of the model's generator (init and every dropout layer).
    public var modelSeed: UInt64
    public var modelOffset: UInt64
    /// The data directory's meta.json, so eval can find the tokenizer.
    public var dataMeta: DataMeta?
    public var weights: [String: Tensor]
    public var optimizer: OptimizerState
    /// data_order "streams": the stream sampler's next window and the model's carried state (`carried.` tensors).
    public var streamCursor: Int? = nil
    public var carried: [String: Tensor] = [:]
    /// dtype float16: the GradScaler's scale, growth tracker and skipped-step count.
    public var gradScaler: GradScaler.State? = nil

    /// Writes `directory/ckpt.safetensors` (resume), then `directory/model.safetensors` (weights) and `directory/config.json`
    /// (the model config with its model_type), each atomically.
    public func write(directory: String) throws {
        var metadata = try modelMetadata()
        metadata["lmkit_format"] = Self.formatName
        metadata["lmkit_format_version"] = String(Self.formatVersion)
        metadata["best_val_loss"] = Self.exact(bestValLoss)
        metadata["last_train_loss"] = Self.exact(lastTrainLoss)
        metadata["last_val_loss"] = Self.exact(lastValLoss)
        metadata["data_seed"] = String(dataSeed)
        metadata["data_offset"] = String(dataOffset)
        metadata["model_seed"] = String(modelSeed)
        metadata["model_offset"] = String(modelOffset)
        if let streamCursor { metadata["stream_cursor"] = String(streamCursor) }
        if let gradScaler {
            metadata["grad_scaler_scale"] = Self.exact(Double(gradScaler.scale))
            metadata["grad_scaler_growth_tracker"] = String(gradScaler.growthTracker)
            metadata["grad_scaler_skipped_steps"] = String(gradScaler.skippedSteps)
        }
        var writer = SafetensorsWriter(metadata: metadata)
        for (name, tensor) in weights { try writer.add(name, tensor) }
        for (name, tensor) in carried { try writer.add("carried." + name, tensor) }
        for (name, tensor) in optimizer.flattened() { try writer.add("optimizer." + name, tensor, as: tensor.dtype == .float64 ? .float64 : .float32) }
        try writer.write(to: (directory as NSString).appendingPathComponent(Self.fileName))
        try saveSafetensors(weights, to: (directory as NSString).appendingPathComponent(Self.modelFileName), metadata: try modelMetadata())
        // config.json + model.safetensors is also the nanoGPT layout LMModels reads (`lmkit convert`, samplers).
        try writeAtomically(Array(try ModelRegistry.jsonData(modelConfig)) + [0x0A], to: (directory as NSString).appendingPathComponent("config.json"))
    }

    /// The metadata of model.safetensors: `format` "pt" (as torch-written files), `config` (the model config JSON),
    /// `train_config`, `step`, `data_meta`.
    func modelMetadata() throws -> [String: String] {
        var m: [String: String] = ["format": "pt", "config": String(decoding: try ModelRegistry.jsonData(modelConfig), as: UTF8.self),
                                   "train_config": trainConfig.jsonString(), "step": String(iteration)]
        if let dataMeta { m["data_meta"] = String(decoding: dataMeta.jsonData(), as: UTF8.self) }
        return m
    }

    /// A Double as decimal text followed by its exact bit pattern, e.g. `1.8812 (0x3ffe1a...)`.
    static func exact(_ value: Double) -> String { "\(value) (0x\(String(value.bitPattern, radix: 16)))" }

    static func parseExact(_ text: String?, key: String, file: String) throws -> Double {
        guard let text, let open = text.range(of: "(0x"), let bits = UInt64(text[open.upperBound...].dropLast(), radix: 16) else {
            throw TrainError.invalidInput("\(file): metadata \(key) is missing or malformed (expected \"<value> (0x<bits>)\")")
        }
        return Double(bitPattern: bits)
    }

    /// Reads a checkpoint written by `write(directory:)`; every missing or malformed field is an error naming it.
    public static func load(file path: String) throws -> TrainingCheckpoint {
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch {
            throw TrainError.invalidInput("\(error)")
        }
        let m = file.metadata
        guard m["lmkit_format"] == formatName else {
            throw TrainError.invalidInput("\(path): not an LMKit training checkpoint (metadata lmkit_format is \(m["lmkit_format"].map { "\"\($0)\"" } ?? "absent"); model.safetensors holds weights only and cannot be resumed — resume from \(fileName))")
        }
        guard m["lmkit_format_version"] == String(formatVersion) else {
            throw TrainError.invalidInput("\(path): checkpoint version \(m["lmkit_format_version"] ?? "?") is not supported (this build reads \(formatVersion))")
        }
        func text(_ key: String) throws -> String {
            guard let v = m[key] else { throw TrainError.invalidInput("\(path): metadata \(key) is missing") }
            return v
        }
        func integer<T: FixedWidthInteger>(_ key: String, _: T.Type) throws -> T {
            guard let v = T(try text(key)) else { throw TrainError.invalidInput("\(path): metadata \(key) is \"\(m[key]!)\", expected an integer") }
            return v
        }
        let modelConfig: any ModelConfiguration, trainConfig: TrainConfig
        do {
            modelConfig = try ModelRegistry.decodeConfig(Data(try text("config").utf8), source: "\(path): metadata config")
            trainConfig = try TrainConfig.decode(Data(try text("train_config").utf8), source: "\(path): metadata train_config")
        } catch let error as ConfigError { throw TrainError.invalidInput(error.description) }
        var dataMeta: DataMeta?
        if let metaText = m["data_meta"] { dataMeta = try? JSONDecoder().decode(DataMeta.self, from: Data(metaText.utf8)) }
        var weights: [String: Tensor] = [:], optimizerTensors: [String: Tensor] = [:], carried: [String: Tensor] = [:]
        for entry in file.entries {
            if entry.name.hasPrefix("carried.") {
                carried[String(entry.name.dropFirst("carried.".count))] = noGrad { file.tensor(for: entry).clone() }
                continue
            }
            // Clone: the model and optimizer write into these, and they must not stay borrowed from the mapping.
            if entry.name.hasPrefix("optimizer.") {
                let t = file.tensor(for: entry, as: entry.dtype == .float64 ? .float64 : .float32)
                optimizerTensors[String(entry.name.dropFirst("optimizer.".count))] = noGrad { t.clone() }
            } else {
                weights[entry.name] = noGrad { file.tensor(for: entry).clone() }
            }
        }
        let optimizer: OptimizerState
        do { optimizer = try OptimizerState(flattened: optimizerTensors) } catch {
            throw TrainError.invalidInput("\(path): \(error)")
        }
        return TrainingCheckpoint(
            modelConfig: modelConfig, trainConfig: trainConfig, iteration: try integer("step", Int.self),
            bestValLoss: try parseExact(m["best_val_loss"], key: "best_val_loss", file: path),
            lastTrainLoss: try parseExact(m["last_train_loss"], key: "last_train_loss", file: path),
            lastValLoss: try parseExact(m["last_val_loss"], key: "last_val_loss", file: path),
            dataSeed: try integer("data_seed", UInt64.self), dataOffset: try integer("data_offset", UInt64.self),
            modelSeed: try integer("model_seed", UInt64.self), modelOffset: try integer("model_offset", UInt64.self),
            dataMeta: dataMeta, weights: weights, optimizer: optimizer,
            streamCursor: try m["stream_cursor"].map { _ in try integer("stream_cursor", Int.self) }, carried: carried,
            gradScaler: try m["grad_scaler_scale"].map { _ in
                GradScaler.State(scale: Float(try parseExact(m["grad_scaler_scale"], key: "grad_scaler_scale", file: path)),
                                 growthTracker: try integer("grad_scaler_growth_tracker", Int.self),
                                 skippedSteps: try integer("grad_scaler_skipped_steps", Int.self))
            })
    }
}

/// A trained model read for evaluation or sampling: weights, architecture and (when recorded) the data's meta.json.
public struct LoadedModel {
    public var model: any LanguageModel
    public var trainConfig: TrainConfig?
    public var dataMeta: DataMeta?
    /// The file or directory the weights came from.
    public var path: String
    /// The tokenizer file that came with the model: out_dir's copy of the data directory's tokenizer (char_vocab.json
    /// or tokenizer.json), or a model directory's tokenizer.json.
    public var tokenizerPath: String?
    /// Keys of a model directory's config.json ignored because they do not change the model (Hugging Face directories).
    public var ignoredConfigKeys: [String] = []

    /// Loads a model for evaluation:
    /// - an `lmkit train` out_dir (its model.safetensors, else ckpt.safetensors) or one of those files — the GPT
    ///   config, training config and data meta.json come from the safetensors metadata, optimizer tensors are skipped;
    /// - any other directory with config.json: a Hugging Face model directory (GPT-2, Llama) or the nanoGPT layout
    ///   `lmkit convert` writes, read by LMModels' `ModelDirectoryConversion`.
    public static func load(_ path: String) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainError.invalidInput("\(path): no such checkpoint file or directory")
        }
        var file = path
        if isDirectory.boolValue {
            let candidates = [TrainingCheckpoint.modelFileName, TrainingCheckpoint.fileName].map { (path as NSString).appendingPathComponent($0) }
            let trained = candidates.first { FileManager.default.fileExists(atPath: $0) && ((try? SafetensorsFile(path: $0))?.metadata["train_config"] != nil) }
            if let trained {
                file = trained
            } else if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json")) {
                let loaded: LoadedModelDirectory
                do { loaded = try ModelDirectoryConversion.load(path) } catch { throw TrainError.invalidInput("\(error)") }
                return LoadedModel(model: loaded.model, trainConfig: nil, dataMeta: nil, path: path, tokenizerPath: loaded.tokenizerPath,
                                   ignoredConfigKeys: loaded.ignoredConfigKeys)
            } else {
                throw TrainError.invalidInput("\(path): neither an `lmkit train` out_dir (\(TrainingCheckpoint.modelFileName)) nor a model directory with config.json")
            }
        }
        let st: SafetensorsFile
        do { st = try SafetensorsFile(path: file) } catch { throw TrainError.invalidInput("\(error)") }
        guard let configText = st.metadata["config"] else {
            throw TrainError.invalidInput("\(file): metadata has no \"config\" (the model architecture); not a checkpoint written by `lmkit train` (for a model directory pass the directory)")
        }
        let config: any ModelConfiguration
        do { config = try ModelRegistry.decodeConfig(Data(configText.utf8), source: "\(file): metadata config") } catch {
            throw TrainError.invalidInput("\(error)")
        }
        var weights: [String: Tensor] = [:]
        for entry in st.entries where !entry.name.hasPrefix("optimizer.") && !entry.name.hasPrefix("carried.") { weights[entry.name] = st.tensor(for: entry) }
        let model: any LanguageModel
        do { model = try ModelRegistry.loadModel(config, stateDict: weights, source: file) } catch { throw TrainError.invalidInput("\(error)") }
        let trainConfig = st.metadata["train_config"].flatMap { try? TrainConfig.decode(Data($0.utf8), source: file) }
        let meta = st.metadata["data_meta"].flatMap { try? JSONDecoder().decode(DataMeta.self, from: Data($0.utf8)) }
        let directory = (file as NSString).deletingLastPathComponent
        let tokenizerPath = [meta?.tokenizerFile, TokenizerFileName.characterVocabulary, TokenizerFileName.huggingFace]
            .compactMap { $0 }.map { (directory as NSString).appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0) }
        return LoadedModel(model: model, trainConfig: trainConfig, dataMeta: meta, path: file, tokenizerPath: tokenizerPath)
    }
}

extension LoadedModel {
    /// The tokenizer for this model: `override` (a tokenizer file, or `char` for the vocabulary of the model's data
    /// directory), else the tokenizer.json that came with a model directory, else the data directory's tokenizer
    /// recorded in the checkpoint.
    public func textTokenizer(override: String?) throws -> any Tokenizer {
        if let override, override != "char" { return try loadTokenizer(override) }
        if override == nil, let file = tokenizerPath { return try loadTokenizer(file) }
        guard let dataDir = trainConfig?.dataDir else {
            throw TrainError.invalidInput("\(path) does not record its data directory; pass --tokenizer FILE")
        }
        do { return try loadTokenizer(dataDir) } catch {
            throw TrainError.invalidInput("the model's tokenizer comes from its data directory \(dataDir), which cannot be read (\(error)); pass --tokenizer FILE")
        }
    }
}
