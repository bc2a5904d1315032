// `lmkit sample`: generate text from an LMKit checkpoint or a Hugging Face model directory (nanoGPT's sample.py and
// HF `generate` options). Wiring only: loading is LMTrain's `LoadedModel`, the sampling loop LMModels' `TextGeneration`.
import ArgumentParser
import Foundation
import LMTokenizers
import LMTrain

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a trained model (LMKit checkpoint or Hugging Face model directory).",
        discussion: """
        MODEL is the out_dir of `lmkit train` (or its model.safetensors / ckpt.safetensors), an LMKit model directory \
        (`lmkit convert --to gpt`), or a Hugging Face directory with config.json + model.safetensors (+ tokenizer.json). \
        Text is printed as it is generated; multi-byte characters split across tokens are held back until complete.
        """)

    @Option(name: .long, help: "Model: checkpoint file or directory, or a Hugging Face model directory.")
    var model: String

    @Option(help: "Tokenizer: a tokenizer.json / .tiktoken file or a data directory from `lmkit prepare` (default: the model's own).")
    var tokenizer: String?

    @Option(help: "Text to continue (default: a newline, as nanoGPT's sample.py).")
    var prompt: String = "\n"

    @Option(name: .customLong("prompt-file"), help: "Read the prompt from this file instead.")
    var promptFile: String?

    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate per sample.")
    var maxNewTokens: Int = 500

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature: Double = 0.8

    @Option(name: .customLong("top-k"), help: "Keep only the k most likely tokens (0 = all; default 200).")
    var topK: Int?

    @Option(name: .customLong("top-p"), help: "Nucleus sampling: keep the most likely tokens up to this probability mass (1 = all).")
    var topP: Double = 1

    @Option(name: .customLong("repetition-penalty"), help: "> 1 discourages tokens already in the context (CTRL / HF).")
    var repetitionPenalty: Double = 1

    @Option(name: .customLong("stop"), help: "Stop when this text appears (not printed); repeatable.")
    var stop: [String] = []

    @Option(help: "Random seed.")
    var seed: UInt64 = 1337

    @Option(name: .customLong("num-samples"), help: "Number of samples (separated by a line of dashes).")
    var numSamples: Int = 1

    @Option(help: "Masked diffusion: denoising steps in all, a multiple of the number of blocks (default: one token per step).")
    var steps: Int?

    @Option(name: .customLong("block-length"), help: "Masked diffusion: semi-autoregressive block length, a divisor of --max-new-tokens (default: one block). A block-diffusion model samples in its own block_length.")
    var blockLength: Int?

    @Option(help: "Masked diffusion: which predictions to keep each step, low_confidence or random.")
    var remasking: String = Remasking.lowConfidence.rawValue

    @Option(name: .customLong("cfg-scale"), help: "Masked and block diffusion: unsupervised classifier-free guidance scale (0 = off).")
    var cfgScale: Double = 0

    func validate() throws {
        if Remasking(rawValue: remasking) == nil { throw ValidationError("--remasking must be low_confidence or random, got \(remasking)") }
        if numSamples < 1 { throw ValidationError("--num-samples must be ≥ 1, got \(numSamples)") }
        if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must be ≥ 0, got \(maxNewTokens)") }
        if temperature < 0 || !temperature.isFinite { throw ValidationError("--temperature must be ≥ 0, got \(temperature)") }
        if let topK, topK < 0 { throw ValidationError("--top-k must be ≥ 0, got \(topK)") }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite { throw ValidationError("--repetition-penalty must be > 0, got \(repetitionPenalty)") }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try LoadedModel.load(model)
            printIgnoredConfigKeys(loaded.ignoredConfigKeys, directory: loaded.path)
            let textTokenizer = try loaded.textTokenizer(override: tokenizer)
            var promptText = prompt
            if let promptFile {
                guard let data = FileManager.default.contents(atPath: promptFile), let text = String(data: data, encoding: .utf8) else {
                    throw TrainError.invalidInput("--prompt-file \(promptFile): cannot read it as UTF-8 text")
                }
                promptText = text
            }
            if let diffusion = loaded.model as? any MaskedDiffusionSampling {
                // The diffusion samplers choose tokens by Gumbel-max over the whole vocabulary (LLaDA's generate()).
                for (flag, given) in [("--top-k", topK != nil), ("--top-p", topP != 1), ("--repetition-penalty", repetitionPenalty != 1)] where given {
                    throw TrainError.invalidInput("\(flag) is not supported by a masked-diffusion model's sampler (its flags: --steps, --block-length, --remasking, --cfg-scale, --temperature, --stop)")
                }
                try sampleDiffusion(diffusion, tokenizer: textTokenizer, promptText: promptText)
                return
            }
            guard let decoding = loaded.model as? any IncrementalDecoding else {
                throw TrainError.invalidInput("\(model): a \(type(of: loaded.model.config).modelType) model cannot decode step by step, so it cannot sample")
            }
            let generation = TextGeneration(model: decoding, tokenizer: textTokenizer)
            var options = GenerationOptions()
            options.maxNewTokens = maxNewTokens; options.temperature = temperature; options.topK = topK ?? 200
            options.topP = topP; options.repetitionPenalty = repetitionPenalty
            let output = FileHandle.standardOutput
            for index in 0..<numSamples {
                options.seed = seed &+ UInt64(index)
                output.write(promptText)
                do {
                    try generation.generate(prompt: promptText, options: options, stop: stop) { output.write($0); return true }
                } catch let failure as TextGeneration.Failure { throw TrainError.invalidInput("--prompt: \(failure)") }
                output.write("\n")
                if index + 1 < numSamples { output.write("---------------\n") }
            }
        }
    }
}

extension SampleCommand {
    /// The masked-diffusion sampler (LLaDA's, or block diffusion's): prints each block when it is final.
    func sampleDiffusion(_ model: any MaskedDiffusionSampling, tokenizer: any Tokenizer, promptText: String) throws {
        var options = DiffusionGenerationOptions()
        options.length = maxNewTokens; options.steps = steps; options.blockLength = blockLength
        options.temperature = temperature; options.remasking = Remasking(rawValue: remasking)!; options.cfgScale = cfgScale
        let prompt = try tokenizer.encode(promptText)
        let output = FileHandle.standardOutput
        for index in 0..<numSamples {
            options.seed = seed &+ UInt64(index)
            output.write(promptText)
            // The whole length is generated (a diffusion sampler fills all positions); --stop cuts what is printed, e.g.
            // at the end-of-text text a model was fine-tuned with (sft_eos).
            var decoder = tokenizer.streamingDecoder(), filter = StopSequenceFilter(stop), failure: Error?
            do {
                _ = try model.sampleDiffusion(prompt: prompt, options: options) { block in
                    do { for token in block { output.write(filter.push(try decoder.push(token))) } } catch { failure = failure ?? error }
                }
            } catch let error as DiffusionGenerationError { throw TrainError.invalidInput(error.description) }
            if let failure { throw failure }
            output.write(filter.push(decoder.finish()) + filter.finish() + "\n")
            if index + 1 < numSamples { output.write("---------------\n") }
        }
    }
}

extension FileHandle: @retroactive TextOutputStream {
    public func write(_ string: String) { if !string.isEmpty { write(Data(string.utf8)) } }
}
