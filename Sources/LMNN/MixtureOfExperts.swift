// Mixture-of-experts feed-forward layer: a linear router scores E experts (each a GELU or SwiGLU `FeedForward` of its own
// hidden size) per token; each token goes to its top-k experts, and their outputs are summed with the routing weights.
// Routing follows HF Mixtral's `MixtralTopKRouter` (softmax over all E, top-k, renormalize the k weights) or Switch
// Transformers' top-1 router (Fedus et al. 2021, eq. 2: the chosen expert weighted by its probability). The experts run
// grouped, as transformers' `MixtralExperts` loop does: the rows routed to an expert are gathered (`indexSelect`), pass
// through that expert as one matrix product, and are scattered back weighted (`indexAdd`); no expert sees a token it was
// not routed to. Also here: Switch's capacity factor with token dropping and router jitter, and the router losses pooled
// over layers: the load-balancing loss in the Switch form (eq. 4–6) and in HF Mixtral's `load_balancing_loss_func`
// form, both padding-aware (transformers PR#28517), and ST-MoE's router z-loss (Zoph et al. 2022, eq. 5).
// Not here: expert parallelism across processes (one process holds every expert) and DeepSpeed's minimum capacity.
import Foundation
import LMTensor

/// How a token's experts and their weights are chosen from the router's softmax probabilities p [E].
public enum RouterKind: String, Codable, Sendable {
    /// Top-k of p, the k weights renormalized to sum to 1 (HF `MixtralTopKRouter`, Mixtral 8x7B uses k = 2).
    case mixtral
    /// Top-1 of p, weighted by p itself (Switch Transformers eq. 2; not renormalized, or the router would get no
    /// gradient from the task loss).
    case switchTop1 = "switch"
}

/// Which load-balancing formula `MixtureOfExperts.loadBalancingLoss` computes.
public enum LoadBalancingForm: Sendable {
    /// Switch Transformers eq. 4–6: E · Σᵢ fᵢ · Pᵢ with fᵢ the fraction of tokens whose first choice is expert i.
    /// 1 under perfectly uniform routing.
    case switchTransformers
    /// transformers' `load_balancing_loss_func` (Mixtral): E · Σᵢ fᵢ · Pᵢ with fᵢ counting all top-k choices
    /// (its one-hot over k, summed), so top_k under perfectly uniform routing.
    case mixtral
}

/// What one MoE layer's forward routed, kept for the router losses and the usage statistics. Counts exclude padding.
public struct RouterRecord {
    public let experts: Int
    public let topK: Int
    /// Tokens routed (padding excluded).
    public let tokens: Int
    /// [E]: Σ over routed tokens of the softmax probabilities; differentiable (the aux loss reaches the router here).
    public let probabilitySums: Tensor
    /// [E]: top-k choices per expert, before any capacity dropping.
    public let assignments: [Int]
    /// [E]: first (top-1) choices per expert, before any capacity dropping.
    public let firstChoices: [Int]
    /// Scalar: Σ over routed tokens of logsumexp(router logits)²; differentiable.
    public let squaredLogSumExpSum: Tensor
    /// Choices dropped because their expert was full (capacity factor), of `tokens · topK`.
    public let dropped: Int
}

/// Which rows each expert processes and which routing weight scales each of them.
public struct ExpertDispatch {
    /// Per expert, the token rows routed to it (ascending).
    public let rows: [[Int]]
    /// Per expert, for each row, the index n·k + j of its weight in the flattened [N, k] routing weights.
    public let slots: [[Int]]
}

