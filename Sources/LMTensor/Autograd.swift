// Reverse-mode autograd. Each op that sees an input with `requiresGrad` attaches a GradNode to its output: the
// inputs and a closure mapping the output gradient to input gradients (written beside the op's forward, in Ops/).
// `backward()` walks the graph in reverse topological order, accumulates gradients and, unless `retainGraph`,
// drops each node once used so saved activations are freed as early as possible.
// A node refers to a computed (non-leaf) input through a storage-free stand-in that carries only its shape and its
// own node (torch's Edge): the input's values stay alive only if the op's backward captured them (a saved tensor), so
// an activation no backward needs is freed as soon as forward is done with it. Without this every intermediate tensor
// lived until backward, and saving a bfloat16 copy under Autocast would have added memory instead of replacing it.
import Foundation

public final class GradNode {
    public let name: String
    var inputs: [Tensor]
    var backward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }
}

/// Global switch for graph recording; see `noGrad`. LMKit layers above the kernels are single-threaded (STYLE §3.6).
nonisolated(unsafe) var gradModeEnabled = true

/// Whether operations currently record the autograd graph.
public var isGradEnabled: Bool { gradModeEnabled }

/// Runs `body` without recording the autograd graph (evaluation, optimizer updates, backward closures).
@discardableResult
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    let saved = gradModeEnabled
    gradModeEnabled = false
    defer { gradModeEnabled = saved }
    return try body()
}

extension Tensor {
    /// Attaches a graph node to `output` when recording is on and some input requires a gradient.
    /// `backward` receives the output gradient (contiguous, output shape) and returns one gradient per input
    /// (nil for inputs that take none), each contiguous with that input's shape.
    @discardableResult
    static func record(_ name: String, inputs: [Tensor], output: Tensor, backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard gradModeEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.requiresGrad = true
        output.gradNode = GradNode(name: name, inputs: inputs.map { $0.gradNode == nil ? $0 : $0.graphEdge() }, backward: backward)
        return output
    }

    /// Storage shared by every graph edge (no bytes).
    private static let edgeStorage = Storage(byteCount: 0)

    /// A stand-in for this computed tensor in a consumer's node: same shape, dtype and node, no storage.
    private func graphEdge() -> Tensor {
        let edge = Tensor(storage: Tensor.edgeStorage, dtype: dtype, shape: shape, strides: strides, offset: 0, requiresGrad: true)
        edge.gradNode = gradNode
        return edge
    }

    /// Backward's identity of a graph vertex: a computed tensor is its node (shared with its edges), a leaf itself.
    private static func vertex(_ t: Tensor) -> ObjectIdentifier { t.gradNode.map(ObjectIdentifier.init) ?? ObjectIdentifier(t) }

    /// Back-propagates from this tensor. Without `seed` the tensor must hold one element (gradient 1).
    /// Leaf tensors with `requiresGrad` accumulate into `grad`.
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
        precondition(requiresGrad, "backward: tensor of shape \(shape) does not require grad (no input had requiresGrad)")
        let start: Tensor
        if let seed {
            precondition(seed.shape == shape, "backward: seed shape \(seed.shape) differs from tensor shape \(shape)")
            start = seed.contiguous().detach()
        } else {
            precondition(count == 1, "backward: implicit seed needs a one-element tensor, got shape \(shape); pass a seed gradient")
            start = noGrad { Tensor.full(shape, 1, dtype: dtype) }
        }
        // Topological order by iterative DFS (graphs of deep models are too deep for recursion).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if !visited.insert(Tensor.vertex(t)).inserted { continue }
            stack.append((t, true))
            // Leaves are pushed before the other inputs, so they pop after them: each leaf lands in `order` just before
            // its earliest consumer and the reverse walk reaches it right after that consumer's backward, when its
            // gradient is complete (postAccumulateGradHook: data-parallel buckets start there). The order of the
            // non-leaf nodes, and so every gradient sum, is what it would be without this.
            let inputs = (t.gradNode?.inputs ?? []).filter { $0.requiresGrad && !visited.contains(Tensor.vertex($0)) }
            for input in inputs where input.gradNode == nil { stack.append((input, false)) }
            for input in inputs where input.gradNode != nil { stack.append((input, false)) }
        }
        var grads: [ObjectIdentifier: Tensor] = [Tensor.vertex(self): start]
        noGrad {
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: Tensor.vertex(t)) else {
                    // A leaf whose gradient an op's backward wrote in place (linear's GradientTarget) is complete too.
                    if t.gradNode == nil { t.postAccumulateGradHook?(t) }
                    continue
                }
                guard let node = t.gradNode else {
                    // A leaf: accumulate into `grad`. `g` owns its storage (see below), so it is stored without a
                    // copy, unless it is (a view of) the caller's seed, which the caller still holds.
                    t.grad = t.grad.map { $0 + g } ?? (g.storage === start.storage ? g.clone() : g)
                    t.postAccumulateGradHook?(t)  // reverse topological order: nothing more flows into t in this pass
                    continue
                }
                guard let rule = node.backward else {
                    preconditionFailure("backward: the graph through \(node.name) was already freed by an earlier backward(); pass retainGraph: true to the first call")
                }
                let inputGrads = rule(g)
                precondition(inputGrads.count == node.inputs.count, "backward of \(node.name): \(inputGrads.count) gradients for \(node.inputs.count) inputs")
                // Rules may hand one gradient (or views of one storage, e.g. add's `g` to both inputs) to several
                // inputs. Each input gets storage of its own, so a leaf's `grad` can later be scaled in place.
                var handedOut = Set<ObjectIdentifier>()
                for (input, gi) in zip(node.inputs, inputGrads) {
                    guard input.requiresGrad, var gi = gi?.contiguous() else { continue }
                    if !handedOut.insert(ObjectIdentifier(gi.storage)).inserted { gi = gi.clone() }
                    precondition(gi.shape == input.shape, "backward of \(node.name): gradient shape \(gi.shape) for input of shape \(input.shape)")
                    let key = Tensor.vertex(input)
                    grads[key] = grads[key].map { $0 + gi } ?? gi
                }
                if !retainGraph { node.backward = nil; node.inputs = [] }
            }
        }
    }
}
