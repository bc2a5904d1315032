// The training loop of nanoGPT's train.py: get_lr warmup + cosine, eval every eval_interval steps (estimate_loss: mean
// of eval_iters batches of train and val in eval mode), checkpoint when val improves or always_save_checkpoint,
// gradient accumulation (loss / steps), global-norm clipping, AdamW with decay only on ≥2-D tensors.
// Departures, on purpose: the loop runs exactly max_iters optimizer steps and evaluates + checkpoints at max_iters
// (nanoGPT runs one more step after its last checkpoint, which is never saved); a resumed run skips the eval at its
// first step because the checkpoint already holds it, which is what makes resume bit-identical (nanoGPT re-evaluates
// and so draws different batches afterwards). The logged train loss is the mean over micro-steps.
// dtype bfloat16/float16 (nanoGPT's `ctx = torch.amp.autocast(...)` and `scaler = torch.cuda.amp.GradScaler(...)`):
// forward passes (training and eval) run under Autocast; float16 scales the loss and unscales before clipping, and a
// step with inf/NaN gradients is skipped (logged) while the iteration and its lr schedule move on, as in nanoGPT.
import Foundation
import _LMSupport
import LMModels
import LMOptim
import LMTensor
import LMTokenizers

/// What the loop reports to its caller (the CLI draws the progress bar from these).
public enum TrainEvent {
    /// After an optimizer step: step number done (1-based count), its loss, lr, tokens/s of the step, seconds per step.
    case step(iteration: Int, loss: Double, learningRate: Double, tokensPerSecond: Double, seconds: Double)
    /// After an eval at `iteration`.
    case eval(iteration: Int, trainLoss: Double, valLoss: Double)
    /// Right after `.eval`, for a masked LM: the masked-token accuracy of the same eval batches (run_mlm's eval_accuracy).
    case maskedAccuracy(iteration: Int, train: Double, val: Double)
    /// At a log step, the model's own numbers (`TrainingStatisticsReporting`: a mixture of experts' router losses and
    /// expert usage), covering the steps since the previous report.
    case statistics(iteration: Int, [(String, Double)])
    /// A checkpoint was written at `iteration`.
    case checkpoint(iteration: Int, path: String)
    /// A line worth printing (resume notes, stop reason).
    case message(String)
}

/// The outcome of `Trainer.run()`.
public struct TrainResult {
    public var iteration: Int
    public var bestValLoss: Double
    public var lastTrainLoss: Double?
    public var lastValLoss: Double?
    /// Stopped early by `shouldStop` (Ctrl-C).
    public var interrupted: Bool
}

/// One training run on a prepared data directory.
public final class Trainer {
    public let config: TrainConfig
    public let modelConfig: any ModelConfiguration
    public let model: any LanguageModel
    public let optimizer: AdamW
    /// Products' dtype under Autocast (config dtype bfloat16/float16), nil for float32.
    public let autocastDType: DType?
    /// dtype float16: dynamic loss scaling (its state is in checkpoints).
    public let gradScaler: GradScaler?
    public let dataMeta: DataMeta?
    /// Init and dropout randomness (shared by every Dropout layer of the model).
    public let modelGenerator: Generator
    /// get_batch randomness for both splits.
    public let dataGenerator: Generator
    public let trainBatches: BatchSampler
    public let valBatches: BatchSampler
    /// data_order "streams": consecutive windows of contiguous streams, and the state the model carries between them.
    public let trainStreams: StreamSampler?
    /// sft_data: training and validation examples, sampled instead of the token files' windows.
    public let sft: (train: SFTExamples, val: SFTExamples)?
    /// Data parallel (DataParallel.swift): the ranks this process trains with; nil trains alone.
    public let group: (any DataParallelGroup)?
    /// Data parallel: the gradient averager (nil when training alone).
    public private(set) var reducer: (any GradientReducer)?
    /// zero_stage 1 under a group: which rank keeps which parameter's optimizer state.
    private var zero: ZeroRedundancy?
    private var carried: [String: Tensor] = [:]
    /// Optimizer steps done (nanoGPT's iter_num).
    public private(set) var iteration = 0
    public private(set) var bestValLoss = 1e9
    /// Set when resumed: the eval of the first iteration comes from the checkpoint.
    private var resumedEval: (train: Double, val: Double)?
    /// Called between steps; returning true stops the run cleanly (the CLI's Ctrl-C flag).
    public var shouldStop: () -> Bool = { false }
    public var onEvent: (TrainEvent) -> Void = { _ in }
    /// Write loss.csv / loss.svg / checkpoints under out_dir (tests may turn it off for pure in-memory runs).
    public var writesFiles = true
    private var lossLog: LossLog?
    /// Notes from setup, reported through `onEvent` when `run()` starts.
    private var pendingMessages: [String] = []

