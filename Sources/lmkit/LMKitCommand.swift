// lmkit: the command-line tool. Each subcommand is wiring onto a library entry point; anything worth testing
// lives in a library target (Docs/Architecture.md).
import ArgumentParser

@main
struct LMKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lmkit",
        abstract: "Build, train and run language models on the CPU.",
        subcommands: [
            BenchCommand.self,
            TokenizerCommand.self,
            NGramCommand.self,
            Word2VecCommand.self,
            SafetensorsCommand.self,
            ConvertCommand.self,
            PrepareCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            SampleCommand.self,
        ])
}

/// `lmkit bench <suite>`: LMKit and its Python reference timed in the same command, with ratios.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks against the reference implementations (release builds only).",
        subcommands: [
            BenchCoreCommand.self,
            TokenizerBenchCommand.self,
            BenchWord2VecCommand.self,
            BenchNGramCommand.self,
            BenchAttentionCommand.self,
            BenchGPTCommand.self,
        ])
}
