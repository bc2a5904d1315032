// `lmkit bench core`: wiring onto LMBenchmarks.CoreBenchmark.
import ArgumentParser
import Foundation
import LMBenchmarks

struct BenchCoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "core",
        abstract: "sgemm, softmax, layer_norm, gelu, cross-entropy vs raw BLAS and PyTorch CPU (same threads, same command).")

    @Option(help: "Thread counts to run, comma-separated.")
    var threads: String = "1,2"

    @Option(help: "Rows (B·T) of the op benchmarks.")
    var rows: Int = 8192

    func run() throws {
        let counts = try parsePositiveIntegers(threads)
        #if DEBUG
        print("warning: this is a debug build; benchmark numbers are meaningless (use `make bench`)")
        #endif
        for n in counts {
            print("== lmkit bench core, \(n) thread(s)")
            let rows = try CoreBenchmark.run(threads: n, rows: self.rows)
            print(CoreBenchmark.format(rows, threads: n))
        }
    }
}
