// `lmkit bench attention` and `lmkit bench gpt`: wiring onto LMBenchmarks.AttentionBenchmark and GPTBenchmark.
// Flags are validated here; the measuring code and the PyTorch runs live in Benchmarks/.
import ArgumentParser
import Foundation
import LMBenchmarks
import LMKernels

/// Parses a comma-separated list of positive integers (`--threads 1,2`, `--lengths 256,1024`) or fails naming `flag`.
func parsePositiveIntegers(_ text: String, flag: String = "--threads") throws -> [Int] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let values = parts.compactMap(Int.init)
    guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 >= 1 }) else {
        throw ValidationError("\(flag): expected comma-separated positive integers, got '\(text)'")
    }
    return values
}

struct BenchAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Causal scaled-dot-product attention fwd+bwd (float32) vs PyTorch F.scaled_dot_product_attention (same threads, same command).")

    @Option(help: "Thread counts to run, comma-separated.")
    var threads: String = "1,2"

    @Option(help: "Sequence lengths, comma-separated.")
    var lengths: String = "256,1024"

    @Option(help: "Batch size.") var batch: Int = 1
    @Option(help: "Query/key/value heads.") var heads: Int = 6
    @Option(name: .customLong("head-size"), help: "Head size D.") var headSize: Int = 64
    @Option(help: "Timed runs per row (median is reported).") var runs: Int = 10
    @Option(help: "Alternating LMKit/torch rounds; each side's best round is printed (for a machine with drifting load).")
    var rounds: Int = 1
    @Option(name: .customLong("tile-q"), help: "Query tile size of the fused kernel (default: the kernel's).") var tileQ: Int?
    @Option(name: .customLong("tile-k"), help: "Key tile size of the fused kernel (default: the kernel's).") var tileK: Int?
    @Option(help: "Tile products: micro (the kernel's register-blocked loops) or blas (sgemm per tile).")
    var products: String = "micro"
    @Flag(inversion: .prefixedNo, help: "Run the PyTorch reference (--no-reference: LMKit only, e.g. under perf).")
    var reference: Bool = true
    @Option(name: .customLong("decode"),
            help: "Instead: decoding, forward of these query lengths (comma-separated) against a KV-cache view of each --lengths, keys read in place vs transposed (no reference).")
    var decodeQueryLengths: String?
    @Option(name: .customLong("sliding-window"),
            help: "Instead: full causal and sliding-window (this many keys) rows vs SDPA is_causal / a boolean band mask, with the growth fit in T.")
    var slidingWindow: Int?
    @Flag(name: .customLong("linear-flash"),
          help: "Instead: causal linear attention (chunked) and FLASH layer rows vs their PyTorch references (EfficientAttentionBenchmark).")
    var linearFlash = false
    @Option(name: .customLong("linear-chunk"), help: "With --linear-flash: the linear kernel's chunk length (default 64).")
    var linearChunk: Int = 64
    @Option(name: .customLong("linear-flash-rows"), help: "With --linear-flash: which rows, comma-separated: linear, flash (default both; one alone for perf).")
    var linearFlashRows: String = "linear,flash"

    func validate() throws {
        for (name, value) in [("--batch", batch), ("--heads", heads), ("--head-size", headSize), ("--runs", runs), ("--rounds", rounds),
                              ("--tile-q", tileQ ?? 1), ("--tile-k", tileK ?? 1), ("--linear-chunk", linearChunk),
                              ("--sliding-window", slidingWindow ?? 1)] where value < 1 {
            throw ValidationError("\(name): expected a positive integer, got \(value)")
        }
    }

    func run() throws {
        let counts = try parsePositiveIntegers(threads)
        let ts = try parsePositiveIntegers(lengths, flag: "--lengths")
        #if DEBUG
        print("warning: this is a debug build; benchmark numbers are meaningless (use `swift build -c release`)")
        #endif
        guard let mode = Attention.TileProducts(rawValue: products) else {
            throw ValidationError("--products: expected micro or blas, got '\(products)'")
        }
        Attention.tileProducts = mode
        if let tileQ { Attention.defaultTileQ = tileQ }
        if let tileK { Attention.defaultTileK = tileK }
        if linearFlash {
            var setup = EfficientAttentionBenchmark.Setup()
            setup.heads = heads; setup.headSize = headSize; setup.chunk = linearChunk
            if let bad = ts.first(where: { $0 % setup.chunk != 0 }) {
                throw ValidationError("--lengths: the linear rows need multiples of the chunk (\(setup.chunk)), got \(bad)")
            }
            let variants = linearFlashRows.split(separator: ",").map(String.init)
            if variants.isEmpty || variants.contains(where: { !["linear", "flash"].contains($0) }) {
                throw ValidationError("--linear-flash-rows: expected linear, flash or linear,flash, got '\(linearFlashRows)'")
            }
            for n in counts {
                let rows = try (0..<rounds).map { _ in
                    try EfficientAttentionBenchmark.run(setup, variants: variants, threads: n, lengths: ts, runs: runs, reference: reference)
                }
                print(EfficientAttentionBenchmark.format(EfficientAttentionBenchmark.best(of: rows), setup: setup, threads: n))
            }
            return
        }
        if let decodeQueryLengths {
            let tqs = try parsePositiveIntegers(decodeQueryLengths, flag: "--decode")
            for n in counts {
                print(AttentionBenchmark.decode(threads: n, heads: heads, headSize: headSize, lengths: ts, queryLengths: tqs, runs: runs))
            }
            return
        }
        if let slidingWindow {
            for n in counts {
                let rows = try WindowAttentionBenchmark.run(threads: n, batch: batch, heads: heads, headSize: headSize, window: slidingWindow,
                                                            lengths: ts, runs: runs, rounds: rounds, reference: reference)
                print(WindowAttentionBenchmark.format(rows, threads: n, batch: batch, heads: heads, headSize: headSize, window: slidingWindow,
                                                      rounds: rounds))
            }
            return
        }
        for n in counts {
            print("== lmkit bench attention (tiles \(Attention.defaultTileQ)×\(Attention.defaultTileK), \(products) products), \(n) thread(s)")
            let rows = try (0..<rounds).map { _ in
                try AttentionBenchmark.run(threads: n, batch: batch, heads: heads, headSize: headSize, lengths: ts, runs: runs, reference: reference)
            }
            if rounds > 1 { print("best of \(rounds) alternating rounds per side:") }
            print(AttentionBenchmark.format(AttentionBenchmark.best(of: rows), threads: n, batch: batch, heads: heads, headSize: headSize,
                                            peakGFLOPs: GPTBenchmark.sgemmPeakGFLOPs()))
        }
    }
}

