// `lmkit bench rnn`: wiring onto LMBenchmarks.RecurrentBenchmark (LSTM/GRU vs torch.nn, same threads, same command).
import ArgumentParser
import Foundation
import LMBenchmarks

struct BenchRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rnn",
        abstract: "LSTM/GRU forward+backward, B=1 step latency and variable-length batches vs torch.nn.LSTM/GRU (same threads, same command).")

    @Option(help: "Thread counts to run, comma-separated.") var threads: String = "2"
    @Option(help: "Timed runs per row (median is reported; step rows run 50× as many).") var runs: Int = 3
    @Option(help: "Alternating LMKit/torch rounds, each printed (the machine's load drifts).") var rounds: Int = 1
    @Flag(inversion: .prefixedNo, help: "Run the PyTorch reference (--no-reference: LMKit only).") var reference: Bool = true
    @Option(help: "Only rows whose name contains this text (e.g. 'lstm', 'step').") var filter: String?

    func run() throws {
        #if DEBUG
        print("warning: this is a debug build; benchmark numbers are meaningless (use `swift build -c release`)")
        #endif
        guard runs >= 1, rounds >= 1 else { throw ValidationError("--runs and --rounds must be positive") }
        let cases = RecurrentBenchmark.defaultCases().filter { c in filter.map { c.name.contains($0) } ?? true }
        for n in try parsePositiveIntegers(threads) {
            for round in 0..<rounds {
                print("== lmkit bench rnn, \(n) thread(s), round \(round + 1)/\(rounds)")
                let rows = try reportingErrors { try RecurrentBenchmark.run(threads: n, cases: cases, runs: runs, reference: reference) }
                print(RecurrentBenchmark.format(rows, threads: n))
            }
        }
    }
}
