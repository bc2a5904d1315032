// `lmkit bench ssm`: wiring onto LMBenchmarks.SSMBenchmark (selective scan and Mamba mixer vs PyTorch, decode latency).
import ArgumentParser
import Foundation
import LMBenchmarks
import LMKernels

struct BenchSSMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssm",
        abstract: "Selective scan and Mamba mixer fwd+bwd (float32) vs mamba-minimal-style PyTorch and transformers' MambaMixer (same threads, same command); Mamba decode latency per token.")

    @Option(help: "Thread counts to run, comma-separated.") var threads: String = "1,2"
    @Option(help: "Batch size B.") var batch: Int = 4
    @Option(help: "Sequence length L.") var length: Int = 1024
    @Option(help: "Scan channels D (the mixer's d_inner; its d_model is D/2).") var channels: Int = 768
    @Option(help: "State size N.") var state: Int = 16
    @Option(help: "Timed runs per measurement (median is reported).") var runs: Int = 3
    @Option(help: "Alternating LMKit/torch rounds; the best median of each side is summarized.") var rounds: Int = 1
    @Flag(inversion: .prefixedNo, help: "Run the PyTorch references.") var reference: Bool = true
    @Option(name: .customLong("decode-contexts"),
            help: "Instead: LMKit decode seconds per token at batch 1 after these context lengths (comma-separated).")
    var decodeContexts: String?
    @Option(name: .customLong("decode-width"), help: "d_model of the decode model.") var decodeWidth: Int = 768
    @Option(name: .customLong("decode-layers"), help: "Layers of the decode model.") var decodeLayers: Int = 4

    func validate() throws {
        for (name, value) in [("--batch", batch), ("--length", length), ("--channels", channels), ("--state", state), ("--runs", runs),
                              ("--rounds", rounds), ("--decode-width", decodeWidth), ("--decode-layers", decodeLayers)] where value < 1 {
            throw ValidationError("\(name): expected a positive integer, got \(value)")
        }
        if channels % 2 != 0 { throw ValidationError("--channels: expected an even number (the mixer's d_model is D/2), got \(channels)") }
    }

    func run() throws {
        let counts = try parsePositiveIntegers(threads)
        #if DEBUG
        print("warning: this is a debug build; benchmark numbers are meaningless (use `swift build -c release`)")
        #endif
        if let decodeContexts {
            let contexts = try parsePositiveIntegers(decodeContexts, flag: "--decode-contexts")
            for n in counts {
                Parallel.threadCount = n
                let seconds = SSMBenchmark.decodeSeconds(dModel: decodeWidth, layers: decodeLayers, contexts: contexts, tokens: 32)
                for c in contexts {
                    print(String(format: "decode, %d thread(s), d_model %d, %d layers: context %d: %.3f ms/token", n, decodeWidth,
                                 decodeLayers, c, seconds[c]! * 1e3))
                }
            }
            return
        }
        let shape = SSMBenchmark.Shape(batch: batch, length: length, channels: channels, state: state)
        for n in counts { try SSMBenchmark.run(threads: n, shape: shape, runs: runs, rounds: rounds, reference: reference) }
    }
}
