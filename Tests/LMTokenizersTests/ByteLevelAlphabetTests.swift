// GPT-2's bytes_to_unicode table: a bijection, printable Latin-1 maps to itself, space is Ġ, newline Ċ.
import XCTest
@testable import LMTokenizers

final class ByteLevelAlphabetTests: XCTestCase {
    func testTable() {
        XCTAssertEqual(Set(ByteLevelAlphabet.characterForByte).count, 256)
        XCTAssertEqual(ByteLevelAlphabet.encode([0x20, 0x68, 0x69]), "Ġhi")
        XCTAssertEqual(ByteLevelAlphabet.encode([0x0A]), "Ċ")
        XCTAssertEqual(ByteLevelAlphabet.encode([0x00]), "Ā")
        XCTAssertEqual(ByteLevelAlphabet.decode(ByteLevelAlphabet.encode(Array(0...255))), Array(0...255))
        XCTAssertNil(ByteLevelAlphabet.decode("€"))
    }
}
