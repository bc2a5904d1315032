// Atomic writes: the destination appears only on commit; an abandoned write leaves the old file and no temporary.
import XCTest
@testable import LMNGram

final class AtomicFileWriterTests: XCTestCase {
    func testCommitReplacesAndAbandonKeepsOldContent() throws {
        let path = temporaryPath("atomic.txt")
        let first = try AtomicFileWriter(path: path)
        try first.write("first\n")
        try first.commit()
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first\n")
        do {
            let second = try AtomicFileWriter(path: path)
            try second.write("second\n")
            // dropped without commit
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
            .filter { $0.hasPrefix("atomic.txt.tmp") }
        XCTAssertEqual(leftovers, [])
    }

    func testUnwritableDirectoryNamesThePath() {
        XCTAssertThrowsError(try AtomicFileWriter(path: "/nonexistent-dir/model.arpa")) {
            XCTAssertTrue("\($0)".contains("/nonexistent-dir/model.arpa"), "\($0)")
        }
    }
}
