// Module: the base class of every layer. Parameters and sub-modules are found by reflection (Mirror) over stored
// properties, so `blocks[0].attn.qkv.weight` is named `blocks.0.attn.qkv.weight` with no registration calls
// (torch.nn.Module.named_parameters / state_dict naming; mlx-swift MLXNN/Module.swift finds children the same way).
// Tensors held through `@Buffer` are buffers, not parameters. A member whose checkpoint name differs from its Swift
// name is renamed in the class's `keys` (mlx-swift's `@ModuleInfo(key:)`); members are never listed a second time,
// so none can be left out of the walk (and so neither trained nor saved) by forgetting it.
import LMTensor

/// A property wrapper marking a tensor as a buffer: state of a module that is not trained (masks, running
/// statistics, rotary tables). Buffers never appear in `namedParameters()`; persistent ones are part of
/// `stateDict()` (torch `register_buffer(name, tensor, persistent=...)`).
@propertyWrapper
public final class Buffer {
    public var wrappedValue: Tensor
    /// Whether the buffer is saved in `stateDict()`. Derived buffers (a causal mask) should not be.
    public let persistent: Bool
    public init(wrappedValue: Tensor, persistent: Bool = true) {
        self.wrappedValue = wrappedValue
        self.persistent = persistent
    }
}

/// Base class of layers and models.
///
/// Stored properties are walked in declaration order (base-class properties first):
/// - a `Tensor` (or `Tensor?` holding one) is a parameter named after the property;
/// - a `Module` is a child whose names are prefixed with `property.`;
/// - an array of modules or tensors numbers its elements: `blocks.0.…`, `blocks.1.…`;
/// - a `[String: Module]` dictionary uses its keys, sorted;
/// - `@Buffer` tensors are buffers; anything else (Ints, Bools, configs, closures) is ignored;
/// - a member named in the class's `keys` is walked under its key there.
open class Module {
    /// Whether the module is in training mode (dropout active). Set with `train()` / `eval()`, which propagate to children.
    public fileprivate(set) var isTraining: Bool = true

    public init() {}

    /// Checkpoint names of members whose Swift names differ, e.g. `["finalNorm": "ln_f"]`. Every entry must name a
    /// stored property of the class (checked on the first walk). Subclasses' maps apply to their own members.
    open class var keys: [String: String] { [:] }

    /// Checkpoint names (after `keys`) of this class's own tensors that the reference trains without weight decay
    /// whatever their rank, as mamba_ssm marks `A_log` and `D` with `_no_weight_decay`. Read by
    /// `noWeightDecayParameterNames()`, which the trainer passes to `ParameterGroup.decayAndNoDecay(exempt:)`.
    open class var noWeightDecay: Set<String> { [] }

