// Row-parallel loops and a work queue for kernels, all run on WorkerPool's persistent threads. Handing work to a
// polling worker costs well under a µs, but splitting still loses below `Parallel.minimumWork` elements (cache lines
// shared between the halves, a parked worker's wake-up), so below it the loop runs on the caller's thread.
// Results never depend on the thread count: each row is computed by exactly one thread with the same code.
import Foundation
import _CBLAS

public enum Parallel {
    /// Threads used by LMKit kernels, including matrix products (Matmul splits them; OpenBLAS itself is kept on one
    /// thread). Defaults to `LMKIT_NUM_THREADS`, else the core count.
    public static var threadCount: Int = {
        openblas_set_num_threads(1)
        let env = ProcessInfo.processInfo.environment["LMKIT_NUM_THREADS"].flatMap(Int.init)
        return max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
    }() {
        didSet { threadCount = max(1, threadCount) }
    }

    /// Elements of work below which a loop stays on the calling thread. Measured with concurrentPerform, 64K-float ops
    /// were slower split; on the worker pool a split 64K-float op takes 3.2 µs instead of 7.7 µs, but in a GPT training
    /// step 2^13, 2^15 and 2^17 were indistinguishable (BENCHMARKS.md, issue 11), so the old value stays.
    public static var minimumWork = 1 << 17

    /// Calls `body(lane)` for each lane in `0..<lanes` in parallel (lane 0 on the calling thread) and returns when all
    /// have finished. A call made from inside a running parallel region runs its lanes one after another.
    public static func run(lanes: Int, _ body: (Int) -> Void) {
        WorkerPool.shared.run(lanes: lanes, body)
    }

    /// Calls `body(range)` over disjoint chunks of `0..<rows` covering it, in parallel when `rows * workPerRow`
    /// exceeds `minimumWork`.
    @inlinable public static func forRows(_ rows: Int, workPerRow: Int, _ body: (Range<Int>) -> Void) {
        let threads = threadCount
        if threads <= 1 || rows < 2 || rows * max(workPerRow, 1) < minimumWork {
            body(0..<rows)
            return
        }
        let chunks = min(threads, rows)
        run(lanes: chunks) { c in
            let lo = rows * c / chunks, hi = rows * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(item, scratch)` for every item in `0..<count`, handing items out in order to whichever thread is
    /// free (items of unequal cost, such as causal attention tiles, leave a static split unbalanced). Each thread gets
    /// its own `scratch` of `scratch` elements. Runs on the caller's thread alone below `minimumWork` (`totalWork`
    /// counts the work of all items). Each item is computed by one thread with the same code, so results do not depend
    /// on the thread count.
    @inlinable public static func forEachItem<T>(
        _ count: Int, totalWork: Int, scratch: Int, _: T.Type, _ body: (Int, UnsafeMutablePointer<T>) -> Void
    ) {
        let threads = threadCount
        let lanes = threads > 1 && count > 1 && totalWork >= minimumWork ? Swift.min(threads, count) : 1
        let lock = NSLock()
        var next = 0
        func lane() {
            let work = UnsafeMutablePointer<T>.allocate(capacity: scratch)
            defer { work.deallocate() }
            while true {
                lock.lock(); let item = next; next += 1; lock.unlock()
                if item >= count { return }
                body(item, work)
            }
        }
        run(lanes: lanes) { _ in lane() }
    }
}
