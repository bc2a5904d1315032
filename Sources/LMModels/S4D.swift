// S4D (Gu, Gupta, Goel, Ré 2022, "On the Parameterization and Initialization of Diagonal State Space Models") as a
// language model: token embedding, pre-LayerNorm residual blocks of one S4D layer each, a final LayerNorm, tied head.
// The layer follows state-spaces/s4 models/s4/s4d.py (`S4DKernel`, `S4D`): diagonal complex A with the S4D-Lin, S4D-Inv
// or S4D-LegS initialization (from HiPPO-LegS), learned Δ, zero-order hold; training uses the convolution view (the
// kernel K computed by the `s4dConvolutionWeight` op, applied by `causalConv1d`: through FFTW for long sequences,
// directly for short ones, by measurement), decoding the recurrent view (one complex state per channel and mode).
// Then D skip, GELU, a 1×1 projection to 2H and GLU, as the reference.
import Foundation
import LMNN
import LMTensor

/// Architecture of an `S4D` model.
public struct S4DConfig: ModelConfiguration {
    public static let modelType = "s4d"

    /// How A's imaginary parts start: `lin` = π·n (S4D-Lin), `inv` = (N/π)(N/(2n+1) − 1) (S4D-Inv), `legs` = those of
    /// the diagonal of HiPPO-LegS's normal part (S4D-LegS, which the other two approximate); real parts −1/2.
    public enum Initialization: String, Codable, Sendable { case lin, inv, legs }

