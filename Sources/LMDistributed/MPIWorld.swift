// The MPI_COMM_WORLD of a process started by `mpirun` (Open MPI): rank, size and the few collectives data-parallel
// training uses (broadcast, allreduce, nonblocking Iallreduce with wait/test, barrier, abort). A process not started
// by mpirun never initializes MPI, so `lmkit train` alone behaves exactly as before. Every MPI error on any rank aborts
// the whole job with the rank and the reason (_CMPI/shim.h), so no rank is left waiting in a collective.
import Foundation
import _CMPI

/// The world communicator of this process (one per process; MPI cannot be initialized twice).
public final class MPIWorld {
    public let rank: Int
    public let size: Int
    let communicator: MPI_Comm
    private var finalized = false

    /// The world when this process was started by mpirun (or another PMIx/PMI launcher), initializing MPI on first use;
    /// nil, without touching MPI, for a process started any other way.
    public static let launched: MPIWorld? = launchedByMPI ? MPIWorld() : nil

    /// Whether a launcher started this process as one rank of a job (Open MPI sets OMPI_COMM_WORLD_SIZE; PMIx and
    /// PMI launchers such as srun set PMIX_RANK or PMI_SIZE).
    public static var launchedByMPI: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].contains { environment[$0] != nil }
    }

    private init() {
        var provided: Int32 = 0
        // FUNNELED: only the thread that initialized MPI calls it; LMKit's worker threads never do.
        MPI_Init_thread(nil, nil, lmkit_mpi_thread_funneled(), &provided)
        communicator = lmkit_mpi_comm_world()
        _ = lmkit_mpi_install_abort_handler()
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(communicator, &r)
        MPI_Comm_size(communicator, &n)
        rank = Int(r)
        size = Int(n)
    }

    /// MPI_Finalize: call once on every rank after the last collective, before the process exits normally.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Prints `lmkit: rank R of N: message; stopping all ranks` on stderr and ends every process of the job
    /// (MPI_Abort, which mpirun turns into a nonzero exit status).
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("lmkit: rank \(rank) of \(size): \(message); stopping all ranks\n".utf8))
        MPI_Abort(communicator, code)
        exit(code)  // MPI_Abort does not return; this satisfies Never
    }

    public func barrier() { MPI_Barrier(communicator) }

    /// Seconds on MPI's clock (MPI_Wtime).
    public static func time() -> Double { MPI_Wtime() }

    /// Blocking in-place sum of `count` floats over all ranks (MPI_Allreduce with MPI_IN_PLACE).
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        MPI_Allreduce(lmkit_mpi_in_place(), buffer, mpiCount(count), lmkit_mpi_float(), lmkit_mpi_sum(), communicator)
    }

    /// Starts an in-place sum of `count` floats over all ranks (MPI_Iallreduce). The buffer must stay untouched until
    /// `wait` (or a `test` that returns true). Every rank must start its nonblocking collectives in the same order.
    public func startAllreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) -> MPI_Request? {
        var request = lmkit_mpi_request_null()
        MPI_Iallreduce(lmkit_mpi_in_place(), buffer, mpiCount(count), lmkit_mpi_float(), lmkit_mpi_sum(), communicator, &request)
        return request
    }

    /// Blocks until `request` completes; it becomes MPI_REQUEST_NULL.
    public func wait(_ request: inout MPI_Request?) { MPI_Wait(&request, lmkit_mpi_status_ignore()) }

    /// Whether `request` has completed. Also lets Open MPI advance it: without an asynchronous progress thread a
    /// nonblocking collective moves only while the process is inside some MPI call.
    public func test(_ request: inout MPI_Request?) -> Bool {
        var flag: Int32 = 0
        MPI_Test(&request, &flag, lmkit_mpi_status_ignore())
        return flag != 0
    }

    /// MPI counts are 32-bit; a larger message would be cut silently.
    private func mpiCount(_ count: Int) -> Int32 {
        guard let c = Int32(exactly: count) else { abort("an MPI message of \(count) elements exceeds MPI's 32-bit count") }
        return c
    }
}
