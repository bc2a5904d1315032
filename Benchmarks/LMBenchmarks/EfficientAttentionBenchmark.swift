// `lmkit bench attention --linear-flash`: forward+backward of causal linear attention (φ = elu + 1 on q and k, then the
// chunked kernel, B 1, H heads of D) and of one causal FLASH layer (FLASHLayer: d, s, e = 2d, group g) at each length,
// against the same math in PyTorch on the same threads in the same command (Benchmarks/reference/
// efficient_attention_reference.py), with the growth in T (ms per 1K tokens and a least-squares line ms = a + b·T) so
// that linear cost is visible. Timing only; correctness lives in the tests (LinearAttentionOpTests, FLASHTests,
// MixedChunkAttentionOpTests).
import Foundation
import LMModels
import LMTensor

public enum EfficientAttentionBenchmark {
    public struct Setup: Sendable {
        public var heads = 6, headSize = 64, chunk = LinearAttention.defaultChunk
        public var width = 384, queryKeyDim = 128, expansion = 2, group = 256
        public init() {}
    }

    /// Seconds (median, min) per variant ("linear", "flash") and length, for LMKit and the reference.
    public struct Row { public let variant: String; public let length: Int; public let lmkit: (Double, Double); public let reference: (Double, Double) }

    static func linearSeconds(_ setup: Setup, length: Int, runs: Int) -> (Double, Double) {
        let g = Generator(seed: 3), shape = [1, setup.heads, length, setup.headSize]
        let q = Tensor.randn(shape, generator: g).requiringGrad(), k = Tensor.randn(shape, generator: g).requiringGrad()
        let v = Tensor.randn(shape, generator: g).requiringGrad(), dOut = Tensor.randn(shape, generator: g)
        return Bench.timed(runs: runs) {
            q.grad = nil; k.grad = nil; v.grad = nil
            Tensor.linearAttention(q.linearAttentionFeatures(.elu), k.linearAttentionFeatures(.elu), v, causal: true, chunk: setup.chunk)
                .backward(dOut)
        }
    }

    static func flashSeconds(_ setup: Setup, length: Int, runs: Int) -> (Double, Double) {
        let g = Generator(seed: 4)
        let layer = FLASHLayer(width: setup.width, queryKeyDim: setup.queryKeyDim, hiddenSize: setup.expansion * setup.width,
                               groupSize: setup.group, causal: true, generator: g)
        let x = Tensor.randn([1, length, setup.width], generator: g).requiringGrad(), dOut = Tensor.randn([1, length, setup.width], generator: g)
        let rope = Tensor.rotaryTables(positions: 0..<length, headSize: setup.queryKeyDim, theta: 10000)
        return Bench.timed(runs: runs) {
            layer.zeroGrad(); x.grad = nil
            layer(x, rope: rope).backward(dOut)
        }
    }

    /// Every length of `variants` on `threads` threads, LMKit then the reference. Lengths must be multiples of the chunk.
    public static func run(_ setup: Setup, variants: [String], threads: Int, lengths: [Int], runs: Int, reference: Bool = true,
                           log: (String) -> Void = { print($0) }) throws -> [Row] {
        Parallel.threadCount = threads
        var ours: [String: (Double, Double)] = [:]
        for t in lengths {
            if variants.contains("linear") { ours["linear_T\(t)"] = linearSeconds(setup, length: t, runs: runs) }
            if variants.contains("flash") { ours["flash_T\(t)"] = flashSeconds(setup, length: t, runs: runs) }
            log("  measured LMKit T=\(t)")
        }
        var ref: [String: Double] = [:]
        if reference {
            log("  running PyTorch reference…")
            ref = try Bench.runReference("efficient_attention_reference.py", [
                "--threads", "\(threads)", "--lengths", lengths.map(String.init).joined(separator: ","), "--runs", "\(runs)",
                "--heads", "\(setup.heads)", "--head-size", "\(setup.headSize)", "--chunk", "\(setup.chunk)", "--width", "\(setup.width)",
                "--query-key-dim", "\(setup.queryKeyDim)", "--expansion", "\(setup.expansion)", "--group", "\(setup.group)",
                "--only", variants.joined(separator: ",")])
        }
        return variants.flatMap { variant in
            lengths.map { t in
                Row(variant: variant, length: t, lmkit: ours["\(variant)_T\(t)"]!,
                    reference: (ref["\(variant)_T\(t)"] ?? .nan, ref["\(variant)_T\(t)_min"] ?? .nan))
            }
        }
    }

