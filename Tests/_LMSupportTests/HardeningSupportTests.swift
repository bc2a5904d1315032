// The support pieces behind issue 12: the out_dir lock, refusing special files, duplicate JSON keys and the memory
// check.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest
@testable import _LMSupport

final class HardeningSupportTests: XCTestCase {
    private var directory = ""
    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "lmsupport-hardening-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func testDirectoryLockIsExclusiveNamesTheHolderAndIsFreedOnRelease() throws {
        let first = try DirectoryLock(directory: directory)
        XCTAssertThrowsError(try DirectoryLock(directory: directory)) { error in
            XCTAssertTrue("\(error)".contains("is in use by another process (pid \(getpid()))"), "\(error)")
        }
        first.release()
        var second: DirectoryLock? = try DirectoryLock(directory: directory)
        XCTAssertNotNil(second)
        second = nil  // deinit releases
        XCTAssertNoThrow(try DirectoryLock(directory: directory))
    }

    func testLockHeldByAKilledProcessDoesNotBlock() throws {
        // flock(1) takes the lock (-o: its command, a short sleep, does not inherit it) and is killed with SIGKILL;
        // the kernel frees the lock with the dead process's descriptor.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        child.arguments = ["-o", directory + "/.lock", "sleep", "3"]
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/flock") else {
            XCTFail("/usr/bin/flock is needed for this test"); return
        }
        try child.run()
        var refused = false
        for _ in 0..<100 where !refused {
            do { try DirectoryLock(directory: directory).release(); usleep(20_000) } catch { refused = true }
        }
        XCTAssertTrue(refused, "the child holds the lock")
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertNoThrow(try DirectoryLock(directory: directory), "a dead holder's lock is free")
    }

    func testAtomicWriterRemovesTemporaryFilesOfKilledWriters() throws {
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let stale = directory + "/.x.bin.tmp-\(dead.processIdentifier)-123"
        let live = directory + "/.x.bin.tmp-\(getpid())-456"
        let other = directory + "/.y.bin.tmp-\(dead.processIdentifier)-789"
        for path in [stale, live, other] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1]))) }
        try AtomicFile.write([UInt8]([7]), to: directory + "/x.bin")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "a dead writer's temporary file is removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: live), "a live writer's temporary file stays")
        XCTAssertTrue(FileManager.default.fileExists(atPath: other), "another destination's file stays")
    }

    func testSpecialFilesAreRefusedWithoutBlocking() throws {
        let fifo = directory + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try FileReading.contents(fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try MappedFile(path: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try FileReading.contents(directory)) { XCTAssertTrue("\($0)".contains("is a directory"), "\($0)") }
        XCTAssertThrowsError(try FileReading.contents(directory + "/absent")) { XCTAssertTrue("\($0)".contains("absent"), "\($0)") }
    }

    func testDuplicateKeysAreFoundAtAnyDepthWithTheirLine() throws {
        func check(_ text: String) throws { try StrictJSON.checkDuplicateKeys(Data(text.utf8), source: "c.json") }
        XCTAssertNoThrow(try check(#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}], "s": "\"a\": 1, \"a\""}"#))
        XCTAssertThrowsError(try check("{\"a\": 1,\n\"a\": 2}")) { XCTAssertEqual("\($0)", "c.json: line 2: duplicate key 'a' (JSON objects must not repeat a key; the earlier value would be ignored)") }
        XCTAssertThrowsError(try check(#"{"m": {"x": [1, {"k": 1, "k": 2}]}}"#)) { XCTAssertTrue("\($0)".contains("'m.x[].k'"), "\($0)") }
        XCTAssertThrowsError(try check(#"{"a": 1, "\u0061": 2}"#)) { XCTAssertTrue("\($0)".contains("duplicate key 'a'"), "\($0)") }
        XCTAssertThrowsError(try StrictJSON.decode([String: Int].self, from: Data(#"{"a": 1, "a": 2}"#.utf8), allowedKeys: ["a"], source: "d.json"))
    }

    func testJSONErrorsNameTheFieldAndLine() throws {
        struct Config: Decodable { var batch_size: Int = 1; var name: String = ""
            enum CodingKeys: String, CodingKey { case batch_size, name }
            init(from decoder: Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                batch_size = try c.decodeIfPresent(Int.self, forKey: .batch_size) ?? 1
                name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
            }
        }
        func decode(_ text: String) throws { _ = try StrictJSON.decode(Config.self, from: Data(text.utf8), allowedKeys: ["batch_size", "name"], source: "c.json") }
        XCTAssertNoThrow(try decode(#"{"batch_size": 3, "name": "x"}"#))
        for bad in [#"{"name": "x", "batch_size": 1.5}"#, #"{"batch_size": 1e30}"#] {
            XCTAssertThrowsError(try decode(bad)) { XCTAssertTrue("\($0)".contains("field 'batch_size'"), "\($0)") }
        }
        XCTAssertThrowsError(try decode("{\n  \"name\": \"x\",\n  \"batch_size\": [1,}")) {
            XCTAssertTrue("\($0)".hasPrefix("c.json: not valid JSON: line 3, column"), "\($0)")
        }
    }

    func testMemoryCheckRefusesWithEstimateAndMachineMemory() {
        struct Refused: Error, CustomStringConvertible { let description: String }
        XCTAssertGreaterThan(MachineMemory.physicalBytes, 1e8)
        XCTAssertNoThrow(try MachineMemory.check(1e6, for: "a small thing", error: { Refused(description: $0) }))
        for bytes in [1e18, .infinity, .nan] {
            XCTAssertThrowsError(try MachineMemory.check(bytes, for: "a model", error: { Refused(description: $0) })) {
                XCTAssertTrue("\($0)".hasPrefix("a model needs an estimated") && "\($0)".contains("of memory"), "\($0)")
            }
        }
    }
}
