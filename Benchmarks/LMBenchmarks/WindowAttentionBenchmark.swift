// `lmkit bench attention --sliding-window W`: full causal attention and a causal sliding window of W keys, forward +
// backward through `Tensor.scaledDotProductAttention` (float32, q/k/v [B, H, T, D] requiring grad), against PyTorch CPU
// SDPA with is_causal=True and with the equivalent boolean band mask (Benchmarks/reference/window_attention_reference.py),
// same threads, in alternating rounds (LMKit, torch, LMKit, …; each side's best round kept). Prints ms, the ratio,
// ms per 1k tokens, and the growth with T: the exponent b of a least-squares fit ms ∝ T^b (2 for full attention's
// O(T²), 1 for the window's O(T·W)). Timing only; correctness lives in the tests.
import Foundation
import LMTensor

public enum WindowAttentionBenchmark {
    /// One length: median and minimum seconds of each side for full causal and windowed attention.
    public struct Row {
        public let length: Int
        public var full: (lmkit: Double, torch: Double), window: (lmkit: Double, torch: Double)
        public var fullMin: (lmkit: Double, torch: Double), windowMin: (lmkit: Double, torch: Double)
    }

    /// Timed runs at length T: `runs` up to T = 1024, then fewer (at least 3) so each length takes similar time.
    public static func runs(_ runs: Int, length: Int) -> Int { Swift.max(3, runs * 1024 / Swift.max(length, 1024)) }

    /// `rounds` alternating rounds on `threads` threads; each round measures LMKit at every length, then torch.
    public static func run(threads: Int, batch: Int, heads: Int, headSize: Int, window: Int, lengths: [Int], runs: Int, rounds: Int,
                           reference: Bool, log: (String) -> Void = { print($0) }) throws -> [Row] {
        Parallel.threadCount = threads
        var best = lengths.map { Row(length: $0, full: (.infinity, .infinity), window: (.infinity, .infinity),
                                     fullMin: (.infinity, .infinity), windowMin: (.infinity, .infinity)) }
        for round in 0..<rounds {
            for (n, t) in lengths.enumerated() {
                let r = Self.runs(runs, length: t)
                let full = AttentionBenchmark.lmkitSeconds(batch: batch, heads: heads, length: t, headSize: headSize, runs: r)
                let windowed = AttentionBenchmark.lmkitSeconds(batch: batch, heads: heads, length: t, headSize: headSize, runs: r, window: window)
                best[n].full.lmkit = Swift.min(best[n].full.lmkit, full.median); best[n].fullMin.lmkit = Swift.min(best[n].fullMin.lmkit, full.min)
                best[n].window.lmkit = Swift.min(best[n].window.lmkit, windowed.median)
                best[n].windowMin.lmkit = Swift.min(best[n].windowMin.lmkit, windowed.min)
            }
            log("  round \(round + 1): measured LMKit")
            guard reference else { continue }
            let ref = try Bench.runReference("window_attention_reference.py", [
                "--threads", "\(threads)", "--batch", "\(batch)", "--heads", "\(heads)", "--head-size", "\(headSize)", "--window", "\(window)",
                "--lengths", lengths.map(String.init).joined(separator: ","),
                "--runs", lengths.map { String(Self.runs(runs, length: $0)) }.joined(separator: ",")])
            for (n, t) in lengths.enumerated() {
                func least(_ old: Double, _ key: String) -> Double { Swift.min(old, ref[key] ?? .infinity) }
                best[n].full.torch = least(best[n].full.torch, "full_T\(t)"); best[n].fullMin.torch = least(best[n].fullMin.torch, "full_T\(t)_min")
                best[n].window.torch = least(best[n].window.torch, "window_T\(t)")
                best[n].windowMin.torch = least(best[n].windowMin.torch, "window_T\(t)_min")
            }
            log("  round \(round + 1): measured torch")
        }
        return best
    }

    /// Exponent b of the least-squares fit log(seconds) = a + b·log(T).
    public static func growthExponent(lengths: [Int], seconds: [Double]) -> Double {
        let x = lengths.map { Foundation.log(Double($0)) }, y = seconds.map { Foundation.log($0) }
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        let sxy = zip(x, y).map { ($0 - mx) * ($1 - my) }.reduce(0, +), sxx = x.map { ($0 - mx) * ($0 - mx) }.reduce(0, +)
        return sxy / sxx
    }

    public static func format(_ rows: [Row], threads: Int, batch: Int, heads: Int, headSize: Int, window: Int, rounds: Int) -> String {
        func ms(_ s: Double) -> String { s.isFinite ? String(format: "%.2f", s * 1e3) : "-" }
        func ratio(_ torch: Double, _ ours: Double) -> String { torch.isFinite ? String(format: "%.2fx", torch / ours) : "-" }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var s = "causal attention fwd+bwd, B \(batch) H \(heads) D \(headSize), \(threads) thread(s), best of \(rounds) alternating round(s)\n"
        s += "  kind          T   LMKit ms   torch ms   ratio  LMKit ms/1k tok   | min: LMKit ms  torch ms  ratio\n"
        for (name, pick, pickMin) in [("full", { (r: Row) in r.full }, { (r: Row) in r.fullMin }),
                                      ("window \(window)", { (r: Row) in r.window }, { (r: Row) in r.windowMin })] {
            for r in rows {
                let (m, mn) = (pick(r), pickMin(r))
                s += "  " + name.padding(toLength: 10, withPad: " ", startingAt: 0) + left("\(r.length)", 6) + left(ms(m.lmkit), 11)
                    + left(ms(m.torch), 11) + left(ratio(m.torch, m.lmkit), 8) + left(String(format: "%.2f", m.lmkit * 1e6 / Double(r.length)), 17)
                    + "   |" + left(ms(mn.lmkit), 14) + left(ms(mn.torch), 10) + left(ratio(mn.torch, mn.lmkit), 7) + "\n"
            }
        }
        if rows.count >= 2 {
            let t = rows.map(\.length)
            func fit(_ values: [Double]) -> String {
                values.allSatisfy { $0.isFinite && $0 > 0 } ? String(format: "%.2f", growthExponent(lengths: t, seconds: values)) : "-"
            }
            s += "growth fit ms ∝ T^b over T = \(t.map(String.init).joined(separator: ", ")): "
            s += "full: LMKit b = \(fit(rows.map(\.full.lmkit))), torch b = \(fit(rows.map(\.full.torch)));  "
            s += "window \(window): LMKit b = \(fit(rows.map(\.window.lmkit))), torch b = \(fit(rows.map(\.window.torch)))\n"
            // The first W queries see fewer than W keys, so ms/token rises towards its limit; the marginal cost per
            // token between consecutive lengths is what stays constant when the growth is linear.
            s += "window \(window), LMKit marginal ms per 1k tokens between consecutive T: "
            s += zip(rows, rows.dropFirst()).map { a, b in
                "\(a.length)→\(b.length): " + String(format: "%.1f", (b.window.lmkit - a.window.lmkit) * 1e6 / Double(b.length - a.length))
            }.joined(separator: ", ") + "\n"

        }
        return s + "(medians; ratio = torch / LMKit, > 1 means LMKit is faster; torch's window is SDPA with a boolean band mask)\n"
    }
}