    /// Per row and side, the least median and least minimum over alternating rounds.
    public static func best(of rounds: [[Row]]) -> [Row] {
        guard let first = rounds.first else { return [] }
        return first.indices.map { i in
            func least(_ f: (Row) -> Double) -> Double { rounds.map { f($0[i]) }.filter { !$0.isNaN }.min() ?? .nan }
            return Row(variant: first[i].variant, length: first[i].length, lmkit: (least { $0.lmkit.0 }, least { $0.lmkit.1 }),
                       reference: (least { $0.reference.0 }, least { $0.reference.1 }))
        }
    }

    /// Least-squares line ms = a + b·T through (T, ms) and its R².
    static func fit(_ points: [(Double, Double)]) -> (a: Double, b: Double, r2: Double) {
        let n = Double(points.count)
        let mx = points.map(\.0).reduce(0, +) / n, my = points.map(\.1).reduce(0, +) / n
        let sxy = points.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +), sxx = points.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        let b = sxx > 0 ? sxy / sxx : 0, a = my - b * mx
        let ssTot = points.map { ($0.1 - my) * ($0.1 - my) }.reduce(0, +)
        let ssRes = points.map { ($0.1 - a - b * $0.0) * ($0.1 - a - b * $0.0) }.reduce(0, +)
        return (a, b, ssTot > 0 ? 1 - ssRes / ssTot : 1)
    }

    public static func format(_ rows: [Row], setup: Setup, threads: Int) -> String {
        var s = "== linear attention (causal, φ = elu+1, chunk \(setup.chunk), B 1 H \(setup.heads) D \(setup.headSize)) and FLASH layer "
            + "(causal relu², d \(setup.width) s \(setup.queryKeyDim) e \(setup.expansion * setup.width) g \(setup.group), B 1) fwd+bwd, "
            + "\(threads) thread(s)\n"
        s += "variant      T   LMKit ms   torch ms   ratio   LMKit µs/tok   torch µs/tok | min: LMKit ms  torch ms  ratio\n"
        for r in rows {
            let t = Double(r.length)
            s += String(format: "%-7@ %6d %10.2f %10.2f %6.2fx %14.2f %14.2f | %14.2f %9.2f %5.2fx\n", r.variant as NSString, r.length,
                        r.lmkit.0 * 1e3, r.reference.0 * 1e3, r.reference.0 / r.lmkit.0, r.lmkit.0 * 1e6 / t, r.reference.0 * 1e6 / t,
                        r.lmkit.1 * 1e3, r.reference.1 * 1e3, r.reference.1 / r.lmkit.1)
        }
        for variant in Set(rows.map(\.variant)).sorted() {
            let mine = rows.filter { $0.variant == variant }
            guard mine.count >= 2 else { continue }
            for (side, pick) in [("LMKit", { (r: Row) in r.lmkit.0 }), ("torch", { (r: Row) in r.reference.0 })] {
                let points = mine.map { (Double($0.length), pick($0) * 1e3) }
                if points.contains(where: { $0.1.isNaN }) { continue }
                let f = fit(points)
                let growth = points.last!.1 / points.first!.1, lengthGrowth = points.last!.0 / points.first!.0
                s += String(format: "fit %@ %@: ms = %.2f + %.4f·T (R² %.4f); T ×%.0f → ms ×%.1f\n", variant as NSString, side as NSString,
                            f.a, f.b, f.r2, lengthGrowth, growth)
            }
        }
        return s + "(median and minimum of the timed runs; ratio = torch / LMKit, > 1 means LMKit is faster)\n"
    }
}
