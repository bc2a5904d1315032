// Hostile input for tokenizers (issue 12): vocabulary sizes that would size allocations (10^11), special files
// given as tokenizer files, and where invalid UTF-8 starts.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import LMTokenizers

final class TokenizerHardeningTests: XCTestCase {
    func testHugeVocabularySizeIsRefusedOrBoundedByTheCorpus() throws {
        XCTAssertThrowsError(try BPETrainer(vocabularySize: 100_000_000_000)) { XCTAssertTrue("\($0)".contains("vocabularySize"), "\($0)") }
        XCTAssertThrowsError(try WordPieceTrainer(vocabularySize: 100_000_000_000)) { XCTAssertTrue("\($0)".contains("vocabularySize"), "\($0)") }
        // A size ids can represent but the corpus cannot fill trains to what the corpus gives, without reserving 2^30.
        let trainer = try BPETrainer(vocabularySize: 1 << 30, minFrequency: 1)
        trainer.add(text: "low lower lowest newer wider")
        let tokenizer = try trainer.train()
        XCTAssertLessThan(tokenizer.vocabularySize, 400)
    }

    func testSpecialFilesAreRefusedAsTokenizers() {
        let fifo = NSTemporaryDirectory() + "tokenizer-\(UUID().uuidString).fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        defer { unlink(fifo) }
        XCTAssertThrowsError(try loadTokenizer(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
    }

    func testFirstInvalidUTF8Offset() {
        XCTAssertNil(firstInvalidUTF8Offset(Array("héllo €".utf8)))
        XCTAssertEqual(firstInvalidUTF8Offset([0x61, 0xFF]), 1)
        XCTAssertEqual(firstInvalidUTF8Offset([0x61, 0xC3, 0xA9, 0xE2, 0x82]), 3, "truncated 3-byte sequence at the end")
        XCTAssertEqual(firstInvalidUTF8Offset([0xC0, 0x80]), 0, "overlong encoding")
    }
}