struct BenchGPTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt",
        abstract: "One GPT training step (fwd, loss, bwd, clip 1.0, AdamW) vs a nanoGPT-equivalent PyTorch model (same config, threads, command).")

    @Option(help: "Thread counts to run, comma-separated.")
    var threads: String = "2"

    @Option(help: "Configs, comma-separated: cpu-recipe (L4 H4 C128 T64 B12), 6x384 (L6 H6 C384 T256 B8).")
    var configs: String = "cpu-recipe,6x384"

    @Option(help: "Timed steps (median is reported).") var iters: Int = 10
    @Option(help: "Untimed steps before timing.") var warmup: Int = 3
    @Option(help: "Alternating LMKit/torch rounds; each side's best round is printed (for a machine with drifting load).")
    var rounds: Int = 1
    @Flag(inversion: .prefixedNo, help: "Run the PyTorch reference (--no-reference: LMKit only, e.g. under perf).")
    var reference: Bool = true
    @Flag(help: "Only LMKit's training steps: no reference and no sgemm peak measurement, so `perf record` sees the steps alone.")
    var profile: Bool = false
    @Option(help: "Elements of work below which LMKit's loops stay on one thread (Parallel.minimumWork), to compare settings.")
    var parallelMinimumWork: Int?

    func validate() throws {
        if iters < 1 { throw ValidationError("--iters: expected a positive integer, got \(iters)") }
        if warmup < 1 { throw ValidationError("--warmup: expected a positive integer, got \(warmup)") }
        if rounds < 1 { throw ValidationError("--rounds: expected a positive integer, got \(rounds)") }
        if let work = parallelMinimumWork, work < 1 { throw ValidationError("--parallel-minimum-work: expected a positive integer, got \(work)") }
    }

    func run() throws {
        let counts = try parsePositiveIntegers(threads)
        let known = [GPTBenchmark.Setup.cpuRecipe, GPTBenchmark.Setup.shakespeareChar]
        let setups = try configs.split(separator: ",").map { name -> GPTBenchmark.Setup in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let setup = known.first(where: { $0.name == trimmed }) else {
                throw ValidationError("--configs: unknown config '\(trimmed)'; expected one of \(known.map(\.name).joined(separator: ", "))")
            }
            return setup
        }
        #if DEBUG
        print("warning: this is a debug build; benchmark numbers are meaningless (use `swift build -c release`)")
        #endif
        if let work = parallelMinimumWork { Parallel.minimumWork = work }
        var results: [GPTBenchmark.Result] = []
        for n in counts {
            for setup in setups {
                print("== lmkit bench gpt \(setup.name), \(n) thread(s)")
                let each = try (0..<rounds).map { _ in
                    try GPTBenchmark.run(setup, threads: n, iters: iters, warmup: warmup, reference: reference && !profile, measurePeak: !profile)
                }
                results.append(GPTBenchmark.best(of: each))
            }
        }
        if rounds > 1 { print("best of \(rounds) alternating rounds per side:") }
        print(GPTBenchmark.format(results))
    }
}
