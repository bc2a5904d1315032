// Dynamic loss scaling for float16 training: torch.amp.GradScaler's defaults and state machine
// (torch/amp/grad_scaler.py with the _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_ kernels).
// float16 gradients below 2^-24 flush to zero; multiplying the loss by `scale` before backward lifts them into range,
// and `unscale` divides the float32 master gradients again before clipping and the step. A step whose gradients hold
// an inf or NaN is skipped (the scale was too large: it overflowed) and the scale is multiplied by `backoffFactor`;
// after `growthInterval` consecutive clean steps it is multiplied by `growthFactor`. Skipped steps do not advance the
// optimizer (its step count and Adam's bias correction stay), as in torch. bfloat16 has float32's exponent range and
// needs no scaler. The scale is a float32, as torch's `_scale` tensor, so the sequence of scales matches torch's
// bit for bit; the reciprocal used to unscale is float32 of the float64 reciprocal, also as torch.
//
// Per step: `scaled(loss).backward()` (each micro-step) → `unscale(optimizer)` (before clipping) → `step(optimizer)`
// → `update()`. Overflow messages in the first steps are normal (the scale starts high and backs off).
import LMTensor

public final class GradScaler {
    /// torch's defaults.
    public static let defaultInitScale: Float = 65536, defaultGrowthFactor: Float = 2, defaultBackoffFactor: Float = 0.5
    public static let defaultGrowthInterval = 2000

    /// The current loss scale.
    public private(set) var scale: Float
    /// Consecutive steps without inf/NaN since the last change of scale (torch's `_growth_tracker`).
    public private(set) var growthTracker = 0
    public let growthFactor: Float, backoffFactor: Float
    public let growthInterval: Int
    /// Steps skipped so far because of inf/NaN gradients (not part of torch's state; for the training log).
    public private(set) var skippedSteps = 0
    /// Whether the current step's unscaled gradients hold an inf/NaN (nil before `unscale` of this step).
    public private(set) var foundInf: Bool?

    public init(initScale: Float = defaultInitScale, growthFactor: Float = defaultGrowthFactor,
                backoffFactor: Float = defaultBackoffFactor, growthInterval: Int = defaultGrowthInterval) {
        precondition(initScale > 0 && initScale.isFinite, "GradScaler: init_scale must be a finite number > 0, got \(initScale)")
        precondition(growthFactor > 1, "GradScaler: growth_factor must be > 1, got \(growthFactor)")
        precondition(backoffFactor > 0 && backoffFactor < 1, "GradScaler: backoff_factor must be in (0, 1), got \(backoffFactor)")
        precondition(growthInterval > 0, "GradScaler: growth_interval must be > 0, got \(growthInterval)")
        scale = initScale
        self.growthFactor = growthFactor
        self.backoffFactor = backoffFactor
        self.growthInterval = growthInterval
    }

    /// `loss · scale`, to call `backward()` on (differentiable: the gradients come out multiplied by the scale).
    public func scaled(_ loss: Tensor) -> Tensor { loss * Double(scale) }

    /// Divides every gradient of `optimizer`'s parameters by the scale in place and records whether any is inf or NaN
    /// (torch `unscale_`: the check looks at the scaled values, the division multiplies by float32(1/scale)).
    /// Call once per step, before gradient clipping; `step` calls it when it was not.
    @discardableResult
    public func unscale(_ optimizer: Optimizer) -> Bool {
        precondition(foundInf == nil, "GradScaler.unscale: already called since the last update() (torch raises the same)")
        let inverse = Float(1 / Double(scale))
        var nonFinite = false
        for (_, p) in optimizer.namedParameters {
            guard let g = p.grad else { continue }
            precondition(g.dtype == .float32 && g.isContiguous, "GradScaler: gradients must be contiguous float32 (master weights)")
            let gp = g.pointer(Float.self)
            for i in 0..<g.count {
                if !gp[i].isFinite { nonFinite = true }
                gp[i] *= inverse
            }
        }
        foundInf = nonFinite
        return nonFinite
    }

    /// The optimizer step unless this step's gradients hold an inf/NaN. Returns whether it stepped.
    @discardableResult
    public func step(_ optimizer: Optimizer) -> Bool {
        if foundInf == nil { unscale(optimizer) }
        if foundInf! { skippedSteps += 1; return false }
        optimizer.step()
        return true
    }

    /// Adjusts the scale after a step (torch `_amp_update_scale_`): back off on inf/NaN, grow after `growthInterval`
    /// clean steps in a row (only to a finite value).
    public func update() {
        precondition(foundInf != nil, "GradScaler.update: no unscale/step since the last update")
        if foundInf! {
            scale *= backoffFactor
            growthTracker = 0
        } else if growthTracker + 1 == growthInterval {
            let grown = scale * growthFactor
            if grown.isFinite { scale = grown }
            growthTracker = 0
        } else {
            growthTracker += 1
        }
        foundInf = nil
    }

    /// The state a checkpoint keeps (torch `state_dict()`: scale and growth tracker; the factors and interval are
    /// the run's configuration), plus the skipped-step count for the log.
    public struct State: Equatable, Sendable {
        public var scale: Float
        public var growthTracker: Int
        public var skippedSteps: Int
        public init(scale: Float, growthTracker: Int, skippedSteps: Int) {
            self.scale = scale; self.growthTracker = growthTracker; self.skippedSteps = skippedSteps
        }
    }

    public var state: State { State(scale: scale, growthTracker: growthTracker, skippedSteps: skippedSteps) }

    /// Restores `state` (from a checkpoint); it must be a usable scale and tracker.
    public func load(_ state: State) throws {
        guard state.scale > 0 && state.scale.isFinite else { throw OptimizerStateError(message: "grad scaler: scale \(state.scale) is not a finite number > 0") }
        guard state.growthTracker >= 0 && state.growthTracker < growthInterval else {
            throw OptimizerStateError(message: "grad scaler: growth tracker \(state.growthTracker) is outside 0..<\(growthInterval)")
        }
        guard state.skippedSteps >= 0 else { throw OptimizerStateError(message: "grad scaler: skipped steps \(state.skippedSteps) < 0") }
        scale = state.scale
        growthTracker = state.growthTracker
        skippedSteps = state.skippedSteps
        foundInf = nil
    }
}