/// A mixture-of-experts MLP (checkpoint keys `gate.weight`, `experts.<i>.c_fc.weight`, `experts.<i>.c_proj.weight`).
public final class MixtureOfExperts: Module, FeedForwardLayer {
    /// The router [E, width], no bias (HF `gate`).
    public let router: Linear
    public let experts: [FeedForward]
    /// Experts per token (k).
    public let topK: Int
    public let routing: RouterKind
    /// Each expert takes at most ⌈k · tokens · capacityFactor / E⌉ choices per forward (Switch; GShard's top-k form);
    /// choices past that, first choices before second choices and earlier tokens first, are dropped: the token gets
    /// nothing from that expert (nothing at all when every choice is dropped, so only the residual carries it). nil: none.
    /// It applies in eval mode too (Switch evaluates with a capacity), so outputs depend on the other tokens of the
    /// forward: decoding one token at a time never drops, a whole-sequence forward may.
    public let capacityFactor: Double?
    /// Switch's router jitter ε: in training the router input is multiplied by U(1 − ε, 1 + ε) noise (the experts see the
    /// clean input). 0: off.
    public let jitter: Double
    let jitterGenerator: Generator
    /// The routing of the last forward (nil before the first); the model pools these into its router losses.
    public private(set) var lastRecord: RouterRecord?
    /// Choices per expert and dropped choices since `takeUsage()`, in training mode only (the training log's statistics).
    private var usage: (assignments: [Int], dropped: Int, choices: Int)
    public override class var keys: [String: String] { ["router": "gate"] }

    /// `experts` FeedForward experts of `hidden` units each; router and expert weights N(0, initStd²), expert output
    /// projections N(0, outputStd²). `generator` nil leaves every weight zero (weights loaded next).
    public init(width: Int, hidden: Int, experts count: Int, topK: Int, routing: RouterKind, kind: FeedForwardKind, bias: Bool,
                dropout: Double, capacityFactor: Double? = nil, jitter: Double = 0, initStd: Double = 0.02, outputStd: Double,
                generator: Generator?, dropoutGenerator: Generator) {
        precondition(count >= 1 && (1...count).contains(topK), "MixtureOfExperts: top-\(topK) of \(count) experts")
        precondition(routing == .mixtral || topK == 1, "MixtureOfExperts: switch routing is top-1, got top-\(topK)")
        precondition(capacityFactor.map { $0 > 0 && $0.isFinite } ?? true, "MixtureOfExperts: capacity factor \(capacityFactor!)")
        precondition(jitter >= 0 && jitter < 1, "MixtureOfExperts: jitter \(jitter) outside [0, 1)")
        router = Linear(weight: Init.normal([count, width], std: initStd, generator), bias: nil)
        experts = (0..<count).map { _ in
            FeedForward(width: width, hidden: hidden, kind: kind, bias: bias, dropout: dropout, initStd: initStd, outputStd: outputStd,
                        generator: generator, dropoutGenerator: dropoutGenerator)
        }
        self.topK = topK; self.routing = routing; self.capacityFactor = capacityFactor; self.jitter = jitter
        jitterGenerator = dropoutGenerator
        usage = ([Int](repeating: 0, count: count), 0, 0)
    }

    /// [B, T, width] (or [N, width]) → the same shape. `keyLengths`: per sequence of a [B, T, width] input, the real
    /// positions; later ones are padding, which is not routed (its output is zero) and not counted in the losses.
    public func callAsFunction(_ x: Tensor, keyLengths: [Int]?) -> Tensor {
        var mask: [Bool]? = nil
        if let keyLengths {
            precondition(x.rank == 3 && keyLengths.count == x.shape[0], "MixtureOfExperts: \(keyLengths.count) key lengths for input \(x.shape)")
            let T = x.shape[1]
            mask = keyLengths.flatMap { length in (0..<T).map { $0 < length } }
        }
        return self(x, mask: mask)
    }

    /// `mask`: one flag per token of `x` (row-major), true for a real token, false for padding (HF's attention_mask).
    public func callAsFunction(_ x: Tensor, mask: [Bool]?) -> Tensor {
        let C = x.shape[x.rank - 1], N = x.count / C
        let rows = x.reshape([N, C])                                        // [N, C]
        var routerInput = rows
        if isTraining && jitter > 0 {
            routerInput = rows * Tensor.rand([N, C], low: 1 - jitter, high: 1 + jitter, generator: jitterGenerator, dtype: x.dtype)
        }
        let logits = router(routerInput)                                    // [N, E]
        let (weights, dispatch, record) = Self.route(logits: logits, topK: topK, routing: routing, capacityFactor: capacityFactor, mask: mask)
        lastRecord = record
        if isTraining {
            for e in 0..<experts.count { usage.assignments[e] += record.assignments[e] }
            usage.dropped += record.dropped
            usage.choices += record.tokens * topK
        }
        let y = Self.combine(rows, weights: weights, dispatch: dispatch, experts: experts.map { expert in { expert($0) } })
        return y.reshape(x.shape)
    }