    /// The named members this module exposes to the parameter walk: every stored property, found by reflection, with
    /// the leading `_` of `@Buffer` storage and the prefix of `lazy` storage removed, renamed by `keys`. Override only
    /// to number members the way torch does (`Sequential`); rename with `keys`.
    open var children: [(name: String, value: Any)] {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror { mirrors.append(m); mirror = m.superclassMirror }
        var out: [(name: String, value: Any)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard var label = child.label else { continue }
                if child.value is Buffer, label.hasPrefix("_") { label.removeFirst() }
                // `lazy var x` is stored as `$__lazy_storage_$_x` (nil until first use).
                if label.hasPrefix("$__lazy_storage_$_") { label.removeFirst("$__lazy_storage_$_".count) }
                out.append((label, child.value))
            }
        }
        let keys = Self.keys
        if !keys.isEmpty {
            let labels = Set(out.map(\.name))
            for name in keys.keys { precondition(labels.contains(name), "\(Self.self).keys renames '\(name)', which is not a stored property") }
            out = out.map { (keys[$0.name] ?? $0.name, $0.value) }
        }
        return out
    }

    /// Visits every parameter, buffer and sub-module below this one with its dotted name.
    /// A module reachable again below itself (e.g. a child holding a reference to its parent) is skipped, so
    /// cycles terminate; a module shared by two parents is walked under both names, as torch's `state_dict()` does.
    private func walk(prefix: String, ancestors: Set<ObjectIdentifier> = [], parameter: (String, Tensor) -> Void,
                      buffer: (String, Buffer) -> Void, module: (String, Module) -> Void) {
        let path = ancestors.union([ObjectIdentifier(self)])
        func visit(_ name: String, _ value: Any) {
            if let t = value as? Tensor { parameter(name, t); return }
            if let b = value as? Buffer { buffer(name, b); return }
            if let m = value as? Module {
                if path.contains(ObjectIdentifier(m)) { return }
                module(name, m)
                m.walk(prefix: name + ".", ancestors: path, parameter: parameter, buffer: buffer, module: module)
                return
            }
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .collection?:
                for (i, element) in mirror.children.enumerated() { visit("\(name).\(i)", element.value) }
            case .dictionary?:
                // Keys sorted so names never depend on hashing order.
                let pairs = mirror.children.compactMap { pair -> (String, Any)? in
                    let kv = Array(Mirror(reflecting: pair.value).children)
                    guard kv.count == 2, let key = kv[0].value as? String else { return nil }
                    return (key, kv[1].value)
                }
                for (key, v) in pairs.sorted(by: { $0.0 < $1.0 }) { visit("\(name).\(key)", v) }
            case .optional?:
                if let some = mirror.children.first { visit(name, some.value) }
            default:
                return
            }
        }
        for (name, value) in children { visit(prefix + name, value) }
    }

    /// Every parameter with its dotted name, in declaration order. A tensor reachable under two names (tied
    /// weights) is listed once, under the first name, as torch's `named_parameters()` does.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(name: String, tensor: Tensor)] = []
        walk(prefix: "", parameter: { name, t in
            if seen.insert(ObjectIdentifier(t)).inserted { out.append((name, t)) }
        }, buffer: { _, _ in }, module: { _, _ in })
        return out
    }

    /// Dotted names of the parameters any module in this tree lists in its `noWeightDecay`, e.g.
    /// `backbone.layers.0.mixer.A_log`. Only names that `namedParameters()` also reports.
    public func noWeightDecayParameterNames() -> Set<String> {
        let parameters = Set(namedParameters().map(\.name))
        let modules = [("", self)] + namedModules().map { ($0.name + ".", $0.module) }
        var out = Set<String>()
        for (prefix, module) in modules {
            for key in type(of: module).noWeightDecay where parameters.contains(prefix + key) { out.insert(prefix + key) }
        }
        return out
    }

    /// The parameters, in the order of `namedParameters()`.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// Every buffer with its dotted name (persistent or not).
    public func namedBuffers() -> [(name: String, tensor: Tensor, persistent: Bool)] {
        var out: [(name: String, tensor: Tensor, persistent: Bool)] = []
        walk(prefix: "", parameter: { _, _ in }, buffer: { name, b in out.append((name, b.wrappedValue, b.persistent)) },
             module: { _, _ in })
        return out
    }

    /// Every sub-module below this one with its dotted name (not including self), parents before children.
    public func namedModules() -> [(name: String, module: Module)] {
        var out: [(name: String, module: Module)] = []
        walk(prefix: "", parameter: { _, _ in }, buffer: { _, _ in }, module: { out.append(($0, $1)) })
        return out
    }

    /// Parameters and persistent buffers by dotted name, sharing storage with the module (no copies). Tied weights
    /// appear under every name, as in torch's `state_dict()`.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        walk(prefix: "", parameter: { out[$0] = $1 }, buffer: { name, b in if b.persistent { out[name] = b.wrappedValue } },
             module: { _, _ in })
        return out
    }

    /// The keys of `stateDict()` in walk order (parameters and persistent buffers as declared).
    public func stateDictKeys() -> [String] {
        var out: [String] = []
        walk(prefix: "", parameter: { name, _ in out.append(name) }, buffer: { name, b in if b.persistent { out.append(name) } },
             module: { _, _ in })
        return out
    }

    /// Tensors stored anywhere in this module tree (every stored property, recursively, ignoring `children`
    /// overrides) that the parameter walk does not reach: such a tensor is neither trained nor saved. Empty for a
    /// correct module; tests assert it for every model family.
    public func unreachableTensors() -> [String] {
        var reachable = Set(namedParameters().map { ObjectIdentifier($0.tensor) })
        for b in namedBuffers() { reachable.insert(ObjectIdentifier(b.tensor)) }
        var found: [String] = [], visited = Set<ObjectIdentifier>()
        func visit(_ path: String, _ value: Any) {
            if value is Buffer { return }
            if let t = value as? Tensor {
                if !reachable.contains(ObjectIdentifier(t)) { found.append(path) }
                return
            }
            if let m = value as? Module {
                guard visited.insert(ObjectIdentifier(m)).inserted else { return }
                var mirror: Mirror? = Mirror(reflecting: m)
                while let current = mirror {
                    for child in current.children { visit(path + "." + (child.label ?? "?"), child.value) }
                    mirror = current.superclassMirror
                }
                return
            }
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .collection?, .optional?, .dictionary?, .tuple?:
                for (i, child) in mirror.children.enumerated() { visit(path + "." + (child.label ?? String(i)), child.value) }
            default: return
            }
        }
        visit("self", self)
        return found
    }

    /// Total number of scalar parameters (tied tensors counted once, as `sum(p.numel() for p in m.parameters())`).
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.tensor.count } }

    /// Sets training mode on this module and every sub-module.
    @discardableResult public func train(_ on: Bool = true) -> Self {
        isTraining = on
        for (_, m) in namedModules() { m.isTraining = on }
        return self
    }

    /// Sets evaluation mode (`train(false)`) on this module and every sub-module.
    @discardableResult public func eval() -> Self { train(false) }

    /// Clears the accumulated gradient of every parameter.
    public func zeroGrad() { for p in parameters() { p.grad = nil } }

    /// Calls `body` on every sub-module (parents first) and then on this module, like torch's `Module.apply`
    /// (e.g. GPT-2 style re-initialisation of every `Linear`).
    @discardableResult public func apply(_ body: (Module) -> Void) -> Self {
        for (_, m) in namedModules() { body(m) }
        body(self)
        return self
    }

    /// Marks every parameter as trainable (`true`) or frozen (`false`).
    public func requiresGrad(_ on: Bool) { for p in parameters() { p.requiresGrad = on } }
}

/// A module mapping one tensor to one tensor, usable inside `Sequential`.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// A layer that can recompute its activations in backward instead of keeping them (gradient checkpointing: less
/// memory for one more forward pass per step). Training turns it on for every such layer of a model.
public protocol GradientCheckpointable: Module {
    var gradientCheckpointing: Bool { get set }
}

extension Module {
    /// The random streams of this module's dropout layers, each once: what a checkpointed replay must rewind.
    public func dropoutGenerators() -> [Generator] {
        var seen = Set<ObjectIdentifier>(), out: [Generator] = []
        apply { if let d = $0 as? Dropout, seen.insert(ObjectIdentifier(d.generator)).inserted { out.append(d.generator) } }
        return out
    }

    /// Turns gradient checkpointing on or off in every checkpointable layer; returns how many there are.
    @discardableResult public func setGradientCheckpointing(_ on: Bool) -> Int {
        var count = 0
        apply { if let layer = $0 as? GradientCheckpointable { layer.gradientCheckpointing = on; count += 1 } }
        return count
    }
}
