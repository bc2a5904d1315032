// Tests for Sources/LMWord2Vec/Corpus.swift: tokenization, sentence ends and the byte-range partitioning that gives
// each training thread its share (every token exactly once, whatever the split points).
import XCTest
@testable import LMWord2Vec

final class CorpusTests: XCTestCase {
    private func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-corpus-\(getpid())-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func tokens(_ corpus: CorpusFile, _ range: Range<Int>) -> [(String, Bool)] {
        var out: [(String, Bool)] = []
        corpus.forEachToken(in: range) { out.append((String(decoding: $0, as: UTF8.self), $1)) }
        return out
    }

    func testTokensAndSentenceEnds() throws {
        let corpus = try CorpusFile(path: write("  the cat\tsat \r\n\n on  the mat\nend"))
        let all = tokens(corpus, 0..<corpus.byteCount)
        XCTAssertEqual(all.map(\.0), ["the", "cat", "sat", "on", "the", "mat", "end"])
        XCTAssertEqual(all.map(\.1), [false, false, true, false, false, true, true])
    }

    func testPartitionsSeeEveryTokenOnce() throws {
        var text = ""
        for i in 0..<500 { text += (0..<(i % 7 + 1)).map { "w\($0 * i)" }.joined(separator: i % 3 == 0 ? "  " : " ") + "\n" }
        let corpus = try CorpusFile(path: write(text))
        let expected = tokens(corpus, 0..<corpus.byteCount).map(\.0)
        for parts in [1, 2, 3, 7, 64] {
            let got = corpus.partitions(parts).flatMap { tokens(corpus, $0).map(\.0) }
            XCTAssertEqual(got, expected, "\(parts) partitions")
        }
    }
}