    /// Choices per expert (fractions of all choices) and the dropped fraction since the last call; nil when nothing
    /// was routed in training mode since then. Resets the counts.
    public func takeUsage() -> (load: [Double], dropped: Double)? {
        defer { usage = ([Int](repeating: 0, count: experts.count), 0, 0) }
        guard usage.choices > 0 else { return nil }
        let total = Double(usage.choices)
        return (usage.assignments.map { Double($0) / total }, Double(usage.dropped) / total)
    }

    // MARK: - Routing and grouped experts (functional, so gradchecks can run them in float64)

    /// Routes N tokens given router `logits` [N, E]: returns the routing weights [N, k] (differentiable in the logits),
    /// which rows each expert takes, and the record for the losses. Ties in the top-k go to the lower expert index.
    public static func route(logits: Tensor, topK k: Int, routing: RouterKind, capacityFactor: Double?, mask: [Bool]?)
        -> (weights: Tensor, dispatch: ExpertDispatch, record: RouterRecord) {
        let (N, E) = (logits.shape[0], logits.shape[1])
        precondition(mask.map { $0.count == N } ?? true, "MixtureOfExperts: a mask of \(mask!.count) flags for \(N) tokens")
        let probabilities = logits.softmax(axis: -1)                        // [N, E]
        let p = noGrad { probabilities.toDoubles() }
        // The k experts of each token (slot n·k + j), best first.
        var chosen = [Int](repeating: 0, count: N * k)
        var assignments = [Int](repeating: 0, count: E), firstChoices = [Int](repeating: 0, count: E)
        var routed = 0
        for n in 0..<N {
            let order = (0..<E).sorted { p[n * E + $0] > p[n * E + $1] || (p[n * E + $0] == p[n * E + $1] && $0 < $1) }
            for j in 0..<k { chosen[n * k + j] = order[j] }
            guard mask?[n] ?? true else { continue }
            routed += 1
            firstChoices[order[0]] += 1
            for j in 0..<k { assignments[order[j]] += 1 }
        }
        let picked = probabilities.gather(axis: 1, index: chosen, shape: [N, k])   // [N, k]
        let weights = routing == .mixtral ? picked / picked.sum(axis: 1, keepDim: true) : picked
        // Capacity: first choices of every token before second choices (GShard), earlier tokens first (Switch).
        let capacity = capacityFactor.map { Int((Double(k * routed) * $0 / Double(E)).rounded(.up)) } ?? Int.max
        var rows = [[Int]](repeating: [], count: E), slots = [[Int]](repeating: [], count: E)
        var filled = [Int](repeating: 0, count: E), kept = [Bool](repeating: false, count: N * k)
        var dropped = 0
        for j in 0..<k {
            for n in 0..<N where mask?[n] ?? true {
                let e = chosen[n * k + j]
                if filled[e] < capacity { filled[e] += 1; kept[n * k + j] = true } else { dropped += 1 }
            }
        }
        for n in 0..<N { for j in 0..<k where kept[n * k + j] { rows[chosen[n * k + j]].append(n); slots[chosen[n * k + j]].append(n * k + j) } }
        // Loss ingredients over real tokens only (transformers PR#28517 weights them by the attention mask).
        let logSumExp = logits.logSumExp(axes: [1])                         // [N]
        var probabilitySums = probabilities.sum(axis: 0)                   // [E]
        var squared = (logSumExp * logSumExp).sum()
        if let mask {
            let weight = Tensor(mask.map { $0 ? 1 : 0 }, shape: [N]).to(logits.dtype)
            probabilitySums = (probabilities * weight.reshape([N, 1])).sum(axis: 0)
            squared = (logSumExp * logSumExp * weight).sum()
        }
        let record = RouterRecord(experts: E, topK: k, tokens: routed, probabilitySums: probabilitySums, assignments: assignments,
                                  firstChoices: firstChoices, squaredLogSumExpSum: squared, dropped: dropped)
        return (weights, ExpertDispatch(rows: rows, slots: slots), record)
    }

