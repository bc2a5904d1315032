// ZeRO stage 1 (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models";
// DeepSpeed `zero_optimization.stage: 1`, torch.distributed.optim.ZeroRedundancyOptimizer): each rank keeps AdamW
// state only for the parameters it owns (whole tensors, largest first onto the least loaded rank, as torch's
// ZeroRedundancyOptimizer partitions), updates only those after the gradient allreduce, then every parameter is
// broadcast from its owner (the all-gather). The averaged gradients are whole on every rank, so clipping needs no
// extra communication. Checkpoints hold the full state (gathered on rank 0), so they resume under any N, with or
// without ZeRO. Not here: DeepSpeed's reduce-scatter of the gradients (this keeps DDP's allreduce: 1.5× its traffic).
import LMOptim
import LMTensor

struct ZeroRedundancy {
    /// Every parameter in the model's order, with the rank that owns its optimizer state.
    let parameters: [(name: String, tensor: Tensor, owner: Int)]
    let rank: Int

    init(parameters named: [(name: String, tensor: Tensor)], rank: Int, ranks: Int) {
        var load = [Int](repeating: 0, count: ranks), owner = [Int](repeating: 0, count: named.count)
        for i in named.indices.sorted(by: { (named[$0].tensor.count, $1) > (named[$1].tensor.count, $0) }) {
            let r = load.indices.min { load[$0] < load[$1] }!
            owner[i] = r
            load[r] += named[i].tensor.count
        }
        parameters = named.indices.map { (named[$0].name, named[$0].tensor, owner[$0]) }
        self.rank = rank
    }

    /// Parameter elements whose optimizer state this rank keeps, and all of them.
    var ownedShare: (owned: Int, total: Int) {
        (parameters.filter { $0.owner == rank }.reduce(0) { $0 + $1.tensor.count }, parameters.reduce(0) { $0 + $1.tensor.count })
    }

    /// Before `optimizer.step()`: the gradients of parameters other ranks own are dropped, so the step skips them (no
    /// update, no weight decay) and never creates state for them.
    func dropForeignGradients() {
        for p in parameters where p.owner != rank { p.tensor.grad = nil }
    }

    /// After the step: each parameter from its owner to every rank.
    func gatherParameters(_ group: any DataParallelGroup) {
        for p in parameters { group.broadcast([p.tensor], root: p.owner) }
    }

    /// The state of the whole model on every rank (collective: all ranks call it with their own `local` state).
    func gatherState(_ local: OptimizerState, fields: [String], group: any DataParallelGroup) -> OptimizerState {
        var steps = parameters.map { p -> Double in
            p.owner == rank ? local.tensors["state.\(p.name).step"].map { $0.toDoubles()[0] } ?? 0 : 0
        }
        group.allreduceSum(&steps)  // only the owner contributes; 0 = no state yet (never had a gradient)
        var full = local
        for (p, step) in zip(parameters, steps) where step > 0 {
            full.tensors["state.\(p.name).step"] = Tensor(doubles: [step], shape: [])
            for field in fields {
                let key = "state.\(p.name).\(field)"
                let t = p.owner == rank ? local.tensors[key]!.contiguous() : Tensor(zeros: p.tensor.shape)
                group.broadcast([t], root: p.owner)
                full.tensors[key] = t
            }
        }
        return full
    }

    /// The part of a full state this rank keeps: the parameter groups and the state of the parameters it owns.
    func localShare(of full: OptimizerState) -> OptimizerState {
        let foreign = Set(parameters.filter { $0.owner != rank }.map { "state.\($0.name)." })
        return OptimizerState(stepCount: full.stepCount, tensors: full.tensors.filter { key, _ in
            guard key.hasPrefix("state."), let dot = key.lastIndex(of: ".") else { return true }
            return !foreign.contains(String(key[...dot]))
        })
    }
}
