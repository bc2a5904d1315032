// `lmkit bench ssm`: wiring onto LMBenchmarks.SSMBenchmark (selective scan and Mamba mixer vs PyTorch, decode latency).
import ArgumentParser
import Foundation
import LMBenchmarks
import LMKernels
import LMModels

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
    @Option(name: .customLong("decode-configs"),
            help: "With --decode-contexts: decode the models of these training configs (comma-separated JSON files, random weights, vocabulary 65) instead of the Mamba of --decode-width/--decode-layers.")
    var decodeConfigs: String?
    @Option(name: .customLong("conv-lengths"),
            help: "Instead: S4D's convolution (kernel as long as the sequence) fwd+bwd, direct vs FFTW, at these lengths (comma-separated), with --batch and --channels.")
    var convLengths: String?

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
            let contexts = try parsePositiveIntegers(decodeContexts, flag: "--decode-contexts"), tokens = 32
            let models: [(String, any LanguageModel)] = try decodeConfigs.map { list in
                try list.split(separator: ",").map { path in
                    (String(path), try SSMBenchmark.model(trainingConfig: String(path), vocabularySize: 65, blockSize: contexts.max()! + tokens + 1))
                }
            } ?? [("mamba d_model \(decodeWidth), \(decodeLayers) layers", SSMBenchmark.mamba(dModel: decodeWidth, layers: decodeLayers))]
            for n in counts {
                Parallel.threadCount = n
                for (name, model) in models {
                    guard let seconds = SSMBenchmark.decodeSeconds(model, contexts: contexts, tokens: tokens) else {
                        throw ValidationError("\(name): model_type \(type(of: model.config).modelType) has no incremental decoding")
                    }
                    let parameters = model.namedParameters().reduce(0) { $0 + $1.tensor.count }
                    for c in contexts {
                        print(String(format: "decode, %d thread(s), %@ (%@, %d parameters): context %d: %.3f ms/token (%.1f tokens/s)", n, name,
                                     type(of: model.config).modelType, parameters, c, seconds[c]! * 1e3, 1 / seconds[c]!))
                    }
                }
            }
            return
        }
        if let convLengths {
            for n in counts {
                Parallel.threadCount = n
                for L in try parsePositiveIntegers(convLengths, flag: "--conv-lengths") {
                    let direct = SSMBenchmark.convolutionSeconds(batch: batch, length: L, channels: channels, fft: false, runs: runs)
                    let fft = SSMBenchmark.convolutionSeconds(batch: batch, length: L, channels: channels, fft: true, runs: runs)
                    print(String(format: "conv K = L = %d, B %d, D %d, %d thread(s): direct %.5f s (min %.5f), FFTW %.5f s (min %.5f), FFTW/direct %.2f", L,
                                 batch, channels, n, direct.median, direct.min, fft.median, fft.min, fft.median / direct.median))
                }
            }
            return
        }
        let shape = SSMBenchmark.Shape(batch: batch, length: length, channels: channels, state: state)
        for n in counts { try SSMBenchmark.run(threads: n, shape: shape, runs: runs, rounds: rounds, reference: reference) }
    }
}