    /// Σ over each token's kept choices of weight · expert(token): the rows of every expert are gathered into one
    /// [rows, C] matrix, each expert runs once on its block, and the weighted outputs are scattered back. `x` [N, C],
    /// `weights` [N, k] → [N, C]; a token with no kept choice gets zeros.
    public static func combine(_ x: Tensor, weights: Tensor, dispatch: ExpertDispatch, experts: [(Tensor) -> Tensor]) -> Tensor {
        let (N, C) = (x.shape[0], x.shape[1])
        let used = (0..<experts.count).filter { !dispatch.rows[$0].isEmpty }
        guard !used.isEmpty else { return Tensor(zeros: [N, C], dtype: x.dtype) }
        let rows = used.flatMap { dispatch.rows[$0] }, slots = used.flatMap { dispatch.slots[$0] }
        let gathered = x.indexSelect(axis: 0, indices: rows)                // [M, C], expert by expert
        let blocks = gathered.split(used.map { dispatch.rows[$0].count }, axis: 0)
        let outputs = zip(used, blocks).map { experts[$0]($1) }             // one product per expert
        let scale = weights.reshape([-1]).indexSelect(axis: 0, indices: slots).reshape([rows.count, 1])   // [M, 1]
        let y = (outputs.count == 1 ? outputs[0] : Tensor.concat(outputs, axis: 0)) * scale
        return y.indexAdd(axis: 0, indices: rows, size: N)                  // [N, C]
    }

    // MARK: - Router losses, pooled over layers

    /// The load-balancing loss over every layer's routing, pooled as transformers concatenates the router logits of all
    /// layers: fᵢ and Pᵢ are means over all routed (unpadded) tokens of all layers, then E · Σᵢ fᵢ · Pᵢ. For `.mixtral`
    /// fᵢ sums the top-k one-hots (transformers' `load_balancing_loss_func`), for `.switchTransformers` only first
    /// choices. Both count choices before capacity dropping (the router's decision). nil when no token was routed.
    public static func loadBalancingLoss(_ records: [RouterRecord], form: LoadBalancingForm) -> Tensor? {
        guard let first = records.first else { return nil }
        let E = first.experts
        let tokens = records.reduce(0) { $0 + $1.tokens }
        guard tokens > 0 else { return nil }
        var counts = [Double](repeating: 0, count: E)
        for r in records {
            precondition(r.experts == E, "loadBalancingLoss: layers with \(E) and \(r.experts) experts")
            for i in 0..<E { counts[i] += Double(form == .mixtral ? r.assignments[i] : r.firstChoices[i]) }
        }
        let n = Double(tokens)
        let probabilitySums = records.dropFirst().reduce(first.probabilitySums) { $0 + $1.probabilitySums }
        // E · Σᵢ (countᵢ / n) · (probability sumᵢ / n)
        let f = Tensor(doubles: counts.map { $0 * Double(E) / (n * n) }, shape: [E]).to(probabilitySums.dtype)
        return (probabilitySums * f).sum()
    }

    /// ST-MoE's router z-loss, mean over routed tokens of every layer of logsumexp(logits)² (HF Switch's
    /// `router_z_loss_func` over the concatenated layers). nil when no token was routed.
    public static func zLoss(_ records: [RouterRecord]) -> Tensor? {
        let tokens = records.reduce(0) { $0 + $1.tokens }
        guard tokens > 0, let first = records.first else { return nil }
        return records.dropFirst().reduce(first.squaredLogSumExpSum) { $0 + $1.squaredLogSumExpSum } / Double(tokens)
    }
}
