// `lmkit` itself on hostile input (issue 12): each case must end with exit status 1 and a message naming the flag or
// file, never a signal; and streamed `tokenizer encode` must print the ids of the whole text. Runs the binary that
// `swift build --build-tests` puts beside the test bundle.
import Foundation
import LMTokenizers
import XCTest
import _TestSupport

final class CLIHardeningTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeScratchDirectory("cli-hardening") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private var lmkit: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lmkit").path
    }

    /// Runs lmkit; returns (exit status, stdout, stderr), failing the test if it died by a signal.
    @discardableResult
    private func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (Int32, String, String) {
        guard FileManager.default.isExecutableFile(atPath: lmkit) else {
            XCTFail("\(lmkit) is missing: build it with `swift build --build-tests`", file: file, line: line)
            return (-1, "", "")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: lmkit)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = dir + "/stdout-\(UUID().uuidString)", err = dir + "/stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "lmkit \(arguments.joined(separator: " ")) died by signal \(process.terminationStatus)", file: file, line: line)
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }

    private func assertFails(_ arguments: [String], mentioning text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (status, _, stderr) = try run(arguments, file: file, line: line)
        XCTAssertEqual(status, 1, "\(arguments): \(stderr)", file: file, line: line)
        XCTAssertTrue(stderr.hasPrefix("lmkit: ") && stderr.contains(text), "\(arguments): \(stderr)", file: file, line: line)
    }

    func testHostileFlagsAndFilesExitWithStatusOne() throws {
        let vectors = fixtureURL("word2vec/vectors.txt").path
        try assertFails(["word2vec", "similar", "--vectors", vectors, "Paris", "--restrict-vocab=-5"], mentioning: "restrict_vocab")
        try assertFails(["word2vec", "evaluate", "--vectors", vectors, "--pairs", vectors, "--restrict-vocab=-5"], mentioning: "restrict_vocab")
        XCTAssertEqual(try run(["word2vec", "similar", "--vectors", vectors, "Paris", "--topn", "100000000000"]).0, 0)
        let corpus = dir + "/corpus.txt"
        try String(repeating: "a b c d a b c d\n", count: 20).write(toFile: corpus, atomically: true, encoding: .utf8)
        try assertFails(["word2vec", "train", "--input", corpus, "--output", dir + "/v.txt", "--size", "10000000000", "--min-count", "1"], mentioning: "vector size")
        try assertFails(["word2vec", "train", "--input", corpus, "--output", dir + "/v.txt", "--negative", "1000000000", "--min-count", "1"], mentioning: "negative")
        try assertFails(["tokenizer", "train", "--input", corpus, "--out", dir + "/t.json", "--vocab-size", "100000000000"], mentioning: "vocabularySize")
        let fifo = dir + "/model.fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        try assertFails(["ngram", "query", fifo], mentioning: "not a regular file")
        try assertFails(["ngram", "query", dir], mentioning: "is a directory")
        let header = dir + "/huge.vec"
        try "100000000000 4\na 1 2 3 4\n".write(toFile: header, atomically: true, encoding: .utf8)
        try assertFails(["word2vec", "similar", "--vectors", header, "a"], mentioning: "header claims")
        let data = try prepareTinyData(in: dir)
        try assertFails(["train", "--data_dir", data, "--out_dir", dir + "/out", "--batch_size", "1000000000000"], mentioning: "batch_size")
        try assertFails(["train", "--data_dir", data, "--out_dir", dir + "/out", "--n_embd", "1000000", "--n_head", "1"], mentioning: "of memory")
    }

    /// `lmkit sample` on a masked-diffusion and a block-diffusion out_dir: --prompt, --max-new-tokens, --steps,
    /// --block-length, --remasking, --cfg-scale, --seed and --temperature all reach the sampler (the same seed gives the
    /// same text, another seed other text), --stop cuts the printed text; flags of the AR sampler only and a block length
    /// other than the model's are refused.
    func testDiffusionSampleFlagsForBothObjectives() throws {
        let data = try prepareTinyData(in: dir)
        for (name, blockLength) in [("md", nil), ("bd", 4)] as [(String, Int?)] {
            let config = dir + "/\(name).json", out = dir + "/" + name
            let model = "\"model_type\": \"masked-diffusion\", \"n_layer\": 1, \"n_head\": 2, \"n_embd\": 16" + (blockLength.map { ", \"block_length\": \($0)" } ?? "")
            try """
            {"data_dir": "\(data)", "out_dir": "\(out)", "block_size": 16, "batch_size": 2, "max_iters": 2, "eval_interval": 2,
             "eval_iters": 1, "warmup_iters": 1, "lr_decay_iters": 2, "gradient_accumulation_steps": 1, "model": {\(model)}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let (trained, _, trainError) = try run(["train", "--config", config])
            XCTAssertEqual(trained, 0, trainError)
            var flags = ["sample", "--model", out, "--prompt", "the ", "--max-new-tokens", "8", "--steps", "4", "--remasking", "random",
                         "--cfg-scale", "1.5", "--temperature", "0.9"]
            if blockLength == nil { flags += ["--block-length", "4"] }
            let (status, text, error) = try run(flags + ["--seed", "7"])
            XCTAssertEqual(status, 0, "\(name): \(error)")
            XCTAssertTrue(text.hasPrefix("the ") && text.count == 4 + 8 + 1, "\(name): \(String(reflecting: text))")
            XCTAssertEqual(try run(flags + ["--seed", "7"]).1, text, name)
            let others = try (8..<16).map { try run(flags + ["--seed", "\($0)"]).1 }
            XCTAssertTrue(others.contains { $0 != text }, "\(name): --seed changes nothing")
            // --stop cuts the printed text before the first occurrence of the stop string.
            let generated = String(text.dropFirst(4).dropLast()), stop = String(generated.dropFirst(3).prefix(2))
            let cut = try XCTUnwrap(generated.range(of: stop)).lowerBound
            XCTAssertEqual(try run(flags + ["--seed", "7", "--stop", stop]).1, "the " + generated[..<cut] + "\n", "\(name): --stop \(String(reflecting: stop))")
            try assertFails(flags + ["--top-k", "5"], mentioning: "--top-k")
            try assertFails(flags + ["--steps", "3"], mentioning: "steps 3")
        }
        try assertFails(["sample", "--model", dir + "/bd", "--max-new-tokens", "8", "--block-length", "2"], mentioning: "block_length 4")
    }

    func testTokenizerEncodeStreamsTheSameIdsAndRefusesInvalidUTF8() throws {
        let tokenizerPath = fixtureURL("models/hf_gpt2_tiny/tokenizer.json").path
        // 1.1 MB: two chunks (1 MiB each), with whitespace runs, CR LF and non-ASCII around the newlines.
        let lines = ["To be, or not to be:  that is\tthe question.", "  \u{3000}indented", "", "crlf\r", "ünïcödé — 123 456", "   "]
        var text = ""
        var i = 0
        while text.utf8.count < 1_100_000 { text += lines[i % lines.count] + (i % 7 == 0 ? "\n\n" : "\n"); i += 1 }
        let input = dir + "/text.txt"
        try text.write(toFile: input, atomically: true, encoding: .utf8)
        let (status, stdout, stderr) = try run(["tokenizer", "encode", "--tokenizer", tokenizerPath, input])
        XCTAssertEqual(status, 0, stderr)
        let expected = try loadTokenizer(tokenizerPath).encode(text)
        XCTAssertEqual(stdout.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines))! }, expected)
        // GPT-2's pattern with its "\n\n" token: a run of newlines before punctuation is two pieces in the whole text, one
        // at the end of a chunk, so chunks must not end after a newline (50 MB of random bytes caught this).
        let gpt2 = fixtureURL("tokenizers/subset_gpt2.tiktoken").path
        var newlines = ""
        var j = 0
        while newlines.utf8.count < 1_100_000 { newlines += ["word\n\n/x", "12\n\n\n.", "a \n\n b", "end."][j % 4] + "\n"; j += 1 }
        try newlines.write(toFile: input, atomically: true, encoding: .utf8)
        let streamed = try run(["tokenizer", "encode", "--tokenizer", gpt2, "--encoding", "gpt2", input])
        XCTAssertEqual(streamed.0, 0, streamed.2)
        XCTAssertEqual(streamed.1.split(separator: " ").map { Int($0.trimmingCharacters(in: .whitespacesAndNewlines))! },
                       try loadTokenizer(gpt2, encoding: "gpt2").encode(newlines))
        var bad = Array(text.utf8.prefix(1_060_000))
        bad.append(0xFF)
        let badPath = dir + "/bad.txt"
        try Data(bad).write(to: URL(fileURLWithPath: badPath))
        try assertFails(["tokenizer", "encode", "--tokenizer", tokenizerPath, badPath], mentioning: "invalid UTF-8 at byte offset 1060000")
        try Data([0x61, 0x20, 0xFF, 0x62]).write(to: URL(fileURLWithPath: badPath))
        let replaced = try run(["tokenizer", "encode", "--tokenizer", tokenizerPath, "--errors", "replace", badPath])
        XCTAssertEqual(replaced.0, 0, replaced.2)
        XCTAssertEqual(replaced.1.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) },
                       try loadTokenizer(tokenizerPath).encode("a \u{FFFD}b"))
    }
}
