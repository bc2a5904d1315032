// Adam (Kingma & Ba 2015) with L2 weight decay, and AdamW (Loshchilov & Hutter 2019) with decoupled decay,
// following torch.optim.adam._single_tensor_adam operation by operation in float32 (lerp for the first moment,
// mul + addcmul for the second, bias corrections in double, denom = √v / √bc₂ + ε, addcdiv) so 10 steps agree with
// torch to float rounding. AMSGrad and maximize as torch; not implemented: capturable/differentiable/fused variants.

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
        let n = parameter.count
        let p = parameter.pointer(Float.self), g = gradient.pointer(Float.self)
        let m = stateTensor(name, "exp_avg", like: parameter).pointer(Float.self)
        let v = stateTensor(name, "exp_avg_sq", like: parameter).pointer(Float.self)
        let lr = group.learningRate, wd = group.weightDecay
        let decay = Float(1 - lr * wd), l2 = Float(decoupledWeightDecay ? 0 : wd)
        let applyDecoupled = decoupledWeightDecay && wd != 0
        let lerpWeight = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2)
        let bias1 = 1 - Foundation.pow(beta1, Double(step)), bias2 = 1 - Foundation.pow(beta2, Double(step))
        let negStepSize = Float(-(lr / bias1)), bias2Sqrt = Float(Foundation.pow(bias2, 0.5)), epsF = Float(eps)
        // ATen's lerp switches form at weight 0.5 (at::native::lerp); both branches kept for β₁ ≥ 0.5.
        let smallWeight = Swift.abs(lerpWeight) < 0.5
        let maximize = self.maximize
        let maxV = amsgrad ? stateTensor(name, "max_exp_avg_sq", like: parameter).pointer(Float.self) : nil
        UpdateKernels.forBlocks(n) { start, count in
            @inline(__always) func lanes(_ p: inout SIMD8<Float>, _ g: SIMD8<Float>, _ m: inout SIMD8<Float>,
                                         _ v: inout SIMD8<Float>, _ vMax: inout SIMD8<Float>, _ useMax: Bool) {
                if applyDecoupled { p *= decay }                                  // param.mul_(1 - lr·wd)
                var d = maximize ? -g : g                                         // grad = -grad if maximize
                if l2 != 0 { d = d.addingProduct(p, l2) }                         // grad.add(param, alpha=wd)
                let diff = d - m                                                  // exp_avg.lerp_(grad, 1 - β₁)
                m = smallWeight ? m.addingProduct(lerpWeight, diff) : d - diff * (1 - lerpWeight)
                v = (v * b2).addingProduct(oneMinusB2 * d, d)                     // mul_(β₂).addcmul_(g, g, 1 - β₂)
                if useMax { vMax.replace(with: v, where: (v .> vMax) .| (v .!= v)) } // torch.maximum (NaN propagates)
                let denom = UpdateKernels.squareRoot(useMax ? vMax : v) / bias2Sqrt + epsF // (√v / √bc₂).add_(eps)
                p = p + negStepSize * m / denom                                   // addcdiv_(m, denom, -step_size)
            }
            if let maxV {
                UpdateKernels.map5(count, p + start, g + start, m + start, v + start, maxV + start) { lanes(&$0, $1, &$2, &$3, &$4, true) }
            } else {
                UpdateKernels.map4(count, p + start, g + start, m + start, v + start) { p, g, m, v in
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
