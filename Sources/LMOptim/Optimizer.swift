// The optimizer base: parameter groups, the step loop (parameters without a gradient are skipped and keep their
// state, as in torch), and export/import of all state as named tensors so a checkpoint resumes bit-identically.
// Subclasses (SGD, Adam, AdamW) implement `update` for one parameter. Only float32 contiguous parameters are supported.

import LMTensor

/// Optimizer state as named tensors plus the number of `step()` calls. Key layout (Docs/Formats.md):
/// `state.<parameter>.<field>` (e.g. `state.fc.weight.exp_avg`, float32, the parameter's shape; `…step`, float64
/// scalar) and `param_groups.<i>.{lr,initial_lr,weight_decay}` (float64 scalars).
public struct OptimizerState {
    public var stepCount: Int
    public var tensors: [String: Tensor]
    public init(stepCount: Int, tensors: [String: Tensor]) {
        self.stepCount = stepCount
        self.tensors = tensors
    }

    /// One dictionary for a checkpoint file: `tensors` plus `step_count` (float64 scalar).
    public func flattened() -> [String: Tensor] {
        var out = tensors
        out["step_count"] = Tensor(doubles: [Double(stepCount)], shape: [])
        return out
    }

    /// The inverse of `flattened()`; a missing or malformed `step_count` is an error naming it.
    public init(flattened: [String: Tensor]) throws {
        guard let t = flattened["step_count"] else { throw OptimizerStateError(message: "step_count is missing") }
        let v = t.count == 1 ? t.toDoubles()[0] : .nan
        guard v >= 0, v == v.rounded(), v < 9e15 else {
            throw OptimizerStateError(message: "step_count must be a non-negative integer scalar, got shape \(t.shape) value \(v)")
        }
        var rest = flattened
        rest["step_count"] = nil
        self.init(stepCount: Int(v), tensors: rest)
    }
}

/// A state dictionary that does not fit this optimizer; the message names the key and what was expected.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "optimizer state: \(message)" }
}

/// Base class of the optimizers. Use a subclass: `SGD`, `Adam`, `AdamW`.
open class Optimizer {
    public var groups: [ParameterGroup]
    /// Number of completed `step()` calls.
    public internal(set) var stepCount = 0
    /// Per-parameter state tensors by parameter name, then field (`exp_avg`, `momentum_buffer`, …).
    var state: [String: [String: Tensor]] = [:]
    /// Per-parameter update count (torch keeps `step` per parameter: one without a gradient is not advanced).
    var parameterSteps: [String: Int] = [:]

    /// The tensor fields a subclass keeps per parameter once the parameter has been updated.
    open var stateFields: [String] { [] }

    public init(groups: [ParameterGroup]) {
        self.groups = []
        for group in groups { addParameterGroup(group) }
    }

    /// Adds a group (torch `add_param_group`), e.g. parameters unfrozen during fine-tuning. Names must be new to this
    /// optimizer and tensors contiguous float32.
    public func addParameterGroup(_ group: ParameterGroup) {
        var names = Set(namedParameters.map(\.name))
        for (name, p) in group.parameters {
            precondition(names.insert(name).inserted, "\(type(of: self)): parameter name \(name) appears twice")
            precondition(p.dtype == .float32 && p.isContiguous,
                         "\(type(of: self)): parameter \(name) must be a contiguous float32 tensor (got \(p.dtype), shape \(p.shape))")
        }
        groups.append(group)
    }

    /// Updates one parameter in place from its gradient (contiguous, same shape).
    open func update(name: String, parameter: Tensor, gradient: Tensor, group: ParameterGroup, step: Int) {
        preconditionFailure("\(type(of: self)) does not override Optimizer.update")
    }

    /// One parameter's part of a step: what `update(name:parameter:gradient:group:step:)` receives.
    public struct ParameterUpdate {
        public let name: String
        public let parameter: Tensor
        /// Contiguous float32, the parameter's shape.
        public let gradient: Tensor
        public let group: ParameterGroup
        /// This parameter's update count, this update included.
        public let step: Int
    }

    /// Updates the parameters of one step, by default one `update(name:…)` call each. A subclass may override it to
    /// update all parameters in one parallel pass (Adam does: torch's `foreach`), with the same per-element results.
    open func update(_ updates: [ParameterUpdate]) {
        for u in updates { update(name: u.name, parameter: u.parameter, gradient: u.gradient, group: u.group, step: u.step) }
    }

    /// One optimization step over every parameter that has a gradient.
    public func step() {
        var updates: [ParameterUpdate] = []
        for group in groups {
            for (name, p) in group.parameters {
                guard let g = p.grad else { continue }
                precondition(g.shape == p.shape, "\(type(of: self)).step: gradient shape \(g.shape) for parameter \(name) of shape \(p.shape)")
                let grad = g.dtype == .float32 ? g.contiguous() : g.to(.float32)
                let n = (parameterSteps[name] ?? 0) + 1
                parameterSteps[name] = n
                updates.append(ParameterUpdate(name: name, parameter: p, gradient: grad, group: group, step: n))
            }
        }
        update(updates)
        stepCount += 1
    }

    /// Clears every parameter's gradient (torch `zero_grad(set_to_none=True)`).
    public func zeroGrad() { for group in groups { for (_, p) in group.parameters { p.grad = nil } } }

