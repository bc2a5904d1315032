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

    /// Median and minimum seconds of one fwd+bwd through the Tensor layer (graph built, backward seeded with a fixed dO);
    /// `window`: a causal sliding window of that many keys.
    public static func lmkitSeconds(batch: Int, heads: Int, length: Int, headSize: Int, runs: Int, window: Int? = nil) -> (median: Double, min: Double) {
        let g = Generator(seed: 3)
        let shape = [batch, heads, length, headSize]
        let q = Tensor.randn(shape, generator: g).requiringGrad(), k = Tensor.randn(shape, generator: g).requiringGrad()
        let v = Tensor.randn(shape, generator: g).requiringGrad(), dOut = Tensor.randn(shape, generator: g)
        func step() {
            q.grad = nil; k.grad = nil; v.grad = nil
            Tensor.scaledDotProductAttention(q, k, v, causal: true, window: window).backward(dOut)
        }
        return Bench.timed(runs: runs, warmup: 2, step)
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

    /// Per length and side, the smallest median and the smallest minimum over rounds run alternately (LMKit, then
    /// torch, then LMKit…): on a shared machine whose load drifts, this compares each side at its least disturbed.
    public static func best(of rounds: [[Row]]) -> [Row] {
        guard let first = rounds.first else { return [] }
        return first.indices.map { i in
            let all = rounds.map { $0[i] }
            func least(_ f: (Row) -> Double) -> Double { all.map(f).filter { !$0.isNaN }.min() ?? .nan }
            return Row(length: first[i].length, lmkit: least(\.lmkit), reference: least(\.reference), flops: first[i].flops,
                       lmkitMin: least(\.lmkitMin), referenceMin: least(\.referenceMin))
        }
    }

    /// `peakGFLOPs`: LMKit's sgemm peak on these threads (`GPTBenchmark.sgemmPeakGFLOPs`); each row then shows both
    /// sides' share of it and the ratio a kernel running every product at that peak would reach against torch.
    public static func format(_ rows: [Row], threads: Int, batch: Int, heads: Int, headSize: Int, peakGFLOPs: Double? = nil) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var s = pad("causal SDPA fwd+bwd (\(threads) thread\(threads == 1 ? "" : "s"))", 44) + left("LMKit ms", 10) + left("torch ms", 10)
            + left("ratio", 8) + left("LMKit GFLOP/s", 15) + left("torch GFLOP/s", 15)
            + (peakGFLOPs == nil ? "" : left("at peak: ratio", 16)) + "   | min: LMKit ms  torch ms  ratio\n"
        func share(_ gflops: Double) -> String {
            guard let peakGFLOPs else { return String(format: "%.1f", gflops) }
            return String(format: "%.1f (%.0f%%)", gflops, 100 * gflops / peakGFLOPs)
        }
        for r in rows {
            s += pad("B \(batch) H \(heads) T \(r.length) D \(headSize)", 44) + left(String(format: "%.3f", r.lmkit * 1e3), 10)
                + left(String(format: "%.3f", r.reference * 1e3), 10) + left(String(format: "%.2fx", r.reference / r.lmkit), 8)
                + left(share(r.flops / r.lmkit / 1e9), 15) + left(share(r.flops / r.reference / 1e9), 15)
                + (peakGFLOPs.map { left(String(format: "%.2fx", r.reference / (r.flops / ($0 * 1e9))), 16) } ?? "")
                + "   |" + left(String(format: "%.3f", r.lmkitMin * 1e3), 14)
                + left(String(format: "%.3f", r.referenceMin * 1e3), 10) + left(String(format: "%.2fx", r.referenceMin / r.lmkitMin), 7) + "\n"
        }
        s += "(median and minimum of the timed runs; ratio = torch / LMKit, > 1 means LMKit is faster"
        if let peakGFLOPs {
            s += String(format: "; %% = share of LMKit's sgemm peak, %.0f GF/s on these threads; \"at peak: ratio\" = the ratio to torch "
                        + "of a kernel doing the counted FLOPs at that peak and nothing else, the ceiling", peakGFLOPs)
        }
        return s + ")\n"
    }

    /// Decoding: forward only, `queryLength` query rows against a KV cache [1, H, capacity, D] viewed up to each length
    /// (`.slice(2, 0, length)`, not contiguous), causal, no gradient; keys read in place against keys through the
    /// transposed Kᵀ copy (`Attention.inPlaceQueryLength` forced either way). Median ms per call. No PyTorch side.
    public static func decode(threads: Int, heads: Int = 6, headSize: Int = 64, lengths: [Int], queryLengths: [Int], runs: Int = 50)
        -> String {
        Parallel.threadCount = threads
        let saved = Attention.inPlaceQueryLength
        defer { Attention.inPlaceQueryLength = saved }
        let g = Generator(seed: 5)
        var s = "decode: forward of Tq query rows vs a KV-cache view of Tk keys (B 1 H \(heads) D \(headSize), \(threads) thread(s))\n"
        s += "   Tq      Tk   in place ms   transposed ms   transposed / in place\n"
        for tk in lengths {
            let cacheK = Tensor.randn([1, heads, tk + 64, headSize], generator: g), cacheV = Tensor.randn([1, heads, tk + 64, headSize], generator: g)
            let k = cacheK.slice(2, 0, tk), v = cacheV.slice(2, 0, tk)
            for tq in queryLengths {
                let q = Tensor.randn([1, heads, tq, headSize], generator: g)
                func seconds(inPlace: Bool) -> Double {
                    Attention.inPlaceQueryLength = inPlace ? Int.max : 0
                    return Bench.median(runs: runs, warmup: 3) { _ = noGrad { Tensor.scaledDotProductAttention(q, k, v, causal: true) } }
                }
                let a = seconds(inPlace: true), b = seconds(inPlace: false)
                s += String(format: "%5d %7d %13.4f %15.4f %23.2f\n", tq, tk, a * 1e3, b * 1e3, b / a)
            }
        }
        return s
    }
}
