// Mamba-1 (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces"), readable top to bottom
// as johnma2006/mamba-minimal (model.py) and state-spaces/mamba (mamba_ssm/modules/mamba_simple.py) write it:
// token embedding, pre-RMSNorm residual blocks of one mixer each, a final RMSNorm and a head tied to the embedding.
// Mixer: in_proj to (x, z); causal depthwise conv1d; SiLU; x_proj to (Δ, B, C); Δ = softplus(dt_proj(Δ));
// the selective scan with A = −exp(A_log) and D skip; gating by SiLU(z); out_proj.
// Parameter names and shapes are Hugging Face MambaForCausalLM's (`backbone.layers.0.mixer.in_proj.weight`, conv1d
// weight [d_inner, 1, d_conv]), so its checkpoints map one to one. Not here: Mamba-2 (SSD), fused CUDA kernels.
import Foundation
import LMNN
import LMTensor

/// Architecture of a `Mamba` model; keys follow mamba_ssm's `MambaConfig` and `Mamba` module arguments.
public struct MambaConfig: ModelConfiguration {
    public static let modelType = "mamba"

    public var vocabSize: Int = 50280
    public var dModel: Int = 768
    public var nLayer: Int = 24
    /// State size N of each channel's SSM.
    public var dState: Int = 16
    /// Width of the causal depthwise convolution.
    public var dConv: Int = 4
    /// d_inner = expand · d_model channels inside the mixer.
    public var expand: Int = 2
    /// Rank of the Δ projection; nil means ⌈d_model / 16⌉ (mamba's "auto").
    public var dtRank: Int? = nil
    /// Range of the initial Δ (the dt_proj bias is softplus⁻¹ of a log-uniform draw in it), and its floor.
    public var dtMin: Double = 0.001
    public var dtMax: Double = 0.1
    public var dtInitFloor: Double = 1e-4
    /// Bias on the conv1d (mamba: true) and on in_proj/out_proj (mamba: false).
    public var convBias: Bool = true
    public var bias: Bool = false
    public var normEps: Double = 1e-5
    public var tieEmbeddings: Bool = true

    public init() {}

    public var vocabularySize: Int { vocabSize }
    public var contextLength: Int? { nil }
    public var dInner: Int { expand * dModel }
    public var resolvedDtRank: Int { dtRank ?? (dModel + 15) / 16 }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size", dModel = "d_model", nLayer = "n_layer", dState = "d_state", dConv = "d_conv", expand
        case dtRank = "dt_rank", dtMin = "dt_min", dtMax = "dt_max", dtInitFloor = "dt_init_floor"
        case convBias = "conv_bias", bias, normEps = "norm_eps", tieEmbeddings = "tie_embeddings"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MambaConfig()
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        dModel = try c.decodeIfPresent(Int.self, forKey: .dModel) ?? d.dModel
        nLayer = try c.decodeIfPresent(Int.self, forKey: .nLayer) ?? d.nLayer
        dState = try c.decodeIfPresent(Int.self, forKey: .dState) ?? d.dState
        dConv = try c.decodeIfPresent(Int.self, forKey: .dConv) ?? d.dConv
        expand = try c.decodeIfPresent(Int.self, forKey: .expand) ?? d.expand
        dtRank = try c.decodeIfPresent(Int.self, forKey: .dtRank)
        dtMin = try c.decodeIfPresent(Double.self, forKey: .dtMin) ?? d.dtMin
        dtMax = try c.decodeIfPresent(Double.self, forKey: .dtMax) ?? d.dtMax
        dtInitFloor = try c.decodeIfPresent(Double.self, forKey: .dtInitFloor) ?? d.dtInitFloor
        convBias = try c.decodeIfPresent(Bool.self, forKey: .convBias) ?? d.convBias
        bias = try c.decodeIfPresent(Bool.self, forKey: .bias) ?? d.bias
        normEps = try c.decodeIfPresent(Double.self, forKey: .normEps) ?? d.normEps
        tieEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieEmbeddings) ?? d.tieEmbeddings
        try validate()
    }

    public static var jsonKeys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// Checks sizes and ranges; the error names the field.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ message: String) -> ConfigError { ConfigError.invalidValue(field: key.rawValue, message) }
        for (key, value) in [(CodingKeys.vocabSize, vocabSize), (.dModel, dModel), (.nLayer, nLayer), (.dState, dState),
                             (.dConv, dConv), (.expand, expand)] where value <= 0 {
            throw fail(key, "must be a positive integer, got \(value)")
        }
        if let r = dtRank, r <= 0 { throw fail(.dtRank, "must be a positive integer, got \(r)") }
        guard dtMin > 0 && dtMin <= dtMax else { throw fail(.dtMin, "must be positive and at most dt_max (\(dtMax)), got \(dtMin)") }
        guard dtInitFloor > 0 else { throw fail(.dtInitFloor, "must be positive, got \(dtInitFloor)") }
        guard normEps > 0 && normEps.isFinite else { throw fail(.normEps, "must be positive, got \(normEps)") }
    }
}

