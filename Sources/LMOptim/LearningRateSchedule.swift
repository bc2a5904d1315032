// Learning-rate schedules as factors of each group's initial learning rate (torch LambdaLR semantics), evaluated at
// an explicit 0-based iteration so resuming needs only the step count. Cosine follows nanoGPT train.py get_lr
// (warmup (it+1)/(warmup+1), cosine to min_lr at lr_decay_iters, then constant); linear follows HF transformers
// get_linear_schedule_with_warmup, with an optional non-zero end.

import Foundation

/// Maps an iteration number (0-based) to a multiplier of the initial learning rate.
public protocol LearningRateSchedule {
    func factor(at step: Int) -> Double
}

extension LearningRateSchedule {
    /// The learning rate for `step` given the base (initial) learning rate.
    public func learningRate(at step: Int, base: Double) -> Double { base * factor(at: step) }
}

/// The initial learning rate at every step.
public struct ConstantSchedule: LearningRateSchedule {
    public init() {}
    public func factor(at step: Int) -> Double { 1 }
}

/// Linear warmup from 0 over `warmupSteps` (step/warmup), then linear decay to `endFactor` at `totalSteps`,
/// constant afterwards.
public struct LinearSchedule: LearningRateSchedule {
    public let warmupSteps: Int, totalSteps: Int, endFactor: Double
    public init(warmupSteps: Int = 0, totalSteps: Int, endFactor: Double = 0) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps, "LinearSchedule: need 0 <= warmupSteps (\(warmupSteps)) <= totalSteps (\(totalSteps))")
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.endFactor = endFactor
    }
    public func factor(at step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(Swift.max(1, warmupSteps)) }
        let remaining = Swift.max(0, Double(totalSteps - step) / Double(Swift.max(1, totalSteps - warmupSteps)))
        return endFactor + (1 - endFactor) * remaining
    }
}

/// nanoGPT's schedule: warmup (step+1)/(warmupSteps+1), cosine from 1 down to `minFactor` between `warmupSteps` and
/// `decaySteps`, then `minFactor` (nanoGPT's min_lr / learning_rate, typically 0.1).
public struct CosineSchedule: LearningRateSchedule {
    public let warmupSteps: Int, decaySteps: Int, minFactor: Double
    public init(warmupSteps: Int, decaySteps: Int, minFactor: Double = 0.1) {
        precondition(warmupSteps >= 0 && decaySteps > warmupSteps, "CosineSchedule: need 0 <= warmupSteps (\(warmupSteps)) < decaySteps (\(decaySteps))")
        self.warmupSteps = warmupSteps
        self.decaySteps = decaySteps
        self.minFactor = minFactor
    }
    public func factor(at step: Int) -> Double {
        if step < warmupSteps { return Double(step + 1) / Double(warmupSteps + 1) }
        if step > decaySteps { return minFactor }
        let ratio = Double(step - warmupSteps) / Double(decaySteps - warmupSteps)
        let coefficient = 0.5 * (1 + Foundation.cos(Double.pi * ratio))
        return minFactor + coefficient * (1 - minFactor)
    }
}

extension Optimizer {
    /// Sets every group's learning rate to `initialLearningRate · schedule.factor(at: step)` for the coming update
    /// (call before `step()`, as nanoGPT does with get_lr(iter)). Returns the first group's new learning rate.
    @discardableResult
    public func applySchedule(_ schedule: any LearningRateSchedule, step: Int) -> Double {
        for i in groups.indices { groups[i].learningRate = schedule.learningRate(at: step, base: groups[i].initialLearningRate) }
        return groups.first?.learningRate ?? 0
    }

    /// `applySchedule(schedule, step: stepCount)`: the rate for the coming update, counted by completed steps, so a
    /// resumed optimizer (its `stepCount` restored by `loadStateDict`) continues the schedule where it stopped.
    @discardableResult
    public func applySchedule(_ schedule: any LearningRateSchedule) -> Double { applySchedule(schedule, step: stepCount) }
}
