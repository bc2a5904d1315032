// Seeded mutation fuzzing of the word2vec vector readers (issue 12), text and binary: a mutated file must be refused
// with an error, or load and answer a most-similar query, without a crash. LMKIT_FUZZ_ITERATIONS=N for longer.
import XCTest
import _TestSupport
@testable import LMWord2Vec

final class Word2VecFuzzTests: XCTestCase {
    private func fuzz(_ fixture: String, format: WordVectorFormat?, seed: UInt64) throws {
        let bytes = [UInt8](try Data(contentsOf: fixtureURL("word2vec/" + fixture)))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-fuzz-\(getpid())-\(fixture)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = try Fuzzer.run(bytes, seed: seed, iterations: Fuzzer.iterations(default: 60), writingTo: path) { _ in
            let vectors = try WordVectors.load(path: path, format: format)
            if let first = vectors.words.first {
                _ = try vectors.mostSimilar(positive: [first], topn: 5, restrictVocab: 40)
            }
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
        XCTAssertGreaterThan(outcome.accepted, 0)
    }

    func testFuzzTextVectors() throws { try fuzz("vectors.txt", format: nil, seed: 21) }
    func testFuzzBinaryVectors() throws { try fuzz("vectors.bin", format: .binary, seed: 22) }
}
