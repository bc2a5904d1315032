// Read-only mappings: bytes as in the file, empty files as zero bytes, and named errors for what cannot be mapped.
import Foundation
import XCTest
@testable import _LMSupport

final class MappedFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lmsupport-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func testMapsTheFileBytes() throws {
        let path = directory + "/data.bin"
        try Data([1, 2, 3, 250]).write(to: URL(fileURLWithPath: path))
        let file = try MappedFile(path: path)
        XCTAssertEqual(file.byteCount, 4)
        XCTAssertEqual(Array(file.bytes), [1, 2, 3, 250])
        file.adviseSequential()
    }

    func testCopyOnWriteMappingNeverChangesTheFile() throws {
        let path = directory + "/weights.bin"
        try Data([7, 7]).write(to: URL(fileURLWithPath: path))
        let file = try MappedFile(path: path, access: .copyOnWrite)
        file.base!.storeBytes(of: 9, as: UInt8.self)
        XCTAssertEqual(Array(file.bytes), [9, 7])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data([7, 7]))
    }

    func testEmptyFileMapsToZeroBytes() throws {
        let path = directory + "/empty"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
        let file = try MappedFile(path: path)
        XCTAssertEqual(file.byteCount, 0)
        XCTAssertNil(file.base)
        XCTAssertEqual(file.bytes.count, 0)
    }

    func testDirectoryIsRefusedByName() {
        XCTAssertThrowsError(try MappedFile(path: directory)) {
            XCTAssertEqual("\($0)", directory + ": is a directory, not a file")
            XCTAssertNil(($0 as? FileError)?.syscall)
        }
    }

    func testMissingFileNamesOpen() {
        let path = directory + "/missing.bin"
        XCTAssertThrowsError(try MappedFile(path: path)) {
            XCTAssertEqual("\($0)", path + ": cannot open (open: No such file or directory)")
            XCTAssertEqual(($0 as? FileError)?.code, ENOENT)
        }
    }

    func testRethrowingFileErrorsWrapsOnlyFileErrors() {
        struct Wrapped: Error { let text: String }
        XCTAssertThrowsError(try rethrowingFileErrors(as: { Wrapped(text: $0.description) }) { try MappedFile(path: "/nonexistent-lmkit") }) {
            XCTAssertEqual(($0 as? Wrapped)?.text.hasPrefix("/nonexistent-lmkit: cannot open"), true)
        }
        XCTAssertThrowsError(try rethrowingFileErrors(as: { Wrapped(text: $0.description) }) { throw CocoaError(.fileNoSuchFile) }) {
            XCTAssertTrue($0 is CocoaError)
        }
    }
}
