// `loadTokenizer` and the `Tokenizer` protocol: every file kind is recognized (char vocabulary, tiktoken rank files
// by name, content or explicit encoding, byte-level BPE and WordPiece tokenizer.json, vocab.txt, GPT-2 vocab.json +
// merges.txt, model and data directories); every tokenizer round-trips the awkward strings through the protocol
// where it is lossless and streams exactly what `decode` returns; errors name the file and what was expected.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class TokenizerLoadingTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lmkit-load-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    func copyFixture(_ fixture: String, to name: String) throws -> String {
        let target = path(name)
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixtureURL(fixture).path, toPath: target)
        return target
    }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    func assertError(_ body: @autoclosure () throws -> any Tokenizer, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for part in parts { XCTAssertTrue("\(error)".contains(part), "\"\(error)\" lacks \"\(part)\"", file: file, line: line) }
        }
    }

    /// One tokenizer of each kind, loaded through `loadTokenizer`, and whether it reproduces any text exactly.
    func everyKind(strings: [String]) throws -> [(name: String, tokenizer: any Tokenizer, lossless: Bool)] {
        try CharTokenizer(corpus: strings.joined()).write(to: path("char_vocab.json"))
        let trained = try BPETrainer(vocabularySize: 400, specialTokens: ["<|endoftext|>"])
        trained.add(text: strings.joined(separator: "\n"))
        try trained.train().writeTokenizerJSON(to: path("trained.json"))
        _ = try copyFixture("tokenizers/subset_gpt2_encoder.json", to: "gpt2-files/vocab.json")
        _ = try copyFixture("tokenizers/subset_gpt2_vocab.bpe", to: "gpt2-files/merges.txt")
        let wordPieceTrainer = try WordPieceTrainer(vocabularySize: 400, minFrequency: 1)
        wordPieceTrainer.add(text: strings.joined(separator: "\n"))
        try wordPieceTrainer.train().writeTokenizerJSON(to: path("wordpiece.json"))
        return [
            ("char_vocab.json", try loadTokenizer(path("char_vocab.json")), true),
            ("cl100k_base.tiktoken", try loadTokenizer(try copyFixture("tokenizers/subset_cl100k_base.tiktoken", to: "cl100k_base.tiktoken")), true),
            ("o200k_base (no extension)", try loadTokenizer(try copyFixture("tokenizers/subset_o200k_base.tiktoken", to: "o200k_base")), true),
            ("gpt2 by encoding", try loadTokenizer(fixtureURL("tokenizers/subset_gpt2.tiktoken").path, encoding: "gpt2"), true),
            ("trained tokenizer.json", try loadTokenizer(path("trained.json")), true),
            ("missing-bytes tokenizer.json", try loadTokenizer(MissingBytesTests.fixturePath), false),
            ("GPT-2 vocab.json + merges.txt directory", try loadTokenizer(path("gpt2-files")), true),
            ("WordPiece tokenizer.json", try loadTokenizer(path("wordpiece.json")), false),
            ("WordPiece vocab.txt", try loadTokenizer(fixtureURL("tokenizers/subset_bert_vocab.txt").path), false),
        ]
    }

    func testEveryKindConformsAndRoundTrips() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let strings = fixture.strings
        let kinds = try everyKind(strings: strings)
        let types = kinds.map { "\(type(of: $0.tokenizer))" }
        XCTAssertEqual(types, ["CharTokenizer"] + Array(repeating: "ByteLevelBPE", count: 6) + ["WordPiece", "WordPiece"])
        for (name, tokenizer, lossless) in kinds {
            for s in strings {
                let ids = try tokenizer.encode(s)
                XCTAssertTrue(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize }, "\(name): ids of \(s.debugDescription)")
                XCTAssertFalse(ids.contains { tokenizer.specialTokenIDs.values.contains($0) } && !(tokenizer is WordPiece),
                               "\(name): encode produced a special id for \(s.debugDescription)")
                let text = try tokenizer.decode(ids)
                if lossless { XCTAssertEqual(text, s, "\(name): round trip") }
                var stream = tokenizer.streamingDecoder()
                XCTAssertEqual(try ids.map { try stream.push($0) }.joined() + stream.finish(), text, "\(name): streamed \(s.debugDescription)")
            }
            XCTAssertThrowsError(try tokenizer.decode([tokenizer.vocabularySize]), name)
        }
        // The rank files loaded by name give tiktoken's ids (encode = encode_ordinary).
        for (index, name) in ["cl100k_base", "o200k_base", "gpt2"].enumerated() {
            let tokenizer = kinds[1 + index].tokenizer
            XCTAssertEqual(try strings.map { try tokenizer.encode($0) }, fixture.encodings[name]!.ordinary, name)
            XCTAssertEqual(tokenizer.specialTokenIDs, fixture.encodings[name]!.specials, name)
        }
        XCTAssertEqual(kinds[1].tokenizer.endOfTextID, 100_257)
        XCTAssertEqual(kinds[3].tokenizer.endOfTextID, 50_256)
        XCTAssertEqual(kinds[5].tokenizer.endOfTextID, 0)
        XCTAssertNil(kinds[0].tokenizer.endOfTextID)
        XCTAssertEqual(kinds[0].tokenizer.specialTokenIDs, [:])
        XCTAssertNil(kinds[7].tokenizer.endOfTextID, "BERT has no end-of-text token")
        XCTAssertEqual(kinds[7].tokenizer.specialTokenIDs["[CLS]"], 2)
        XCTAssertEqual(kinds[8].tokenizer.specialTokenIDs["[CLS]"], 101)
    }

    /// WordPiece through the protocol is HF's encoding without `[CLS]`/`[SEP]`, and decodes like HF.
    func testWordPieceThroughTheProtocolMatchesHuggingFace() throws {
        struct Fixture: Decodable { let texts: [String]; let ids: [[Int]]; let decoded: [String] }
        let fixture: Fixture = try loadFixture("tokenizers/bert_wordpiece.json")
        let tokenizer = try loadTokenizer(fixtureURL("tokenizers/subset_bert_vocab.txt").path)
        for (text, (ids, decoded)) in zip(fixture.texts, zip(fixture.ids, fixture.decoded)) where !text.contains("[") {
            let plain = try tokenizer.encode(text)
            XCTAssertEqual(plain, Array(ids.dropFirst().dropLast()), text.debugDescription)
            XCTAssertEqual(try tokenizer.decode(ids), decoded, text.debugDescription)
            var stream = tokenizer.streamingDecoder()
            XCTAssertEqual(try ids.map { try stream.push($0) }.joined() + stream.finish(), decoded, text.debugDescription)
        }
        // Special-token text is ordinary text for `encode` ([MASK] -> "[", "mask", "]"), unlike `tokenize`.
        let wordPiece = try XCTUnwrap(tokenizer as? WordPiece)
        XCTAssertEqual(try tokenizer.encode("[MASK]"), [wordPiece.id(for: "[")!, wordPiece.id(for: "mask")!, wordPiece.id(for: "]")!])
        XCTAssertEqual(wordPiece.tokenize("[MASK]"), [wordPiece.id(for: "[MASK]")!])
    }

    func testDirectories() throws {
        // A model directory with tokenizer.json.
        _ = try copyFixture("tokenizers/missing_bytes_tokenizer.json", to: "model/tokenizer.json")
        try "{}".write(toFile: path("model/config.json"), atomically: true, encoding: .utf8)
        XCTAssertTrue(try loadTokenizer(path("model")) is ByteLevelBPE)
        // A BERT directory with only vocab.txt.
        _ = try copyFixture("tokenizers/subset_bert_vocab.txt", to: "bert/vocab.txt")
        XCTAssertTrue(try loadTokenizer(path("bert")) is WordPiece)
        // A data directory: meta.json names the file, whatever else lies there.
        try FileManager.default.createDirectory(atPath: path("data"), withIntermediateDirectories: true)
        try CharTokenizer(corpus: "abc").write(to: path("data/vocab-of-abc.json"))
        _ = try copyFixture("tokenizers/missing_bytes_tokenizer.json", to: "data/tokenizer.json")
        _ = try write("data/meta.json", #"{"format": "lmkit-data", "version": 1, "tokenizer": "char", "tokenizer_file": "vocab-of-abc.json"}"#)
        let chars = try XCTUnwrap(try loadTokenizer(path("data")) as? CharTokenizer)
        XCTAssertEqual(chars.vocabularySize, 3)
        _ = try write("data/meta.json", #"{"format": "lmkit-data", "version": 1, "tokenizer": "bpe", "tokenizer_file": "vocab-of-abc.json"}"#)
        assertError(try loadTokenizer(self.path("data")), contains: [path("data/meta.json") + ": tokenizer", "meta.json says \"bpe\"", "CharTokenizer"])
        _ = try write("data/meta.json", #"{"format": "lmkit-data", "version": 1, "tokenizer": "char", "tokenizer_file": "gone.json"}"#)
        assertError(try loadTokenizer(self.path("data")), contains: [path("data/gone.json"), "no such file"])
        _ = try write("data/meta.json", #"{"format": "other", "tokenizer_file": "vocab-of-abc.json"}"#)
        assertError(try loadTokenizer(self.path("data")), contains: [path("data/meta.json") + ": format", "lmkit-data"])
        _ = try write("data/meta.json", #"{"format": "lmkit-data", "tokenizer": "char"}"#)
        assertError(try loadTokenizer(self.path("data")), contains: [path("data/meta.json") + ": tokenizer_file"])
    }

    func testErrorsNameTheFileAndWhatWasExpected() throws {
        assertError(try loadTokenizer(self.path("absent.json")), contains: [path("absent.json"), "no such file or directory", "tokenizer.json"])
        try FileManager.default.createDirectory(atPath: path("empty-dir"), withIntermediateDirectories: true)
        _ = try write("empty-dir/notes.txt.bak", "x")
        assertError(try loadTokenizer(self.path("empty-dir")), contains: [path("empty-dir"), "meta.json", "tokenizer.json", "char_vocab.json", "has none of them"])
        _ = try write("empty.json", "")
        assertError(try loadTokenizer(self.path("empty.json")), contains: [path("empty.json"), "the file is empty"])
        _ = try write("blank.tiktoken", " \n\n")
        assertError(try loadTokenizer(self.path("blank.tiktoken")), contains: [path("blank.tiktoken"), "the file is empty"])
        _ = try write("unknown.json", #"{"hello": "world", "list": [1]}"#)
        assertError(try loadTokenizer(self.path("unknown.json")), contains: [path("unknown.json"), "a HF tokenizer.json", "found neither", "hello"])
        _ = try write("array.json", "[1, 2]")
        assertError(try loadTokenizer(self.path("array.json")), contains: [path("array.json"), "a JSON object at the top level"])
        _ = try write("broken.json", "{\"model\": ")
        assertError(try loadTokenizer(self.path("broken.json")), contains: [path("broken.json"), "valid JSON"])
        _ = try write("unigram.json", #"{"model": {"type": "Unigram", "vocab": []}}"#)
        assertError(try loadTokenizer(self.path("unigram.json")), contains: [path("unigram.json") + ": model.type", "\"Unigram\""])
        _ = try write("vocab.json", #"{"a": 0, "b": 1}"#)
        assertError(try loadTokenizer(self.path("vocab.json")), contains: [path("vocab.json"), "GPT-2 vocab.json", "merges.txt"])
        _ = try write("meta.json", #"{"format": "lmkit-data"}"#)
        assertError(try loadTokenizer(self.path("meta.json")), contains: [path("meta.json") + ": format", "pass the directory"])
        _ = try write("notes.md", "just some text\n")
        assertError(try loadTokenizer(self.path("notes.md")), contains: [path("notes.md"), "none of them"])
        // A rank file not named after its encoding needs one: the pattern decides the ids.
        let subset = fixtureURL("tokenizers/subset_cl100k_base.tiktoken").path
        assertError(try loadTokenizer(subset), contains: [subset + ": a rank file named after its encoding", "cl100k_base.tiktoken", "--encoding"])
        assertError(try loadTokenizer(subset, encoding: "p99k"), contains: ["encoding", "\"p99k\""])
        assertError(try loadTokenizer(self.directory, encoding: "gpt2"), contains: [directory, "is a directory"])
        // Errors from the format readers keep their file and line.
        _ = try write("gpt2.tiktoken", "IQ== 0\nnot a line\n")
        assertError(try loadTokenizer(self.path("gpt2.tiktoken")), contains: [path("gpt2.tiktoken") + ":2:"])
        _ = try write("chars.json", #"{"format": "lmkit-char-vocab", "version": 1, "characters": ["ab"]}"#)
        assertError(try loadTokenizer(self.path("chars.json")), contains: [path("chars.json") + ": characters[0]"])
    }
}
