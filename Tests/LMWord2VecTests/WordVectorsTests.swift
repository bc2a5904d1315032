// Tests for Sources/LMWord2Vec/WordVectors.swift: most_similar (positive, negative, restrict_vocab) equals gensim's.
import XCTest
import _TestSupport
@testable import LMWord2Vec

final class WordVectorsTests: XCTestCase {
    func testMostSimilarMatchesGensim() throws {
        let fixture = try loadFixture("word2vec/evaluation.json", as: GensimEvaluationFixture.self)
        let wv = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        for case_ in fixture.most_similar {
            let got = try wv.mostSimilar(positive: case_.positive, negative: case_.negative, topn: case_.topn,
                                         restrictVocab: case_.restrict == 0 ? nil : case_.restrict)
            XCTAssertEqual(got.map(\.word), case_.words, "\(case_.positive) - \(case_.negative)")
            for (g, e) in zip(got.map(\.similarity), case_.similarities) { XCTAssertEqual(g, e, accuracy: 1e-5) }
        }
    }

    func testUnknownWordIsNamed() throws {
        let wv = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        XCTAssertThrowsError(try wv.mostSimilar(positive: ["nonexistent"])) { XCTAssertTrue("\($0)".contains("nonexistent")) }
        XCTAssertEqual(try wv.similarity("king", "king"), 1, accuracy: 1e-6)
    }
}