    /// Sets up a run from `config`: a fresh model (init_from "scratch") or the state in out_dir/ckpt.safetensors
    /// (init_from "resume"; the checkpoint's model config wins, as in nanoGPT). With a `group` of N ranks, each trains
    /// on its share of every batch_size batch and gradients are averaged (DataParallel.swift).
    public init(config: TrainConfig, group: (any DataParallelGroup)? = nil) throws {
        let ranks = group?.size ?? 1, rank = group?.rank ?? 0
        if ranks > 1 {
            guard config.batchSize % ranks == 0 else {
                let lower = config.batchSize / ranks * ranks, upper = lower + ranks
                throw TrainError.invalidInput("batch_size \(config.batchSize) is the global micro-batch, split evenly over the \(ranks) ranks of mpirun -np \(ranks); it must be a multiple of \(ranks) (e.g. \(lower > 0 ? "\(lower) or " : "")\(upper))")
            }
            guard config.dataOrder == "random" && config.sftData == nil else {
                throw TrainError.invalidInput("data parallel training (mpirun -np \(ranks)) shards random windows of the token files; \(config.sftData != nil ? "sft_data" : "data_order \"streams\"") trains on one rank only")
            }
        }
        let trainPath = (config.dataDir as NSString).appendingPathComponent("train.bin")
        let valPath = (config.dataDir as NSString).appendingPathComponent("val.bin")
        let trainTokens = try TokenFile(path: trainPath), valTokens = try TokenFile(path: valPath)
        guard trainTokens.vocabularySize == valTokens.vocabularySize else {
            throw TrainError.invalidInput("\(config.dataDir): train.bin has vocabulary size \(trainTokens.vocabularySize) but val.bin \(valTokens.vocabularySize); re-run `lmkit prepare`")
        }
        // A broken or missing meta.json is an error now, not when `sample` needs the tokenizer later.
        dataMeta = try DataMeta.load(directory: config.dataDir)
        var checkpoint: TrainingCheckpoint?
        if config.initFrom == "resume" {
            let path = (config.outDir as NSString).appendingPathComponent(TrainingCheckpoint.fileName)
            guard FileManager.default.fileExists(atPath: path) else {
                throw TrainError.invalidInput("\(path): no checkpoint to resume from (a run saves one at its first eval after step 0)")
            }
            checkpoint = try TrainingCheckpoint.load(file: path)
        }
        // A family that takes defaults or word structure from the data's tokenizer (BERT on WordPiece data) gets it.
        let tokenizerAware = (try? ModelRegistry.family(config.model.modelType, source: "model_type")) as? any TokenizerAwareTraining.Type
        var tokenizer: (any Tokenizer)? = nil
        if tokenizerAware != nil, let meta = dataMeta {
            do { tokenizer = try loadTokenizer(config.dataDir) } catch {
                throw TrainError.invalidInput("\(config.dataDir): the \(meta.tokenizer) tokenizer does not load (\(error))")
            }
        }
        let modelConfig: any ModelConfiguration
        do {
            let defaults = tokenizerAware.flatMap { family in tokenizer.map { family.trainingDefaults(tokenizer: $0) } } ?? [:]
            modelConfig = try checkpoint?.modelConfig ?? config.modelConfig(vocabularySize: trainTokens.vocabularySize, defaults: defaults)
        } catch let error as ConfigError { throw TrainError.invalidInput(error.description) }
        guard modelConfig.vocabularySize >= trainTokens.vocabularySize else {
            throw TrainError.invalidInput("the model's vocab_size \(modelConfig.vocabularySize) is smaller than the data's vocabulary \(trainTokens.vocabularySize) (\(config.dataDir))")
        }
        self.config = config
        self.modelConfig = modelConfig
        self.group = group
        // Dropout differs per rank (nanoGPT's seed + seed_offset); the initial weights are rank 0's (broadcast below).
        modelGenerator = Generator(seed: (checkpoint?.modelSeed ?? config.seed) &+ UInt64(rank))
        dataGenerator = Generator(seed: checkpoint?.dataSeed ?? config.seed &+ 1)
        // Refuse what cannot fit before anything is allocated (batch, model, optimizer state).
        let tokens = Double(config.batchSize / ranks) * Double(config.blockSize)
        guard tokens <= Double(Int.max / 16) else {
            throw TrainError.invalidInput("batch_size \(config.batchSize) × block_size \(config.blockSize) tokens per micro-batch is beyond any machine's memory")
        }
        do {
            try ModelRegistry.checkMemory(modelConfig, trainingTokens: Int(tokens))
        } catch let error as ConfigError { throw TrainError.invalidInput(error.description) }
        if let bytes = ModelRegistry.estimatedBytes(modelConfig, trainingTokens: Int(tokens)) {
            pendingMessages.append(String(format: "estimated training memory %.1f MB", bytes / 1e6))
        }
        do { model = try ModelRegistry.makeModel(modelConfig, generator: modelGenerator) } catch let error as ConfigError {
            throw TrainError.invalidInput(error.description)
        }
        if config.gradientCheckpointing && model.setGradientCheckpointing(true) == 0 {
            throw TrainError.invalidInput("gradient_checkpointing: a \(type(of: modelConfig).modelType) model has no blocks that can be checkpointed (gpt, bert, masked-diffusion, mamba, s4d and flash have them)")
        }
        if let aware = model as? any TokenizerAwareTraining {
            do { try aware.prepareForTraining(tokenizer: tokenizer) } catch { throw TrainError.invalidInput("\(error)") }
        }
        let groups = ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: config.learningRate, weightDecay: config.weightDecay,
                                                    exempt: model.noWeightDecayParameterNames())
        optimizer = AdamW(groups: groups, beta1: config.beta1, beta2: config.beta2)
        autocastDType = config.dtype == "float32" ? nil : DType(rawValue: config.dtype)
        gradScaler = config.dtype == "float16" ? GradScaler() : nil
        if let low = autocastDType {
            pendingMessages.append("dtype \(low): products in \(low) with float32 accumulation, float32 weights and optimizer state" +
                                   (gradScaler == nil ? "" : "; loss scaling from \(Int(gradScaler!.scale))"))
        }
        trainBatches = try BatchSampler(tokens: trainTokens, batchSize: config.batchSize, blockSize: config.blockSize, generator: dataGenerator)
        valBatches = try BatchSampler(tokens: valTokens, batchSize: config.batchSize, blockSize: config.blockSize, generator: dataGenerator)
        trainBatches.shard = (rank, ranks)
        valBatches.shard = (rank, ranks)
        if config.dataOrder == "streams" {
            guard model is any CarriedStateTraining else {
                throw TrainError.invalidInput("data_order \"streams\" needs a model that carries state between windows (lstm, gru, rnn); model_type \"\(type(of: modelConfig).modelType)\" does not")
            }
            trainStreams = try StreamSampler(tokens: trainTokens, batchSize: config.batchSize, blockSize: config.blockSize)
        } else {
            trainStreams = nil
        }
        if let context = modelConfig.contextLength, config.blockSize > context {
            throw TrainError.invalidInput("block_size \(config.blockSize) exceeds the model's block_size \(context)")
        }
        sft = try config.sftData.map { try Self.loadSFT($0, config: config, modelConfig: modelConfig) }
        if let sft { pendingMessages.append("SFT on \(sft.train.count) examples of \(sft.train.source), validation on \(sft.val.count)") }
        if let checkpoint {
            do {
                try model.load(checkpoint.weights, source: TrainingCheckpoint.fileName)
                try optimizer.loadStateDict(checkpoint.optimizer)
                if let gradScaler, let state = checkpoint.gradScaler { try gradScaler.load(state) }
            } catch { throw TrainError.invalidInput("\(config.outDir)/\(TrainingCheckpoint.fileName): \(error)") }
            modelGenerator.offset = checkpoint.modelOffset
            dataGenerator.offset = checkpoint.dataOffset
            trainStreams?.cursor = checkpoint.streamCursor ?? 0
            carried = checkpoint.carried
            iteration = checkpoint.iteration
            bestValLoss = checkpoint.bestValLoss
            resumedEval = (checkpoint.lastTrainLoss, checkpoint.lastValLoss)
            // As nanoGPT, the architecture comes from the checkpoint; say so when the config asked for another one.
            if let asked = try? config.modelConfig(vocabularySize: trainTokens.vocabularySize), !ModelRegistry.same(asked, modelConfig) {
                let a = ((try? ModelRegistry.jsonObject(asked)) ?? [:]).compactMapValues { $0 as? AnyHashable }
                let c = ((try? ModelRegistry.jsonObject(modelConfig)) ?? [:]).compactMapValues { $0 as? AnyHashable }
                let keys = Set(a.keys).union(c.keys).filter { a[$0] != c[$0] }.sorted()
                pendingMessages.append("the model keys \(keys.joined(separator: ", ")) differ from the checkpoint's; the checkpoint's architecture is used")
            }
        }
        if let group, ranks > 1 {
            group.broadcast(model.parameters(), root: 0)
            reducer = group.makeGradientReducer(parameters: model.parameters(), bucketBytes: Int(config.ddpBucketCapMB * 1e6))
            if config.zeroStage == 1 {
                let zero = ZeroRedundancy(parameters: model.namedParameters(), rank: rank, ranks: ranks)
                try optimizer.loadStateDict(zero.localShare(of: optimizer.stateDict()))  // a resumed full state: keep this rank's share
                self.zero = zero
                let share = zero.ownedShare
                pendingMessages.append("ZeRO stage 1: rank 0 keeps the optimizer state of \(share.owned) of \(share.total) parameter values")
            }
            pendingMessages.append("data parallel over \(ranks) ranks: \(config.batchSize / ranks) of each batch_size \(config.batchSize) rows per rank, gradients averaged in buckets of \(config.ddpBucketCapMB) MB")
        }
    }

    /// nanoGPT's estimate_loss(): mean loss of eval_iters batches per split, in eval mode, without gradients. A model
    /// that reports an accuracy (`AccuracyReporting`: a masked LM's masked-token accuracy) gives it for the same batches.
    public func estimateLoss() -> (train: Double, val: Double, maskedAccuracy: (train: Double, val: Double)?) {
        model.eval()
        defer { model.train() }
        let reporting = model as? any AccuracyReporting
        return Autocast.with(autocastDType) { noGrad {
            func mean(_ next: () -> TokenBatch) -> (loss: Double, accuracy: Double?) {
                var total = 0.0, correct = 0.0, count = 0, reported = false
                for _ in 0..<config.evalIters {
                    let batch = next()
                    if let m = reporting?.lossAndAccuracy(batch, generator: modelGenerator) {
                        total += m.loss; correct += m.accuracy * Double(m.count); count += m.count; reported = true
                    } else {
                        total += Double(model.loss(batch, generator: modelGenerator).item())
                    }
                }
                // Data parallel: every rank evaluated its share of the same batches; average over all of them.
                var sums = [total, correct, Double(count)]
                if let group, group.size > 1 { group.allreduceSum(&sums) }
                let ranks = Double(group?.size ?? 1)
                return (sums[0] / (Double(config.evalIters) * ranks), reported ? sums[1] / Swift.max(sums[2], 1) : nil)
            }
            if let sft {
                let train = mean { sft.train.batch(config.batchSize, generator: dataGenerator) }
                return (train.loss, mean { sft.val.batch(config.batchSize, generator: dataGenerator) }.loss, nil)
            }
            let train = mean { batch(trainBatches) }, val = mean { batch(valBatches) }
            guard let trainAccuracy = train.accuracy, let valAccuracy = val.accuracy else { return (train.loss, val.loss, nil) }
            return (train.loss, val.loss, (trainAccuracy, valAccuracy))
        } }
    }

    /// sft_data (and sft_val_data, else the last 10 % of sft_data's examples) tokenized with data_dir's tokenizer,
    /// each response ended and padded with sft_eos or the tokenizer's end-of-text token.
    static func loadSFT(_ path: String, config: TrainConfig, modelConfig: any ModelConfiguration) throws -> (train: SFTExamples, val: SFTExamples) {
        guard modelConfig is GPTConfig || modelConfig is MaskedDiffusionConfig else {
            throw TrainError.invalidInput("sft_data: supervised fine-tuning is for gpt and masked-diffusion models, not \(type(of: modelConfig).modelType)")
        }
        let tokenizer: any Tokenizer
        do { tokenizer = try loadTokenizer(config.dataDir) } catch { throw TrainError.invalidInput("sft_data needs data_dir's tokenizer: \(error)") }
        let endOfText: Int
        if let text = config.sftEOS {
            let ids = (try? tokenizer.encode(text)) ?? []
            guard ids.count == 1, let id = ids.first else {
                throw TrainError.invalidInput("sft_eos \(String(reflecting: text)) must be one token of data_dir's tokenizer; it encodes to \(ids.count) tokens")
            }
            endOfText = id
        } else {
            guard let id = tokenizer.endOfTextID else {
                throw TrainError.invalidInput("sft_data: data_dir's tokenizer has no end-of-text token (<|endoftext|>, </s>, <eos>) to end responses with; set sft_eos to the text of one token (e.g. \"\\n\")")
            }
            endOfText = id
        }
        let examples = try SFTExamples(path: path, tokenizer: tokenizer, endOfText: endOfText, length: config.blockSize)
        if let validation = config.sftValData {
            return (examples, try SFTExamples(path: validation, tokenizer: tokenizer, endOfText: endOfText, length: config.blockSize))
        }
        guard examples.count >= 2 else {
            throw TrainError.invalidInput("\(path): one example cannot be split into training and validation; add examples or give sft_val_data")
        }
        let held = Swift.max(1, examples.count / 10)
        return (examples.subset(0..<(examples.count - held)), examples.subset((examples.count - held)..<examples.count))
    }

    /// The next batch of `sampler` (nanoGPT's get_batch: inputs and the next tokens).
    func batch(_ sampler: BatchSampler) -> TokenBatch {
        let (x, y) = sampler.next()
        return TokenBatch(inputs: x, targets: y, batch: sampler.rowsPerBatch, length: config.blockSize)
    }

    /// One optimizer step at the current lr: gradient_accumulation_steps micro-batches, clip, AdamW. Returns the mean loss.
    func step() -> Double {
        let accumulation = config.gradientAccumulationSteps
        var total = 0.0
        for micro in 0..<accumulation {
            // Data parallel: only the last micro-step's backward communicates (DDP's no_sync before it).
            reducer?.prepareBackward(synchronize: micro == accumulation - 1)
            func forward() -> Tensor {
                if let streams = trainStreams, let stateful = model as? any CarriedStateTraining {
                    // Truncated BPTT: this window continues the last one's state (dropped when the streams restart).
                    let (x, y, restart) = streams.next()
                    if restart { carried = [:] }
                    let (loss, state) = stateful.loss(TokenBatch(inputs: x, targets: y, batch: config.batchSize, length: config.blockSize),
                                                      generator: modelGenerator, carried: carried)
                    carried = state
                    return loss
                }
                return model.loss(sft?.train.batch(config.batchSize, generator: dataGenerator) ?? batch(trainBatches), generator: modelGenerator)
            }
            var loss = Autocast.with(autocastDType, forward)
            total += Double(loss.item())
            if accumulation > 1 { loss = loss / Double(accumulation) }
            (gradScaler?.scaled(loss) ?? loss).backward()
        }
        reducer?.finishBackward()
        var mean = [total / Double(accumulation)]
        if let group, group.size > 1 {
            group.allreduceSum(&mean)
            mean[0] /= Double(group.size)
        }
        gradScaler?.unscale(optimizer)  // before clipping, so grad_clip applies to the true gradients
        if config.gradClip != 0 {
            _ = try? GradientClipping.clipGradientNorm(model.parameters(), maxNorm: config.gradClip)
        }
        zero?.dropForeignGradients()
        if let gradScaler {
            if !gradScaler.step(optimizer) {
                onEvent(.message("step \(iteration): inf/NaN gradients at loss scale \(Int(gradScaler.scale)), optimizer step skipped (\(gradScaler.skippedSteps) so far)"))
            }
            gradScaler.update()
        } else {
            optimizer.step()
        }
        if let zero, let group { zero.gatherParameters(group) }
        optimizer.zeroGrad()
        return mean[0]
    }

    /// The state to checkpoint now (after the eval at `iteration`).
    public func checkpointState(lastEval: (train: Double, val: Double)) -> TrainingCheckpoint {
        TrainingCheckpoint(modelConfig: modelConfig, trainConfig: config, iteration: iteration, bestValLoss: bestValLoss,
                           lastTrainLoss: lastEval.train, lastValLoss: lastEval.val, dataSeed: dataGenerator.seed,
                           dataOffset: dataGenerator.offset, modelSeed: modelGenerator.seed, modelOffset: modelGenerator.offset,
                           dataMeta: dataMeta, weights: model.stateDict(),
                           optimizer: zero.map { $0.gatherState(optimizer.stateDict(), fields: optimizer.stateFields, group: group!) } ?? optimizer.stateDict(),
                           streamCursor: trainStreams?.cursor, carried: carried, gradScaler: gradScaler?.state)
    }

    /// Runs until max_iters (or eval_only, or `shouldStop`). Files go to out_dir.
    public func run() throws -> TrainResult {
        var outDirLock: DirectoryLock?
        defer { outDirLock?.release() }
        let writesFiles = self.writesFiles && (group?.rank ?? 0) == 0  // data parallel: rank 0 writes for all
        if writesFiles {
            do { try FileManager.default.createDirectory(atPath: config.outDir, withIntermediateDirectories: true) } catch {
                throw TrainError.invalidInput("\(config.outDir): cannot create out_dir (\(error.localizedDescription))")
            }
            // One run per out_dir: a second run would mix checkpoints and tear loss.csv. Held until run() returns.
            outDirLock = try rethrowingFileErrors(as: { TrainError.invalidInput("out_dir \($0.description)") }) {
                try DirectoryLock(directory: config.outDir)
            }
            lossLog = try LossLog(directory: config.outDir, resumeStep: resumedEval == nil ? nil : iteration)
            // out_dir carries its tokenizer, so eval and sampling work wherever the data directory is (or is not).
            if let meta = dataMeta, let bytes = FileManager.default.contents(atPath: (config.dataDir as NSString).appendingPathComponent(meta.tokenizerFile)) {
                try writeAtomically([UInt8](bytes), to: (config.outDir as NSString).appendingPathComponent(meta.tokenizerFile))
            }
        }
        for message in pendingMessages { onEvent(.message(message)) }
        if resumedEval != nil { onEvent(.message("resuming at step \(iteration) (best val loss \(String(format: "%.4f", bestValLoss)))")) }
        var lastTrain: Double?, pendingVal: Double?, lastVal: Double?
        var interrupted = false
        let title = "\(type(of: modelConfig).modelType), \(String(format: "%.2f", Double(model.parameterCount) / 1e6))M parameters, on \(config.dataDir)"
        while true {
            let lr = config.learningRate(at: iteration)
            optimizer.setLearningRate(lr)
            let evalStep = iteration % config.evalInterval == 0 || iteration == config.maxIters
            if evalStep || config.evalOnly {
                let losses: (train: Double, val: Double)
                if let resumed = resumedEval, !config.evalOnly {
                    losses = resumed
                    onEvent(.eval(iteration: iteration, trainLoss: losses.train, valLoss: losses.val))
                } else {
                    let estimate = estimateLoss()
                    losses = (estimate.train, estimate.val)
                    onEvent(.eval(iteration: iteration, trainLoss: losses.train, valLoss: losses.val))
                    if let gradScaler { onEvent(.message("loss scale \(Int(gradScaler.scale)), \(gradScaler.skippedSteps) steps skipped so far")) }
                    if let accuracy = estimate.maskedAccuracy {
                        onEvent(.maskedAccuracy(iteration: iteration, train: accuracy.train, val: accuracy.val))
                    }
                    guard losses.train.isFinite && losses.val.isFinite else {
                        throw TrainError.invalidInput("eval at step \(iteration) gave a non-finite loss (train \(losses.train), val \(losses.val)); stopped without saving, the last finite checkpoint is kept (lower learning_rate?)")
                    }
                    if losses.val < bestValLoss || config.alwaysSaveCheckpoint {
                        bestValLoss = losses.val
                        // ZeRO: every rank takes part in gathering the optimizer state that rank 0 writes.
                        if iteration > 0 && (writesFiles || zero != nil) {
                            let state = checkpointState(lastEval: losses)
                            if writesFiles {
                                try state.write(directory: config.outDir)
                                onEvent(.checkpoint(iteration: iteration, path: (config.outDir as NSString).appendingPathComponent(TrainingCheckpoint.fileName)))
                            }
                        }
                    }
                }
                pendingVal = losses.val
                lastVal = losses.val
            }
            resumedEval = nil
            if config.evalOnly || iteration >= config.maxIters {
                if let pending = pendingVal { lossLog?.append(LossRow(step: iteration, trainLoss: nil, valLoss: pending, learningRate: lr, tokensPerSecond: nil)) }
                break
            }
            var stop = [shouldStop() ? 1.0 : 0]
            if let group, group.size > 1 { group.allreduceSum(&stop) }  // all ranks stop at the same step or none does
            if stop[0] > 0 {
                interrupted = true
                break
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let loss = step()
            guard loss.isFinite else {
                throw TrainError.invalidInput("step \(iteration) gave a non-finite loss (\(loss)); stopped, the last finite checkpoint is kept (lower learning_rate?)")
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let tokensPerSecond = Double(config.tokensPerIteration) / max(seconds, 1e-9)
            if iteration % config.logInterval == 0 || pendingVal != nil {
                lossLog?.append(LossRow(step: iteration, trainLoss: loss, valLoss: pendingVal, learningRate: lr, tokensPerSecond: tokensPerSecond))
            }
            if pendingVal != nil { try? lossLog?.writeChart(title: title) }
            pendingVal = nil
            lastTrain = loss
            iteration += 1
            onEvent(.step(iteration: iteration, loss: loss, learningRate: lr, tokensPerSecond: tokensPerSecond, seconds: seconds))
            if (iteration - 1) % config.logInterval == 0, let statistics = (model as? any TrainingStatisticsReporting)?.trainingStatistics(),
               !statistics.isEmpty {
                onEvent(.statistics(iteration: iteration, statistics))
            }
        }
        try? lossLog?.writeChart(title: title)
        return TrainResult(iteration: iteration, bestValLoss: bestValLoss, lastTrainLoss: lastTrain, lastValLoss: lastVal, interrupted: interrupted)
    }
}
