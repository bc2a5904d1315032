// Helpers for the n-gram tests: fixture paths and comparing two models entry by entry through their word strings.
import XCTest
import _TestSupport
@testable import LMNGram

/// Path of a file under Tests/Fixtures/ngram.
func ngramFixture(_ name: String) -> String { fixtureURL("ngram/" + name).path }

/// A fresh path in a per-test temporary directory.
func temporaryPath(_ name: String) -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lmngram-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory.appendingPathComponent(name).path
}

/// Map from "order|w1 w2 …" to (log10 p, log10 back-off).
func entriesByText(_ tables: NGramTables) -> [String: (Float, Float)] {
    var result: [String: (Float, Float)] = [:]
    for table in tables.orders {
        for i in 0..<table.count {
            let text = table.words(at: i).map { tables.vocabulary[Int($0)] }.joined(separator: " ")
            result["\(table.order)|\(text)"] = (table.log10Probabilities[i], table.log10Backoffs[i])
        }
    }
    return result
}

/// Asserts that both models have the same n-grams with probabilities and back-offs within `tolerance`.
func assertSameModel(_ mine: NGramTables, _ reference: NGramTables, tolerance: Float = 1e-4,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(mine.counts, reference.counts, "n-gram counts per order", file: file, line: line)
    let a = entriesByText(mine), b = entriesByText(reference)
    XCTAssertEqual(Set(a.keys), Set(b.keys), "n-gram sets", file: file, line: line)
    var worst: Float = 0
    var failures = 0
    for (key, expected) in b {
        guard let actual = a[key] else { continue }
        let difference = max(abs(actual.0 - expected.0), abs(actual.1 - expected.1))
        worst = max(worst, difference)
        if difference > tolerance && failures < 5 {
            failures += 1
            XCTFail("\(key): LMKit (\(actual.0), \(actual.1)) vs reference (\(expected.0), \(expected.1))", file: file, line: line)
        }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, file: file, line: line)
}

/// The fixture written by Scripts/fixtures/ngram_fixtures.py.
struct QueryFixture: Decodable {
    struct WordScore: Decodable {
        let word: String
        let id: Int
        let ngram_length: Int
        let log10_prob: Float
    }
    struct Sentence: Decodable {
        let words: [WordScore]
        let total: Float
        let oov: Int
    }
    struct Model: Decodable {
        let order: Int
        let lmplz_args: [String]
        let arpa: String
        let query: [Sentence]
        let summary: [String: Double]
        let python_score: [Double]
    }
    let training_text: String
    let sentences: [String]
    let models: [String: Model]
}
