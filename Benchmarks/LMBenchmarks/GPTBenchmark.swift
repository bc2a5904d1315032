// `lmkit bench gpt`: one training step (forward, loss, backward, clip at 1.0, AdamW with nanoGPT's decay grouping)
// of LMModels.GPT vs a nanoGPT-equivalent PyTorch model (Benchmarks/reference/gpt_reference.py) with the same config
// and thread count, in one command. Reports ms/iter (median after warmup), the ratio, and achieved GFLOP/s by
// nanoGPT's estimate_mfu count (6N + 12·L·H·Q·T per token) as a share of a large sgemm measured in the same process.
// Timing only: that the model is right is LMModelsTests' job; the first-step losses are printed as a sanity check.
import Foundation
import LMModels
import LMNN
import LMOptim
import LMTensor
import _CBLAS

public enum GPTBenchmark {
    /// A benchmark model and batch.
    public struct Setup: Sendable {
        public let name: String
        public let nLayer: Int, nHead: Int, nEmbd: Int, blockSize: Int, batch: Int, vocab: Int
        public init(name: String, nLayer: Int, nHead: Int, nEmbd: Int, blockSize: Int, batch: Int, vocab: Int) {
            self.name = name; self.nLayer = nLayer; self.nHead = nHead; self.nEmbd = nEmbd
            self.blockSize = blockSize; self.batch = batch; self.vocab = vocab
        }
        /// nanoGPT's CPU recipe (README, shakespeare_char on a laptop CPU).
        public static let cpuRecipe = Setup(name: "cpu-recipe", nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, batch: 12, vocab: 65)
        /// nanoGPT's shakespeare_char config (6 layers, 384 wide, block 256) at batch 8.
        public static let shakespeareChar = Setup(name: "6x384", nLayer: 6, nHead: 6, nEmbd: 384, blockSize: 256, batch: 8, vocab: 65)

        public var config: GPTConfig {
            var c = GPTConfig()
            c.vocabSize = vocab; c.blockSize = blockSize; c.nLayer = nLayer; c.nHead = nHead; c.nEmbd = nEmbd
            c.dropout = 0; c.bias = true; c.tieEmbeddings = true
            return c
        }
        var referenceArguments: [String] {
            ["--n-layer", "\(nLayer)", "--n-head", "\(nHead)", "--n-embd", "\(nEmbd)", "--block-size", "\(blockSize)",
             "--batch", "\(batch)", "--vocab", "\(vocab)"]
        }
        /// FLOPs of one training step by nanoGPT's `estimate_mfu`: (6N + 12·L·H·Q·T) per token, N = parameters
        /// without the position embedding (`get_num_params(non_embedding=True)`), T = block size.
        public func stepFlops(nonEmbeddingParameters n: Int) -> Double {
            let perToken = 6 * Double(n) + 12 * Double(nLayer * nHead * (nEmbd / nHead) * blockSize)
            return perToken * Double(blockSize * batch)
        }
    }

    /// One side's measurement.
    public struct Side { public let seconds: Double; public let firstLoss: Double; public let peakGFLOPs: Double }
    public struct Result { public let setup: Setup; public let threads: Int; public let flops: Double; public let lmkit: Side; public let reference: Side? }

    /// GFLOP/s of a 2048² float32 sgemm on the current thread count (best of 4): the peak the step is compared with.
    public static func sgemmPeakGFLOPs() -> Double {
        let n = 2048
        let g = Generator(seed: 5)
        let a = Tensor.randn([n, n], generator: g), b = Tensor.randn([n, n], generator: g), c = Tensor(zeros: [n, n])
        var best = Double.infinity
        // Raw OpenBLAS with its own thread pool (LMKit keeps it at one thread and splits products itself).
        openblas_set_num_threads(Int32(Parallel.threadCount))
        defer { openblas_set_num_threads(1) }
        for _ in 0..<4 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                        a.pointer(Float.self), Int32(n), b.pointer(Float.self), Int32(n), 0, c.pointer(Float.self), Int32(n))
            best = Swift.min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// The model, optimizer and data of one benchmark, and its training step (what `lmkit bench gpt` times and what
    /// `perf record` should look at).
    public final class Trainer {
        public let model: GPT
        public let optimizer: AdamW
        let tokens: [Int], targets: [Int], setup: Setup

        public init(_ setup: Setup) {
            self.setup = setup
            model = GPT(setup.config, generator: Generator(seed: 1337))
            model.train()
            // nanoGPT configure_optimizers: decay 0.1 on ≥2-D tensors, none on biases and norm weights; betas (0.9, 0.99).
            optimizer = AdamW(groups: ParameterGroup.decayAndNoDecay(model.namedParameters(), learningRate: 1e-3, weightDecay: 0.1),
                              beta1: 0.9, beta2: 0.99)
            let g = Generator(seed: 7)
            tokens = g.integers(setup.batch * setup.blockSize, low: 0, high: setup.vocab)
            targets = g.integers(setup.batch * setup.blockSize, low: 0, high: setup.vocab)
        }

