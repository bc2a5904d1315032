// `lmkit bench core`: sgemm through Tensor.matmul vs raw cblas_sgemm, and softmax / layer_norm / gelu /
// cross-entropy forward+backward through the autograd Tensor layer vs PyTorch CPU, on the same thread count.
// The reference is Benchmarks/reference/core_reference.py, run in the same command.
import Foundation
import LMTensor
import _CBLAS

public enum CoreBenchmark {
    /// One printed row: LMKit seconds, reference seconds, and reference/LMKit (> 1 means LMKit is faster).
    public struct Row { public let name: String; public let lmkit: Double; public let reference: Double; public let note: String }

    static func sgemmSeconds(_ n: Int, viaTensor: Bool) -> Double {
        let g = Generator(seed: 1)
        let a = Tensor.randn([n, n], generator: g), b = Tensor.randn([n, n], generator: g)
        let runs = n >= 2048 ? 3 : 10
        if viaTensor {
            return Bench.median(runs: runs) { _ = a.matmul(b) }
        }
        let c = Tensor(zeros: [n, n])
        // Raw OpenBLAS with its own thread pool (LMKit keeps it at one thread and splits products itself).
        openblas_set_num_threads(Int32(Parallel.threadCount))
        defer { openblas_set_num_threads(1) }
        return Bench.median(runs: runs) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                        a.pointer(Float.self), Int32(n), b.pointer(Float.self), Int32(n), 0, c.pointer(Float.self), Int32(n))
        }
    }

    /// Forward + backward seconds of each op on the benchmark shapes.
    static func opSeconds(rows: Int, channels C: Int, vocabulary V: Int) -> [String: Double] {
        let g = Generator(seed: 2)
        let x = Tensor.randn([rows, C], generator: g).requiringGrad()
        let dy = Tensor.randn([rows, C], generator: g)
        let w = Tensor.randn([C], generator: g).requiringGrad(), b = Tensor.randn([C], generator: g).requiringGrad()
        var out: [String: Double] = [:]
        out["softmax"] = Bench.median { x.grad = nil; x.softmax().backward(dy) }
        out["layer_norm"] = Bench.median { x.grad = nil; w.grad = nil; b.grad = nil; x.layerNorm(weight: w, bias: b).backward(dy) }
        out["gelu"] = Bench.median { x.grad = nil; x.gelu(.tanh).backward(dy) }
        let logits = Tensor.randn([rows, V], generator: g).requiringGrad()
        let targets = g.integers(rows, low: 0, high: V)
        out["cross_entropy"] = Bench.median(runs: 3) { logits.grad = nil; logits.crossEntropy(targets: targets).backward() }
        return out
    }

    /// Seconds per parallel job on LMKit's worker pool (`Parallel.run`) and with `DispatchQueue.concurrentPerform`, the
    /// mechanism it replaced: an empty job, and a 64K-float `y = a·x + b` split over the lanes (swift-on-this-machine.md
    /// §4 measured concurrentPerform's split slower than one thread at this size).
    static func dispatchSeconds(lanes: Int) -> [(name: String, pool: Double, dispatch: Double)] {
        let n = 1 << 16, calls = 2000
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n), y = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { x.deallocate(); y.deallocate() }
        x.initialize(repeating: 1.5, count: n); y.initialize(repeating: 0, count: n)
        func axpb(_ lane: Int) {
            let lo = n * lane / lanes, hi = n * (lane + 1) / lanes
            for i in lo..<hi { y[i] = x[i] * 1.0001 + 0.5 }
        }
        let empty = (Bench.median { for _ in 0..<calls { Parallel.run(lanes: lanes) { _ in } } },
                     Bench.median { for _ in 0..<calls { DispatchQueue.concurrentPerform(iterations: lanes) { _ in } } })
        let split = (Bench.median { for _ in 0..<calls { Parallel.run(lanes: lanes, axpb) } },
                     Bench.median { for _ in 0..<calls { DispatchQueue.concurrentPerform(iterations: lanes, execute: axpb) } })
        return [("dispatch: empty job, \(lanes) lanes", empty.0 / Double(calls), empty.1 / Double(calls)),
                ("dispatch: 64K y=a*x+b, \(lanes) lanes", split.0 / Double(calls), split.1 / Double(calls))]
    }

    /// Runs every row on `threads` threads, LMKit then the reference, and returns the rows.
    public static func run(threads: Int, rows: Int = 8192, channels: Int = 768, vocabulary: Int = 50304,
                           log: (String) -> Void = { print($0) }) throws -> [Row] {
        Parallel.threadCount = threads
        var result: [Row] = []
        for n in [256, 1024, 2048] {
            let tensor = sgemmSeconds(n, viaTensor: true), raw = sgemmSeconds(n, viaTensor: false)
            let gflops = 2 * Double(n * n * n) / tensor / 1e9
            result.append(Row(name: "sgemm \(n)", lmkit: tensor, reference: raw,
                              note: String(format: "%.0f GFLOP/s, %.1f%% of raw cblas_sgemm", gflops, 100 * raw / tensor)))
            log("  measured sgemm \(n)")
        }
        if threads > 1 {
            for row in dispatchSeconds(lanes: threads) {
                result.append(Row(name: row.name, lmkit: row.pool, reference: row.dispatch,
                                  note: String(format: "%.2f µs per call on LMKit's worker pool vs %.2f µs with DispatchQueue.concurrentPerform",
                                               row.pool * 1e6, row.dispatch * 1e6)))
            }
        }
        let ours = opSeconds(rows: rows, channels: channels, vocabulary: vocabulary)
        log("  measured LMKit ops; running PyTorch reference…")
        let ref = try Bench.runReference("core_reference.py", ["--threads", "\(threads)", "--rows", "\(rows)",
                                                               "--channels", "\(channels)", "--vocabulary", "\(vocabulary)"])
        for name in ["softmax", "layer_norm", "gelu", "cross_entropy"] {
            let shape = name == "cross_entropy" ? "\(rows)x\(vocabulary)" : "\(rows)x\(channels)"
            result.append(Row(name: "\(name) fwd+bwd \(shape)", lmkit: ours[name]!, reference: ref[name] ?? .nan, note: "vs torch \(ref["torch_version"].map { String($0) } ?? "")"))
        }
        return result
    }

    public static func format(_ rows: [Row], threads: Int) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var s = pad("row (\(threads) thread\(threads == 1 ? "" : "s"))", 36) + left("LMKit ms", 12) + left("ref ms", 12) + left("ratio", 9) + "  note\n"
        for r in rows {
            s += pad(r.name, 36) + left(String(format: "%.3f", r.lmkit * 1e3), 12) + left(String(format: "%.3f", r.reference * 1e3), 12)
                + left(String(format: "%.2fx", r.reference / r.lmkit), 9) + "  " + r.note + "\n"
        }
        return s
    }
}
