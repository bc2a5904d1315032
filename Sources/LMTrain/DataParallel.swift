// The seam between the training loop and a communication library for data-parallel training (PyTorch DDP semantics).
// LMTrain states what it needs; LMDistributed implements it over MPI, so this target and its tests never link MPI.
// What the Trainer does with a group of N ranks (Docs/Distributed.md):
// - batch_size is the GLOBAL micro-batch: every rank draws the same batch_size window offsets from the shared data seed
//   and keeps rows rank, rank + N, … (DistributedSampler's indices[rank::N]), so any N dividing batch_size trains on the
//   same tokens and a checkpoint resumes under any such N;
// - rank 0's initial (or resumed) weights are broadcast; dropout streams are seeded seed + rank (nanoGPT's seed_offset);
// - gradients are averaged in buckets during the last micro-step's backward only (no_sync before it);
// - train and eval losses are averaged over the ranks; only rank 0 writes files.
import LMTensor

/// The collectives of a data-parallel group of `size` processes. Every rank must make the same calls in the same order.
public protocol DataParallelGroup: AnyObject {
    /// This process's index, 0..<size.
    var rank: Int { get }
    var size: Int { get }
    /// In place: each element becomes its sum over all ranks (blocking).
    func allreduceSum(_ values: inout [Double])
    /// Copies each tensor of rank `root` into the same tensor on every other rank (contiguous float32 tensors).
    func broadcast(_ tensors: [Tensor], root: Int)
    /// An averager of the gradients of `parameters` (float32 leaves) that starts each bucket of about `bucketBytes`
    /// as soon as backward has produced all of its gradients.
    func makeGradientReducer(parameters: [Tensor], bucketBytes: Int) -> any GradientReducer
}

/// DDP's reducer: averages `grad` of a fixed parameter list over the group, overlapped with backward.
public protocol GradientReducer: AnyObject {
    /// Call before each backward. `synchronize` false is DDP's `no_sync()`: gradients only accumulate locally.
    func prepareBackward(synchronize: Bool)
    /// Call after the synchronizing backward: starts buckets backward did not complete (parameters it did not reach
    /// count as zero), waits for all of them and leaves the average over the ranks in each parameter's `grad`.
    func finishBackward()
    /// Over all synchronizing backwards so far: buckets started while backward was still running (the overlap), and
    /// all buckets started.
    var bucketsStarted: (duringBackward: Int, total: Int) { get }
    /// Seconds spent in `finishBackward` so far: the communication backward did not hide.
    var exposedSeconds: Double { get }
}