        /// Forward, loss, backward, clip the global gradient norm to 1.0, AdamW step, drop gradients. Returns the loss.
        @discardableResult public func step() throws -> Float {
            let loss = model.loss(tokens, targets: targets, batch: setup.batch, length: setup.blockSize)
            loss.backward()
            try GradientClipping.clipGradientNorm(model.parameters(), maxNorm: 1.0)
            optimizer.step()
            optimizer.zeroGrad()
            return loss.item()
        }

        /// Parameters without the learned position embedding (nanoGPT's `get_num_params()`).
        public var nonEmbeddingParameters: Int {
            model.namedParameters().filter { $0.name != "transformer.wpe.weight" }.reduce(0) { $0 + $1.tensor.count }
        }
    }

    /// Times `iters` steps (median) after `warmup` steps on `threads` threads, then the reference unless `reference` is false.
    public static func run(_ setup: Setup, threads: Int, iters: Int = 10, warmup: Int = 3, reference: Bool = true,
                           measurePeak: Bool = true, log: (String) -> Void = { print($0) }) throws -> Result {
        Parallel.threadCount = threads
        let trainer = Trainer(setup)
        let firstLoss = try trainer.step()
        for _ in 1..<Swift.max(warmup, 1) { try trainer.step() }
        let seconds = try Bench.timed(runs: iters, warmup: 0) { try trainer.step() }.median
        let ours = Side(seconds: seconds, firstLoss: Double(firstLoss), peakGFLOPs: measurePeak ? sgemmPeakGFLOPs() : .nan)
        let flops = setup.stepFlops(nonEmbeddingParameters: trainer.nonEmbeddingParameters)
        log("  measured LMKit \(setup.name) (\(trainer.nonEmbeddingParameters) non-embedding parameters)")
        guard reference else { return Result(setup: setup, threads: threads, flops: flops, lmkit: ours, reference: nil) }
        log("  running PyTorch reference…")
        let ref = try Bench.runReference("gpt_reference.py", setup.referenceArguments +
                                         ["--threads", "\(threads)", "--iters", "\(iters)", "--warmup", "\(warmup)"])
        if let n = ref["params_non_embedding"], Int(n) != trainer.nonEmbeddingParameters {
            throw BenchError(message: "gpt_reference.py built \(Int(n)) non-embedding parameters, LMKit \(trainer.nonEmbeddingParameters): not the same model")
        }
        let theirs = Side(seconds: ref["seconds"] ?? .nan, firstLoss: ref["first_loss"] ?? .nan, peakGFLOPs: ref["mm_peak_gflops"] ?? .nan)
        return Result(setup: setup, threads: threads, flops: flops, lmkit: ours, reference: theirs)
    }

    /// The fastest of several alternating rounds per side (LMKit, torch, LMKit, …), with the highest peak each saw:
    /// on a shared machine whose load drifts this compares both sides at their least disturbed.
    public static func best(of rounds: [Result]) -> Result {
        func bestSide(_ sides: [Side]) -> Side {
            Side(seconds: sides.map(\.seconds).min()!, firstLoss: sides[0].firstLoss,
                 peakGFLOPs: sides.map(\.peakGFLOPs).filter { !$0.isNaN }.max() ?? .nan)
        }
        let first = rounds[0]
        let references = rounds.compactMap(\.reference)
        return Result(setup: first.setup, threads: first.threads, flops: first.flops, lmkit: bestSide(rounds.map(\.lmkit)),
                      reference: references.isEmpty ? nil : bestSide(references))
    }

    public static func format(_ results: [Result]) -> String {
        func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: Swift.max(width, text.count), withPad: " ", startingAt: 0) }
        func left(_ text: String, _ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        func share(_ side: Side, _ flops: Double) -> String {
            let achieved = flops / side.seconds / 1e9
            return String(format: "%.1f GF/s = %.0f%% of %.0f", achieved, 100 * achieved / side.peakGFLOPs, side.peakGFLOPs)
        }
        var s = pad("train step (fwd+bwd+clip+AdamW)", 34) + left("thr", 4) + left("LMKit ms", 10) + left("torch ms", 10) + left("ratio", 8)
            + "  " + pad("LMKit vs its sgemm peak", 28) + pad("torch vs its mm peak", 28) + "loss@1 LMKit/torch\n"
        for r in results {
            let st = r.setup
            let name = "\(st.name): L\(st.nLayer) H\(st.nHead) C\(st.nEmbd) T\(st.blockSize) B\(st.batch) V\(st.vocab)"
            s += pad(name, 34) + left("\(r.threads)", 4) + left(String(format: "%.2f", r.lmkit.seconds * 1e3), 10)
            if let ref = r.reference {
                s += left(String(format: "%.2f", ref.seconds * 1e3), 10) + left(String(format: "%.2fx", ref.seconds / r.lmkit.seconds), 8)
                    + "  " + pad(share(r.lmkit, r.flops), 28) + pad(share(ref, r.flops), 28)
                    + String(format: "%.4f / %.4f", r.lmkit.firstLoss, ref.firstLoss) + "\n"
            } else {
                s += left("-", 10) + left("-", 8) + "  " + pad(share(r.lmkit, r.flops), 28) + pad("-", 28)
                    + String(format: "%.4f", r.lmkit.firstLoss) + "\n"
            }
        }
        return s + "(ratio = torch / LMKit, > 1 means LMKit is faster; GF/s by nanoGPT's estimate_mfu FLOP count)\n"
    }
}
