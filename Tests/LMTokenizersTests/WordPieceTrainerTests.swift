// WordPieceTrainer: vocabulary layout (specials, alphabet, ## continuations, merges), min frequency, determinism,
// and that a trained vocabulary tokenizes its own corpus without [UNK].
import Foundation
import XCTest
@testable import LMTokenizers

final class WordPieceTrainerTests: XCTestCase {
    func testLayoutAndMerges() throws {
        let trainer = try WordPieceTrainer(vocabularySize: 40, minFrequency: 1)
        trainer.add(text: "hug hug hug pug pun bun hugs")
        let wp = try trainer.train()
        XCTAssertEqual(Array(wp.vocabulary.prefix(5)), WordPiece.bertSpecialTokens)
        // Alphabet (first characters) then "##" continuation characters, sorted by code point, then merges.
        XCTAssertEqual(Array(wp.vocabulary[5..<12]), ["b", "g", "h", "n", "p", "s", "u"])
        XCTAssertEqual(Array(wp.vocabulary[12..<16]), ["##g", "##n", "##s", "##u"])
        XCTAssertTrue(wp.vocabulary.contains("##u") && wp.vocabulary.contains("##g"))
        XCTAssertTrue(wp.vocabulary.contains("##ug"), "the most frequent pair (##u, ##g) is merged into ##ug")
        XCTAssertFalse(try wp.encode("hug pun hugs bun").ids.contains(wp.id(for: "[UNK]")!))
    }

    func testMinFrequencyStopsMerging() throws {
        let trainer = try WordPieceTrainer(vocabularySize: 1000, minFrequency: 100)
        trainer.add(text: "abc abd")
        let wp = try trainer.train()
        XCTAssertFalse(wp.vocabulary.contains { $0.unicodeScalars.count > 1 && !$0.hasPrefix("##") && !$0.hasPrefix("[") })
    }

    func testRejectsBadSettings() {
        XCTAssertThrowsError(try WordPieceTrainer(vocabularySize: 3))
        XCTAssertThrowsError(try WordPieceTrainer(vocabularySize: 100, specialTokens: ["[CLS]"]))
        XCTAssertThrowsError(try WordPieceTrainer(vocabularySize: 100).add(file: "/nonexistent.txt"))
    }
}
