// PyTorch DDP's Reducer over MPI (torch/csrc/distributed/c10d/reducer.cpp; Li et al. 2020, "PyTorch Distributed"):
// parameters are grouped into buckets of about bucket_cap_mb, in reverse registration order because backward produces
// the last layers' gradients first; a bucket's MPI_Iallreduce starts the moment backward has accumulated the last
// gradient of its members (Tensor.postAccumulateGradHook), so communication overlaps the rest of backward.
// Buckets start strictly in index order, as DDP does: MPI requires every rank to start collectives in the same order,
// and identical graphs give identical orders. Not here: DDP's smaller first bucket, gradient_as_bucket_view (a
// gradient is copied into its bucket when the bucket starts and back when it completes) and static_graph.
import LMTensor
import LMTrain
import _CMPI

extension MPIWorld: DataParallelGroup {
    public func allreduceSum(_ values: inout [Double]) {
        let count = Int32(values.count)
        values.withUnsafeMutableBufferPointer {
            _ = MPI_Allreduce(lmkit_mpi_in_place(), $0.baseAddress, count, lmkit_mpi_double(), lmkit_mpi_sum(), communicator)
        }
    }

    public func broadcast(_ tensors: [Tensor], root: Int) {
        for tensor in tensors where tensor.count > 0 {
            precondition(tensor.dtype == .float32 && tensor.isContiguous, "broadcast: contiguous float32 tensors only, got \(tensor.dtype) \(tensor.shape)")
            MPI_Bcast(tensor.pointer(Float.self), Int32(tensor.count), lmkit_mpi_float(), Int32(root), communicator)
        }
    }

    public func makeGradientReducer(parameters: [Tensor], bucketBytes: Int) -> any GradientReducer {
        BucketedGradientReducer(world: self, parameters: parameters, bucketBytes: bucketBytes)
    }
}

/// Averages the gradients of `parameters` over the world, one bucket at a time, overlapped with backward.
public final class BucketedGradientReducer: GradientReducer {
    private struct Bucket {
        var members: [Int]       // indices into `parameters`
        var offsets: [Int]       // element offset of each member in `buffer`
        var count: Int
        var buffer: UnsafeMutablePointer<Float>
        var unready = 0          // members whose gradient backward has not finished yet
        var request: MPI_Request?
        var started = false
        var done = false
    }

    private let world: MPIWorld
    private let parameters: [Tensor]
    private var buckets: [Bucket] = []
    private var bucketOf: [Int]
    private var ready: [Bool]
    private var nextToStart = 0
    private var synchronizing = false
    public private(set) var bucketsStarted = (duringBackward: 0, total: 0)
    public private(set) var exposedSeconds = 0.0

    /// Sizes of the buckets in elements, first-started first (for tests and the benchmark's report).
    public var bucketSizes: [Int] { buckets.map(\.count) }

    public init(world: MPIWorld, parameters: [Tensor], bucketBytes: Int) {
        precondition(bucketBytes > 0, "bucket size must be positive")
        self.world = world
        self.parameters = parameters
        bucketOf = Array(repeating: 0, count: parameters.count)
        ready = Array(repeating: false, count: parameters.count)
        var members: [Int] = [], bytes = 0
        func close() {
            guard !members.isEmpty else { return }
            var offsets: [Int] = [], count = 0
            for i in members { offsets.append(count); count += parameters[i].count; bucketOf[i] = buckets.count }
            buckets.append(Bucket(members: members, offsets: offsets, count: count, buffer: .allocate(capacity: max(count, 1))))
            members = []; bytes = 0
        }
        for i in parameters.indices.reversed() {
            precondition(parameters[i].dtype == .float32, "data parallel: parameter \(i) is \(parameters[i].dtype); gradients are reduced in float32")
            let size = parameters[i].count * 4
            if !members.isEmpty && bytes + size > bucketBytes { close() }
            members.append(i); bytes += size
        }
        close()
        for i in parameters.indices {
            parameters[i].postAccumulateGradHook = { [unowned self] _ in self.gradientReady(i) }
        }
    }

    deinit {
        for p in parameters { p.postAccumulateGradHook = nil }
        for b in buckets { b.buffer.deallocate() }
    }

    public func prepareBackward(synchronize: Bool) {
        precondition(!synchronizing || nextToStart == 0, "data parallel: a synchronizing backward was not followed by finishBackward()")
        synchronizing = synchronize
        nextToStart = 0
        for i in ready.indices { ready[i] = false }
        for b in buckets.indices {
            buckets[b].unready = buckets[b].members.count
            buckets[b].started = false
            buckets[b].done = false
        }
    }

    /// The hook: parameter `i`'s gradient is final for this backward.
    private func gradientReady(_ i: Int) {
        guard synchronizing else { return }
        let b = bucketOf[i]
        if ready[i] {
            // A parameter reached twice in one backward (used in two separately replayed segments): harmless until its
            // bucket is sent, which copies the gradient then; after that the other ranks already have the old value.
            precondition(!buckets[b].started, "data parallel: parameter \(i) received gradient again after its bucket was sent (PyTorch: \"Expected to mark a variable ready only once\")")
            return
        }
        ready[i] = true
        buckets[b].unready -= 1
        while nextToStart < buckets.count && buckets[nextToStart].unready == 0 {
            start(nextToStart)
            bucketsStarted.duringBackward += 1
            nextToStart += 1
        }
        // Give MPI a chance to move the buckets already in flight while backward goes on.
        for k in 0..<nextToStart where !buckets[k].done { buckets[k].done = world.test(&buckets[k].request) }
    }

    /// Copies the members' gradients into the bucket (zeros for a parameter without one) and starts its allreduce.
    private func start(_ b: Int) {
        let bucket = buckets[b]
        for (i, offset) in zip(bucket.members, bucket.offsets) {
            let destination = bucket.buffer + offset, count = parameters[i].count
            if let grad = parameters[i].grad {
                let g = grad.contiguous()
                destination.update(from: g.pointer(Float.self), count: count)
            } else {
                destination.update(repeating: 0, count: count)
            }
        }
        buckets[b].started = true
        bucketsStarted.total += 1
        buckets[b].request = world.startAllreduceSum(bucket.buffer, count: bucket.count)
    }

    public func finishBackward() {
        precondition(synchronizing, "data parallel: finishBackward() without prepareBackward(synchronize: true)")
        let entered = MPIWorld.time()
        defer { exposedSeconds += MPIWorld.time() - entered }
        while nextToStart < buckets.count { start(nextToStart); nextToStart += 1 }
        let scale = 1 / Float(world.size)
        for b in buckets.indices {
            if !buckets[b].done { world.wait(&buckets[b].request) }
            buckets[b].done = true
            let bucket = buckets[b]
            for (i, offset) in zip(bucket.members, bucket.offsets) {
                // A parameter without a gradient on this rank keeps none (every rank runs the same graph, so none has one).
                guard let grad = parameters[i].grad else { continue }
                let g = grad.isContiguous ? grad : grad.contiguous()
                let source = bucket.buffer + offset, destination = g.pointer(Float.self)
                for k in 0..<parameters[i].count { destination[k] = source[k] * scale }
                if g !== grad { parameters[i].grad = g }
            }
        }
        synchronizing = false
        nextToStart = 0
    }
}