    public var vocabSize: Int = 256
    public var dModel: Int = 128
    public var nLayer: Int = 4
    /// State size N; the layer holds N/2 complex modes (their conjugates are implied).
    public var dState: Int = 64
    public var dtMin: Double = 0.001
    public var dtMax: Double = 0.1
    public var initialization: Initialization = .lin
    public var normEps: Double = 1e-5

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { nil }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", dModel = "d_model", nLayer = "n_layer", dState = "d_state", dtMin = "dt_min", dtMax = "dt_max"
        case initialization = "init", normEps = "norm_eps"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = S4DConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        dModel = try c.decodeIfPresent(Int.self, forKey: .dModel) ?? d.dModel
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        dState = try c.decodeIfPresent(Int.self, forKey: .dState) ?? d.dState
        dtMin = try c.decodeIfPresent(Double.self, forKey: .dtMin) ?? d.dtMin
        dtMax = try c.decodeIfPresent(Double.self, forKey: .dtMax) ?? d.dtMax
        initialization = try c.decodeIfPresent(Initialization.self, forKey: .initialization) ?? d.initialization
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps) ?? d.normEps
        try validate()
    }

    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.dModel, dModel), (.nLayer, nLayer)] where value <= 0 {
            throw fail(key, "must be a positive integer, got \(value)")
        }
        guard dState >= 2 && dState % 2 == 0 else { throw fail(.dState, "must be a positive even integer, got \(dState)") }
        guard dtMin > 0 && dtMin <= dtMax else { throw fail(.dtMin, "must be positive and at most dt_max (\(dtMax)), got \(dtMin)") }
        guard normEps > 0 && normEps.isFinite else { throw fail(.normEps, "must be positive, got \(normEps)") }
    }

    /// The initial imaginary parts of A for the M = N/2 modes (s4 src/models/sequence/kernels/dplr.py `dplr`, and
    /// `nplr('legs')` for S4D-LegS).
    public func initialImaginaryParts() -> [Double] {
        let N = Double(dState)
        switch initialization {
        case .lin: return (0..<(dState / 2)).map { Double.pi * Double($0) }
        case .inv: return (0..<(dState / 2)).map { N / Double.pi * (N / Double(2 * $0 + 1) - 1) }
        case .legs: return S4DConfig.legSImaginaryParts(dState)
        }
    }

    /// HiPPO-LegS (Gu et al. 2020; s4 hippo.py `transition('legs')`), row-major N×N A and B [N]:
    /// A[n, k] = −√(2n+1)·√(2k+1) for n > k, −(n+1) for n = k, 0 for n < k;  B[n] = √(2n+1).
    public static func hippoLegS(_ N: Int) -> (A: [Double], B: [Double]) {
        var A = [Double](repeating: 0, count: N * N)
        for n in 0..<N {
            for k in 0...n { A[n * N + k] = n == k ? -Double(n + 1) : -(Double(2 * n + 1) * Double(2 * k + 1)).squareRoot() }
        }
        return (A, (0..<N).map { Double(2 * $0 + 1).squareRoot() })
    }

    /// S4D-LegS: HiPPO-LegS plus P·Pᵀ with P[n] = √(n + 1/2) (s4 `rank_correction('legs')`) is −I/2 + S with S
    /// skew-symmetric, so its eigenvalues are −1/2 ± iω. Returns the N/2 values ω ≥ 0 in ascending order: the ω² are
    /// the eigenvalues of the symmetric SᵀS, each twice (cyclic Jacobi, float64).
    static func legSImaginaryParts(_ N: Int) -> [Double] {
        let A = hippoLegS(N).A
        var S = [Double](repeating: 0, count: N * N)
        for n in 0..<N { for k in 0..<N { S[n * N + k] = A[n * N + k] + (Double(n) + 0.5).squareRoot() * (Double(k) + 0.5).squareRoot() } }
        for n in 0..<N { S[n * N + n] += 0.5 }
        var G = [Double](repeating: 0, count: N * N)  // SᵀS
        for i in 0..<N { for j in 0..<N { G[i * N + j] = (0..<N).reduce(0) { $0 + S[$1 * N + i] * S[$1 * N + j] } } }
        for _ in 0..<64 {
            var off = 0.0, scale = 0.0
            for i in 0..<N { for j in 0..<N { if i == j { scale += G[i * N + j] * G[i * N + j] } else { off += G[i * N + j] * G[i * N + j] } } }
            if off <= 1e-30 * scale { break }
            for p in 0..<(N - 1) {
                for q in (p + 1)..<N where G[p * N + q] != 0 {
                    // The rotation in the (p, q) plane that zeroes G[p, q] (Golub & Van Loan, symmetric Schur 2×2).
                    let theta = (G[q * N + q] - G[p * N + p]) / (2 * G[p * N + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<N {
                        let (gkp, gkq) = (G[k * N + p], G[k * N + q])
                        G[k * N + p] = c * gkp - s * gkq; G[k * N + q] = s * gkp + c * gkq
                    }
                    for k in 0..<N {
                        let (gpk, gqk) = (G[p * N + k], G[q * N + k])
                        G[p * N + k] = c * gpk - s * gqk; G[q * N + k] = s * gpk + c * gqk
                    }
                }
            }
        }
        let squares = (0..<N).map { Swift.max(0, G[$0 * N + $0]) }.sorted()
        return stride(from: 0, to: N, by: 2).map { squares[$0].squareRoot() }
    }
}

/// S4D's kernel parameters (s4d.py `S4DKernel`): log Δ [H], log(−Re A) and Im A [H, M], C [H, M, 2] (re, im).
public final class S4DKernel: Module {
    public let logDt: Tensor
    public let logAReal: Tensor
    public let aImag: Tensor
    public let c: Tensor
    public override class var keys: [String: String] { ["logDt": "log_dt", "logAReal": "log_A_real", "aImag": "A_imag", "c": "C"] }
    /// s4d.py `S4DKernel.register` gives Δ and A `{"weight_decay": 0.0}` (C is decayed).
    public override class var noWeightDecay: Set<String> { ["log_dt", "log_A_real", "A_imag"] }

    init(_ config: S4DConfig, _ generator: Generator?) {
        let (H, M) = (config.dModel, config.dState / 2)
        let (lo, hi) = (Foundation.log(config.dtMin), Foundation.log(config.dtMax))
        logDt = Tensor((generator?.uniform(H) ?? [Double](repeating: 0, count: H)).map { Float(lo + $0 * (hi - lo)) }, shape: [H], requiresGrad: true)
        logAReal = Tensor.full([H, M], Foundation.log(0.5)).requiringGrad()
        let imaginary = config.initialImaginaryParts()
        aImag = Tensor((0..<(H * M)).map { Float(imaginary[$0 % M]) }, shape: [H, M], requiresGrad: true)
        // torch.randn(cfloat): real and imaginary parts N(0, 1/2).
        c = Init.normal([H, M, 2], std: 0.5.squareRoot(), generator).requiringGrad()
    }

    /// The convolution weight [H, length] (conv order, see `Tensor.s4dConvolutionWeight`).
    func weight(length: Int) -> Tensor {
        Tensor.s4dConvolutionWeight(logDt: logDt, logAReal: logAReal, aImag: aImag, c: c, length: length)
    }
}

/// One S4D layer: y = GLU(W · GELU(K ∗ u + D ⊙ u) + b), u and y [B, L, H].
public final class S4DLayer: Module {
    public let kernel: S4DKernel
    /// The skip D [H], N(0, 1) as s4d.py.
    public let skip: Tensor
    public let outputLinear: Linear
    public override class var keys: [String: String] { ["skip": "D", "outputLinear": "output_linear"] }

    init(_ config: S4DConfig, _ generator: Generator?) {
        let H = config.dModel
        kernel = S4DKernel(config, generator)
        skip = Init.normal([H], std: 1, generator).requiringGrad()
        outputLinear = generator.map { Linear(H, 2 * H, generator: $0) } ?? Linear(weight: Tensor(zeros: [2 * H, H]), bias: Tensor(zeros: [2 * H]))
    }

    /// The position-wise tail after the sequence mixing: GELU, the projection to 2H and GLU. y [B, L, H].
    func tail(_ y: Tensor) -> Tensor {
        let H = skip.count
        let ab = outputLinear(y.gelu(.erf)).split([H, H], axis: 2)  // 2 × [B, L, H]
        return ab[0] * ab[1].sigmoid()
    }

    /// Convolution view: u [B, L, H] -> [B, L, H].
    func callAsFunction(_ u: Tensor) -> Tensor {
        let y = u.causalConv1d(weight: kernel.weight(length: u.shape[1]), bias: nil) + u * skip  // [B, L, H]
        return tail(y)
    }

    /// The discretized recurrence per channel h and mode n, 6 values at (h·M + n)·6: e^{ΔA} (re, im),
    /// (e^{ΔA} − 1)/A (re, im) and C (re, im). Computed once per decoding state (weights do not change while decoding):
    /// recomputing its H·M exponentials and sines each token was most of a token's cost.
    func discretization() -> [Double] {
        let (H, M) = (kernel.aImag.shape[0], kernel.aImag.shape[1])
        let dt = kernel.logDt.toArray(), lar = kernel.logAReal.toArray(), ai = kernel.aImag.toArray(), c = kernel.c.toArray()
        var out = [Double](repeating: 0, count: H * M * 6)
        for h in 0..<H {
            let delta = Double(Foundation.exp(dt[h]))
            for n in 0..<M {
                let i = h * M + n
                let (ar, aim) = (-Double(Foundation.exp(lar[i])), Double(ai[i]))
                let (er, ei) = (Foundation.exp(delta * ar) * Foundation.cos(delta * aim), Foundation.exp(delta * ar) * Foundation.sin(delta * aim))
                let a2 = ar * ar + aim * aim
                let (qr, qi) = (((er - 1) * ar + ei * aim) / a2, (ei * ar - (er - 1) * aim) / a2)
                for (k, v) in [er, ei, qr, qi, Double(c[2 * i]), Double(c[2 * i + 1])].enumerated() { out[i * 6 + k] = v }
            }
        }
        return out
    }

    /// Recurrent view (no gradient): continues `state` [B, H, M, 2] (complex modes) over u [B, L, H] and advances it:
    /// x_t = e^{ΔA} x_{t−1} + (e^{ΔA} − 1)/A · u_t,  y_t = 2 Re(C · x_t) + D u_t.  `coefficients` is `discretization()`.
    func step(_ u: Tensor, state: Tensor, coefficients: [Double]) -> Tensor {
        let (B, L, H) = (u.shape[0], u.shape[1], u.shape[2]), M = kernel.aImag.shape[1]
        let ud = u.contiguous().toArray(), d = skip.toArray()
        let x = state.pointer(Float.self)
        var y = [Float](repeating: 0, count: B * L * H)
        for h in 0..<H {
            for n in 0..<M {
                let k = (h * M + n) * 6
                let (er, ei, qr, qi, cr, ci) = (coefficients[k], coefficients[k + 1], coefficients[k + 2], coefficients[k + 3],
                                                coefficients[k + 4], coefficients[k + 5])
                for b in 0..<B {
                    let s = x + ((b * H + h) * M + n) * 2
                    var (sr, si) = (Double(s[0]), Double(s[1]))
                    for t in 0..<L {
                        let v = Double(ud[(b * L + t) * H + h])
                        (sr, si) = (er * sr - ei * si + qr * v, er * si + ei * sr + qi * v)
                        y[(b * L + t) * H + h] += Float(2 * (cr * sr - ci * si))
                    }
                    s[0] = Float(sr); s[1] = Float(si)
                }
            }
        }
        for i in 0..<(B * L * H) { y[i] += d[i % H] * ud[i] }
        return tail(Tensor(y, shape: [B, L, H]))
    }
}

/// A pre-norm residual block: x + S4D(LayerNorm(x)).
public final class S4DBlock: Module, GradientCheckpointable {
    public let norm: LayerNorm
    public let layer: S4DLayer
    public var gradientCheckpointing = false

    init(_ config: S4DConfig, _ generator: Generator?) {
        norm = LayerNorm(config.dModel, eps: config.normEps)
        layer = S4DLayer(config, generator)
    }
}

/// Decoding state: per layer, the complex states [B, H, M, 2] and the discretized recurrence (filled on first use).
/// Constant size in the sequence length.
public final class S4DState: DecodingState {
    public private(set) var length = 0
    let states: [Tensor]
    let batch: Int
    var coefficients: [[Double]?]

    init(_ config: S4DConfig, batch: Int) {
        self.batch = batch
        states = (0..<config.nLayer).map { _ in Tensor(zeros: [batch, config.dModel, config.dState / 2, 2]) }
        coefficients = [[Double]?](repeating: nil, count: config.nLayer)
    }

    func advance(by n: Int) { length += n }
}

/// An S4D language model: convolution view for logits and training, recurrent view for step decoding.
public final class S4D: Module, IncrementalDecoding {
    public let config: S4DConfig
    public let embedding: Embedding
    public let layers: [S4DBlock]
    public let normF: LayerNorm
    /// The head, tied to the embedding.
    public let lmHead: Linear
    public override class var keys: [String: String] { ["normF": "norm_f", "lmHead": "lm_head"] }

    public init(_ config: S4DConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "S4D: invalid config \(config)")
        self.config = config
        embedding = Embedding(weight: Init.normal([config.vocabSize, config.dModel], std: 0.02, generator))
        layers = (0..<config.nLayer).map { _ in S4DBlock(config, generator) }
        normF = LayerNorm(config.dModel, eps: config.normEps)
        lmHead = Linear(weight: embedding.weight, bias: nil)
    }

    public var aliasedStateDictKeys: Set<String> { ["lm_head.weight"] }

    func forward(_ tokens: [Int], batch: Int, length: Int, state: S4DState?) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "S4D: \(tokens.count) tokens for batch \(batch) × length \(length)")
        if let state { precondition(state.batch == batch, "S4D: a decoding state for batch \(state.batch), given batch \(batch)") }
        var x = embedding(tokens, shape: [batch, length])                // [B, L, H]
        for (i, block) in layers.enumerated() {
            if let state {
                if state.coefficients[i] == nil { state.coefficients[i] = block.layer.discretization() }
                x = x + block.layer.step(block.norm(x), state: state.states[i], coefficients: state.coefficients[i]!)  // [B, L, H]
            } else if block.gradientCheckpointing && block.isTraining {
                x = Tensor.checkpoint([x]) { xs in xs[0] + block.layer(block.norm(xs[0])) }
            } else {
                x = x + block.layer(block.norm(x))                       // [B, L, H]
            }
        }
        return lmHead(normF(x))                                          // [B, L, vocab]
    }

    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor { forward(tokens, batch: batch, length: length, state: nil) }

    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor { nextTokenLoss(batch) }

    public func makeDecodingState(batch: Int) -> S4DState { S4DState(config, batch: batch) }

    public func decode(_ tokens: [Int], batch: Int, length: Int, state: S4DState) -> Tensor {
        let logits = noGrad { forward(tokens, batch: batch, length: length, state: state) }
        state.advance(by: length)
        return logits
    }
}
