// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, following
// torch.optim.sgd._single_tensor_sgd step for step (torch's first momentum step copies the gradient into the buffer).
// Alpha-scaled adds use a fused multiply-add, as ATen's vectorized `add(self, other, alpha)` does.

import LMTensor

/// SGD: g ← g + λθ; b ← μb + (1 − τ)g (b₁ = g); g ← g + μb (Nesterov) or b; θ ← θ − ηg.
public final class SGD: Optimizer {
    public let momentum: Double
    public let dampening: Double
    public let nesterov: Bool
    /// Ascend the objective instead of descending it (the gradient is negated first).
    public let maximize: Bool

    override public var stateFields: [String] { momentum != 0 ? ["momentum_buffer"] : [] }

    public init(groups: [ParameterGroup], momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false,
                maximize: Bool = false) {
        precondition(momentum >= 0, "SGD: invalid momentum \(momentum)")
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.maximize = maximize
        super.init(groups: groups)
    }

    /// One group with the given learning rate and weight decay.
    public convenience init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Double, momentum: Double = 0,
                            dampening: Double = 0, weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  momentum: momentum, dampening: dampening, nesterov: nesterov, maximize: maximize)
    }

    override public func update(name: String, parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int) {
        let n = parameter.count
        let p = parameter.pointer(Float.self), g = gradient.pointer(Float.self)
        let wd = Float(group.weightDecay), lr = Float(-group.learningRate)
        let mu = Float(momentum), oneMinusDampening = Float(1 - dampening)
        let hasMomentum = momentum != 0
        let firstStep = hasMomentum && state[name]?["momentum_buffer"] == nil
        // Without momentum the buffer slot aliases the gradient and is written back unchanged.
        let buf = hasMomentum ? stateTensor(name, "momentum_buffer", like: parameter).pointer(Float.self) : g
        let nesterov = self.nesterov, maximize = self.maximize
        UpdateKernels.forBlocks(n) { start, count in
            UpdateKernels.map3(count, p + start, g + start, buf + start) { p, g, b in
                var d = maximize ? -g : g                                         // grad = -grad if maximize
                if wd != 0 { d = d.addingProduct(p, wd) }                        // grad.add(param, alpha=wd)
                if hasMomentum {
                    b = firstStep ? d : (b * mu).addingProduct(d, oneMinusDampening) // buf.mul_(μ).add_(grad, alpha=1-τ)
                    d = nesterov ? d.addingProduct(b, mu) : b                     // grad.add(buf, alpha=μ) or buf
                }
                p = p.addingProduct(d, lr)                                        // param.add_(grad, alpha=-lr)
            }
        }
    }
}
