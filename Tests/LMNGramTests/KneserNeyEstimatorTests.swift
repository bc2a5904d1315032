// Estimation against lmplz (fixtures from Scripts/fixtures/ngram_fixtures.py), a hand-computed toy model, the
// sums-to-one invariant, and the errors a user sees for bad corpora and options.
import XCTest
import _TestSupport
@testable import LMNGram

final class KneserNeyEstimatorTests: XCTestCase {
    let corpus = ngramFixture("shakespeare500.txt")

    func testOrder3EqualsLmplz() throws {
        let result = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3))
        assertSameModel(result.tables, try ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa")))
        XCTAssertFalse(result.discounts.contains { $0.usedFallback })
    }

    func testOrder5WithDiscountFallbackEqualsLmplz() throws {
        let options = KneserNeyOptions(order: 5, discountFallback: KneserNeyOptions.defaultFallbackDiscounts)
        let result = try estimateKneserNey(corpusFile: corpus, options: options)
        assertSameModel(result.tables, try ARPAFormat.read(path: ngramFixture("shakespeare500.o5_fallback.arpa")))
        XCTAssertTrue(result.discounts[4].usedFallback, "500 lines have too few repeated 5-grams for KN discounts")
    }

    /// The unpacked context order (for keys too wide to pack with an index) gives the same model.
    func testUnpackedContextOrderEqualsLmplz() throws {
        let bytes = try readFileBytes(corpus)
        let tokenized = try bytes.withUnsafeBytes { try tokenizeCorpus($0, file: corpus) }
        var estimator = try KneserNeyEstimator(corpus: tokenized, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 1, 1]),
                                               file: corpus, progress: nil)
        estimator.packContextKeys = false
        assertSameModel(try estimator.run().tables, try ARPAFormat.read(path: ngramFixture("shakespeare500.o3_prune011.arpa")))
    }

    func testStreamingSinkWritesTheSameARPA() throws {
        let path = temporaryPath("streamed.arpa")
        var writer: ARPAStreamWriter?
        let sink = KneserNeyOutputSink(begin: { writer = try ARPAStreamWriter(path: path, vocabulary: $0, counts: $1) },
                                       order: { try writer!.write($0) })
        let result = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3), sink: sink)
        try writer!.finish()
        XCTAssertTrue(result.tables.orders.isEmpty)
        assertSameModel(try ARPAFormat.read(path: path), try ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa")))
    }

    func testPruneEqualsLmplz() throws {
        let result = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 1, 1]))
        assertSameModel(result.tables, try ARPAFormat.read(path: ngramFixture("shakespeare500.o3_prune011.arpa")))
    }

    /// Rising thresholds: lmplz prunes lower orders by raw count, so a trigram seen twice after the same word survives
    /// even though its continuation count is 1 and its 4-gram extension is pruned.
    func testRisingPruneThresholdsEqualLmplz() throws {
        let options = KneserNeyOptions(order: 5, pruneThresholds: [0, 0, 1, 2, 2], discountFallback: KneserNeyOptions.defaultFallbackDiscounts)
        let result = try estimateKneserNey(corpusFile: corpus, options: options)
        assertSameModel(result.tables, try ARPAFormat.read(path: ngramFixture("shakespeare500.o5_fallback_prune00122.arpa")))
    }

    func testPruneLastThresholdAppliesToHigherOrders() throws {
        let short = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 1]))
        let long = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 1, 1]))
        XCTAssertEqual(short.tables, long.tables)
    }

    /// `--limit_vocab_file`: n-grams with a word outside the 200 most frequent are pruned, their mass goes to the
    /// back-offs and the unigram uniform share is over the kept vocabulary (lmplz's output sums to 1 per context, so
    /// LMKit's must too: checked in testVocabularyLimitedDistributionsSumToOne).
    func testVocabularyLimitEqualsLmplz() throws {
        let limit = try KneserNeyOptions.readVocabularyLimit(path: ngramFixture("shakespeare500.vocab200.txt"))
        XCTAssertEqual(limit.count, 203)
        let result = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, vocabularyLimit: limit))
        let reference = try ARPAFormat.read(path: ngramFixture("shakespeare500.o3_vocab200.arpa"))
        XCTAssertEqual(result.tables.vocabulary.count, 203, "200 words + <unk> <s> </s>; absent words are not added")
        assertSameModel(result.tables, reference)
        XCTAssertEqual(entriesByText(result.tables).filter { $0.key.hasPrefix("1|") }.count, 203)
        // Streaming to an ARPA file gives the same model.
        let path = temporaryPath("vocab-streamed.arpa")
        var writer: ARPAStreamWriter?
        let sink = KneserNeyOutputSink(begin: { writer = try ARPAStreamWriter(path: path, vocabulary: $0, counts: $1) },
                                       order: { try writer!.write($0) })
        _ = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, vocabularyLimit: limit), sink: sink)
        try writer!.finish()
        assertSameModel(try ARPAFormat.read(path: path), reference)
    }

    func testVocabularyLimitCombinesWithPrune() throws {
        let limit = try KneserNeyOptions.readVocabularyLimit(path: ngramFixture("shakespeare500.vocab200.txt"))
        let both = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 1, 1], vocabularyLimit: limit))
        let vocabOnly = try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, vocabularyLimit: limit))
        XCTAssertEqual(both.tables.vocabulary, vocabOnly.tables.vocabulary)
        XCTAssertLessThan(both.tables.counts[2], vocabOnly.tables.counts[2])
    }

    func testVocabularyLimitFileErrorNamesTheFile() {
        let missing = temporaryPath("no-such-vocab.txt")
        XCTAssertThrowsError(try KneserNeyOptions.readVocabularyLimit(path: missing)) { error in
            let error = error as? NGramError
            XCTAssertEqual(error?.file, missing)
            XCTAssertTrue(error?.description.contains(missing) ?? false, "\(String(describing: error))")
            XCTAssertTrue(error?.message.contains("vocabulary limit") ?? false)
        }
    }

    /// The reading rule: any whitespace separates words; blank lines and repeated separators are ignored.
    func testVocabularyLimitFileIsWhitespaceSeparated() throws {
        let path = temporaryPath("vocab-ws.txt")
        try Array("a b\tc\n\n  d\r\ne".utf8).withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: path)) }
        XCTAssertEqual(try KneserNeyOptions.readVocabularyLimit(path: path), ["a", "b", "c", "d", "e"])
    }

    /// Corpus "a b / a b / b", order 2. Unigram continuation counts a=1, b=2, </s>=1 give t3 = 0, so the unigram
    /// discounts fall back to 0.5, 1, 1.5; bigram counts <s> a=2, a b=2, b </s>=3, <s> b=1 give t1..t4 = 1, 2, 1, 0,
    /// Y = 1/5, D1 = 1 - 2·Y·2/1 = 0.2, D2 = 2 - 3·Y·1/2 = 1.7, D3 = 3 - 4·Y·0 = 3.
    /// Unigrams: Σa = 4, γ = (0.5·2 + 1·1)/4 = 0.5, uniform 1/4 (|V| - 1 with <s> excluded):
    ///   p(a) = 0.5/4 + 0.125 = 0.25, p(b) = 1/4 + 0.125 = 0.375, p(</s>) = 0.25, p(<unk>) = 0.125.
    /// Bigrams: context <s>: Σ = 3, γ = (1.7 + 0.2)/3; p(a|<s>) = 0.3/3 + γ·0.25, p(b|<s>) = 0.8/3 + γ·0.375;
    ///   context a: γ = 1.7/2, p(b|a) = 0.3/2 + 0.85·0.375 = 0.46875; context b: γ = 3/3 = 1, p(</s>|b) = 0 + 0.25.
    func testHandComputedToyModel() throws {
        let text = "a b\na b\nb\n"
        let tokenized = try Array(text.utf8).withUnsafeBytes { try tokenizeCorpus($0, file: "toy") }
        let result = try estimateKneserNey(corpus: tokenized, options: KneserNeyOptions(order: 2, discountFallback: [0.5, 1, 1.5]))
        XCTAssertTrue(result.discounts[0].usedFallback)
        XCTAssertFalse(result.discounts[1].usedFallback)
        XCTAssertEqual(result.discounts[1].amounts[1], 0.2, accuracy: 1e-12)
        XCTAssertEqual(result.discounts[1].amounts[2], 1.7, accuracy: 1e-12)
        XCTAssertEqual(result.discounts[1].amounts[3], 3.0, accuracy: 1e-12)
        let gammaBegin = 1.9 / 3
        let expected: [String: (Double, Double)] = [
            "1|<unk>": (0.125, 1), "1|<s>": (1, gammaBegin), "1|</s>": (0.25, 1), "1|a": (0.25, 0.85), "1|b": (0.375, 1),
            "2|<s> a": (0.1 + gammaBegin * 0.25, 1), "2|<s> b": (0.8 / 3 + gammaBegin * 0.375, 1),
            "2|a b": (0.46875, 1), "2|b </s>": (0.25, 1),
        ]
        let actual = entriesByText(result.tables)
        XCTAssertEqual(Set(actual.keys), Set(expected.keys))
        for (key, (probability, backoff)) in expected {
            XCTAssertEqual(Double(actual[key]!.0), log10(probability), accuracy: 1e-6, key)
            XCTAssertEqual(Double(actual[key]!.1), log10(backoff), accuracy: 1e-6, key)
        }
        // Back-off query on the toy model: "b a" uses γ(b)·p(a) and γ(a)·p(</s>).
        let model = try NGramModel(tables: result.tables)
        let score = model.scoreSentence("b a")
        XCTAssertEqual(score.log10Total, log10((0.8 / 3 + gammaBegin * 0.375) * 1.0 * 0.25 * 0.85 * 0.25), accuracy: 1e-6)
    }

    /// Each context's distribution over the vocabulary (all words but <s>) sums to 1, for contexts of every length,
    /// including unseen ones, with and without pruning and a vocabulary limit (over the kept vocabulary).
    func testEachContextDistributionSumsToOne() throws {
        let limit = try KneserNeyOptions.readVocabularyLimit(path: ngramFixture("shakespeare500.vocab200.txt"))
        for (prune, vocabulary) in [([Int](), nil), ([0, 1, 1], nil), ([], limit), ([0, 1, 1], limit)] as [([Int], Set<String>?)] {
            let options = KneserNeyOptions(order: 3, pruneThresholds: prune, vocabularyLimit: vocabulary)
            let result = try estimateKneserNey(corpusFile: corpus, options: options)
            let model = try NGramModel(tables: result.tables)
            let trigrams = result.tables.orders[2]
            var contexts: [[UInt32]] = [[], [SpecialWord.sentenceBegin], [model.wordId("zzz-unseen")]]
            for i in stride(from: 0, to: trigrams.count, by: max(1, trigrams.count / 25)) {
                let words = Array(trigrams.words(at: i))
                contexts.append(Array(words[0..<2]))
                contexts.append([words[1]])
            }
            for context in contexts {
                var state = model.nullContextState
                var next = NGramState()
                for word in context {
                    _ = model.score(word, after: state, next: &next)
                    state = next
                }
                var total = 0.0
                for id in 0..<UInt32(model.vocabularySize) where id != SpecialWord.sentenceBegin {
                    total += pow(10, Double(model.score(id, after: state, next: &next).log10Probability))
                }
                XCTAssertEqual(total, 1, accuracy: 1e-4, "context \(context.map { model.word($0) }) prune \(prune) limited \(vocabulary != nil)")
            }
        }
    }

    func testTooSmallCorpusNamesOrderAndFallback() throws {
        XCTAssertThrowsError(try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 5))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("shakespeare500.txt"), text)
            XCTAssertTrue(text.contains("order 4: no 4-grams with adjusted count 3"), text)
            XCTAssertTrue(text.contains("--discount-fallback"), text)
        }
    }

    func testBadOptionsAreRejected() throws {
        XCTAssertThrowsError(try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [1])))
        XCTAssertThrowsError(try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 3, pruneThresholds: [0, 2, 1])))
        XCTAssertThrowsError(try estimateKneserNey(corpusFile: corpus, options: KneserNeyOptions(order: 0)))
        XCTAssertThrowsError(try estimateKneserNey(corpusFile: "/nonexistent/corpus.txt", options: KneserNeyOptions(order: 3))) {
            XCTAssertTrue("\($0)".contains("/nonexistent/corpus.txt"))
        }
    }
}
