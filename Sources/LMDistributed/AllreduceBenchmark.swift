// `lmkit bench allreduce` (run under mpirun): LMKit's bucketed gradient averaging against Open MPI's own MPI_Allreduce
// on the same number of bytes, reported as nccl-tests does (github.com/NVIDIA/nccl-tests doc/PERFORMANCE.md):
// algbw = bytes / time, busbw = algbw · 2(N−1)/N, the per-link traffic of a ring allreduce, comparable across N.
// The LMKit side is the real reducer on real parameter tensors: hooks fired in backward's order, copies into the
// buckets, the nonblocking allreduces, the averaged copies back; so its overhead over the raw call is what training pays.
import Foundation
import LMTensor
import _CMPI

public enum AllreduceBenchmark {
    public struct Row {
        public var bytes: Int
        public var mpiSeconds: Double
        public var lmkitSeconds: Double
        public var buckets: Int
    }

    /// Times each size (bytes, a multiple of 4) `rounds` times per side, alternating MPI and LMKit; medians. Every rank
    /// must call this with the same arguments. Stops the job if LMKit's average is wrong.
    public static func run(world: MPIWorld, sizes: [Int], bucketBytes: Int, tensorBytes: Int, rounds: Int,
                           report: (Row) -> Void) {
        for bytes in sizes {
            let count = bytes / 4
            // MPI side: one flat buffer, in place.
            let flat = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { flat.deallocate() }
            flat.update(repeating: 0, count: count)  // zeros stay zeros: repeated in-place sums never overflow
            // LMKit side: parameters of at most tensorBytes each, with gradients, under the reducer.
            var parameters: [Tensor] = []
            var left = count
            while left > 0 {
                let n = min(left, max(tensorBytes / 4, 1))
                let p = Tensor(zeros: [n], requiresGrad: true)
                p.grad = Tensor(zeros: [n])
                p.grad!.pointer(Float.self).update(repeating: Float(world.rank + 1), count: n)
                parameters.append(p)
                left -= n
            }
            let reducer = BucketedGradientReducer(world: world, parameters: parameters, bucketBytes: bucketBytes)
            let repeats = max(1, min(50, (64 << 20) / max(bytes, 1)))  // small messages: time many calls at once
            var mpiTimes: [Double] = [], lmkitTimes: [Double] = []
            for round in 0..<(rounds + 1) {  // round 0 warms up both sides
                world.barrier()
                var start = MPIWorld.time()
                for _ in 0..<repeats { world.allreduceSum(flat, count: count) }
                let mpi = (MPIWorld.time() - start) / Double(repeats)
                world.barrier()
                start = MPIWorld.time()
                // No refill between calls: once averaged, every rank holds the same values, which averaging keeps.
                for _ in 0..<repeats {
                    reducer.prepareBackward(synchronize: true)
                    for p in parameters.reversed() { p.postAccumulateGradHook?(p) }  // backward's order: last first
                    reducer.finishBackward()
                }
                let lmkit = (MPIWorld.time() - start) / Double(repeats)
                if round > 0 { mpiTimes.append(mpi); lmkitTimes.append(lmkit) }
            }
            let expected = Float(world.size + 1) / 2  // mean of 1 … N
            for p in parameters {
                let g = p.grad!.pointer(Float.self)
                if g[0] != expected || g[p.count - 1] != expected {
                    world.abort("bench allreduce: LMKit's average is \(g[0]), expected \(expected)")
                }
            }
            report(Row(bytes: bytes, mpiSeconds: median(mpiTimes), lmkitSeconds: median(lmkitTimes), buckets: reducer.bucketSizes.count))
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    /// nanoGPT-style units: algbw and busbw in GB/s (10^9 bytes).
    public static func bandwidths(bytes: Int, seconds: Double, ranks: Int) -> (algbw: Double, busbw: Double) {
        let algbw = Double(bytes) / seconds / 1e9
        return (algbw, algbw * 2 * Double(ranks - 1) / Double(ranks))
    }
}
