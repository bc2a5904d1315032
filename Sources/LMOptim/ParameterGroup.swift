// Parameter groups (torch.optim param_groups): named parameters sharing a learning rate and weight decay, plus the
// nanoGPT split (configure_optimizers) that exempts biases and norm weights — every tensor with < 2 dims — from decay,
// plus any names the caller exempts (a model's `_no_weight_decay` parameters).
// LMOptim speaks named tensors only and never imports LMNN: pass `module.namedParameters()`.

import LMTensor

/// Named parameters updated with one learning rate and one weight decay.
public struct ParameterGroup {
    /// The parameters (float32, contiguous leaves) with unique names, e.g. `blocks.0.attn.qkv.weight`.
    public var parameters: [(name: String, tensor: Tensor)]
    /// The learning rate used by the next `step()`. Schedules overwrite it from `initialLearningRate`.
    public var learningRate: Double
    /// The learning rate the group was created with (torch's `initial_lr`), the base that schedules scale.
    public var initialLearningRate: Double
    /// Weight decay: L2 added to the gradient (SGD, Adam) or decoupled shrinkage (AdamW).
    public var weightDecay: Double

    public init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Double, weightDecay: Double = 0) {
        precondition(learningRate >= 0 && learningRate.isFinite, "ParameterGroup: invalid learning rate \(learningRate)")
        precondition(weightDecay >= 0 && weightDecay.isFinite, "ParameterGroup: invalid weight decay \(weightDecay)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.initialLearningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// nanoGPT's grouping: tensors with 2 or more dimensions (matmul weights, embeddings) get `weightDecay`;
    /// tensors with fewer (biases, LayerNorm/RMSNorm weights) get none, and so do the names in `exempt` (parameters
    /// the model's reference marks `_no_weight_decay`, e.g. Mamba's `A_log` [d_inner, d_state]). Empty groups are dropped.
    public static func decayAndNoDecay(_ parameters: [(name: String, tensor: Tensor)], learningRate: Double,
                                       weightDecay: Double, exempt: Set<String> = []) -> [ParameterGroup] {
        func decays(_ p: (name: String, tensor: Tensor)) -> Bool { p.tensor.rank >= 2 && !exempt.contains(p.name) }
        let decay = parameters.filter(decays), noDecay = parameters.filter { !decays($0) }
        return [ParameterGroup(decay, learningRate: learningRate, weightDecay: weightDecay),
                ParameterGroup(noDecay, learningRate: learningRate, weightDecay: 0)].filter { !$0.parameters.isEmpty }
    }
}