/// The depthwise conv1d's parameters in torch's `nn.Conv1d(groups: d_inner)` layout: weight [d_inner, 1, d_conv], bias [d_inner].
public final class MambaConv1d: Module {
    public let weight: Tensor
    public let bias: Tensor?

    init(channels: Int, width: Int, bias: Bool, _ generator: Generator?) {
        // torch's Conv1d default init: U(±1/√fan_in) with fan_in = width (one input channel per group).
        let bound = 1 / Double(width).squareRoot()
        func uniform(_ shape: [Int]) -> Tensor {
            let t = Tensor(zeros: shape)
            if let generator { Init.uniform(t, low: -bound, high: bound, generator: generator) }
            return t.requiringGrad()
        }
        weight = uniform([channels, 1, width])
        self.bias = bias ? uniform([channels]) : nil
    }

    /// x [B, L, E] -> causal conv over L, [B, L, E].
    func callAsFunction(_ x: Tensor) -> Tensor {
        x.causalConv1d(weight: weight.reshape([weight.shape[0], weight.shape[2]]), bias: bias)
    }
}

/// Mamba's selective SSM mixer (mamba_simple.py `Mamba`, HF `MambaMixer`).
public final class MambaMixer: Module {
    let config: MambaConfig
    public let inProj: Linear
    public let conv1d: MambaConv1d
    public let xProj: Linear
    public let dtProj: Linear
    /// log(−A) [d_inner, d_state]; A = −exp(A_log), S4D-real init A_log[d, n] = log(n + 1).
    public let aLog: Tensor
    /// The skip D [d_inner], init 1.
    public let skip: Tensor
    public let outProj: Linear
    public override class var keys: [String: String] {
        ["inProj": "in_proj", "xProj": "x_proj", "dtProj": "dt_proj", "aLog": "A_log", "skip": "D", "outProj": "out_proj"]
    }
    /// mamba_simple.py sets `_no_weight_decay` on A_log and D.
    public override class var noWeightDecay: Set<String> { ["A_log", "D"] }

