// `lmkit bench train`: one nanoGPT training step (forward, backward, global-norm clip 1.0, AdamW step, zero grad) of
// the shakespeare_char CPU recipe model (4 layers, 4 heads, 128 wide, block 64, batch 12, vocabulary 65, no bias) on
// the same thread count, LMKit vs PyTorch running nanoGPT's model (Benchmarks/reference/train_reference.py) in the
// same command. Batches are random ids from a fixed seed on both sides; nothing but the step is timed.
import Foundation
import LMModels
import LMOptim
import LMTensor

public enum TrainBenchmark {
    public struct Row { public let threads: Int; public let lmkit: Double; public let reference: Double; public let torchVersion: String }

    /// Median seconds of one training step of the recipe model with `threads` threads (after warmup steps).
    public static func lmkitStepSeconds(threads: Int, steps: Int, config: GPTConfig, batch: Int) -> Double {
        Parallel.threadCount = threads
        let model = GPT(config, generator: Generator(seed: 1337))
        let optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: 1e-3, weightDecay: 0.1),
                              beta1: 0.9, beta2: 0.99)
        let data = Generator(seed: 7)
        let T = config.blockSize
        return Bench.median(runs: steps, warmup: 3) {
            let x = data.integers(batch * T, low: 0, high: config.vocabSize), y = data.integers(batch * T, low: 0, high: config.vocabSize)
            model.loss(x, targets: y, batch: batch, length: T).backward()
            _ = try? GradientClipping.clipGradientNorm(model.parameters(), maxNorm: 1.0)
            optimizer.step()
            optimizer.zeroGrad()
        }
    }

    /// The recipe model of configs/shakespeare_char.json.
    public static var recipeConfig: GPTConfig {
        var c = GPTConfig()
        c.vocabSize = 65; c.blockSize = 64; c.nLayer = 4; c.nHead = 4; c.nEmbd = 128; c.bias = false; c.dropout = 0
        return c
    }

    public static func run(threadCounts: [Int], steps: Int = 30, batch: Int = 12, log: (String) -> Void = { print($0) }) throws -> [Row] {
        let config = recipeConfig
        var rows: [Row] = []
        for threads in threadCounts {
            let ours = lmkitStepSeconds(threads: threads, steps: steps, config: config, batch: batch)
            log("  measured LMKit, \(threads) thread(s); running the PyTorch nanoGPT reference…")
            let reference = try Bench.runPythonJSON(script: Bench.repositoryRoot.appendingPathComponent("Benchmarks/reference/train_reference.py").path,
                                                    ["--threads", "\(threads)", "--steps", "\(steps)", "--batch", "\(batch)",
                                                     "--block", "\(config.blockSize)", "--layers", "\(config.nLayer)", "--heads", "\(config.nHead)",
                                                     "--embd", "\(config.nEmbd)", "--vocab", "\(config.vocabSize)"])
            rows.append(Row(threads: threads, lmkit: ours, reference: (reference["step_seconds"] as? NSNumber)?.doubleValue ?? .nan,
                            torchVersion: reference["torch_version"] as? String ?? "?"))
        }
        return rows
    }

    public static func format(_ rows: [Row], batch: Int = 12, block: Int = 64) -> String {
        var lines = ["| threads | LMKit ms/step | PyTorch (nanoGPT model) ms/step | LMKit tokens/s | PyTorch tokens/s | ratio (PyTorch / LMKit) |",
                     "|---|---|---|---|---|---|"]
        for r in rows {
            let tokens = Double(batch * block)
            lines.append(String(format: "| %d | %.1f | %.1f | %.0f | %.0f | %.2f× |", r.threads, r.lmkit * 1e3, r.reference * 1e3,
                                tokens / r.lmkit, tokens / r.reference, r.reference / r.lmkit))
        }
        if let v = rows.first?.torchVersion { lines.append("(torch \(v); ratio > 1 means LMKit is faster)") }
        return lines.joined(separator: "\n")
    }
}
