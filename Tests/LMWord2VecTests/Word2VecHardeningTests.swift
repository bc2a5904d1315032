// Hostile sizes (issue 12): headers claiming more vectors than the file holds, a topn of 10^11, negative
// restrict_vocab, vector sizes and negative-sample counts no machine can serve, special files. Each must be a
// Word2VecError naming the file or the field, never a crash or a run without end.
#if canImport(Glibc)
import Glibc
#endif
import XCTest
import _TestSupport
@testable import LMWord2Vec

final class Word2VecHardeningTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("w2v-hardening-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    private func write(_ name: String, _ text: String) -> String {
        let path = dir.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func testHeaderClaimingHugeCountsIsRefusedBeforeAllocating() {
        for header in ["100000000000 2", "2 10000000000", "100000000000 100000000000", "9223372036854775807 9223372036854775807"] {
            for format in [WordVectorFormat.text, .binary, nil] {
                let path = write("huge.vec", "\(header)\na 1 2\nb 3 4\n")
                XCTAssertThrowsError(try WordVectors.load(path: path, format: format)) { error in
                    XCTAssertTrue("\(error)".contains("huge.vec:1: header claims"), "\(header) \(String(describing: format)): \(error)")
                }
            }
        }
        XCTAssertNoThrow(try WordVectors.load(path: write("ok.vec", "2 2\na 1 2\nb 3 4")))
    }

    func testHugeTopnAndNegativeRestrictVocab() throws {
        let vectors = try WordVectors.load(path: fixtureURL("word2vec/vectors.txt").path)
        let all = try vectors.mostSimilar(positive: ["Paris"], topn: 100_000_000_000)
        XCTAssertEqual(all.count, vectors.words.count - 1, "every other word, no more")
        XCTAssertThrowsError(try vectors.mostSimilar(positive: ["Paris"], topn: -1)) { XCTAssertTrue("\($0)".contains("topn")) }
        for restrict in [-5, 0] {
            XCTAssertThrowsError(try vectors.mostSimilar(positive: ["Paris"], restrictVocab: restrict)) { XCTAssertTrue("\($0)".contains("restrict_vocab")) }
            let questions = write("q.txt", ": capitals\nParis France Berlin Germany\n")
            XCTAssertThrowsError(try vectors.evaluateAnalogies(path: questions, restrictVocab: restrict)) { XCTAssertTrue("\($0)".contains("restrict_vocab")) }
            let pairs = write("p.tsv", "Paris\tFrance\t5\n")
            XCTAssertThrowsError(try vectors.evaluateWordPairs(path: pairs, restrictVocab: restrict)) { XCTAssertTrue("\($0)".contains("restrict_vocab")) }
        }
        XCTAssertNoThrow(try vectors.evaluateAnalogies(path: write("q2.txt", ": capitals\nParis France Berlin Germany\n"), restrictVocab: 100_000_000_000))
    }

    func testSizesNoRunCanServeAreRefused() {
        for (edit, field) in [({ (c: inout Word2VecConfiguration) in c.vectorSize = 10_000_000_000 }, "vector size"),
                              ({ $0.vectorSize = Int.max }, "vector size"),
                              ({ $0.negative = 1_000_000_000 }, "negative"),
                              ({ $0.window = Int.max }, "window"),
                              ({ $0.alpha = .infinity }, "alpha"),
                              ({ $0.sample = .infinity }, "sample")] {
            var c = Word2VecConfiguration()
            edit(&c)
            XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains(field), "\($0)") }
        }
    }

    func testSpecialFilesAreRefused() {
        let fifo = dir.appendingPathComponent("vectors.fifo").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try WordVectors.load(path: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try WordVectors.load(path: dir.path)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
    }
}
