// Parallel.run on the persistent worker pool: every lane runs exactly once, on distinct threads when it can, nested
// and concurrent calls fall back to running their lanes on the caller, and parked workers wake up again.
import Foundation
import XCTest
@testable import LMKernels

final class ParallelTests: XCTestCase {
    func testEveryLaneRunsOnceAcrossManyJobs() {
        for lanes in [1, 2, 3, 5, 8] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: lanes)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: lanes)
            for _ in 0..<2000 { Parallel.run(lanes: lanes) { counts[$0] += 1 } }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: lanes)), Array(repeating: 2000, count: lanes), "lanes \(lanes)")
        }
    }

    func testLanesRunOnDifferentThreads() {
        let threads = UnsafeMutablePointer<pthread_t>.allocate(capacity: 2)
        defer { threads.deallocate() }
        Parallel.run(lanes: 2) { lane in threads[lane] = pthread_self(); usleep(2000) }
        XCTAssertEqual(pthread_equal(threads[0], pthread_self()), 1, "lane 0 runs on the caller")
        XCTAssertEqual(pthread_equal(threads[0], threads[1]), 0, "lane 1 runs on a worker")
    }

    func testNestedCallsRunInline() {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: 4)
        Parallel.run(lanes: 2) { outer in
            Parallel.run(lanes: 2) { inner in hits[outer * 2 + inner] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: 4)), [1, 1, 1, 1])
    }

    func testConcurrentCallersAndParkedWorkers() {
        // Two foreign threads use the pool at once (one of them falls back to inline lanes), then the workers park
        // (no job for longer than their polling window) and must wake for the next job.
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 8)
        defer { sums.deallocate() }
        sums.initialize(repeating: 0, count: 8)
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for _ in 0..<500 { Parallel.run(lanes: 4) { lane in sums[caller * 4 + lane] += 1 } }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: sums, count: 8)), Array(repeating: 500, count: 8))
        usleep(200_000)
        var after = [0, 0, 0]
        after.withUnsafeMutableBufferPointer { buffer in Parallel.run(lanes: 3) { buffer[$0] += 1 } }
        XCTAssertEqual(after, [1, 1, 1])
    }
}
