// Query parity with KenLM (`query` per-word output and the Python module's sentence scores, from the fixture), the
// decoder state API, and the binary format: mmap round trip, binary → ARPA, and damaged files giving clear errors.
import XCTest
import _TestSupport
@testable import LMNGram

final class NGramModelTests: XCTestCase {
    func loadQueries() throws -> QueryFixture { try loadFixture("ngram/queries.json") }

    func testQueryEqualsKenLM() throws {
        let fixture = try loadQueries()
        for (name, expected) in fixture.models {
            let model = try NGramModel(tables: ARPAFormat.read(path: ngramFixture(expected.arpa)))
            var corpus = NGramCorpusScore()
            for (index, sentence) in fixture.sentences.enumerated() {
                var words = sentence.split(separator: " ").map(String.init)
                let ids = words.map { model.wordId($0) }
                words.append("</s>")
                var scores: [NGramWordScore] = []
                let score = model.scoreSentence(ids) { scores.append($0) }
                let reference = expected.query[index]
                XCTAssertEqual(scores.count, reference.words.count, "\(name) sentence \(index)")
                for (mine, theirs) in zip(scores, reference.words) {
                    XCTAssertEqual(mine.log10Probability, theirs.log10_prob, accuracy: 1e-4, "\(name): \(theirs.word) in \"\(sentence)\"")
                    XCTAssertEqual(mine.ngramLength, theirs.ngram_length, "\(name): \(theirs.word) in \"\(sentence)\"")
                    XCTAssertEqual(Int(mine.wordId), theirs.id, "\(name): \(theirs.word)")
                    XCTAssertEqual(mine.isUnknown, theirs.id == 0)
                }
                XCTAssertEqual(score.outOfVocabularyCount, reference.oov)
                XCTAssertEqual(score.log10Total, Double(reference.total), accuracy: 1e-4)
                XCTAssertEqual(score.log10Total, expected.python_score[index], accuracy: 1e-4, "kenlm.Model.score, \(name)")
                XCTAssertEqual(model.scoreSentence(sentence).log10Total, score.log10Total, accuracy: 1e-9)
                corpus.log10Total += score.log10Total
                corpus.log10OutOfVocabulary += score.log10OutOfVocabulary
                corpus.tokenCount += score.tokenCount
                corpus.outOfVocabularyCount += score.outOfVocabularyCount
            }
            XCTAssertEqual(corpus.perplexityIncludingOOVs, expected.summary["Perplexity including OOVs"]!, accuracy: 1e-4 * corpus.perplexityIncludingOOVs)
            XCTAssertEqual(corpus.perplexityExcludingOOVs, expected.summary["Perplexity excluding OOVs"]!, accuracy: 1e-4 * corpus.perplexityExcludingOOVs)
            XCTAssertEqual(Double(corpus.outOfVocabularyCount), expected.summary["OOVs"]!)
            XCTAssertEqual(Double(corpus.tokenCount), expected.summary["Tokens"]!)
        }
    }

