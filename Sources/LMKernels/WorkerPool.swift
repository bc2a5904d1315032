// LMKit's persistent worker threads: every parallel loop and product split runs on them (Parallel.run).
// DispatchQueue.concurrentPerform wakes a libdispatch worker per call (0.3-10 µs, swift-on-this-machine.md §4), which
// made splitting a 64K-float op slower than one thread and cost the small products of a GPT step their second core.
// Here a worker that finished a job keeps polling for the next one for about `spinIterations` loads (tens of µs: the
// gaps between the parallel regions of a training step) and then parks on a condition variable, so an idle process
// does not burn a core. The caller always runs lane 0 itself.
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// Polls of the job word before a worker parks. One poll is a few ns, so this is 50-200 µs.
    static let spinIterations = 1 << 15

    /// Bits 16... count jobs; bits 0..<16 hold the job's lane count, so a worker learns both in one load and a worker
    /// that does not take part never reads `job`.
    private let jobWord = Atomic<Int>(0)
    /// Lanes of the current job still running on workers.
    private let pending = Atomic<Int>(0)
    /// Workers inside (or entering) pthread_cond_wait.
    private let sleepers = Atomic<Int>(0)
    /// Set while a job runs: a nested or concurrent call runs its lanes on its own thread instead.
    private let busy = Atomic<Bool>(false)
    /// Written by the caller before publishing `jobWord` (release), read by workers after loading it (acquire).
    private var job: ((Int) -> Void)?
    private var workerCount = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    /// Calls `body(lane)` for every lane in `0..<lanes`, lane 0 on the calling thread and the others on workers, and
    /// returns when all have finished.
    func run(lanes: Int, _ body: (Int) -> Void) {
        if lanes <= 1 || lanes >= 1 << 16 || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for lane in 0..<max(lanes, 0) { body(lane) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        while workerCount < lanes - 1 { startWorker() }
        withoutActuallyEscaping(body) { body in
            job = body
            pending.store(lanes - 1, ordering: .relaxed)
            let word = ((jobWord.load(ordering: .relaxed) >> 16) + 1) << 16 | lanes
            jobWord.store(word, ordering: .sequentiallyConsistent)
            // Pairs with the worker's increment-then-recheck under the mutex: either the worker sees the new word, or
            // this load sees the worker counted as a sleeper and the broadcast reaches it.
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(mutex)
            }
            body(0)
            var polls = 0
            while pending.load(ordering: .acquiring) != 0 {
                polls += 1
                if polls > Self.spinIterations { sched_yield() }
            }
            job = nil
        }
    }

    private func startWorker() {
        workerCount += 1
        let lane = workerCount, seen = jobWord.load(ordering: .relaxed)
        // Foundation's Thread rather than pthread_create: the same code on Linux and macOS, and a name in `top`/`perf`.
        let thread = Thread { [self] in work(lane: lane, seen: seen) }
        thread.name = "lmkit-worker-\(lane)"
        thread.start()
    }

    private func work(lane: Int, seen start: Int) -> Never {
        var seen = start
        while true {
            var word = jobWord.load(ordering: .acquiring)
            var polls = 0
            while word == seen {
                polls += 1
                if polls > Self.spinIterations {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while jobWord.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    polls = 0
                }
                word = jobWord.load(ordering: .acquiring)
            }
            seen = word
            if lane < word & 0xFFFF {
                job!(lane)
                pending.subtract(1, ordering: .releasing)
            }
        }
    }
}
