// ARPA reading and writing: round trip, and malformed files giving errors that name the file and the line.
import XCTest
import _TestSupport
@testable import LMNGram

final class ARPAFormatTests: XCTestCase {
    func testReadsLmplzFileAndRoundTrips() throws {
        let original = try ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa"))
        XCTAssertEqual(original.order, 3)
        XCTAssertEqual(Array(original.vocabulary.prefix(3)), ["<unk>", "<s>", "</s>"])
        let path = temporaryPath("roundtrip.arpa")
        try ARPAFormat.write(original, to: path)
        let again = try ARPAFormat.read(path: path)
        XCTAssertEqual(again, original)
    }

    private func parse(_ text: String) throws -> NGramTables {
        var bytes = Array(text.utf8)
        bytes.append(0)
        return try bytes.withUnsafeBytes { try ARPAFormat.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()), file: "bad.arpa") }
    }

    private let valid = """

    \\data\\
    ngram 1=4
    ngram 2=2

    \\1-grams:
    -1.0\t<unk>\t0
    0\t<s>\t-0.3
    -0.5\t</s>\t0
    -0.7\ta\t-0.2

    \\2-grams:
    -0.4\t<s> a
    -0.1\ta </s>

    \\end\\

    """

    func testValidSmallFile() throws {
        let tables = try parse(valid)
        XCTAssertEqual(tables.counts, [4, 2])
        XCTAssertEqual(tables.orders[1].log10Probabilities, [-0.4, -0.1])
        XCTAssertEqual(tables.orders[0].log10Backoffs[3], -0.2)
    }

    private func assertError(_ text: String, line: Int?, contains fragment: String, file: StaticString = #filePath, fileLine: UInt = #line) {
        XCTAssertThrowsError(try parse(text), file: file, line: fileLine) { error in
            guard let error = error as? NGramError else { return XCTFail("not an NGramError: \(error)", file: file, line: fileLine) }
            XCTAssertEqual(error.file, "bad.arpa", file: file, line: fileLine)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: fileLine)
            XCTAssertTrue(error.message.contains(fragment), "\(error)", file: file, line: fileLine)
        }
    }

    func testWrongCountsHeader() {
        assertError(valid.replacingOccurrences(of: "ngram 2=2", with: "ngram 2=3"), line: 15, contains: "ngram 2=3")
        assertError(valid.replacingOccurrences(of: "ngram 2=2", with: "ngram 2=1"), line: 14, contains: "\\end\\")
        assertError(valid.replacingOccurrences(of: "ngram 2=2", with: "ngram 3=2"), line: 4, contains: "out of order")
        assertError(valid.replacingOccurrences(of: "ngram 2=2", with: "ngram 2=x"), line: 4, contains: "integers")
    }

    func testBadFloat() {
        assertError(valid.replacingOccurrences(of: "-0.7\ta", with: "-0.7x\ta"), line: 10, contains: "log10 probability \"-0.7x\"")
        assertError(valid.replacingOccurrences(of: "-0.2", with: "abc"), line: 10, contains: "back-off")
    }

    func testMissingSectionAndEnd() {
        assertError(valid.replacingOccurrences(of: "\\2-grams:", with: ""), line: 13, contains: "\\2-grams:")
    }

    func testTruncatedFile() {
        let truncated = valid.components(separatedBy: "\\end\\")[0]
        XCTAssertThrowsError(try parse(truncated)) { XCTAssertTrue("\($0)".contains("missing \\end\\"), "\($0)") }
        XCTAssertThrowsError(try parse("")) { XCTAssertTrue("\($0)".contains("empty file"), "\($0)") }
        XCTAssertThrowsError(try parse("hello\n")) { XCTAssertTrue("\($0)".contains("bad.arpa:1: expected \\data\\"), "\($0)") }
    }

    func testFieldCountAndUnknownWord() {
        assertError(valid.replacingOccurrences(of: "-0.4\t<s> a", with: "-0.4\t<s>"), line: 13, contains: "fields")
        assertError(valid.replacingOccurrences(of: "-0.4\t<s> a", with: "-0.4\t<s> b"), line: 13, contains: "\"b\"")
        assertError(valid.replacingOccurrences(of: "-0.7\ta\t-0.2", with: "-0.7\t</s>\t-0.2"), line: 10, contains: "twice")
    }

    func testMissingUnknownWordGetsKenLMsSubstitute() throws {
        let tables = try parse(valid.replacingOccurrences(of: "ngram 1=4", with: "ngram 1=3")
            .replacingOccurrences(of: "-1.0\t<unk>\t0\n", with: ""))
        XCTAssertEqual(tables.orders[0].log10Probabilities[0], -100)
    }
}
