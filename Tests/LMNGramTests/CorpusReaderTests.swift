// Corpus tokenization: sentence framing, ids in first-appearance order, and reserved words reported by line.
import XCTest
@testable import LMNGram

final class CorpusReaderTests: XCTestCase {
    func testReservedWordInCorpusNamesLine() throws {
        let text = "a b\nc <s> d\n"
        XCTAssertThrowsError(try Array(text.utf8).withUnsafeBytes { try tokenizeCorpus($0, file: "c.txt") }) { error in
            XCTAssertEqual((error as? NGramError)?.line, 2)
            XCTAssertTrue("\(error)".hasPrefix("c.txt:2:"), "\(error)")
        }
    }

    func testEmptyLinesAreSentencesAsInLmplz() throws {
        let tokenized = try Array("a\n\nb\n".utf8).withUnsafeBytes { try tokenizeCorpus($0, file: "") }
        XCTAssertEqual(tokenized.sentenceCount, 3)
        XCTAssertEqual(tokenized.tokens, [1, 3, 2, 1, 2, 1, 4, 2])
    }

    func testIdsFollowFirstAppearanceAndWhitespaceSplits() throws {
        let tokenized = try Array("b a\tb\r\n  c".utf8).withUnsafeBytes { try tokenizeCorpus($0, file: "") }
        XCTAssertEqual(tokenized.vocabulary, ["<unk>", "<s>", "</s>", "b", "a", "c"])
        XCTAssertEqual(tokenized.tokens, [1, 3, 4, 3, 2, 1, 5, 2])
        XCTAssertEqual(tokenized.wordCount, 4)
    }

    func testUnknownWordInCorpusIsTheUnknownId() throws {
        let tokenized = try Array("a <unk> b\n".utf8).withUnsafeBytes { try tokenizeCorpus($0, file: "") }
        XCTAssertEqual(tokenized.tokens, [1, 3, 0, 4, 2])
    }
}
