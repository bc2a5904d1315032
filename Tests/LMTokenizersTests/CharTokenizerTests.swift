// CharTokenizer against nanoGPT's shakespeare_char prepare.py (Tests/Fixtures/train/char_prepare.json from
// Scripts/fixtures/train_fixtures.py): vocabulary, ids, round trips, unknown characters and vocabulary files.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class CharTokenizerTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let chars: [String]
        let train_ids: [Int]
        let val_ids: [Int]
    }
    struct Fixture: Decodable { let cases: [Case] }

    func testVocabularyAndIDsMatchNanoGPTPrepare() throws {
        let fixture = try loadFixture("train/char_prepare.json", as: Fixture.self)
        for c in fixture.cases {
            let tokenizer = try CharTokenizer(corpus: c.text)
            XCTAssertEqual(tokenizer.characters.map { String($0) }, c.chars, c.text)
            let ids = try tokenizer.encode(c.text)
            XCTAssertEqual(ids, c.train_ids + c.val_ids, c.text)
            XCTAssertEqual(try tokenizer.decode(ids), c.text)
        }
    }

    func testCarriageReturnLineFeedIsTwoCharacters() throws {
        // Swift's Character would merge "\r\n"; Python (and the vocabulary) sees two.
        let tokenizer = try CharTokenizer(corpus: "a\r\nb")
        XCTAssertEqual(tokenizer.vocabularySize, 4)
        XCTAssertEqual(try tokenizer.encode("\r\n").count, 2)
    }

    func testUnknownCharacterNamesCharacterAndPosition() throws {
        let tokenizer = try CharTokenizer(corpus: "abc\n")
        XCTAssertThrowsError(try tokenizer.encode("ab\ncaz")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("\"z\""), message)
            XCTAssertTrue(message.contains("U+007A"), message)
            XCTAssertTrue(message.contains("position 5"), message)
            XCTAssertTrue(message.contains("line 2, column 3"), message)
        }
        XCTAssertThrowsError(try tokenizer.decode([4])) { XCTAssertEqual($0 as? TokenizerError, .unknownTokenID(4)) }
    }

    func testFileRoundTripAndRejections() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chartok-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // U+FEFF (a byte-order mark at the start of a corpus) must survive the file: Foundation drops it when raw.
        let tokenizer = try CharTokenizer(corpus: "\u{FEFF}hello \"world\"\n\t\\ é😀\u{0}")
        let path = dir + "/vocab.json"
        try tokenizer.write(to: path)
        XCTAssertEqual(try CharTokenizer.load(path), tokenizer)

        func rejects(_ json: String, _ needle: String) {
            let bad = dir + "/bad.json"
            try? json.write(toFile: bad, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try CharTokenizer.load(bad)) { error in
                XCTAssertTrue("\(error)".contains(needle), "\(error) should mention \(needle)")
                XCTAssertTrue("\(error)".contains(bad), "\(error) should name the file")
            }
        }
        rejects("[1, 2]", "JSON object")
        rejects("{\"format\": \"other\", \"version\": 1, \"characters\": [\"a\"]}", "format")
        rejects("{\"format\": \"lmkit-char-vocab\", \"version\": 9, \"characters\": [\"a\"]}", "version 9")
        rejects("{\"format\": \"lmkit-char-vocab\", \"version\": 1, \"characters\": [\"ab\"]}", "characters[0]")
        rejects("{\"format\": \"lmkit-char-vocab\", \"version\": 1, \"characters\": [\"a\", \"a\"]}", "twice")
        XCTAssertThrowsError(try CharTokenizer.load(dir + "/missing.json")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }
}
