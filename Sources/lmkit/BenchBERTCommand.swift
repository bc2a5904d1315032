// `lmkit bench bert`: wiring onto LMBenchmarks.BERTBenchmark (sentence-embedding throughput vs sentence-transformers).
import ArgumentParser
import Foundation
import LMBenchmarks

struct BenchBERTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bert",
        abstract: "Sentence embeddings (SentenceEncoder) vs sentence-transformers encode() on torch CPU (same sentences, batch, threads, command).")

    @Option(help: "A sentence-transformers directory (e.g. Tests/Fixtures/.fetched/all-MiniLM-L6-v2 from `python3 Scripts/fixtures/bert_fixture.py --minilm`).")
    var model: String = "Tests/Fixtures/.fetched/all-MiniLM-L6-v2"
    @Option(help: "Sentences of mixed length to embed.") var sentences: Int = 1000
    @Option(help: "Thread counts to run, comma-separated.") var threads: String = "2"
    @Option(name: .customLong("batch-size"), help: "Sentences per forward pass (both sides).") var batchSize: Int = 32
    @Option(help: "Alternating LMKit/reference rounds; each side's best round is reported.") var rounds: Int = 2
    @Flag(inversion: .prefixedNo, help: "Run the sentence-transformers reference.") var reference: Bool = true
    @Flag(name: .customLong("mlm-step"), help: "Instead: one masked-LM training step (BERT-mini shape, batch 32 × 128) vs BertForMaskedLM.")
    var mlmStep = false

    func validate() throws {
        for (name, value) in [("--sentences", sentences), ("--batch-size", batchSize), ("--rounds", rounds)] where value < 1 {
            throw ValidationError("\(name): expected a positive integer, got \(value)")
        }
    }

    func run() throws {
        try reportingErrors {
            #if DEBUG
            print("warning: this is a debug build; benchmark numbers are meaningless (use `swift build -c release`)")
            #endif
            if mlmStep {
                for n in try parsePositiveIntegers(threads) {
                    print("== lmkit bench bert --mlm-step, \(n) thread(s)")
                    print(try BERTBenchmark.mlmStep(threads: n, rounds: rounds, reference: reference))
                }
                return
            }
            for n in try parsePositiveIntegers(threads) {
                print("== lmkit bench bert embed, \(n) thread(s)")
                let result = try BERTBenchmark.run(model: model, count: sentences, threads: n, batchSize: batchSize, rounds: rounds, reference: reference)
                print(BERTBenchmark.format(result, batchSize: batchSize))
            }
        }
    }
}
