// WordPiece against HF `tokenizers.BertWordPieceTokenizer` on bert-base-uncased's vocab.txt (a committed subset with
// the same ids; see the generator): single texts, pairs with type ids, truncation + padding, decode; plus the
// trainer's settings and tokenizer.json round trip.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class WordPieceTests: XCTestCase {
    struct Fixture: Decodable {
        let texts: [String]
        let ids: [[Int]]
        let pairs: [[String]]
        let pair_ids: [[[Int]]]
        let truncated_padded_16: [[[Int]]]
        let decoded: [String]
    }

    func load() throws -> (Fixture, WordPiece) {
        (try loadFixture("tokenizers/bert_wordpiece.json"), try WordPiece.load(vocabTXT: fixtureURL("tokenizers/subset_bert_vocab.txt").path))
    }

    /// tokenizer.json maps token -> id, so a vocabulary holding a token twice (the subset's "[gap]" lines) cannot be one.
    func testTokenizerJSONRefusesDuplicateTokens() throws {
        let (_, tokenizer) = try load()
        let path = NSTemporaryDirectory() + "lmkit-wp-dup-\(UUID().uuidString).json"
        XCTAssertThrowsError(try tokenizer.writeTokenizerJSON(to: path)) { XCTAssertTrue("\($0)".contains("\"[gap]\" twice"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testMatchesBertWordPieceTokenizer() throws {
        let (fixture, tokenizer) = try load()
        for (text, ids) in zip(fixture.texts, fixture.ids) {
            XCTAssertEqual(try tokenizer.encode(text).ids, ids, text.debugDescription)
        }
        for (pair, expected) in zip(fixture.pairs, fixture.pair_ids) {
            let e = try tokenizer.encode(pair[0], pair: pair[1])
            XCTAssertEqual(e.ids, expected[0], pair.debugDescription)
            XCTAssertEqual(e.typeIDs, expected[1], pair.debugDescription)
        }
        for (pair, expected) in zip(fixture.pairs, fixture.truncated_padded_16) {
            let e = try tokenizer.encode(pair[0], pair: pair[1], maxLength: 16, padding: .toMaxLength)
            XCTAssertEqual(e.ids, expected[0], pair.debugDescription)
            XCTAssertEqual(e.typeIDs, expected[1], pair.debugDescription)
            XCTAssertEqual(e.attentionMask, expected[2], pair.debugDescription)
        }
    }

    func testDecodeMatchesHF() throws {
        let (fixture, tokenizer) = try load()
        for (ids, text) in zip(fixture.ids, fixture.decoded) {
            XCTAssertEqual(try tokenizer.decode(ids), text)
        }
    }

    func testRulesOnSmallVocabulary() throws {
        let wp = try WordPiece(vocabulary: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "a", "##b"])
        XCTAssertEqual(wp.wordPieces("unaffable"), [5, 6, 7])
        XCTAssertEqual(wp.wordPieces("unaffablex"), [1], "one unmatched piece makes the whole word [UNK]")
        XCTAssertEqual(wp.wordPieces(String(repeating: "a", count: 101)), [1], "over max_input_chars_per_word")
        XCTAssertEqual(wp.normalize("Héllo\u{0}\tWORLD 中文"), "hello world  中  文 ")
        XCTAssertEqual(wp.preTokenize("hi, there!"), ["hi", ",", "there", "!"])
        XCTAssertThrowsError(try wp.encode("a", pair: "b", maxLength: 2))
        XCTAssertThrowsError(try WordPiece(vocabulary: ["a"])) { XCTAssertTrue("\($0)".contains("[UNK]")) }
    }

    func testTrainerAndTokenizerJSONRoundTrip() throws {
        let trainer = try WordPieceTrainer(vocabularySize: 300, minFrequency: 2)
        let corpus = try englishChunks(limit: 50_000).joined()
        trainer.add(text: corpus)
        let trained = try trainer.train()
        XCTAssertEqual(trained.vocabularySize, 300)
        XCTAssertEqual(Array(trained.vocabulary.prefix(5)), WordPiece.bertSpecialTokens)
        XCTAssertTrue(trained.vocabulary.contains("##e"))
        // Deterministic: the same corpus gives the same vocabulary.
        let again = try WordPieceTrainer(vocabularySize: 300, minFrequency: 2)
        again.add(text: corpus)
        XCTAssertEqual(try again.train().vocabulary, trained.vocabulary)
        let path = NSTemporaryDirectory() + "lmkit-wp-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try trained.writeTokenizerJSON(to: path)
        let reread = try WordPiece.load(tokenizerJSON: path)
        XCTAssertEqual(reread.vocabulary, trained.vocabulary)
        let sample = "First Citizen: Before we proceed any further, hear me speak."
        XCTAssertEqual(try reread.encode(sample, pair: nil), try trained.encode(sample, pair: nil))
        XCTAssertEqual(try trained.decode(trained.encode(sample).ids), "first citizen : before we proceed any further, hear me speak.")
    }
}
