// BufferPool (Tensor.swift): freed buffers are reused for the next tensor of the same size, and shapes that change
// every step cannot make the cache grow past twice the peak of bytes in use.
@testable import LMTensor
import XCTest

final class BufferPoolTests: XCTestCase {
    func testAFreedBufferIsReusedForTheSameSize() {
        let pool = BufferPool()
        let p = pool.take(1 << 20)
        pool.give(p, 1 << 20)
        XCTAssertEqual(pool.cachedByteCount, 1 << 20)
        XCTAssertEqual(pool.take(1 << 20 - 100), p, "a size in the same 4 KiB bucket takes the cached buffer")
        XCTAssertEqual(pool.cachedByteCount, 0)
    }

    func testSizesThatChangeEveryStepStayWithinTheLimit() {
        let pool = BufferPool()
        pool.maximumCachedBytes = 1 << 40
        // 400 "steps", each with four 8 MiB-ish buffers whose sizes never repeat (as a mixture of experts' per-expert
        // rows): 12.5 GiB of distinct sizes in all, never more than 32 MiB in use at once. Pages are never touched.
        var largest = 0
        for step in 0..<400 {
            let sizes = (0..<4).map { (8 << 20) + (step * 4 + $0) * 4096 }
            let buffers = sizes.map { pool.take($0) }
            for (p, size) in zip(buffers, sizes) { pool.give(p, size) }
            largest = max(largest, pool.cachedByteCount)
        }
        XCTAssertLessThanOrEqual(largest, pool.cachedBytesLimit)
        XCTAssertEqual(pool.cachedBytesLimit, 256 << 20, "2 × the 33 MB peak in use is below the 256 MiB floor")
        // The sizes used last are the ones kept.
        let recent = (8 << 20) + (399 * 4 + 3) * 4096
        let p = pool.take(recent)
        XCTAssertLessThan(pool.cachedByteCount, largest, "the most recent size came from the cache")
        pool.give(p, recent)
        pool.drain()
        XCTAssertEqual(pool.cachedByteCount, 0)
    }
}
