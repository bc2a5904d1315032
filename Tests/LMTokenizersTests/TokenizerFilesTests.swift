// File formats: tiktoken rank files, GPT-2 vocab.json + merges.txt, HF tokenizer.json — write/read round trips that
// keep ids identical, HF parity with GPT-2's encoder.json + vocab.bpe, and errors that name the file, line or field.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class TokenizerFilesTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lmkit-tok-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func fixtureTokenizers() throws -> (TiktokenAwkwardFixture, [ByteLevelBPE]) {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let tokenizers = try ByteLevelBPETests.encodings.map { name, _, pattern in
            try ByteLevelBPE.load(rankFile: fixtureURL("tokenizers/subset_\(name).tiktoken").path, pattern: pattern,
                                  specialTokens: fixture.encodings[name]!.specials.map { ($0.key, $0.value) })
        }
        return (fixture, tokenizers)
    }

    func testRankFileErrorsNameTheLine() throws {
        let good = "IQ== 0\n"
        let cases: [(String, String)] = [
            (good + "nospace\n", ":2: `<base64 token> <rank>`"),
            (good + "!!!notbase64 1\n", ":2: a base64 token"),
            (good + "Ig== x1\n", ":2: a non-negative integer rank"),
            ("", ": at least one"),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let path = try write("bad\(i).tiktoken", text)
            XCTAssertThrowsError(try ByteLevelBPE.readRankFile(path)) { error in
                XCTAssertTrue("\(error)".contains(path + expected), "\(error)")
            }
        }
        // A rank file without all 256 bytes is not byte-level BPE.
        let path = try write("few.tiktoken", good)
        XCTAssertThrowsError(try ByteLevelBPE.load(rankFile: path, pattern: .gpt2)) { XCTAssertTrue("\($0)".contains("every single byte"), "\($0)") }
        XCTAssertThrowsError(try ByteLevelBPE.readRankFile(directory + "/missing.tiktoken")) {
            XCTAssertEqual($0 as? TokenizerError, .io(path: directory + "/missing.tiktoken", reason: "no such file"))
        }
    }

    func testRankFileRoundTrip() throws {
        let (fixture, tokenizers) = try fixtureTokenizers()
        let path = directory + "/out.tiktoken"
        try tokenizers[0].writeRankFile(to: path)
        let reread = try ByteLevelBPE.load(rankFile: path, pattern: .cl100k)
        for s in fixture.strings { XCTAssertEqual(reread.encodeOrdinary(s), tokenizers[0].encodeOrdinary(s)) }
    }

    func testTokenizerJSONRoundTripKeepsIDs() throws {
        let (fixture, tokenizers) = try fixtureTokenizers()
        for tokenizer in tokenizers {
            let path = directory + "/tokenizer.json"
            try tokenizer.writeTokenizerJSON(to: path)
            let reread = try ByteLevelBPE.load(tokenizerJSON: path)
            XCTAssertEqual(reread.pattern, tokenizer.pattern)
            XCTAssertEqual(reread.mergeRule, .ranks, "ignore_merges + rank-ordered merges reads back as tiktoken's rule")
            for s in fixture.strings {
                XCTAssertEqual(try reread.encode(s, allowedSpecial: .all), try tokenizer.encode(s, allowedSpecial: .all), s.debugDescription)
            }
        }
        // A trained (merges-rule) tokenizer through tokenizer.json and through vocab.json + merges.txt.
        let trainer = try BPETrainer(vocabularySize: 400, specialTokens: ["<|endoftext|>"])
        trainer.add(text: fixture.strings.joined(separator: "\n"))
        let trained = try trainer.train()
        try trained.writeTokenizerJSON(to: directory + "/trained.json")
        try trained.writeVocabAndMerges(vocabJSON: directory + "/vocab.json", merges: directory + "/merges.txt")
        let viaJSON = try ByteLevelBPE.load(tokenizerJSON: directory + "/trained.json")
        let viaFiles = try ByteLevelBPE.load(vocabJSON: directory + "/vocab.json", merges: directory + "/merges.txt")
        XCTAssertEqual(viaJSON.mergeRule, .merges)
        for s in fixture.strings {
            let ids = try trained.encode(s, allowedSpecial: .all)
            XCTAssertEqual(try viaJSON.encode(s, allowedSpecial: .all), ids)
            XCTAssertEqual(try viaFiles.encode(s, allowedSpecial: .all), ids)
        }
    }

    func testMalformedTokenizerJSONNamesTheField() throws {
        let cases: [(String, String)] = [
            ("{", "valid JSON"),
            ("[]", "a JSON object at the top level"),
            ("{\"pre_tokenizer\": null}", "model: an object"),
            ("{\"model\": {\"type\": \"Unigram\"}}", "model.type: \"Unigram\""),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}", "pre_tokenizer.type"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.vocab[\"a\"]: an integer id"),
            ("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", "model.merges[0]"),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let path = try write("bad\(i).json", text)
            XCTAssertThrowsError(try ByteLevelBPE.load(tokenizerJSON: path)) { error in
                XCTAssertTrue("\(error)".contains(path) && "\(error)".contains(expected), "case \(i): \(error)")
            }
        }
        let merges = try write("merges.txt", "#version: 0.2\nĠ t\nbad line here\n")
        XCTAssertThrowsError(try ByteLevelBPE.readMergesText(merges)) { XCTAssertTrue("\($0)".contains(merges + ":3:"), "\($0)") }
    }

    struct HFGPT2Fixture: Decodable { let strings: [String]; let ids: [[Int]] }

    /// GPT-2's encoder.json + vocab.bpe through HF `tokenizers` (ByteLevelBPETokenizer) on the awkward strings; the
    /// committed subset files keep every token and merge these texts can reach, with the original ids and order.
    func testGPT2EncoderJSONAndVocabBPEMatchHuggingFace() throws {
        let fixture: HFGPT2Fixture = try loadFixture("tokenizers/hf_gpt2_awkward.json")
        let tokenizer = try ByteLevelBPE.load(vocabJSON: fixtureURL("tokenizers/subset_gpt2_encoder.json").path,
                                              merges: fixtureURL("tokenizers/subset_gpt2_vocab.bpe").path)
        XCTAssertEqual(tokenizer.mergeRule, .merges)
        for (s, ids) in zip(fixture.strings, fixture.ids) {
            XCTAssertEqual(try tokenizer.encode(s, allowedSpecial: .all), ids, s.debugDescription)
        }
    }
}
