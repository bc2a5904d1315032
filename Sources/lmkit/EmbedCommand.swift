// `lmkit embed`: sentence embeddings from a sentence-transformers directory (all-MiniLM-L6-v2 and other BERT
// encoders), one input line per text. Wiring only: the encoder is LMModels' `SentenceEncoder`, ranking its `rank`,
// the .npy writer LMCheckpoint's `NPY`.
import ArgumentParser
import Foundation
import LMCheckpoint
import LMModels

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed text lines with a sentence-transformers model (equal to sentence-transformers' encode()).",
        discussion: """
        Reads one text per line from --input (or stdin). Without --query, writes one JSON array per input line to \
        stdout, or a float32 [lines, dimension] array to --output FILE.npy. With --query, prints the input lines \
        ranked by cosine similarity to the query: `score<TAB>line`, best first. Texts are batched longest first.
        """)

    @Option(help: "A sentence-transformers directory (modules.json, 1_Pooling/, config.json, model.safetensors, tokenizer.json).")
    var model: String

    @Option(help: "Text file, one text per line (default: stdin).")
    var input: String?

    @Option(help: "Write the embeddings as a .npy file instead of JSON lines.")
    var output: String?

    @Option(help: "Rank the input lines by cosine similarity to this text (semantic search).")
    var query: String?

    @Option(help: "With --query: print only the best N lines (0 = all).")
    var top: Int = 0

    @Option(name: .customLong("batch-size"), help: "Texts per forward pass.")
    var batchSize: Int = 32

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be ≥ 1, got \(batchSize)") }
        if top < 0 { throw ValidationError("--top must be ≥ 0, got \(top)") }
        if query != nil && output != nil { throw ValidationError("--query prints a ranking; it cannot be combined with --output") }
        if let output, !output.hasSuffix(".npy") { throw ValidationError("--output must name a .npy file, got \(output)") }
    }

    func run() throws {
        try reportingErrors {
            let encoder = try SentenceEncoder.load(model)
            let data: Data
            if let input {
                guard let contents = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read --input \(input)") }
                data = contents
            } else {
                data = FileHandle.standardInput.readDataToEndOfFile()
            }
            var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            lines = lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
            let bar = ProgressBar("embed", enabled: !quiet && lines.count > batchSize)
            let embeddings = try encoder.encode(lines, batchSize: batchSize) { done in
                bar.update(Double(done) / Double(lines.count), "\(done)/\(lines.count)")
            }
            bar.finish()
            var out = ""
            if let query {
                let ranking = SentenceEncoder.rank(query: try encoder.encode([query])[0], embeddings)
                for (index, score) in ranking.prefix(top == 0 ? ranking.count : top) {
                    out += String(format: "%.4f", score) + "\t" + lines[index] + "\n"
                }
            } else if let output {
                try NPY.float32Matrix(embeddings).write(to: URL(fileURLWithPath: output), options: .atomic)
                return
            } else {
                for e in embeddings { out += "[" + e.map { "\($0)" }.joined(separator: ", ") + "]\n" }
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }
}