    func testScoreCorpusMatchesSentenceScores() throws {
        let fixture = try loadQueries()
        let model = try NGramModel(tables: ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa")))
        let text = fixture.sentences.joined(separator: "\n") + "\n"
        let total = Array(text.utf8).withUnsafeBytes { scoreCorpus(model, $0) }
        XCTAssertEqual(total.sentenceCount, fixture.sentences.count)
        XCTAssertEqual(total.log10Total, fixture.models["o3"]!.python_score.reduce(0, +), accuracy: 1e-3)
    }

    func testStateAPIMatchesSentenceScoring() throws {
        let model = try NGramModel(tables: ARPAFormat.read(path: ngramFixture("shakespeare500.o5_fallback.arpa")))
        let words = "Before we proceed any further, hear me speak.".split(separator: " ").map { model.wordId(String($0)) }
        var state = model.beginSentenceState
        var next = NGramState()
        var total = 0.0
        for word in words + [SpecialWord.sentenceEnd] {
            total += Double(model.score(word, after: state, next: &next).log10Probability)
            XCTAssertLessThanOrEqual(next.length, model.order - 1)
            state = next
        }
        XCTAssertEqual(total, model.scoreSentence(words).log10Total, accuracy: 1e-9)
        // A training sentence: the matched n-gram grows to the full order and stays there.
        var lengths: [Int] = []
        _ = model.scoreSentence(words) { lengths.append($0.ngramLength) }
        XCTAssertEqual(lengths, [2, 3, 4, 5, 5, 5, 5, 5, 5])
        XCTAssertEqual(model.nullContextState.length, 0)
    }

    func testBinaryRoundTripViaMmap() throws {
        let tables = try ARPAFormat.read(path: ngramFixture("shakespeare500.o3_prune011.arpa"))
        let built = try NGramModel(tables: tables)
        let path = temporaryPath("model.lmkbin")
        try built.write(binaryTo: path)
        let loaded = try NGramModel(binaryFile: path)
        XCTAssertEqual(loaded.order, 3)
        XCTAssertEqual(loaded.counts, tables.counts)
        XCTAssertEqual(loaded.source, path)
        let fixture = try loadQueries()
        for sentence in fixture.sentences {
            XCTAssertEqual(loaded.scoreSentence(sentence), built.scoreSentence(sentence))
        }
        // Binary → list form → ARPA keeps every value exactly.
        assertSameModel(loaded.tables(), tables, tolerance: 0)
        // Reading into huge-page memory gives the same model as mapping.
        let read = try NGramModel(binaryFile: path, method: .read)
        for sentence in fixture.sentences {
            XCTAssertEqual(read.scoreSentence(sentence), built.scoreSentence(sentence))
        }
        XCTAssertThrowsError(try NGramModel(binaryFile: NSTemporaryDirectory(), method: .read)) {
            XCTAssertTrue("\($0)".contains("is a directory"), "\($0)")
            XCTAssertTrue($0 is NGramError)
        }
    }

    func testDamagedBinaryGivesClearErrors() throws {
        let tables = try ARPAFormat.read(path: ngramFixture("shakespeare500.o3_prune011.arpa"))
        let path = temporaryPath("damaged.lmkbin")
        try NGramModel(tables: tables).write(binaryTo: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))

        func expectError(_ data: Data, _ fragment: String, line: UInt = #line) throws {
            let damaged = temporaryPath("damaged-\(line).lmkbin")
            try data.write(to: URL(fileURLWithPath: damaged))
            XCTAssertThrowsError(try NGramModel(binaryFile: damaged), line: line) { error in
                XCTAssertTrue("\(error)".hasPrefix(damaged), "\(error)", line: line)
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        try expectError(bytes.prefix(bytes.count - 100), "truncated")
        try expectError(bytes.prefix(100), "shorter than")
        var badMagic = bytes
        badMagic[0] = UInt8(ascii: "X")
        try expectError(badMagic, "bad magic")
        var badVersion = bytes
        badVersion[8] = 9
        try expectError(badVersion, "version 9")
        var badOffset = bytes
        badOffset.replaceSubrange(48..<56, with: [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0])   // field 6: vocabulary blob
        try expectError(badOffset, "vocabulary_blob")
        XCTAssertThrowsError(try NGramModel(binaryFile: "/nonexistent.lmkbin")) { XCTAssertTrue("\($0)".contains("/nonexistent.lmkbin")) }
    }

    func testVocabularyLookup() throws {
        let model = try NGramModel(tables: ARPAFormat.read(path: ngramFixture("shakespeare500.o3.arpa")))
        XCTAssertEqual(model.wordId("<unk>"), 0)
        XCTAssertEqual(model.wordId("<s>"), 1)
        XCTAssertEqual(model.wordId("</s>"), 2)
        XCTAssertEqual(model.wordId("First"), 3)
        XCTAssertEqual(model.word(3), "First")
        XCTAssertEqual(model.wordId("never-seen-word"), 0)
        XCTAssertEqual(model.wordId(""), 0)
        for id in 0..<UInt32(model.vocabularySize) { XCTAssertEqual(model.wordId(model.word(id)), id) }
    }
}
