// Atomic writes: the destination changes only on a successful commit, and no temporary file outlives a write,
// whether it succeeded, failed or was abandoned. Errors name the destination and the failed system call.
import Foundation
import XCTest
@testable import _LMSupport

final class AtomicFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lmsupport-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    private func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    func testWholeBufferWriteReplacesContentAndLeavesNoTemporaryFile() throws {
        let path = directory + "/model.bin"
        try AtomicFile.write([1, 2, 3] as [UInt8], to: path)
        try AtomicFile.write("second\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second\n")
        try AtomicFile.write(Data(), to: path)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)).count, 0)
        XCTAssertEqual(try listing(), ["model.bin"])
    }

    func testWriteOntoADirectoryFailsNamingItAndLeavesNothing() throws {
        let target = directory + "/sub"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        for path in [target, target + "/"] {
            XCTAssertThrowsError(try AtomicFile.write("x", to: path)) {
                XCTAssertEqual(($0 as? FileError)?.path, path)
                XCTAssertTrue("\($0)".contains("is a directory"), "\($0)")
            }
        }
        XCTAssertEqual(try listing(), ["sub"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target), [])
    }

    func testMissingDirectoryNamesThePathAndTheSyscall() {
        XCTAssertThrowsError(try AtomicFile.write("x", to: "/nonexistent-lmkit-dir/model.arpa")) {
            let error = $0 as? FileError
            XCTAssertEqual(error?.syscall, "open")
            XCTAssertEqual(error?.code, ENOENT)
            XCTAssertTrue("\($0)".hasPrefix("/nonexistent-lmkit-dir/model.arpa: cannot create the temporary file"), "\($0)")
            XCTAssertTrue("\($0)".contains("(open: No such file or directory)"), "\($0)")
        }
    }

    func testStreamingWriterCommitsBufferedAndLargeChunksInOrder() throws {
        let path = directory + "/stream.txt"
        let large = [UInt8](repeating: UInt8(ascii: "b"), count: 1 << 17)  // skips the buffer
        let file = try AtomicFileWriter(path: path)
        try file.write("a")
        try large.withUnsafeBytes { try file.write($0) }
        try file.write(byte: UInt8(ascii: "c"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "the destination must not appear before commit")
        try file.commit()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data([UInt8(ascii: "a")] + large + [UInt8(ascii: "c")]))
        XCTAssertEqual(try listing(), ["stream.txt"])
    }

    func testAbandonedStreamingWriterKeepsOldContentAndRemovesItsTemporaryFile() throws {
        let path = directory + "/atomic.txt"
        try AtomicFile.write("first\n", to: path)
        do {
            let second = try AtomicFileWriter(path: path)
            try second.write("second\n")
            XCTAssertTrue(FileManager.default.fileExists(atPath: second.temporaryPath))
            // dropped without commit
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first\n")
        XCTAssertEqual(try listing(), ["atomic.txt"])
    }

    func testFailedCommitRemovesTheTemporaryFileAndNamesRename() throws {
        let path = directory + "/late.txt"
        let file = try AtomicFileWriter(path: path)
        try file.write("data")
        // The destination becomes a non-empty directory before the commit, so rename(2) must fail.
        try FileManager.default.createDirectory(atPath: path + "/inner", withIntermediateDirectories: true)
        XCTAssertThrowsError(try file.commit()) {
            XCTAssertEqual(($0 as? FileError)?.syscall, "rename")
            XCTAssertTrue("\($0)".hasPrefix(path + ": cannot move the finished file into place (rename: "), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.temporaryPath))
        XCTAssertEqual(try listing(), ["late.txt"])
    }
}
