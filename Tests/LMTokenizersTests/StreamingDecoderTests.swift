// The streaming decoder: token-by-token output of every fixture string on cl100k, o200k and gpt2 equals the text and
// never contains U+FFFD, even where a character's bytes are split across tokens; the hold-back rule on raw bytes.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class StreamingDecoderTests: XCTestCase {
    func loadSubset(_ name: String, fixture: TiktokenAwkwardFixture) throws -> ByteLevelBPE {
        let pattern = ByteLevelBPETests.encodings.first { $0.name == name }!.pattern
        return try ByteLevelBPE.load(rankFile: fixtureURL("tokenizers/subset_\(name).tiktoken").path, pattern: pattern,
                                     specialTokens: fixture.encodings[name]!.specials.map { ($0.key, $0.value) })
    }

    func testStreamingDecoderNeverEmitsReplacementForSplitCharacters() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        for (name, _, _) in ByteLevelBPETests.encodings {
            let tokenizer = try loadSubset(name, fixture: fixture)
            for s in fixture.strings {
                var decoder = StreamingDecoder(tokenizer)
                var streamed = ""
                for id in tokenizer.encodeOrdinary(s) {
                    let piece = try decoder.push(id)
                    XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "\(name): U+FFFD streamed for \(s.debugDescription)")
                    streamed += piece
                }
                streamed += decoder.finish()
                XCTAssertEqual(streamed, s, name)
            }
        }
        // A truly invalid byte still comes out as U+FFFD, and an unfinished sequence is flushed by finish().
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xE2, 0x82]), 2)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xE2, 0x28]), 0)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xF0, 0x9F, 0x98]), 3)
        XCTAssertEqual(StreamingDecoder.incompleteSuffixLength([0xED, 0xA0]), 0)  // would be a surrogate
    }
}
