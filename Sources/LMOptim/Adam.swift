// Adam (Kingma & Ba 2015) with L2 weight decay, and AdamW (Loshchilov & Hutter 2019) with decoupled decay,
// following torch.optim.adam._single_tensor_adam operation by operation in float32 (lerp for the first moment,
// mul + addcmul for the second, bias corrections in double, denom = √v / √bc₂ + ε, addcdiv) so 10 steps agree with
// torch to float rounding. AMSGrad and maximize as torch. A step updates all parameters in one parallel pass over their
// blocks (torch's `foreach`, same per-element results); not implemented: capturable/differentiable variants.

import Foundation
import LMTensor

/// Adam: g ← g + λθ (L2, only when weightDecay > 0); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// θ ← θ − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε). With `amsgrad`, v in the denominator is the running maximum of v;
/// with `maximize`, the gradient is negated first.
public class Adam: Optimizer {
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    /// AdamW's decoupled decay (θ ← θ(1 − ηλ) before the moment update) instead of L2 in the gradient.
    public let decoupledWeightDecay: Bool
    /// AMSGrad (Reddi et al. 2018): divide by the running maximum of the second moment.
    public let amsgrad: Bool
    /// Ascend the objective instead of descending it.
    public let maximize: Bool

    override public var stateFields: [String] { amsgrad ? ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] : ["exp_avg", "exp_avg_sq"] }

    public init(groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                amsgrad: Bool = false, maximize: Bool = false, decoupledWeightDecay: Bool = false) {
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas (\(beta1), \(beta2)) must lie in [0, 1)")
        precondition(eps >= 0, "Adam: invalid eps \(eps)")
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.decoupledWeightDecay = decoupledWeightDecay
        self.amsgrad = amsgrad
        self.maximize = maximize
        super.init(groups: groups)
    }

    /// One group; torch.optim.Adam defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0).
    public convenience init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                            beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false,
                            maximize: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  beta1: beta1, beta2: beta2, eps: eps, amsgrad: amsgrad, maximize: maximize)
    }

    override public func update(name: String, parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int) {
        update([ParameterUpdate(name: name, parameter: parameter, gradient: gradient, group: group, step: step)])
    }

    /// One parameter's pointers and step constants.
    struct Item {
        let p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
        let maxV: UnsafeMutablePointer<Float>?
        let decay: Float, l2: Float, applyDecoupled: Bool, negStepSize: Float, bias2Sqrt: Float
    }

    /// All parameters of a step in one parallel pass over their 4096-element blocks (torch's `foreach` Adam): every
    /// element goes through the same operations as in a pass over its tensor alone.
    override public func update(_ updates: [ParameterUpdate]) {
        let items = updates.map { u -> Item in
            let lr = u.group.learningRate, wd = u.group.weightDecay
            let bias1 = 1 - Foundation.pow(beta1, Double(u.step)), bias2 = 1 - Foundation.pow(beta2, Double(u.step))
            return Item(p: u.parameter.pointer(Float.self), g: u.gradient.pointer(Float.self),
                        m: stateTensor(u.name, "exp_avg", like: u.parameter).pointer(Float.self),
                        v: stateTensor(u.name, "exp_avg_sq", like: u.parameter).pointer(Float.self),
                        maxV: amsgrad ? stateTensor(u.name, "max_exp_avg_sq", like: u.parameter).pointer(Float.self) : nil,
                        decay: Float(1 - lr * wd), l2: Float(decoupledWeightDecay ? 0 : wd), applyDecoupled: decoupledWeightDecay && wd != 0,
                        negStepSize: Float(-(lr / bias1)), bias2Sqrt: Float(Foundation.pow(bias2, 0.5)))
        }
        let lerpWeight = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2), epsF = Float(eps)
        // ATen's lerp switches form at weight 0.5 (at::native::lerp); both branches kept for β₁ ≥ 0.5.
        let smallWeight = Swift.abs(lerpWeight) < 0.5
        let maximize = self.maximize
        UpdateKernels.forBlocks(UpdateKernels.blocks(updates.map(\.parameter.count))) { _, block in
            let it = items[block.item], start = block.start, count = block.count
            @inline(__always) func lanes(_ p: inout SIMD8<Float>, _ g: SIMD8<Float>, _ m: inout SIMD8<Float>,
                                         _ v: inout SIMD8<Float>, _ vMax: inout SIMD8<Float>, _ useMax: Bool) {
                if it.applyDecoupled { p *= it.decay }                            // param.mul_(1 - lr·wd)
                var d = maximize ? -g : g                                         // grad = -grad if maximize
                if it.l2 != 0 { d = d.addingProduct(p, it.l2) }                   // grad.add(param, alpha=wd)
                let diff = d - m                                                  // exp_avg.lerp_(grad, 1 - β₁)
                m = smallWeight ? m.addingProduct(lerpWeight, diff) : d - diff * (1 - lerpWeight)
                v = (v * b2).addingProduct(oneMinusB2 * d, d)                     // mul_(β₂).addcmul_(g, g, 1 - β₂)
                if useMax { vMax.replace(with: v, where: (v .> vMax) .| (v .!= v)) } // torch.maximum (NaN propagates)
                let denom = UpdateKernels.squareRoot(useMax ? vMax : v) / it.bias2Sqrt + epsF // (√v / √bc₂).add_(eps)
                p = p + it.negStepSize * m / denom                                // addcdiv_(m, denom, -step_size)
            }
            if let maxV = it.maxV {
                UpdateKernels.map5(count, it.p + start, it.g + start, it.m + start, it.v + start, maxV + start) { lanes(&$0, $1, &$2, &$3, &$4, true) }
            } else {
                UpdateKernels.map4(count, it.p + start, it.g + start, it.m + start, it.v + start) { p, g, m, v in
                    var unused = SIMD8<Float>()
                    lanes(&p, g, &m, &v, &unused, false)
                }
            }
        }
    }
}

/// AdamW: Adam with decoupled weight decay, θ ← θ(1 − ηλ) before the Adam update. torch.optim.AdamW defaults
/// (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01). Use `ParameterGroup.decayAndNoDecay` to exempt
/// biases and norm weights.
public final class AdamW: Adam {
    public init(groups: [ParameterGroup], beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                amsgrad: Bool = false, maximize: Bool = false) {
        super.init(groups: groups, beta1: beta1, beta2: beta2, eps: eps, amsgrad: amsgrad, maximize: maximize,
                   decoupledWeightDecay: true)
    }

    /// One group with the given learning rate and decoupled weight decay.
    public convenience init(_ parameters: [(name: String, tensor: Tensor)], learningRate: Double = 1e-3, beta1: Double = 0.9,
                            beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false,
                            maximize: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, learningRate: learningRate, weightDecay: weightDecay)],
                  beta1: beta1, beta2: beta2, eps: eps, amsgrad: amsgrad, maximize: maximize)
    }
}
