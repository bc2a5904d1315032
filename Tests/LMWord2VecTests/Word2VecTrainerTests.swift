// Tests for Sources/LMWord2Vec/Word2VecTrainer.swift: seeded determinism, configuration validation, and learning:
// on a corpus made of two disjoint topics, every architecture/objective puts a word's nearest neighbour in its topic.
import XCTest
@testable import LMWord2Vec

final class Word2VecTrainerTests: XCTestCase {
    /// Two topics of 20 words each; each line draws words from one topic only.
    private func topicCorpus() throws -> CorpusFile {
        var state: UInt64 = 99
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        var text = ""
        for line in 0..<1500 {
            let topic = line % 2 == 0 ? "a" : "b"
            text += (0..<12).map { _ in "\(topic)\(next() % 20)" }.joined(separator: " ") + "\n"
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-topics-\(getpid())-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return try CorpusFile(path: path)
    }

    private func train(_ corpus: CorpusFile, _ edit: (inout Word2VecConfiguration) -> Void) throws -> WordVectors {
        var c = Word2VecConfiguration()
        // 20 dimensions: not a multiple of 16, so the row padding (stride 32) is exercised.
        c.vectorSize = 20; c.window = 3; c.epochs = 3; c.threads = 1; c.minCount = 1; c.sample = 0
        edit(&c)
        let vocab = try Word2VecVocabulary(counting: corpus, minCount: c.minCount, sample: c.sample)
        let model = try Word2VecModel(vocabulary: vocab, configuration: c)
        let report = model.train(corpus: corpus)
        XCTAssertEqual(report.rawWords, 1500 * 12 * c.epochs)
        // Row padding must stay zero and never reach the exported vectors.
        for w in 0..<vocab.words.count { for i in c.vectorSize..<model.stride { XCTAssertEqual(model.syn0[w * model.stride + i], 0) } }
        let vectors = model.wordVectors
        XCTAssertEqual(vectors.vectors.count, vocab.words.count * c.vectorSize)
        return vectors
    }

    func testEveryObjectiveSeparatesTopics() throws {
        let corpus = try topicCorpus()
        let variants: [(String, (inout Word2VecConfiguration) -> Void)] = [
            ("sg+neg", { $0.architecture = .skipGram }),
            ("sg+hs", { $0.architecture = .skipGram; $0.negative = 0; $0.hierarchicalSoftmax = true }),
            ("cbow+neg", { $0.architecture = .cbow }),
            ("cbow+hs sum", { $0.architecture = .cbow; $0.negative = 0; $0.hierarchicalSoftmax = true; $0.cbowMean = false }),
            ("sg+neg 2 threads, subsampling", { $0.architecture = .skipGram; $0.threads = 2; $0.sample = 1e-2 }),
        ]
        for (name, edit) in variants {
            let wv = try train(corpus, edit)
            var sameTopic = 0
            for word in wv.words {
                let nearest = try wv.mostSimilar(positive: [word], topn: 1)[0].word
                if nearest.first == word.first { sameTopic += 1 }
            }
            XCTAssertGreaterThanOrEqual(sameTopic, 38, "\(name): \(sameTopic)/40 nearest neighbours in the same topic")
        }
    }

    func testSingleThreadTrainingIsDeterministic() throws {
        let corpus = try topicCorpus()
        let a = try train(corpus) { $0.architecture = .skipGram; $0.sample = 1e-3; $0.seed = 5 }
        let b = try train(corpus) { $0.architecture = .skipGram; $0.sample = 1e-3; $0.seed = 5 }
        let c = try train(corpus) { $0.architecture = .skipGram; $0.sample = 1e-3; $0.seed = 6 }
        XCTAssertEqual(a.vectors, b.vectors)
        XCTAssertNotEqual(a.vectors, c.vectors)
    }

    func testInvalidConfigurationIsRejected() {
        var c = Word2VecConfiguration()
        c.negative = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("negative")) }
        c = Word2VecConfiguration(); c.window = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("window")) }
        c = Word2VecConfiguration(); c.minAlpha = 1
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("alpha")) }
    }

    func testText8StyleSingleLineIsCutInto10000TokenSentences() throws {
        // 25 000 tokens on one line without a final newline: must train as 10 000 + 10 000 + 5 000 token sentences
        // (gensim Text8Corpus), never overflowing the 10 000-token sentence buffer.
        let text = (0..<25_000).map { "t\($0 % 50)" }.joined(separator: " ")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-text8-\(getpid()).txt").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let corpus = try CorpusFile(path: path)
        for architecture in [Word2VecConfiguration.Architecture.skipGram, .cbow] {
            var c = Word2VecConfiguration()
            c.architecture = architecture; c.vectorSize = 8; c.epochs = 1; c.threads = 2; c.minCount = 1; c.sample = 0
            let vocab = try Word2VecVocabulary(counting: corpus, minCount: 1, sample: 0)
            XCTAssertEqual(vocab.words.count, 50)
            let report = try Word2VecModel(vocabulary: vocab, configuration: c).train(corpus: corpus)
            XCTAssertEqual(report.rawWords, 25_000)
            XCTAssertEqual(report.effectiveWords, 25_000)
        }
    }
}
