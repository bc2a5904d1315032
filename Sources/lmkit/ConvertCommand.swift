// `lmkit convert IN OUT`: wiring onto LMModels' ModelDirectoryConversion. Reads a Hugging Face model directory
// (GPT-2 / Llama) or an LMKit-layout directory and writes either layout; errors name the file and key/tensor.
import ArgumentParser
import Foundation
import LMCheckpoint
import LMModels

extension ModelDirectoryLayout: ExpressibleByArgument {}
extension HuggingFaceArchitecture: ExpressibleByArgument {
    public init?(argument: String) { self.init(modelType: argument) }
    public static var allValueStrings: [String] { modelTypes }
}
extension GPTConfig.RoPELayout: ExpressibleByArgument {}

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a GPT model directory between the Hugging Face layout and LMKit's nanoGPT layout.",
        discussion: """
        IN is a Hugging Face directory (config.json with model_type gpt2 or llama, model.safetensors or \
        model.safetensors.index.json shards) or an LMKit directory (config.json with an LMKit model_type such as gpt, \
        or none, + LMKit-named model.safetensors; an `lmkit train` out_dir is one). OUT is written in the --to layout: model.safetensors, then config.json (each atomically), and \
        tokenizer.json copied when IN has one. Everything the target cannot express is an error, never dropped.
        """)

    @Argument(help: "Source model directory.")
    var input: String

    @Argument(help: "Destination directory (created if missing; its files are replaced).")
    var output: String

    @Option(help: "Output layout: hf (transformers) or gpt (LMKit nanoGPT names).")
    var to: ModelDirectoryLayout = .huggingFace

    @Option(help: "Hugging Face class for --to hf: gpt2 or llama (default: the source's, else by position encoding).")
    var architecture: HuggingFaceArchitecture?

    @Option(name: .customLong("rope-layout"), help: "RoPE pairing for --to gpt: half_split (HF) or interleaved (Meta); q/k rows are permuted to match.")
    var ropeLayout: GPTConfig.RoPELayout?

    @Option(help: "Stored float type: f32, f16 or bf16.")
    var dtype: SafetensorsOutputType = .f32

    func validate() throws {
        if ropeLayout == .interleaved && to == .huggingFace {
            throw ValidationError("--rope-layout interleaved needs --to gpt: Hugging Face Llama uses half_split")
        }
    }

    func run() throws {
        // Errors (HuggingFaceError, ConfigError, SafetensorsError, TokenizerError) describe themselves with the file and
        // key/tensor.
        try reportingErrors {
            let source = try ModelDirectoryConversion.load(input)
            try ModelDirectoryConversion.save(source, to: output, layout: to, architecture: architecture, ropeLayout: ropeLayout,
                                              dtype: dtype.dtype)
            printIgnoredConfigKeys(source.ignoredConfigKeys, directory: input)
            let kind = source.huggingFace.map { "hf \($0.architecture)" } ?? "gpt, model_type \(type(of: source.model.config).modelType)"
            print("\(input) (\(kind), \(source.model.parameterCount) parameters, vocab \(source.model.config.vocabularySize)) "
                  + "-> \(output) (\(to.rawValue), \(dtype.rawValue))")
        }
    }
}

/// The one stderr line `lmkit convert|eval|sample` print about the keys of a model directory's config.json that were
/// ignored because they do not change the model (nothing when there are none).
func printIgnoredConfigKeys(_ keys: [String], directory: String) {
    if let line = HuggingFaceConfig.ignoredKeysLine(keys, file: (directory as NSString).appendingPathComponent("config.json")) {
        stderrLine(line)
    }
}
