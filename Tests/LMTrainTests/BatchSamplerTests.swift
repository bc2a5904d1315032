// get_batch: targets are inputs shifted by one, offsets stay in range, and the order depends only on (seed, offset).
import Foundation
import LMTensor
import XCTest
@testable import LMTrain

final class BatchSamplerTests: XCTestCase {
    func testBatchesAreShiftedWindowsAndResumable() throws {
        let dir = try makeScratchDirectory("batches")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.bin"
        try TokenFile.write(Array(0..<100), vocabularySize: 100, to: path)
        let file = try TokenFile(path: path)
        let sampler = try BatchSampler(tokens: file, batchSize: 5, blockSize: 8, generator: Generator(seed: 42))
        var seen: [[Int]] = []
        for _ in 0..<20 {
            let (x, y) = sampler.next()
            XCTAssertEqual(x.count, 40)
            for row in 0..<5 {
                let start = x[row * 8]
                XCTAssertTrue(start >= 0 && start < 92)
                XCTAssertEqual(Array(x[row * 8..<row * 8 + 8]), Array(start..<start + 8))
                XCTAssertEqual(Array(y[row * 8..<row * 8 + 8]), Array(start + 1..<start + 9))
            }
            seen.append(x)
        }
        // Same seed from scratch: same batches. From a saved offset: the rest of the sequence.
        let again = try BatchSampler(tokens: file, batchSize: 5, blockSize: 8, generator: Generator(seed: 42))
        XCTAssertEqual((0..<20).map { _ in again.next().inputs }, seen)
        let first = try BatchSampler(tokens: file, batchSize: 5, blockSize: 8, generator: Generator(seed: 42))
        for _ in 0..<7 { _ = first.next() }
        let resumed = try BatchSampler(tokens: file, batchSize: 5, blockSize: 8, generator: Generator(seed: 42, offset: first.generator.offset))
        XCTAssertEqual((7..<20).map { _ in resumed.next().inputs }, Array(seen[7...]))
        // A different seed gives different batches.
        let other = try BatchSampler(tokens: file, batchSize: 5, blockSize: 8, generator: Generator(seed: 43))
        XCTAssertNotEqual(other.next().inputs, seen[0])
    }

    func testTooShortFileIsAnError() throws {
        let dir = try makeScratchDirectory("batches-short")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TokenFile.write([1, 2, 3], vocabularySize: 5, to: dir + "/s.bin")
        XCTAssertThrowsError(try BatchSampler(tokens: TokenFile(path: dir + "/s.bin"), batchSize: 2, blockSize: 3, generator: Generator(seed: 1))) {
            XCTAssertTrue("\($0)".contains("fewer than block_size + 1 = 4"), "\($0)")
        }
    }
}
