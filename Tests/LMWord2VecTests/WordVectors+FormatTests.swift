// Tests for Sources/LMWord2Vec/WordVectors+Format.swift: reading gensim-written text and binary files, round trips,
// and errors that name the file and line/entry for malformed input.
import XCTest
import _TestSupport
@testable import LMWord2Vec

final class WordVectorsFormatTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-format-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func testGensimTextAndBinaryAgree() throws {
        let text = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        let binary = try WordVectors.load(path: fixtureURL("word2vec/vectors.bin").path)
        let forced = try WordVectors.load(path: fixtureURL("word2vec/vectors.bin").path, format: .binary)
        XCTAssertEqual(text.words.count, 60); XCTAssertEqual(text.dimension, 8)
        XCTAssertEqual(text.words, binary.words)
        XCTAssertEqual(binary.vectors, forced.vectors)
        for (a, b) in zip(text.vectors, binary.vectors) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(text.words[10], "Paris")
    }

    func testRoundTripBothFormats() throws {
        let original = try WordVectors.load(path: fixtureURL("word2vec/vectors.bin").path)
        for format in WordVectorFormat.allCases {
            let path = dir.appendingPathComponent("out.\(format.rawValue)").path
            try original.save(path: path, format: format)
            let back = try WordVectors.load(path: path, format: format)
            XCTAssertEqual(back.words, original.words)
            XCTAssertEqual(back.vectors, original.vectors, "\(format) must round-trip exactly")
            XCTAssertEqual(try WordVectors.load(path: path).vectors, original.vectors, "\(format) detected")
        }
        XCTAssertThrowsError(try WordVectors(words: ["a b"], dimension: 1, vectors: [1]).save(path: dir.appendingPathComponent("x").path, format: .text)) {
            XCTAssertTrue("\($0)".contains("whitespace"))
        }
    }

    func testMalformedTextNamesFileAndLine() throws {
        let short = write("short.txt", Array("2 3\na 1 2 3\nb 1 2\n".utf8))
        XCTAssertThrowsError(try WordVectors.load(path: short, format: .text)) {
            XCTAssertTrue("\($0)".contains("short.txt:3:") && "\($0)".contains("expected 3 values"), "\($0)")
        }
        let bad = write("bad.txt", Array("1 2\na 1 zz\n".utf8))
        XCTAssertThrowsError(try WordVectors.load(path: bad, format: .text)) {
            XCTAssertTrue("\($0)".contains("bad.txt:2:") && "\($0)".contains("'zz'"), "\($0)")
        }
        let missing = write("missing.txt", Array("3 2\na 1 2\n".utf8))
        XCTAssertThrowsError(try WordVectors.load(path: missing, format: .text)) {
            XCTAssertTrue("\($0)".contains("missing.txt:3:") && "\($0)".contains("header says 3"), "\($0)")
        }
        let header = write("header.txt", Array("three 2\n".utf8))
        XCTAssertThrowsError(try WordVectors.load(path: header)) { XCTAssertTrue("\($0)".contains("header.txt:1:"), "\($0)") }
    }

    func testTruncatedBinaryNamesEntry() throws {
        var bytes = Array("2 4\nab ".utf8)
        [Float](repeating: 1, count: 4).withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: Array("\ncd ".utf8))
        bytes.append(contentsOf: [0, 0, 128])
        let path = write("trunc.bin", bytes)
        XCTAssertThrowsError(try WordVectors.load(path: path, format: .binary)) {
            XCTAssertTrue("\($0)".contains("trunc.bin") && "\($0)".contains("entry 2 of 2") && "\($0)".contains("'cd'"), "\($0)")
        }
    }
}
