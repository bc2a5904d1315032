// Token files: round trips in both widths, and every rejection (missing, truncated, foreign, corrupt) naming the file.
import Foundation
import XCTest
@testable import LMTrain

final class TokenFileTests: XCTestCase {
    var dir = ""
    override func setUpWithError() throws { dir = try makeScratchDirectory("tokenfile") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testRoundTripUInt16() throws {
        let path = dir + "/a.bin"
        let tokens = [0, 1, 64, 65535, 7]
        try TokenFile.write(tokens, vocabularySize: 65536, to: path)
        let file = try TokenFile(path: path)
        XCTAssertEqual(file.bytesPerToken, 2)
        XCTAssertEqual(file.count, 5)
        XCTAssertEqual(file.vocabularySize, 65536)
        XCTAssertEqual(file.tokens(0..<5), tokens)
        XCTAssertEqual(file[3], 65535)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertEqual(size, 32 + 5 * 2)
    }

    func testRoundTripUInt32WhenVocabularyExceedsUInt16() throws {
        let path = dir + "/b.bin"
        let tokens = [0, 65536, 100_276, 3]
        try TokenFile.write(tokens, vocabularySize: 100_277, to: path)
        let file = try TokenFile(path: path)
        XCTAssertEqual(file.bytesPerToken, 4)
        XCTAssertEqual(file.tokens(0..<4), tokens)
        var out = [Int](repeating: -1, count: 2)
        out.withUnsafeMutableBufferPointer { file.copyTokens(from: 1, length: 2, into: $0.baseAddress!) }
        XCTAssertEqual(out, [65536, 100_276])
    }

    func testEmptyFileRoundTrip() throws {
        try TokenFile.write([], vocabularySize: 10, to: dir + "/e.bin")
        XCTAssertEqual(try TokenFile(path: dir + "/e.bin").count, 0)
    }

    func testWriteRejectsOutOfRangeToken() {
        XCTAssertThrowsError(try TokenFile.write([1, 10], vocabularySize: 10, to: dir + "/x.bin")) {
            XCTAssertTrue("\($0)".contains("token 1 is 10"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.bin"))
    }

    /// Writes a valid file, lets `edit` damage its bytes, and checks the error names the file and contains `needle`.
    func assertRejected(_ needle: String, name: String = "bad.bin", file: StaticString = #filePath, line: UInt = #line,
                        _ edit: (inout [UInt8]) -> Void) throws {
        let path = dir + "/" + name
        try TokenFile.write([1, 2, 3, 4], vocabularySize: 50, to: path)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        edit(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TokenFile(path: path), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(path + ":"), "should name the file: \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(needle), "should contain \"\(needle)\": \(message)", file: file, line: line)
        }
    }

    func testRejectsTruncatedHeader() throws { try assertRejected("shorter than the 32-byte") { $0 = Array($0[0..<20]) } }
    func testRejectsTruncatedTokens() throws { try assertRejected("truncated: the header promises 4 tokens") { $0.removeLast(3) } }
    func testRejectsTrailingBytes() throws { try assertRejected("unexpected bytes after the 4 tokens") { $0 += [0, 0] } }
    func testRejectsForeignFile() throws {
        try assertRejected("not an LMKit token file", name: "foreign.txt") { $0 = Array("hello world, this is some text!!!!".utf8) }
    }
    func testRejectsRawNanoGPTBinWithHint() throws {
        try assertRejected("nanoGPT's raw uint16 .bin files have no header") { $0 = Array($0[32...]) + Array(repeating: 0, count: 32) }
    }
    func testRejectsUnknownVersion() throws { try assertRejected("version 7 is not supported") { $0[8] = 7 } }
    func testRejectsBadWidth() throws { try assertRejected("bytes per token is 3") { $0[12] = 3 } }
    func testRejectsVocabularyTooLargeForUInt16() throws {
        try assertRejected("does not fit uint16") { $0[24] = 0; $0[25] = 0; $0[26] = 2 }  // 131072
    }
    func testRejectsTokenOutsideVocabulary() throws {
        try assertRejected("token 2 is 200, not below the vocabulary size 50") { $0[32 + 4] = 200 }
    }
    func testRejectsMissingFile() {
        XCTAssertThrowsError(try TokenFile(path: dir + "/nope.bin")) { XCTAssertTrue("\($0)".contains("cannot open")) }
    }
}
