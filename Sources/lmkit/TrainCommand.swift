// `lmkit train --config FILE.json [--key value ...] [--resume]`: nanoGPT's train.py from the command line. Prints the
// resolved config, draws a progress bar (step, loss, tokens/s, ETA, last val loss), prints nanoGPT-style eval lines.
// Ctrl-C stops after the current step (a second Ctrl-C exits at once); checkpoints are written atomically either way.
import ArgumentParser
import Foundation
import LMTrain
import LMBenchmarks
import LMDistributed
import LMTokenizers

/// Set by SIGINT; read by the training loop between steps.
nonisolated(unsafe) private var interruptRequested: Int32 = 0

private func installInterruptHandler() {
    signal(SIGINT) { _ in
        if interruptRequested != 0 { _exit(130) }  // second Ctrl-C: files on disk are complete (atomic renames)
        interruptRequested = 1
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a GPT on a prepared data directory (nanoGPT train.py).",
        discussion: """
        Every key of the JSON config can be overridden: --max_iters 100 --learning_rate=3e-4 (dashes or underscores). \
        Writes out_dir/ckpt.safetensors (resumable), out_dir/model.safetensors (weights), loss.csv and loss.svg.
        """)

    @Option(help: "JSON training config (nanoGPT keys); omitted: nanoGPT's defaults.") var config: String?
    @Flag(help: "Continue from out_dir/ckpt.safetensors (init_from=resume), bit-identically to an uninterrupted run.") var resume = false
    @Flag(help: "No progress bar.") var quiet = false
    @Argument(parsing: .allUnrecognized, help: "Config overrides: --key value or --key=value.") var overrides: [String] = []

    func run() throws {
        // Eval and checkpoint lines appear at once in a log file or `| tee`, not when a 4 KB buffer fills.
        setvbuf(stdout, nil, _IOLBF, 0)
        // Under mpirun: rank 0 prints for the job; any rank's error stops every rank with its message (Docs/Distributed.md).
        let world = MPIWorld.launched
        if let world, world.rank != 0 { _ = freopen("/dev/null", "w", stdout) }
        defer { world?.finalize() }  // reached only when every rank ends the same way (done, or Ctrl-C at the same step)
        try reportingErrors {
            do { try train(group: world) } catch {
                // Another rank would wait forever in its next collective: end them all, saying which rank failed and why.
                if let world, world.size > 1, !(error is ExitCode) { world.abort("\(error)") }
                throw error
            }
        }
    }

    private func train(group: MPIWorld?) throws {
        do {
            var resolved = try TrainConfig.load(path: config, overrides: overrides)
            if resume { resolved.initFrom = "resume" }
            print("config:\n\(resolved.jsonString())")
            let trainer = try Trainer(config: resolved, group: group)
            if let meta = trainer.dataMeta {
                // The tokenizer travels into out_dir for eval and sample: say now if it will not load there.
                do {
                    let tokenizer = try loadTokenizer(resolved.dataDir)
                    print("tokenizer: \(meta.tokenizer) (\(meta.tokenizerFile)), \(tokenizer.vocabularySize) ids")
                } catch {
                    print("warning: the data directory's tokenizer does not load (\(error)); eval and sample will need --tokenizer")
                }
            }
            // nanoGPT reports parameters without the learned position table; so does this line, for any family that has one.
            let positions = trainer.model.namedParameters().first { $0.name.hasSuffix("wpe.weight") }?.tensor.count ?? 0
            print("model: \(type(of: trainer.modelConfig).modelType); number of parameters: "
                  + "\(String(format: "%.2f", Double(trainer.model.parameterCount - positions) / 1e6))M"
                  + (positions > 0 ? " (\(trainer.model.parameterCount) with position embeddings)" : ""))
            print("tokens per iteration will be: \(resolved.tokensPerIteration)")
            installInterruptHandler()
            trainer.shouldStop = { interruptRequested != 0 }
            let bar = ProgressBar("train", enabled: !quiet)
            var lastVal: Double?
            var secondsPerStep: Double?
            var stepsDone = 0
            trainer.onEvent = { event in
                switch event {
                case let .step(iteration, loss, lr, tokensPerSecond, seconds):
                    stepsDone += 1
                    // Exponential average after a short warm start, so the ETA settles quickly and follows slowdowns.
                    secondsPerStep = secondsPerStep.map { stepsDone < 5 ? ($0 * Double(stepsDone - 1) + seconds) / Double(stepsDone) : 0.9 * $0 + 0.1 * seconds } ?? seconds
                    let remaining = Double(resolved.maxIters - iteration) * (secondsPerStep ?? 0)
                    let val = lastVal.map { String(format: " val %.4f", $0) } ?? ""
                    bar.update(Double(iteration) / Double(max(resolved.maxIters, 1)),
                               String(format: "step %d/%d loss %.4f lr %.2e %.0f tok/s ETA %@%@", iteration, resolved.maxIters, loss, lr,
                                      tokensPerSecond, formatDuration(remaining), val))
                case let .eval(iteration, trainLoss, valLoss):
                    lastVal = valLoss
                    bar.finish()
                    print(String(format: "step %d: train loss %.4f, val loss %.4f", iteration, trainLoss, valLoss))
                case let .maskedAccuracy(iteration, train, val):
                    print(String(format: "step %d: train masked-token accuracy %.4f, val masked-token accuracy %.4f", iteration, train, val))
                case let .statistics(iteration, values):
                    bar.finish()
                    print("step \(iteration): " + values.map { String(format: "%@ %.4f", $0.0, $0.1) }.joined(separator: ", "))
                case let .checkpoint(iteration, path):
                    print("saving checkpoint to \(path) (step \(iteration))")
                case let .message(text):
                    print(text)
                }
            }
            let result = try trainer.run()
            bar.finish()
            if let reducer = trainer.reducer {
                let started = reducer.bucketsStarted
                print("gradient buckets: \(started.duringBackward) of \(started.total) started while backward was running; "
                      + String(format: "%.3f s waiting for them after backward (%.3f s per step)", reducer.exposedSeconds,
                               reducer.exposedSeconds / Double(max(stepsDone, 1))))
            }
            if result.interrupted {
                let checkpoint = (resolved.outDir as NSString).appendingPathComponent(TrainingCheckpoint.fileName)
                if FileManager.default.fileExists(atPath: checkpoint) {
                    print("interrupted at step \(result.iteration); the last checkpoint is in \(resolved.outDir) (continue with --resume)")
                } else {
                    print("interrupted at step \(result.iteration), before the first checkpoint (step \(resolved.evalInterval)); nothing to resume from")
                }
                throw ExitCode(130)
            }
            print(String(format: "done: %d steps, best val loss %.4f; loss curve in %@/loss.csv and loss.svg", result.iteration, result.bestValLoss, resolved.outDir))
        }
    }
}

/// "1h02m", "3m20s", "42s".
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}
