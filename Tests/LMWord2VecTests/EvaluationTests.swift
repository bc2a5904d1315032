// Tests for Sources/LMWord2Vec/Evaluation.swift: analogy accuracy per section and word-pair correlations equal
// gensim's evaluate_word_analogies / evaluate_word_pairs on the committed fixtures; rank ties as scipy.
import XCTest
import _TestSupport
@testable import LMWord2Vec

struct GensimEvaluationFixture: Decodable {
    struct Section: Decodable { let section: String; let correct: Int; let incorrect: Int }
    struct Pairs: Decodable { let pearson: Double; let spearman: Double; let oov: Double }
    struct Similar: Decodable {
        let positive: [String]; let negative: [String]; let topn: Int; let restrict: Int
        let words: [String]; let similarities: [Float]
    }
    let analogies_300000: [Section]
    let analogies_23: [Section]
    let pairs: Pairs
    let most_similar: [Similar]
}

final class EvaluationTests: XCTestCase {
    func testAnalogiesMatchGensimPerSection() throws {
        let fixture = try loadFixture("word2vec/evaluation.json", as: GensimEvaluationFixture.self)
        let wv = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        for (restrict, expected) in [(300_000, fixture.analogies_300000), (23, fixture.analogies_23)] {
            for threads in [1, 2] {
                let r = try wv.evaluateAnalogies(path: fixtureURL("word2vec/questions.txt").path, restrictVocab: restrict, threads: threads)
                let got = (r.sections + [r.total]).map { [$0.name, "\($0.correct)", "\($0.incorrect)"] }
                XCTAssertEqual(got, expected.map { [$0.section, "\($0.correct)", "\($0.incorrect)"] }, "restrict \(restrict)")
            }
        }
    }

    func testWordPairsMatchGensim() throws {
        let fixture = try loadFixture("word2vec/evaluation.json", as: GensimEvaluationFixture.self)
        let wv = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        let r = try wv.evaluateWordPairs(path: fixtureURL("word2vec/pairs.tsv").path)
        XCTAssertEqual(r.spearman, fixture.pairs.spearman, accuracy: 1e-5)
        XCTAssertEqual(r.pearson, fixture.pairs.pearson, accuracy: 1e-5)
        XCTAssertEqual(r.outOfVocabularyPercent, fixture.pairs.oov, accuracy: 1e-9)
    }

    func testAverageRanksWithTies() {
        XCTAssertEqual(averageRanks([10, 20, 10, 30, 20, 20]), [1.5, 4, 1.5, 6, 4, 4])
        XCTAssertEqual(spearmanCorrelation([1, 2, 3, 4], [10, 20, 30, 45]), 1, accuracy: 1e-12)
        XCTAssertEqual(spearmanCorrelation([1, 2, 3, 4], [4, 3, 2, 1]), -1, accuracy: 1e-12)
    }

    func testAnalogyFileErrors() throws {
        let wv = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-q-\(getpid()).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("king queen man woman\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try wv.evaluateAnalogies(path: path)) { XCTAssertTrue("\($0)".contains(":1:"), "\($0)") }
        XCTAssertThrowsError(try wv.evaluateWordPairs(path: path + ".missing")) { XCTAssertTrue("\($0)".contains(".missing")) }
    }
}
