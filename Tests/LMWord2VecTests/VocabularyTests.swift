// Tests for Sources/LMWord2Vec/Vocabulary.swift against gensim 4.4's build_vocab on the committed synthetic corpus
// (Tests/Fixtures/word2vec/vocab.json, made by Scripts/fixtures/word2vec_fixtures.py).
import XCTest
import _TestSupport
@testable import LMWord2Vec

struct GensimVocabFixture: Decodable {
    let words: [String]
    let counts: [Int64]
    let sample_int: [UInt64]
    let cum_table: [UInt32]
    let huffman_code_lengths: [Int]
    let corpus_total_words: Int64
    let max_final_vocab_40_size: Int
}

final class VocabularyTests: XCTestCase {
    func testCountsAndOrderMatchGensim() throws {
        let fixture = try loadFixture("word2vec/vocab.json", as: GensimVocabFixture.self)
        let corpus = try CorpusFile(path: fixtureURL("word2vec/corpus.txt").path)
        let vocab = try Word2VecVocabulary(counting: corpus, minCount: 2, sample: 1e-3)
        XCTAssertEqual(vocab.totalTokenCount, fixture.corpus_total_words)
        XCTAssertEqual(vocab.words.count, fixture.words.count)
        let gensim = Dictionary(uniqueKeysWithValues: zip(fixture.words, zip(fixture.counts, fixture.sample_int)))
        for (i, word) in vocab.words.enumerated() {
            guard let (count, sampleInt) = gensim[word] else { XCTFail("\(word) not in gensim vocabulary"); continue }
            XCTAssertEqual(vocab.counts[i], count, word)
            XCTAssertEqual(vocab.sampleInt[i], sampleInt, word)
            XCTAssertEqual(vocab.index(of: word), i)
        }
        XCTAssertEqual(vocab.counts, vocab.counts.sorted(by: >), "descending count order")
        XCTAssertNil(vocab.index(of: "no-such-word"))
    }

    func testCumulativeTableMatchesGensim() throws {
        let fixture = try loadFixture("word2vec/vocab.json", as: GensimVocabFixture.self)
        // gensim's tie order differs (unstable argsort), so the table is compared on gensim's own count order.
        XCTAssertEqual(Word2VecVocabulary.cumulativeTable(counts: fixture.counts), fixture.cum_table)
    }

    func testMaxFinalVocabRaisesMinCountLikeGensim() throws {
        let fixture = try loadFixture("word2vec/vocab.json", as: GensimVocabFixture.self)
        let corpus = try CorpusFile(path: fixtureURL("word2vec/corpus.txt").path)
        let vocab = try Word2VecVocabulary(counting: corpus, minCount: 2, maxFinalVocab: 40)
        XCTAssertEqual(vocab.words.count, fixture.max_final_vocab_40_size)
    }

    func testSampleZeroKeepsEverything() throws {
        let vocab = try Word2VecVocabulary(wordCounts: [("a", 1000), ("b", 3)], minCount: 1, sample: 0)
        XCTAssertEqual(vocab.sampleInt, [0xFFFF_FFFF, 0xFFFF_FFFF])
    }

    func testNegativeSamplerEqualsBisectLeft() throws {
        let fixture = try loadFixture("word2vec/vocab.json", as: GensimVocabFixture.self)
        let sampler = NegativeSampler(cumTable: fixture.cum_table)
        defer { sampler.deallocate() }
        var state: UInt64 = 12345
        for _ in 0..<20_000 {
            let r = state >> 16
            state = (state &* 25_214_903_917 &+ 11) & 0xFFFF_FFFF_FFFF
            let x = r % UInt64(fixture.cum_table.last!)
            let expected = fixture.cum_table.firstIndex { UInt64($0) >= x }!
            XCTAssertEqual(sampler.sample(r), expected)
        }
    }

    func testErrorsNameTheProblem() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-vocab-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.txt").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertThrowsError(try CorpusFile(path: empty)) { XCTAssertTrue("\($0)".contains("empty.txt")) }
        XCTAssertThrowsError(try CorpusFile(path: dir.appendingPathComponent("missing.txt").path)) {
            XCTAssertTrue("\($0)".contains("missing.txt"))
        }
        let rare = dir.appendingPathComponent("rare.txt").path
        _ = FileManager.default.createFile(atPath: rare, contents: Data("a b c\n".utf8))
        XCTAssertThrowsError(try Word2VecVocabulary(counting: CorpusFile(path: rare), minCount: 5)) {
            XCTAssertTrue("\($0)".contains("min_count"), "\($0)")
        }
    }
}