    init(_ config: MambaConfig, _ generator: Generator?) {
        self.config = config
        let (E, N, R) = (config.dInner, config.dState, config.resolvedDtRank)
        func linear(_ inputs: Int, _ outputs: Int, bias: Bool) -> Linear {
            guard let generator else { return Linear(weight: Tensor(zeros: [outputs, inputs]), bias: bias ? Tensor(zeros: [outputs]) : nil) }
            let layer = Linear(inputs, outputs, bias: bias, generator: generator)
            if let b = layer.bias { Init.zeros(b) }  // MambaLMHeadModel._init_weights zeroes Linear biases
            return layer
        }
        inProj = linear(config.dModel, 2 * E, bias: config.bias)
        conv1d = MambaConv1d(channels: E, width: config.dConv, bias: config.convBias, generator)
        xProj = linear(E, R + 2 * N, bias: false)
        // dt_proj: weight U(±dt_rank^−½); bias = softplus⁻¹(dt), dt log-uniform in [dt_min, dt_max], floored.
        let dtWeight = Tensor(zeros: [E, R])
        var dtBias = Tensor(zeros: [E])
        if let generator {
            let std = 1 / Double(R).squareRoot()
            Init.uniform(dtWeight, low: -std, high: std, generator: generator)
            let (lo, hi) = (Foundation.log(config.dtMin), Foundation.log(config.dtMax))
            let dt = generator.uniform(E).map { Swift.max(Foundation.exp(lo + $0 * (hi - lo)), config.dtInitFloor) }
            dtBias = Tensor(dt.map { Float($0 + Foundation.log(-Foundation.expm1(-$0))) }, shape: [E])
        }
        dtProj = Linear(weight: dtWeight, bias: dtBias)
        aLog = Tensor((0..<(E * N)).map { Float(Foundation.log(Double($0 % N + 1))) }, shape: [E, N], requiresGrad: true)
        skip = Tensor.ones([E]).requiringGrad()
        outProj = linear(E, config.dModel, bias: config.bias)
        if let generator {
            // rescale_prenorm_residual: out_proj re-drawn with the default init, then divided by √n_layer.
            let bound = 1 / Double(E).squareRoot() / Double(config.nLayer).squareRoot()
            Init.uniform(outProj.weight, low: -bound, high: bound, generator: generator)
        }
    }

    /// x [B, L, d_model] -> [B, L, d_model], from a zero state.
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, state: nil).0 }

    /// x [B, L, d_model] -> [B, L, d_model]. With `state`, the sequence continues the one `state` holds (its last
    /// d_conv − 1 conv inputs and its scan state) and the state is advanced; without, it starts from zeros.
    func callAsFunction(_ x: Tensor, state: (conv: Tensor, ssm: Tensor)?) -> (Tensor, Tensor?) {
        let (B, L) = (x.shape[0], x.shape[1])
        let (E, N, R, K) = (config.dInner, config.dState, config.resolvedDtRank, config.dConv)
        let xz = inProj(x).split([E, E], axis: 2)                  // 2 × [B, L, E]
        var u = xz[0], newConv: Tensor? = nil
        if let state {
            let joined = Tensor.concat([state.conv, u], axis: 1)    // [B, K−1+L, E]
            newConv = joined.slice(1, L, nil).contiguous()          // [B, K−1, E]
            u = conv1d(joined).slice(1, K - 1, nil)                 // [B, L, E]
        } else {
            u = conv1d(u)                                           // [B, L, E]
        }
        u = u.silu()
        let dbc = xProj(u).split([R, N, N], axis: 2)               // [B, L, R], [B, L, N], [B, L, N]
        let delta = dtProj(dbc[0]).softplus()                       // [B, L, E]
        let A = -aLog.exp()                                         // [E, N]
        let y = state.map { u.selectiveScanStep(delta: delta, A: A, B: dbc[1], C: dbc[2], D: skip, state: $0.ssm) }
            ?? u.selectiveScan(delta: delta, A: A, B: dbc[1], C: dbc[2], D: skip)  // [B, L, E]
        precondition(y.shape == [B, L, E])
        return (outProj(y * xz[1].silu()), newConv)                 // [B, L, d_model]
    }
}

/// A residual block: x + mixer(RMSNorm(x)).
public final class MambaBlock: Module, GradientCheckpointable {
    public let mixer: MambaMixer
    public let norm: RMSNorm
    public var gradientCheckpointing = false

    init(_ config: MambaConfig, _ generator: Generator?) {
        mixer = MambaMixer(config, generator)
        norm = RMSNorm(config.dModel, eps: config.normEps)
    }
}

/// The embedding, the blocks and the final norm (HF `MambaModel`).
public final class MambaBackbone: Module {
    public let embeddings: Embedding
    public let layers: [MambaBlock]
    public let normF: RMSNorm
    public override class var keys: [String: String] { ["normF": "norm_f"] }

