// Exact-id parity of ByteLevelBPE with tiktoken (cl100k_base, o200k_base, gpt2) on the awkward-string corpus (subset
// rank files, always run) and on 200 KB of English (full rank files, skipped with a message when not fetched);
// special-token rules; round trips on arbitrary bytes and Unicode; the streaming decoder.
import Foundation
import XCTest
import _TestSupport
@testable import LMTokenizers

final class ByteLevelBPETests: XCTestCase {
    static let encodings: [(name: String, file: String, pattern: SplitPattern)] = [
        ("cl100k_base", "cl100k_base.tiktoken", .cl100k), ("o200k_base", "o200k_base.tiktoken", .o200k), ("gpt2", "gpt2.tiktoken", .gpt2),
    ]

    func loadSubset(_ name: String, fixture: TiktokenAwkwardFixture) throws -> ByteLevelBPE {
        let pattern = Self.encodings.first { $0.name == name }!.pattern
        let specials = fixture.encodings[name]!.specials.map { ($0.key, $0.value) }
        return try ByteLevelBPE.load(rankFile: fixtureURL("tokenizers/subset_\(name).tiktoken").path, pattern: pattern, specialTokens: specials)
    }

    func testAwkwardStringsMatchTiktoken() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        for (name, _, _) in Self.encodings {
            let tokenizer = try loadSubset(name, fixture: fixture)
            let expected = fixture.encodings[name]!
            for (i, s) in fixture.strings.enumerated() {
                XCTAssertEqual(tokenizer.encodeOrdinary(s), expected.ordinary[i], "\(name) encodeOrdinary \(s.debugDescription)")
                XCTAssertEqual(try tokenizer.encode(s, allowedSpecial: .all), expected.all_special[i], "\(name) allowed all \(s.debugDescription)")
                if let token = expected.raises[i] {
                    XCTAssertThrowsError(try tokenizer.encode(s, allowedSpecial: .none), "\(name) must refuse \(s.debugDescription)") { error in
                        XCTAssertEqual(error as? TokenizerError, .disallowedSpecialToken(token))
                    }
                } else {
                    XCTAssertEqual(try tokenizer.encode(s, allowedSpecial: .none), expected.ordinary[i], "\(name) encode \(s.debugDescription)")
                }
                XCTAssertEqual(try tokenizer.decode(expected.all_special[i]), s, "\(name) decode")
                // The Tokenizer requirement is tiktoken's encode_ordinary: special text never throws or becomes special.
                XCTAssertEqual(try tokenizer.encode(s), expected.ordinary[i], "\(name) Tokenizer.encode \(s.debugDescription)")
            }
        }
    }

    func testMinbpeParityVector() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let cl100k = try loadSubset("cl100k_base", fixture: fixture)
        XCTAssertEqual(cl100k.encodeOrdinary("hello123!!!? (안녕하세요!) 😉"),
                       [15339, 4513, 12340, 30, 320, 31495, 230, 75265, 243, 92245, 16715, 57037])
        XCTAssertEqual(try cl100k.encode("<|endoftext|>hello world", allowedSpecial: .all), [100257, 15339, 1917])
        // Allowed but not listed: only the allowed one becomes special; disallowing nothing encodes it as text.
        XCTAssertEqual(try cl100k.encode("<|endoftext|>", allowedSpecial: .some(["<|endoftext|>"])), [100257])
        XCTAssertEqual(try cl100k.encode("<|endoftext|>", allowedSpecial: .none, disallowedSpecial: .none), cl100k.encodeOrdinary("<|endoftext|>"))
        XCTAssertThrowsError(try cl100k.encode("a <|fim_prefix|>", allowedSpecial: .some(["<|endoftext|>"])))
    }

    func testEnglishMatchesTiktokenOnFullRankFiles() throws {
        let assets = try requireAssets()
        let fixture: TiktokenEnglishFixture = try loadFixture("tokenizers/tiktoken_english.json")
        let chunks = try englishChunks()
        XCTAssertEqual(chunks.map { $0.utf8.count }, fixture.chunks, "chunking differs from the generator")
        for (name, file, _) in Self.encodings {
            let tokenizer = try ByteLevelBPE.load(encoding: name == "gpt2" ? "gpt2" : name, rankFile: assets + "/" + file)
            for (i, chunk) in chunks.enumerated() {
                let ids = tokenizer.encodeOrdinary(chunk)
                guard case let .int(count) = fixture.encodings[name]![i][0], case let .string(hash) = fixture.encodings[name]![i][1] else {
                    return XCTFail("bad fixture row")
                }
                XCTAssertEqual(ids.count, count, "\(name) chunk \(i) token count")
                XCTAssertEqual(fnvIDs(ids), hash, "\(name) chunk \(i) ids")
            }
            // The minbpe/tiktoken vectors (artifacts.md) on the full files.
            let s = "hello123!!!? (안녕하세요!) 😉"
            let expected: [String: [Int]] = [
                "cl100k_base": [15339, 4513, 12340, 30, 320, 31495, 230, 75265, 243, 92245, 16715, 57037],
                "o200k_base": [24912, 7633, 10880, 30, 350, 14307, 171731, 19406, 47942],
                "gpt2": [31373, 10163, 10185, 30, 357, 168, 243, 230, 167, 227, 243, 47991, 246, 168, 226, 116, 168, 248, 242, 8133, 30325, 231],
            ]
            XCTAssertEqual(tokenizer.encodeOrdinary(s), expected[name], name)
        }
    }

    func testBatchEqualsSequential() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let tokenizer = try loadSubset("cl100k_base", fixture: fixture)
        let texts = fixture.strings + fixture.strings.reversed()
        XCTAssertEqual(tokenizer.encodeOrdinaryBatch(texts, threads: 2), texts.map { tokenizer.encodeOrdinary($0) })
    }

    func testRoundTripArbitraryBytesAndUnicode() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        var rng = SplitMix64(seed: 7)
        for (name, _, _) in Self.encodings {
            let tokenizer = try loadSubset(name, fixture: fixture)
            for _ in 0..<300 {
                let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                XCTAssertEqual(try tokenizer.decodeBytes(tokenizer.encodeOrdinary(bytes: bytes)), bytes, name)
                let text = randomUnicode(&rng, length: Int(rng.next() % 40))
                XCTAssertEqual(try tokenizer.decode(tokenizer.encodeOrdinary(text)), text, name)
            }
        }
    }

    func testLongPiecesUseTheSameMergeOrder() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let tokenizer = try loadSubset("cl100k_base", fixture: fixture)
        // "a"*300 and "ab"*200 are in the fixture (over 256 bytes: the heap path); check a few lengths around the switch.
        for n in [255, 256, 257, 300] {
            let text = String(repeating: "ab", count: n / 2) + (n % 2 == 1 ? "a" : "")
            XCTAssertEqual(try tokenizer.decode(tokenizer.encodeOrdinary(text)), text)
        }
    }

    func testHeapMergeEqualsArrayMerge() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        var rng = SplitMix64(seed: 99)
        for (name, _, _) in Self.encodings {
            let tokenizer = try loadSubset(name, fixture: fixture)
            for _ in 0..<60 {
                let alphabet = Array("abc aé".utf8)
                let piece = (0..<(2 + Int(rng.next() % 400))).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                XCTAssertEqual(tokenizer.mergeForTesting(piece, long: true), tokenizer.mergeForTesting(piece, long: false), name)
            }
        }
    }

    func testDecodeRejectsUnknownIDs() throws {
        let fixture: TiktokenAwkwardFixture = try loadFixture("tokenizers/tiktoken_awkward.json")
        let tokenizer = try loadSubset("gpt2", fixture: fixture)
        XCTAssertThrowsError(try tokenizer.decode([-1])) { XCTAssertEqual($0 as? TokenizerError, .unknownTokenID(-1)) }
        XCTAssertThrowsError(try tokenizer.decode([10_000_000]))
    }
}

