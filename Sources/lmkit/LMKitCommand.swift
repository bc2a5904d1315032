// lmkit: the command-line tool. Each subcommand is wiring onto a library entry point; anything worth testing
// lives in a library target (Docs/Architecture.md).
import ArgumentParser
import Foundation

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
            EmbedCommand.self,
            FillMaskCommand.self,
            FinetuneCommand.self,
            PredictCommand.self,
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
            BenchBERTCommand.self,
            BenchRNNCommand.self,
            BenchSSMCommand.self,
            BenchAllreduceCommand.self,
        ])
}

/// Runs a subcommand's work: any error it throws is printed as `lmkit: <description>` on stderr and ends the process
/// with exit status 1, without a stack trace. ArgumentParser's own errors (a usage error, `--help`, an explicit exit
/// code such as 130 after Ctrl-C) pass through unchanged. Every subcommand that reports errors goes through here.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        if error is ExitCode || error is ValidationError || error is CleanExit { throw error }
        FileHandle.standardError.write(Data("lmkit: \(error)\n".utf8))
        throw ExitCode(1)
    }
}
