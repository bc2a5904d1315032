// `lmkit bench rnn`: LSTM and GRU through LMNN (one autograd op per layer-direction) vs torch.nn.LSTM/GRU on the CPU,
// same thread count, same command. Rows: forward+backward of a [T, B, I] batch (loss = sum(output · r)); B = 1
// single-step latency with a carried state (generation); a variable-length batch (lengths vs torch's
// pack_padded_sequence). The reference is Benchmarks/reference/rnn_reference.py, run after LMKit's rows.
import Foundation
import LMNN
import LMTensor

public enum RecurrentBenchmark {
    public struct Row {
        /// Median wall seconds, and median process CPU seconds (the steadier figure at 1 thread on a loaded machine).
        public let name: String, lmkit: Double, reference: Double, tokens: Int
        public let lmkitCPU: Double, referenceCPU: Double
    }

    /// One benchmark case; `key` names it for the reference script's JSON.
    public struct Case {
        public let cell: String, hidden: Int, layers: Int, batch: Int, steps: Int, mode: String
        var key: String { "\(mode)_\(cell)_h\(hidden)_l\(layers)_b\(batch)_t\(steps)" }
        public var name: String {
            switch mode {
            case "step": return "\(cell) step B1 H\(hidden) L\(layers)"
            case "varlen": return "\(cell) fwd+bwd varlen B\(batch) T≤\(steps) H\(hidden) L\(layers)"
            default: return "\(cell) fwd+bwd B\(batch) T\(steps) H\(hidden) L\(layers)"
            }
        }
        /// Tokens processed per timed call.
        var tokens: Int { mode == "step" ? 1 : mode == "varlen" ? lengths.reduce(0, +) : batch * steps }
        /// Lengths of the variable-length case: evenly spread from T down to T/4 (the same in the reference script).
        var lengths: [Int] { (0..<batch).map { steps - ($0 * (3 * steps / 4)) / Swift.max(batch - 1, 1) } }
    }

    public static func defaultCases() -> [Case] {
        var cases: [Case] = []
        for cell in ["lstm", "gru"] {
            for hidden in [256, 512] { for layers in [1, 2] { cases.append(Case(cell: cell, hidden: hidden, layers: layers, batch: 32, steps: 128, mode: "train")) } }
            cases.append(Case(cell: cell, hidden: 512, layers: 2, batch: 1, steps: 1, mode: "step"))
            cases.append(Case(cell: cell, hidden: 256, layers: 1, batch: 32, steps: 128, mode: "varlen"))
        }
        return cases
    }

    static func seconds(_ c: Case, runs: Int) -> (wall: Double, cpu: Double) {
        let g = Generator(seed: 1)
        let net: RecurrentNetwork = c.cell == "lstm"
            ? LSTM(inputSize: c.hidden, hiddenSize: c.hidden, layerCount: c.layers, generator: g)
            : GRU(inputSize: c.hidden, hiddenSize: c.hidden, layerCount: c.layers, generator: g)
        let x = Tensor.randn([c.steps, c.batch, c.hidden], generator: g)
        if c.mode == "step" {
            var state = net.zeroState(batch: 1)
            return Bench.medianWallAndCPU(runs: runs * 50, warmup: 10) { noGrad { state = net(x, state: state).state } }
        }
        let r = Tensor.randn([c.steps, c.batch, c.hidden], generator: g)
        let lengths = c.mode == "varlen" ? c.lengths : nil
        return Bench.medianWallAndCPU(runs: runs) {
            net.zeroGrad()
            (net(x, lengths: lengths).output * r).sum().backward()
        }
    }

    public static func run(threads: Int, cases: [Case], runs: Int, reference: Bool, log: (String) -> Void = { print($0) }) throws -> [Row] {
        Parallel.threadCount = threads
        var ours: [String: (wall: Double, cpu: Double)] = [:]
        for c in cases { ours[c.key] = seconds(c, runs: runs); log("  measured \(c.name)") }
        var ref: [String: Double] = [:]
        if reference {
            log("  running PyTorch reference…")
            let spec = cases.map { "\($0.mode):\($0.cell):\($0.hidden):\($0.layers):\($0.batch):\($0.steps)" }.joined(separator: ",")
            ref = try Bench.runReference("rnn_reference.py", ["--threads", "\(threads)", "--runs", "\(runs)", "--cases", spec])
        }
        return cases.map {
            Row(name: $0.name, lmkit: ours[$0.key]!.wall, reference: ref[$0.key] ?? .nan, tokens: $0.tokens,
                lmkitCPU: ours[$0.key]!.cpu, referenceCPU: ref[$0.key + "_cpu"] ?? .nan)
        }
    }

    public static func format(_ rows: [Row], threads: Int) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var s = pad("row (\(threads) thread\(threads == 1 ? "" : "s"))", 40) + left("LMKit ms", 11) + left("torch ms", 11)
            + left("LMKit tok/s", 13) + left("torch tok/s", 13) + left("torch/LMKit", 13)
            + left("LMKit cpu ms", 14) + left("torch cpu ms", 14) + left("cpu ratio", 11) + "\n"
        for r in rows {
            s += pad(r.name, 40) + left(String(format: "%.3f", r.lmkit * 1e3), 11) + left(String(format: "%.3f", r.reference * 1e3), 11)
                + left(String(format: "%.0f", Double(r.tokens) / r.lmkit), 13) + left(String(format: "%.0f", Double(r.tokens) / r.reference), 13)
                + left(String(format: "%.2fx", r.reference / r.lmkit), 13)
                + left(String(format: "%.3f", r.lmkitCPU * 1e3), 14) + left(String(format: "%.3f", r.referenceCPU * 1e3), 14)
                + left(String(format: "%.2fx", r.referenceCPU / r.lmkitCPU), 11) + "\n"
        }
        return s
    }
}
