// Seeded mutation fuzzing of every tokenizer file reader (issue 12): tiktoken ranks, GPT-2 vocab.json + merges.txt,
// HF tokenizer.json, WordPiece vocab.txt and the character vocabulary. Each mutated file must load and then encode
// and decode text, or be refused with an error; a crash fails the run. LMKIT_FUZZ_ITERATIONS=N for a longer run.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class TokenizerFuzzTests: XCTestCase {
    private var dir = ""
    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tokenizer-fuzz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private var sample = "Hello world, ünïcödé 123 — tokens!\n\t  end"

    /// Exercises a loaded tokenizer the way the CLI does.
    private func exercise(_ tokenizer: any Tokenizer) throws {
        let ids = try tokenizer.encode(sample)
        _ = try tokenizer.decode(ids)
        _ = try? tokenizer.decode([0, tokenizer.vocabularySize - 1, tokenizer.vocabularySize, -1])
    }

    private func fuzz(_ seed: [UInt8], name: String, seedNumber: UInt64, iterations: Int = Fuzzer.iterations(default: 60),
                      load: (String) throws -> any Tokenizer) throws {
        let path = dir + "/" + name
        try Data(seed).write(to: URL(fileURLWithPath: path))
        try exercise(try load(path))  // the seed itself is valid
        let outcome = try Fuzzer.run(seed, seed: seedNumber, iterations: iterations, writingTo: path) { _ in try exercise(try load(path)) }
        XCTAssertGreaterThan(outcome.rejected, 0, "\(name): mutations must reach the readers' errors")
    }

    private func fixture(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtureURL(name))) }

    func testFuzzTiktokenRankFile() throws {
        let ranks = Array(try fixture("tokenizers/subset_gpt2.tiktoken").prefix(3000))
        let cut = Array(ranks[..<(ranks.lastIndex(of: 0x0A)! + 1)])
        try fuzz(cut, name: "ranks.tiktoken", seedNumber: 1) { try ByteLevelBPE.load(rankFile: $0, pattern: .gpt2) }
    }

    func testFuzzGPT2VocabAndMerges() throws {
        let vocab = try fixture("tokenizers/subset_gpt2_encoder.json"), merges = try fixture("tokenizers/subset_gpt2_vocab.bpe")
        let vocabPath = dir + "/vocab.json", mergesPath = dir + "/merges.txt"
        try Data(merges).write(to: URL(fileURLWithPath: mergesPath))
        try fuzz(vocab, name: "vocab.json", seedNumber: 2, iterations: Fuzzer.iterations(default: 40)) { try ByteLevelBPE.load(vocabJSON: $0, merges: mergesPath) }
        try Data(vocab).write(to: URL(fileURLWithPath: vocabPath))
        try fuzz(merges, name: "merges.txt", seedNumber: 3, iterations: Fuzzer.iterations(default: 40)) { try ByteLevelBPE.load(vocabJSON: vocabPath, merges: $0) }
    }

    func testFuzzHuggingFaceTokenizerJSON() throws {
        try fuzz(try fixture("models/hf_gpt2_tiny/tokenizer.json"), name: "tokenizer.json", seedNumber: 4) { try loadTokenizer($0) }
    }

    func testFuzzWordPieceVocabulary() throws {
        let lines = try String(contentsOf: fixtureURL("tokenizers/subset_bert_vocab.txt"), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let small = (Array(lines.prefix(110)) + lines.dropFirst(1000).prefix(200)).joined(separator: "\n") + "\n"
        try fuzz(Array(small.utf8), name: "vocab.txt", seedNumber: 5) { try loadTokenizer($0) }
    }

    func testFuzzCharacterVocabulary() throws {
        let characters = Array("\n !',.:;?abcdefghijklmnopqrstuvwxyzü—").map { String($0) }
        let json = try JSONSerialization.data(withJSONObject: ["format": "lmkit-char-vocab", "version": 1, "characters": characters])
        sample = "hello world, tokens: ü — yes!\n"  // a character vocabulary encodes only its characters
        try fuzz([UInt8](json), name: "char_vocab.json", seedNumber: 6) { try loadTokenizer($0) }
    }
}