    /// All parameters with their names, in group order.
    public var namedParameters: [(name: String, tensor: Tensor)] { groups.flatMap(\.parameters) }

    /// Sets every group's learning rate to `value`.
    public func setLearningRate(_ value: Double) { for i in groups.indices { groups[i].learningRate = value } }

    /// The state tensor `field` of parameter `name`, created as zeros on first use.
    func stateTensor(_ name: String, _ field: String, like p: Tensor) -> Tensor {
        if let t = state[name]?[field] { return t }
        let t = Tensor(zeros: p.shape)
        state[name, default: [:]][field] = t
        return t
    }

    /// A copy of the state: tensors are cloned, so later steps do not change an exported state.
    public func stateDict() -> OptimizerState {
        var tensors: [String: Tensor] = [:]
        noGrad {
            for (i, g) in groups.enumerated() {
                tensors["param_groups.\(i).lr"] = Tensor(doubles: [g.learningRate], shape: [])
                tensors["param_groups.\(i).initial_lr"] = Tensor(doubles: [g.initialLearningRate], shape: [])
                tensors["param_groups.\(i).weight_decay"] = Tensor(doubles: [g.weightDecay], shape: [])
            }
            for (name, fields) in state {
                for (field, t) in fields { tensors["state.\(name).\(field)"] = t.clone() }
            }
            for (name, n) in parameterSteps { tensors["state.\(name).step"] = Tensor(doubles: [Double(n)], shape: []) }
        }
        return OptimizerState(stepCount: stepCount, tensors: tensors)
    }

    /// Replaces the state with `saved` (copied, so the optimizer never writes into the caller's tensors). Every key
    /// must belong to this optimizer's parameters and fields with the parameter's shape; nothing changes on error.
    public func loadStateDict(_ saved: OptimizerState) throws {
        let byName = Dictionary(uniqueKeysWithValues: namedParameters.map { ($0.name, $0.tensor) })
        var newState: [String: [String: Tensor]] = [:]
        var newSteps: [String: Int] = [:]
        var newGroups = groups
        func scalar(_ key: String, _ t: Tensor) throws -> Double {
            guard t.count == 1 else { throw OptimizerStateError(message: "\(key) has shape \(t.shape), expected a scalar") }
            let v = t.toDoubles()[0]
            guard v.isFinite else { throw OptimizerStateError(message: "\(key) is \(v), expected a finite number") }
            return v
        }
        for (key, t) in saved.tensors {
            if key.hasPrefix("param_groups.") {
                let parts = key.split(separator: ".")
                guard parts.count == 3, let i = Int(parts[1]), newGroups.indices.contains(i) else {
                    throw OptimizerStateError(message: "\(key) does not name one of the \(groups.count) parameter groups")
                }
                let v = try scalar(key, t)
                switch parts[2] {
                case "lr": newGroups[i].learningRate = v
                case "initial_lr": newGroups[i].initialLearningRate = v
                case "weight_decay": newGroups[i].weightDecay = v
                default: throw OptimizerStateError(message: "\(key): unknown group field \(parts[2]) (expected lr, initial_lr, weight_decay)")
                }
                continue
            }
            guard key.hasPrefix("state."), let dot = key.lastIndex(of: ".") else {
                throw OptimizerStateError(message: "unexpected key \(key) (expected state.<parameter>.<field> or param_groups.<i>.<field>)")
            }
            let name = String(key[key.index(key.startIndex, offsetBy: 6)..<dot]), field = String(key[key.index(after: dot)...])
            guard let p = byName[name] else { throw OptimizerStateError(message: "\(key) names parameter \(name), which this optimizer does not hold") }
            if field == "step" {
                let v = try scalar(key, t)
                guard v >= 0, v == v.rounded() else { throw OptimizerStateError(message: "\(key) is \(v), expected a non-negative integer") }
                newSteps[name] = Int(v)
                continue
            }
            guard stateFields.contains(field) else {
                throw OptimizerStateError(message: "\(key): \(type(of: self)) keeps no field \(field) (fields: \(stateFields + ["step"]))")
            }
            guard t.shape == p.shape else { throw OptimizerStateError(message: "\(key) has shape \(t.shape), parameter \(name) has shape \(p.shape)") }
            newState[name, default: [:]][field] = noGrad { t.detach().to(.float32).clone() }
        }
        for (name, fields) in newState {
            guard newSteps[name] != nil else { throw OptimizerStateError(message: "state.\(name).step is missing while \(fields.keys.sorted()) are present") }
        }
        for name in newSteps.keys {
            for field in requiredFields(name: name, groups: newGroups) where newState[name]?[field] == nil {
                throw OptimizerStateError(message: "state.\(name).\(field) is missing (state.\(name).step is present)")
            }
        }
        guard saved.stepCount >= 0 else { throw OptimizerStateError(message: "step count \(saved.stepCount) is negative") }
        state = newState
        parameterSteps = newSteps
        groups = newGroups
        stepCount = saved.stepCount
    }

    /// Fields that must be present for a parameter that has been stepped (all `stateFields` unless a subclass says less).
    func requiredFields(name: String, groups: [ParameterGroup]) -> [String] { stateFields }
}
