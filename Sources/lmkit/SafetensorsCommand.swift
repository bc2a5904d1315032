// `lmkit safetensors inspect|convert`: wiring onto LMCheckpoint's SafetensorsFile, summary and SafetensorsWriter.
// Errors from bad files surface as one line naming the file and the problem (SafetensorsError), exit status 1.
import ArgumentParser
import Foundation
import LMCheckpoint

struct SafetensorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "safetensors",
        abstract: "Inspect and convert safetensors checkpoints (Hugging Face format).",
        subcommands: [SafetensorsInspectCommand.self, SafetensorsConvertCommand.self])
}

/// Output element type accepted by `convert --dtype`.
enum SafetensorsOutputType: String, ExpressibleByArgument, CaseIterable {
    case f32, f16, bf16
    var dtype: SafetensorsDType {
        switch self {
        case .f32: return .float32
        case .f16: return .float16
        case .bf16: return .bfloat16
        }
    }
}

struct SafetensorsInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "List a safetensors file's tensors (dtype, shape, min/max/mean/std) and metadata.")

    @Argument(help: "The .safetensors file.")
    var file: String

    @Flag(help: "Print JSON (names, dtypes, shapes, data_offsets, stats, first values, metadata).")
    var json = false

    @Option(help: "How many leading values of each tensor to show.")
    var head: Int = 4

    func validate() throws {
        guard head >= 0 else { throw ValidationError("--head must be 0 or more, got \(head)") }
    }

    func run() throws {
        let summary = try SafetensorsFile(path: file).summary(headCount: head)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print("\(summary.file): \(summary.tensors.count) tensors, \(summary.fileBytes) bytes (header \(summary.headerBytes))")
        if let metadata = summary.metadata {
            for key in metadata.keys.sorted() { print("  metadata \(key) = \(metadata[key]!)") }
        }
        let nameWidth = min(max(summary.tensors.map(\.name.count).max() ?? 4, 4), 60)
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
        func number(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "-" }
        print(pad("name", nameWidth) + "  " + pad("dtype", 9) + pad("shape", 18) + pad("min", 13) + pad("max", 13) + pad("mean", 13) + pad("std", 13) + "head")
        for t in summary.tensors {
            let s = t.statistics
            var nonFinite = ""
            if s.nanCount > 0 { nonFinite += " nan×\(s.nanCount)" }
            if s.infinityCount > 0 { nonFinite += " inf×\(s.infinityCount)" }
            let headText = t.head.map { String(format: "%.4g", $0) }.joined(separator: " ")
            print(pad(t.name, nameWidth) + "  " + pad(t.dtype, 9) + pad("\(t.shape)", 18) + pad(number(s.minimum), 13) + pad(number(s.maximum), 13)
                  + pad(number(s.mean), 13) + pad(number(s.standardDeviation), 13) + headText + nonFinite)
        }
    }
}

struct SafetensorsConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Rewrite a safetensors file through LMKit's writer, casting floating-point tensors.",
        discussion: """
        Floating-point tensors (F64, F32, F16, BF16, F8) are decoded to float32 and stored as --dtype (tensors already of that type are copied as is); integer and \
        BOOL tensors are copied unchanged. Metadata is kept. The output is written atomically (IN may equal OUT).
        """)

    @Argument(help: "The input .safetensors file.")
    var input: String

    @Argument(help: "The output file.")
    var output: String

    @Option(help: "Storage type for floating-point tensors: f32, f16 or bf16.")
    var dtype: SafetensorsOutputType = .f32

    func run() throws {
        let start = Date()
        let file = try SafetensorsFile(path: input)
        var writer = SafetensorsWriter(metadata: file.hasMetadata ? file.metadata : nil)
        var cast = 0, copied = 0
        for entry in file.entries {
            if entry.dtype == dtype.dtype {
                try writer.addStored(entry, from: file)   // already the target type: copy the bytes, no decode
                cast += 1
            } else if entry.dtype.isFloatingPoint {
                try writer.add(entry.name, file.tensor(for: entry), as: dtype.dtype)
                cast += 1
            } else {
                try writer.addStored(entry, from: file)
                copied += 1
            }
        }
        try writer.write(to: output)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        let message = String(format: "wrote %@: %d tensors (%d floating-point as %@, %d integer/bool copied), %.1f MB in %.2f s\n",
                             output, cast + copied, cast, dtype.dtype.rawValue, copied, Double(bytes) / 1e6, Date().timeIntervalSince(start))
        FileHandle.standardError.write(Data(message.utf8))
    }
}
