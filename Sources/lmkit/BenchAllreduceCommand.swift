// `mpirun -np N lmkit bench allreduce`: wiring onto LMDistributed.AllreduceBenchmark. Rank 0 prints the table.
import ArgumentParser
import Foundation
import LMDistributed

struct BenchAllreduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "LMKit's bucketed gradient averaging vs Open MPI's MPI_Allreduce (nccl-tests algbw/busbw); run under mpirun -np N.",
        discussion: "Example: mpirun --oversubscribe -np 2 .build/release/lmkit bench allreduce (as root add --allow-run-as-root).")

    @Option(help: "Message sizes in bytes, comma-separated; K and M suffixes are KiB and MiB.")
    var sizes: String = "1K,4K,16K,64K,256K,1M,4M,16M,64M,256M"
    @Option(name: .customLong("bucket-mb"), help: "LMKit's bucket cap in megabytes (10^6 bytes; ddp_bucket_cap_mb).")
    var bucketMB: Double = 25
    @Option(name: .customLong("tensor-kb"), help: "LMKit side: the message is split into parameter tensors of this many KiB.")
    var tensorKB: Int = 1024
    @Option(help: "Timed rounds per size (MPI and LMKit alternate; medians are printed).") var rounds: Int = 5

    func run() throws {
        try reportingErrors {
            let parsed = try sizes.split(separator: ",").map { part -> Int in
                let text = part.trimmingCharacters(in: .whitespaces).uppercased()
                let scale = text.hasSuffix("K") ? 1 << 10 : text.hasSuffix("M") ? 1 << 20 : 1
                guard let n = Int(scale == 1 ? text : String(text.dropLast())), n > 0, n * scale % 4 == 0 else {
                    throw ValidationError("--sizes: expected positive byte counts divisible by 4 (e.g. 1K,4M), got '\(part)'")
                }
                return n * scale
            }
            guard bucketMB > 0, tensorKB > 0, rounds > 0 else { throw ValidationError("--bucket-mb, --tensor-kb and --rounds must be positive") }
            guard let world = MPIWorld.launched, world.size > 1 else {
                throw ValidationError("bench allreduce measures communication between ranks: start it with mpirun -np 2 (or more)")
            }
            defer { world.finalize() }
            if world.rank == 0 {
                print("ranks \(world.size), bucket cap \(bucketMB) MB, tensors of \(tensorKB) KiB, \(rounds) rounds; busbw = algbw·2(N−1)/N (nccl-tests); load \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")
                print("       bytes | MPI_Allreduce ms  algbw  busbw GB/s | LMKit buckets   ms  algbw  busbw GB/s | LMKit/MPI time")
            }
            AllreduceBenchmark.run(world: world, sizes: parsed, bucketBytes: Int(bucketMB * 1e6), tensorBytes: tensorKB << 10, rounds: rounds) { row in
                guard world.rank == 0 else { return }
                let m = AllreduceBenchmark.bandwidths(bytes: row.bytes, seconds: row.mpiSeconds, ranks: world.size)
                let l = AllreduceBenchmark.bandwidths(bytes: row.bytes, seconds: row.lmkitSeconds, ranks: world.size)
                print(String(format: "%12d | %16.4f %6.2f %6.2f      | %7d %8.4f %6.2f %6.2f      | %.2f", row.bytes, row.mpiSeconds * 1e3, m.algbw, m.busbw,
                             row.buckets, row.lmkitSeconds * 1e3, l.algbw, l.busbw, row.lmkitSeconds / row.mpiSeconds))
            }
        }
    }
}
