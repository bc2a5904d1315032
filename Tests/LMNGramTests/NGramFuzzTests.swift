// Seeded mutation fuzzing of the n-gram readers (issue 12): ARPA text and the LMKit binary. A mutated file must be
// refused with an error, or load and then score sentences, dump its tables and convert (write ARPA) without a
// crash or a hang. LMKIT_FUZZ_ITERATIONS=N for a longer run.
import XCTest
import _TestSupport
@testable import LMNGram

final class NGramFuzzTests: XCTestCase {
    /// A small order-3 model estimated from the first lines of the fixture corpus, as ARPA text.
    private func seedARPA() throws -> [UInt8] {
        let corpus = try String(contentsOfFile: ngramFixture("shakespeare500.txt"), encoding: .utf8)
            .split(separator: "\n").prefix(12).joined(separator: "\n")
        let path = temporaryPath("fuzz-corpus.txt"), arpa = temporaryPath("fuzz-seed.arpa")
        try corpus.write(toFile: path, atomically: true, encoding: .utf8)
        let options = KneserNeyOptions(order: 3, discountFallback: KneserNeyOptions.defaultFallbackDiscounts)
        try ARPAFormat.write(try estimateKneserNey(corpusFile: path, options: options).tables, to: arpa)
        return try readFileBytes(arpa)
    }

    /// What `ngram query`, `perplexity` and `convert` do with a model.
    private func exercise(_ model: NGramModel) throws {
        _ = model.scoreSentence("the king is dead and my lord", begin: true, end: true)
        _ = model.scoreSentence("unknownword thee", begin: false, end: true)
        try ARPAFormat.write(model.tables(), to: temporaryPath("fuzz-converted.arpa"))
    }

    func testFuzzARPA() throws {
        let seed = try seedARPA()
        let outcome = try Fuzzer.run(seed, seed: 11, iterations: Fuzzer.iterations(default: 80)) { input in
            var bytes = input
            bytes.append(0)
            let tables = try bytes.withUnsafeBytes { try ARPAFormat.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()), file: "fuzz.arpa") }
            try exercise(try NGramModel(tables: tables))
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
        XCTAssertGreaterThan(outcome.accepted, 0)
    }

    func testFuzzBinary() throws {
        let arpa = try seedARPA()
        let tables = try arpa.withUnsafeBytes { raw -> NGramTables in
            var copy = [UInt8](raw)
            copy.append(0)
            return try copy.withUnsafeBytes { try ARPAFormat.parse(UnsafeRawBufferPointer(rebasing: $0.dropLast()), file: "seed.arpa") }
        }
        let binary = temporaryPath("fuzz-seed.lmkbin")
        try NGramModel(tables: tables).write(binaryTo: binary)
        let seed = try readFileBytes(binary)
        let path = temporaryPath("fuzz.lmkbin")
        let outcome = try Fuzzer.run(seed, seed: 12, iterations: Fuzzer.iterations(default: 80), writingTo: path) { _ in
            try exercise(try NGramModel(binaryFile: path, method: .map))
        }
        XCTAssertGreaterThan(outcome.rejected, 0)
    }
}
