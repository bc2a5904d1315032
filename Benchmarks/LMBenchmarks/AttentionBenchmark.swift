// `lmkit bench attention`: one forward+backward of causal scaled-dot-product attention through the autograd Tensor
// layer (`Tensor.scaledDotProductAttention`, float32, q/k/v [B, H, T, D] requiring grad) vs PyTorch CPU
// `F.scaled_dot_product_attention(q, k, v, is_causal=True)` on the same shapes and thread count, in one command.
// The reference is Benchmarks/reference/attention_reference.py. Timing only; correctness lives in the tests.
import Foundation
import LMTensor

public enum AttentionBenchmark {
    /// One printed row: median and minimum seconds of LMKit and of the reference, and the FLOP count of the shape.
    /// The minimum is printed too because the shared machine's load swings medians by 2× (BENCHMARKS.md).
    public struct Row {
        public let length: Int; public let lmkit: Double; public let reference: Double; public let flops: Double
        public let lmkitMin: Double; public let referenceMin: Double
    }

    /// FLOPs of causal fwd+bwd as FlashAttention counts them: 2 matmuls forward, 5 backward (S recomputed), each
    /// 2·T·T·D per head, halved by the causal mask.
    public static func flops(batch: Int, heads: Int, length: Int, headSize: Int) -> Double {
        Double(batch * heads) * 7 * 2 * Double(length * length * headSize) / 2
    }

    /// Median and minimum seconds of one fwd+bwd through the Tensor layer (graph built, backward seeded with a fixed dO).
    public static func lmkitSeconds(batch: Int, heads: Int, length: Int, headSize: Int, runs: Int) -> (median: Double, min: Double) {
        let g = Generator(seed: 3)
        let shape = [batch, heads, length, headSize]
        let q = Tensor.randn(shape, generator: g).requiringGrad(), k = Tensor.randn(shape, generator: g).requiringGrad()
        let v = Tensor.randn(shape, generator: g).requiringGrad(), dOut = Tensor.randn(shape, generator: g)
        func step() {
            q.grad = nil; k.grad = nil; v.grad = nil
            Tensor.scaledDotProductAttention(q, k, v, causal: true).backward(dOut)
        }
        step(); step()
        var times: [Double] = []
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            step()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        times.sort()
        return (times[times.count / 2], times[0])
    }

    /// Runs every length on `threads` threads, LMKit then the reference, and returns the rows.
    public static func run(threads: Int, batch: Int = 1, heads: Int = 6, headSize: Int = 64, lengths: [Int] = [256, 1024],
                           runs: Int = 10, reference: Bool = true, log: (String) -> Void = { print($0) }) throws -> [Row] {
        Parallel.threadCount = threads
        var ours: [Int: (median: Double, min: Double)] = [:]
        for t in lengths {
            ours[t] = lmkitSeconds(batch: batch, heads: heads, length: t, headSize: headSize, runs: runs)
            log("  measured LMKit T=\(t)")
        }
        if !reference {
            return lengths.map { Row(length: $0, lmkit: ours[$0]!.median, reference: .nan, flops: flops(batch: batch, heads: heads, length: $0, headSize: headSize),
                                     lmkitMin: ours[$0]!.min, referenceMin: .nan) }
        }
        log("  running PyTorch reference…")
        let ref = try Bench.runReference("attention_reference.py", [
            "--threads", "\(threads)", "--batch", "\(batch)", "--heads", "\(heads)", "--head-size", "\(headSize)",
            "--lengths", lengths.map(String.init).joined(separator: ","), "--runs", "\(runs)"])
        return lengths.map { t in
            Row(length: t, lmkit: ours[t]!.median, reference: ref["T\(t)"] ?? .nan,
                flops: flops(batch: batch, heads: heads, length: t, headSize: headSize),
                lmkitMin: ours[t]!.min, referenceMin: ref["T\(t)_min"] ?? .nan)
        }
    }

    public static func format(_ rows: [Row], threads: Int, batch: Int, heads: Int, headSize: Int) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var s = pad("causal SDPA fwd+bwd (\(threads) thread\(threads == 1 ? "" : "s"))", 44) + left("LMKit ms", 10) + left("torch ms", 10)
            + left("ratio", 8) + left("LMKit GFLOP/s", 15) + "   | min: LMKit ms  torch ms  ratio\n"
        for r in rows {
            s += pad("B \(batch) H \(heads) T \(r.length) D \(headSize)", 44) + left(String(format: "%.3f", r.lmkit * 1e3), 10)
                + left(String(format: "%.3f", r.reference * 1e3), 10) + left(String(format: "%.2fx", r.reference / r.lmkit), 8)
                + left(String(format: "%.1f", r.flops / r.lmkit / 1e9), 15) + "   |" + left(String(format: "%.3f", r.lmkitMin * 1e3), 14)
                + left(String(format: "%.3f", r.referenceMin * 1e3), 10) + left(String(format: "%.2fx", r.referenceMin / r.lmkitMin), 7) + "\n"
        }
        return s + "(median and minimum of the timed runs; ratio = torch / LMKit, > 1 means LMKit is faster)\n"
    }
}