/// Deterministic generator for property tests.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Characters chosen to hit every branch of the split patterns: each general category they test, all kinds of
/// White_Space, apostrophes and contraction letters (with `ſ`), marks, digits of several scripts, emoji and ZWJ.
let awkwardScalars: [Unicode.Scalar] = Array(
    "aZsStTmMdDlLvVrReE'' '\t\n\r\u{0B}\u{0C}\u{85}\u{A0}\u{2003}\u{3000}\u{2028}ſǅǈʰˈ0123456789٣۱໑Ⅻ½²!?.,/-_\"(){}<>|@#€😀👍🏽\u{200D}\u{FE0F}\u{301}\u{351}\u{36B}\u{93F}\u{E31}한국中文カアبمשПрΕλ".unicodeScalars)

func randomUnicode(_ rng: inout SplitMix64, length: Int) -> String {
    var s = String.UnicodeScalarView()
    for _ in 0..<length {
        if rng.next() % 8 == 0 {  // any scalar, occasionally
            var v = UInt32(rng.next() % 0x10FFFF)
            if (0xD800...0xDFFF).contains(v) { v = 0x41 }
            s.append(Unicode.Scalar(v)!)
        } else {
            s.append(awkwardScalars[Int(rng.next() % UInt64(awkwardScalars.count))])
        }
    }
    return String(s)
}

final class LlamaCppGPT2Tests: XCTestCase {
    struct Fixture: Decodable { let inputs: [String]; let ids: [[Int]] }

    /// llama.cpp's expected ids for its gpt-2 vocabulary (models/ggml-vocab-gpt-2.gguf.inp/.out), on the subset file.
    func testMatchesLlamaCppExpectedIDs() throws {
        let fixture: Fixture = try loadFixture("tokenizers/llamacpp_gpt2.json")
        let gpt2 = try ByteLevelBPE.load(rankFile: fixtureURL("tokenizers/subset_gpt2.tiktoken").path, pattern: .gpt2)
        XCTAssertEqual(fixture.inputs.count, 46)
        for (text, ids) in zip(fixture.inputs, fixture.ids) { XCTAssertEqual(gpt2.encodeOrdinary(text), ids, text.debugDescription) }
    }
}
