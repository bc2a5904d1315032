// The header JSON reader (strict RFC 8259, positions in errors) and the serde_json-compatible string writer.
import XCTest
@testable import LMCheckpoint

final class HeaderJSONTests: XCTestCase {
    private func parse(_ text: String) throws -> JSONValue {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { try JSONParser.parse($0) }
    }

    func testParsesValues() throws {
        XCTAssertEqual(try parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\ud83d\ude00\n\/"} "#),
                       .object([("a", .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null])),
                                ("b", .string("xé😀\n/"))]))
        XCTAssertEqual(try parse("123").nonNegativeInteger, 123)
        XCTAssertNil(try parse("1.0").nonNegativeInteger)
        XCTAssertNil(try parse("-1").nonNegativeInteger)
        XCTAssertNil(try parse("99999999999999999999999").nonNegativeInteger)
    }

    func testRejectsMalformedJSONWithAPosition() {
        for (text, fragment) in [("{\"a\":1,}", "expected a string key"), ("[01]", "leading zero"), ("{\"a\" 1}", "expected ':'"),
                                 ("\"\\ud800\"", "surrogate"), ("\"\\q\"", "invalid escape"), ("{} x", "after the JSON value"),
                                 ("[1,", "unexpected end"), ("tru", "expected 'true'")] {
            XCTAssertThrowsError(try parse(text), text) { error in
                let e = error as! JSONParseError
                XCTAssertTrue(e.message.contains(fragment), "\(text): \(e.message)")
            }
        }
    }

    func testStringEscapingMatchesSerdeJSON() {
        var out: [UInt8] = []
        appendJSONString("a\"\\/é\t\n\r\u{8}\u{C}\u{1}\u{1F}\u{7F}", to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #""a\"\\/é\t\n\r\b\f\u0001\u001f"# + "\u{7F}\"")
    }
}
