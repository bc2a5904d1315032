// Shared helpers for the tokenizer tests: where the full reference files live (fetched by
// Scripts/fixtures/tokenizers_make_fixtures.py; never downloaded by the tests) and the fixture record types.
import Foundation
import XCTest
import _TestSupport

/// Directory with the full official files (cl100k_base.tiktoken, …), or nil when they have not been fetched.
func tokenizerAssetsDirectory() -> String? {
    let dir = ProcessInfo.processInfo.environment["LMKIT_TOKENIZER_ASSETS"] ?? "/tmp/lmkit-tokenizer-assets"
    return FileManager.default.fileExists(atPath: dir + "/cl100k_base.tiktoken") ? dir : nil
}

func requireAssets() throws -> String {
    guard let dir = tokenizerAssetsDirectory() else {
        throw XCTSkip("full rank files absent: run `python3 Scripts/fixtures/tokenizers_make_fixtures.py` (or set LMKIT_TOKENIZER_ASSETS)")
    }
    return dir
}

struct TiktokenAwkwardFixture: Decodable {
    struct Encoding: Decodable {
        let specials: [String: Int]
        let ordinary: [[Int]]
        let all_special: [[Int]]
        let raises: [String?]
    }
    let strings: [String]
    let encodings: [String: Encoding]
}

struct TiktokenEnglishFixture: Decodable {
    let chunks: [Int]
    let encodings: [String: [[ElementValue]]]
    enum ElementValue: Decodable {
        case int(Int), string(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
        }
    }
}

/// FNV-1a 64 over ids as little-endian UInt32 (the generator's `fnv_ids`).
func fnvIDs(_ ids: [Int]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for id in ids {
        for k in 0..<4 {
            h ^= UInt64((UInt32(truncatingIfNeeded: id) >> (8 * UInt32(k))) & 0xFF)
            h = h &* 0x100_0000_01b3
        }
    }
    let s = String(h, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// The first 200,000 characters of tinyshakespeare cut after the first newline past each 4096 characters (as the generator).
func englishChunks(limit: Int = 200_000, chunk: Int = 4096) throws -> [String] {
    let url = fixturesDirectory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data/tinyshakespeare.txt")
    let text = Array(try String(contentsOf: url, encoding: .utf8).prefix(limit))
    var chunks: [String] = []
    var start = 0
    while start < text.count {
        var end = start + chunk
        while end < text.count && text[end] != "\n" { end += 1 }
        end = min(text.count, end + 1)
        chunks.append(String(text[start..<end])); start = end
    }
    return chunks
}
