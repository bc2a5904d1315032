// `lmkit bench ssm`: the selective scan forward+backward (Tensor.selectiveScan, float32, all inputs requiring grad)
// vs a PyTorch selective scan written like mamba-minimal's, a Mamba mixer forward+backward (LMModels' MambaMixer)
// vs transformers' MambaMixer on its CPU path, LMKit's per-token decoding latency at batch 1 after contexts of several
// lengths (flat for a state-space model, growing for GPT), and S4D's long convolution direct vs through FFTW.
// The reference is Benchmarks/reference/ssm_reference.py.
// Timing only; correctness lives in the tests.
import Foundation
import LMModels
import LMTensor
import LMTrain

public enum SSMBenchmark {
    public struct Shape: Sendable {
        public var batch: Int, length: Int, channels: Int, state: Int
        public init(batch: Int, length: Int, channels: Int, state: Int) {
            self.batch = batch; self.length = length; self.channels = channels; self.state = state
        }
    }

    /// One scan forward+backward on the Tensor layer: u, Δ [B, L, D], A [D, N], B, C [B, L, N], D [D] requiring grad.
    public static func scanSeconds(_ s: Shape, runs: Int) -> (median: Double, min: Double) {
        let g = Generator(seed: 7)
        let u = Tensor.randn([s.batch, s.length, s.channels], generator: g).requiringGrad()
        let delta = Tensor.rand([s.batch, s.length, s.channels], low: 0.001, high: 0.101, generator: g).requiringGrad()
        let A = Tensor.rand([s.channels, s.state], low: -3.2, high: -0.2, generator: g).requiringGrad()
        let Bm = Tensor.randn([s.batch, s.length, s.state], generator: g).requiringGrad()
        let C = Tensor.randn([s.batch, s.length, s.state], generator: g).requiringGrad()
        let skip = Tensor.ones([s.channels]).requiringGrad()
        let dy = Tensor.randn([s.batch, s.length, s.channels], generator: g)
        return Bench.timed(runs: runs) {
            for t in [u, delta, A, Bm, C, skip] { t.grad = nil }
            u.selectiveScan(delta: delta, A: A, B: Bm, C: C, D: skip).backward(dy)
        }
    }

    /// One Mamba mixer forward+backward: d_model = D/2 (d_inner = D), d_state N, x [B, L, d_model] requiring grad.
    public static func mixerSeconds(_ s: Shape, runs: Int) -> (median: Double, min: Double) {
        var config = MambaConfig()
        config.dModel = s.channels / 2; config.dState = s.state; config.nLayer = 1; config.vocabSize = 8
        let mixer = Mamba(config, initializer: Generator(seed: 1)).backbone.layers[0].mixer
        let g = Generator(seed: 2)
        let x = Tensor.randn([s.batch, s.length, config.dModel], generator: g).requiringGrad()
        let dy = Tensor.randn([s.batch, s.length, config.dModel], generator: g)
        return Bench.timed(runs: runs) {
            x.grad = nil
            mixer.zeroGrad()
            mixer(x).backward(dy)
        }
    }

    /// A Mamba of `dModel` and `layers` (vocabulary 256), randomly initialized, for `decodeSeconds`.
    public static func mamba(dModel: Int, layers: Int) -> Mamba {
        var config = MambaConfig()
        config.dModel = dModel; config.nLayer = layers; config.vocabSize = 256
        return Mamba(config, initializer: Generator(seed: 3))
    }

    /// The model of a training config's `model` section (vocabulary `vocabularySize`, the config's block_size raised to
    /// `blockSize` so a GPT's position table covers the longest context), randomly initialized, for `decodeSeconds`.
    public static func model(trainingConfig path: String, vocabularySize: Int, blockSize: Int) throws -> any LanguageModel {
        let config = try TrainConfig.load(path: path, overrides: ["--block_size", "\(blockSize)"])
        return try ModelRegistry.makeModel(try config.modelConfig(vocabularySize: vocabularySize), generator: Generator(seed: 3))
    }

    /// Seconds per decoded token at batch 1 after a prefill of each context length (median over `tokens` steps), for a
    /// model with incremental decoding (nil for one without).
    public static func decodeSeconds(_ model: any LanguageModel, contexts: [Int], tokens: Int) -> [Int: Double]? {
        func measure<M: IncrementalDecoding>(_ model: M) -> [Int: Double] {
            let V = model.config.vocabularySize
            model.eval()
            var out: [Int: Double] = [:]
            for context in contexts {
                let state = model.makeDecodingState(batch: 1)
                _ = model.decode((0..<context).map { $0 % V }, batch: 1, length: context, state: state)
                var times: [Double] = []
                for i in 0..<tokens {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = model.decode([i % V], batch: 1, length: 1, state: state)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
                }
                times.sort()
                out[context] = times[times.count / 2]
            }
            return out
        }
        return (model as? any IncrementalDecoding).map { measure($0) }
    }