    init(_ config: MambaConfig, _ generator: Generator?) {
        embeddings = Embedding(weight: Init.normal([config.vocabSize, config.dModel], std: 0.02, generator))
        layers = (0..<config.nLayer).map { _ in MambaBlock(config, generator) }
        normF = RMSNorm(config.dModel, eps: config.normEps)
    }
}

/// Per-layer decoding state: the last d_conv − 1 inputs of each conv [B, d_conv − 1, d_inner] and each scan state
/// [B, d_inner, d_state]. Its size does not grow with the sequence, so each decoded token costs the same.
public final class MambaState: DecodingState {
    public private(set) var length = 0
    public let conv: [Tensor]
    public let ssm: [Tensor]
    let batch: Int

    init(_ config: MambaConfig, batch: Int) {
        self.batch = batch
        conv = (0..<config.nLayer).map { _ in Tensor(zeros: [batch, config.dConv - 1, config.dInner]) }
        ssm = (0..<config.nLayer).map { _ in Tensor(zeros: [batch, config.dInner, config.dState]) }
    }

    func advance(by n: Int) { length += n }
}

/// A Mamba language model: logits, the next-token loss, and step decoding through `MambaState`.
public final class Mamba: Module, IncrementalDecoding {
    public let config: MambaConfig
    public let backbone: MambaBackbone
    /// [vocab, d_model]; the embedding table itself when `tieEmbeddings`.
    public let lmHead: Linear
    public override class var keys: [String: String] { ["lmHead": "lm_head"] }

    public init(_ config: MambaConfig, initializer generator: Generator?) {
        precondition((try? config.validate()) != nil, "Mamba: invalid config \(config)")
        self.config = config
        backbone = MambaBackbone(config, generator)
        lmHead = config.tieEmbeddings
            ? Linear(weight: backbone.embeddings.weight, bias: nil)
            : Linear(weight: Init.normal([config.vocabSize, config.dModel], std: 0.02, generator), bias: nil)
    }

    public var aliasedStateDictKeys: Set<String> { config.tieEmbeddings ? ["lm_head.weight"] : [] }

    /// Logits [batch, length, vocab]; with `state`, the tokens continue the sequences it holds.
    func forward(_ tokens: [Int], batch: Int, length: Int, state: MambaState?) -> Tensor {
        precondition(tokens.count == batch * length && length > 0, "Mamba: \(tokens.count) tokens for batch \(batch) × length \(length)")
        if let state { precondition(state.batch == batch, "Mamba: a decoding state for batch \(state.batch), given batch \(batch)") }
        var x = backbone.embeddings(tokens, shape: [batch, length])      // [B, L, d_model]
        for (i, layer) in backbone.layers.enumerated() {
            if state == nil && layer.gradientCheckpointing && layer.isTraining {
                x = Tensor.checkpoint([x]) { xs in xs[0] + layer.mixer(layer.norm(xs[0]), state: nil).0 }
                continue
            }
            let (mixed, conv) = layer.mixer(layer.norm(x), state: state.map { ($0.conv[i], $0.ssm[i]) })
            if let conv, let state { state.conv[i].pointer(Float.self).update(from: conv.pointer(Float.self), count: conv.count) }
            x = x + mixed                                               // [B, L, d_model]
        }
        return lmHead(backbone.normF(x))                                // [B, L, vocab]
    }

    public func logits(_ tokens: [Int], batch: Int, length: Int) -> Tensor { forward(tokens, batch: batch, length: length, state: nil) }

    /// Mean next-token cross-entropy of `batch.targets` (-1 marks positions to ignore).
    public func loss(_ batch: TokenBatch, generator: Generator) -> Tensor { nextTokenLoss(batch) }

    public func makeDecodingState(batch: Int) -> MambaState { MambaState(config, batch: batch) }

    public func decode(_ tokens: [Int], batch: Int, length: Int, state: MambaState) -> Tensor {
        let logits = noGrad { forward(tokens, batch: batch, length: length, state: state) }
        state.advance(by: length)
        return logits
    }
}
