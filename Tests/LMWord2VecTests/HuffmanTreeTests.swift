// Tests for Sources/LMWord2Vec/HuffmanTree.swift: optimality against gensim's tree (same weighted code length; tie
// order may differ), prefix-freeness, and node ids in range.
import XCTest
import _TestSupport
@testable import LMWord2Vec

final class HuffmanTreeTests: XCTestCase {
    func testWeightedCodeLengthEqualsGensim() throws {
        let fixture = try loadFixture("word2vec/vocab.json", as: GensimVocabFixture.self)
        let tree = HuffmanTree(counts: fixture.counts)
        let ours = fixture.counts.indices.reduce(Int64(0)) { $0 + fixture.counts[$1] * Int64(tree.codeLength($1)) }
        let gensim = fixture.counts.indices.reduce(Int64(0)) { $0 + fixture.counts[$1] * Int64(fixture.huffman_code_lengths[$1]) }
        XCTAssertEqual(ours, gensim)
    }

    func testCodesArePrefixFreeAndPointsInRange() {
        let counts: [Int64] = [50, 20, 20, 10, 5, 5, 3, 1, 1]
        let tree = HuffmanTree(counts: counts)
        var codes: [[UInt8]] = []
        for w in counts.indices {
            let range = tree.offsets[w]..<tree.offsets[w + 1]
            codes.append(Array(tree.codes[range]))
            XCTAssertEqual(tree.points[range.lowerBound], Int32(counts.count - 2), "paths start at the root")
            for p in tree.points[range] { XCTAssertTrue((0..<Int32(counts.count - 1)).contains(p)) }
        }
        for a in codes.indices { for b in codes.indices where a != b {
            XCTAssertFalse(codes[b].starts(with: codes[a]), "code \(a) is a prefix of code \(b)")
        } }
        XCTAssertLessThanOrEqual(tree.codeLength(0), tree.codeLength(8), "frequent words get shorter codes")
    }
}
