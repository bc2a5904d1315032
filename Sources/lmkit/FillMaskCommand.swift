// `lmkit fill-mask`: the top-k tokens for each [MASK] of a text with a masked-LM BERT (a Hugging Face BertForMaskedLM
// directory with tokenizer.json or vocab.txt), equal to transformers' fill-mask pipeline. Wiring onto `BERT.fillMask`.
import ArgumentParser
import Foundation
import LMModels
import LMTokenizers

struct FillMaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill-mask",
        abstract: "Predict the tokens behind [MASK] with a masked-LM BERT.",
        discussion: "Prints `token<TAB>probability` lines, best first, for each [MASK] of TEXT; masks are separated by a blank line.")

    @Option(help: "A Hugging Face BertForMaskedLM directory (config.json, model.safetensors, tokenizer.json or vocab.txt).")
    var model: String

    @Option(name: .customLong("top-k"), help: "Candidates per mask.")
    var topK: Int = 5

    @Argument(help: "Text containing [MASK].")
    var text: String

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be ≥ 1, got \(topK)") }
    }

    func run() throws {
        try reportingErrors {
            let loaded = try HuggingFaceModelDirectory.load(model)
            guard let bert = loaded.model as? BERT, let tokenizer = loaded.tokenizer as? WordPiece else {
                throw ValidationError("\(model) holds a \(type(of: loaded.model.config).modelType) model; fill-mask needs a BERT with tokenizer.json or vocab.txt")
            }
            let masks = try bert.fillMask(text, tokenizer: tokenizer, topK: topK)
            let out = masks.map { $0.map { "\($0.token)\t" + String(format: "%.4f", $0.probability) }.joined(separator: "\n") }
            print(out.joined(separator: "\n\n"))
        }
    }
}
