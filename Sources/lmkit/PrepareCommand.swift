// `lmkit prepare`: text → token files for training (LMTrain.DataPreparation), as nanoGPT's data/*/prepare.py.
// Wiring and printing only.
import ArgumentParser
import Foundation
import LMTrain

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize a text file into DIR/train.bin and DIR/val.bin (nanoGPT prepare.py).",
        discussion: """
        Writes DIR/train.bin and DIR/val.bin (LMKit token files), the tokenizer (char_vocab.json or tokenizer.json) \
        and DIR/meta.json. The text is split at int(n·(1 − val_fraction)) characters before tokenizing, like nanoGPT.
        """)

    @Option(help: "`char` (vocabulary = the sorted characters of the text) or a tokenizer: tokenizer.json (byte-level BPE or WordPiece), char_vocab.json, vocab.txt, a cl100k_base/o200k_base/gpt2 .tiktoken rank file, or a directory holding one (e.g. another data directory).")
    var tokenizer: String
    @Option(help: "The UTF-8 text to tokenize.") var input: String
    @Option(help: "Output data directory (created if missing).") var out: String
    @Option(name: .customLong("val-fraction"), help: "Fraction of the text (from the end) held out for validation.") var valFraction = 0.1

    func run() throws {
        try reportingErrors {
            let summary = try DataPreparation.prepare(tokenizer: tokenizer, inputPath: input, outputDirectory: out, valFraction: valFraction)
            let m = summary.meta
            print("length of dataset in characters: \(m.trainCharacters + m.valCharacters)")
            print("tokenizer: \(m.tokenizer) (\(summary.tokenizerPath)), vocab size: \(m.vocabSize)")
            print("train has \(m.trainTokens) tokens (\(summary.trainPath))")
            print("val has \(m.valTokens) tokens (\(summary.valPath))")
        }
    }
}