    /// Forward+backward seconds (median, min) of the causal depthwise conv with a kernel as long as the sequence (K = L,
    /// S4D's convolution view), direct or through FFTW, float32 on x [batch, length, channels] — the measurement behind
    /// `SSM.fftConvolutionMinimumWidth`.
    public static func convolutionSeconds(batch B: Int, length L: Int, channels D: Int, fft: Bool, runs: Int) -> (median: Double, min: Double) {
        let g = Generator(seed: 11)
        let x = Tensor.randn([B, L, D], generator: g), w = Tensor.randn([D, L], generator: g), dy = Tensor.randn([B, L, D], generator: g)
        let y = Tensor(zeros: [B, L, D]), dx = Tensor(zeros: [B, L, D]), dw = Tensor(zeros: [D, L]), db = Tensor(zeros: [D])
        let (xp, wp, dyp) = (x.pointer(Float.self), w.pointer(Float.self), dy.pointer(Float.self))
        return Bench.timed(runs: runs) {
            if fft {
                SSM.fftCausalConv1dForward(xp, weight: wp, bias: nil, y.pointer(Float.self), B: B, L: L, D: D, K: L)
                SSM.fftCausalConv1dBackward(xp, weight: wp, dyp, dx: dx.pointer(Float.self), dWeight: dw.pointer(Float.self),
                                            dBias: db.pointer(Float.self), B: B, L: L, D: D, K: L)
            } else {
                SSM.causalConv1dForward(xp, weight: wp, bias: nil, y.pointer(Float.self), B: B, L: L, D: D, K: L)
                SSM.causalConv1dBackward(xp, weight: wp, dyp, dx: dx.pointer(Float.self), dWeight: dw.pointer(Float.self),
                                         dBias: db.pointer(Float.self), B: B, L: L, D: D, K: L)
            }
        }
    }

    /// Alternating rounds of LMKit, then the reference, on `threads` threads; prints each round and the best of each side.
    public static func run(threads: Int, shape s: Shape, runs: Int, rounds: Int, reference: Bool,
                           log: (String) -> Void = { print($0) }) throws {
        Parallel.threadCount = threads
        log("== lmkit bench ssm, \(threads) thread(s): B \(s.batch), L \(s.length), D \(s.channels), N \(s.state); mixer d_model \(s.channels / 2)")
        var best: [String: Double] = [:]
        func keep(_ key: String, _ value: Double) { best[key] = Swift.min(best[key] ?? .infinity, value) }
        for round in 1...rounds {
            let scan = scanSeconds(s, runs: runs), mixer = mixerSeconds(s, runs: runs)
            keep("scan", scan.median); keep("mixer", mixer.median)
            var line = String(format: "round %d  LMKit: scan fwd+bwd %.4f s (min %.4f), mixer fwd+bwd %.4f s (min %.4f)",
                              round, scan.median, scan.min, mixer.median, mixer.min)
            if reference {
                let ref = try Bench.runReference("ssm_reference.py", [
                    "--threads", "\(threads)", "--batch", "\(s.batch)", "--length", "\(s.length)", "--channels", "\(s.channels)",
                    "--state", "\(s.state)", "--runs", "\(runs)"])
                keep("ref_scan", ref["scan"] ?? .nan); keep("ref_mixer", ref["mixer"] ?? .nan)
                line += String(format: " | torch: mamba-minimal scan %.4f s (min %.4f), transformers MambaMixer %.4f s (min %.4f)",
                               ref["scan"] ?? .nan, ref["scan_min"] ?? .nan, ref["mixer"] ?? .nan, ref["mixer_min"] ?? .nan)
            }
            log(line)
        }
        var summary = String(format: "best medians: LMKit scan %.4f s, mixer %.4f s", best["scan"]!, best["mixer"]!)
        if reference {
            summary += String(format: "; torch scan %.4f s (LMKit %.1fx faster), MambaMixer %.4f s (LMKit %.1fx faster)",
                              best["ref_scan"]!, best["ref_scan"]! / best["scan"]!, best["ref_mixer"]!, best["ref_mixer"]! / best["mixer"]!)
        }
        log(summary)
    }
}
