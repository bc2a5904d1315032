// The hand-written GPT-2, cl100k and o200k scanners against the same patterns run by ICU (NSRegularExpression,
// with `\s` read as White_Space as tiktoken's Rust regex does) on random awkward Unicode: they must cut identically.
import Foundation
import XCTest
@testable import LMTokenizers

final class SplitPatternTests: XCTestCase {
    func testScannersEqualTheirRegexOnRandomUnicode() throws {
        var rng = SplitMix64(seed: 42)
        for pattern in [SplitPattern.gpt2, .cl100k, .o200k] {
            let oracle = SplitPattern.regex(pattern.regexString)
            for trial in 0..<1500 {
                var text = randomUnicode(&rng, length: Int(rng.next() % 24))
                // Keep scalars assigned before Unicode 13: ICU in Foundation and Swift's stdlib ship different Unicode
                // versions, and a scalar assigned in between is a letter in one and unassigned in the other.
                text = String(String.UnicodeScalarView(text.unicodeScalars.filter { scalar in
                    guard let age = scalar.properties.age else { return false }
                    return age.major < 13
                }))
                let fast = pattern.split(text), slow = oracle.split(text)
                if fast != slow {
                    XCTFail("\(pattern) trial \(trial): \(text.debugDescription)\n scanner \(fast.map { $0.debugDescription })\n regex   \(slow.map { $0.debugDescription })")
                    break
                }
            }
        }
    }

    func testKnownSplits() {
        XCTAssertEqual(SplitPattern.cl100k.split("hello123!!!? (안녕하세요!) 😉"),
                       ["hello", "123", "!!!?", " (", "안녕하세요", "!)", " 😉"])
        XCTAssertEqual(SplitPattern.gpt2.split("I'm  fine\n\n"), ["I", "'m", " ", " fine", "\n\n"])
        XCTAssertEqual(SplitPattern.o200k.split("HELLOworld's  x"), ["HELLOworld's", " ", " x"])
    }

    func testPatternNamesRoundTrip() {
        for p in [SplitPattern.gpt2, .cl100k, .o200k] { XCTAssertEqual(SplitPattern(regexString: p.regexString), p) }
        XCTAssertEqual(SplitPattern(regexString: SplitPattern.gpt2OriginalRegex), .gpt2)
    }
}
