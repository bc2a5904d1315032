// Open MPI for Swift (LMDistributed/MPI.swift). Swift cannot import MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE:
// in Open MPI they are macros that cast the address of a global struct, so they come through static inline accessors
// (shared/reference/swift-on-this-machine.md §6). Also the error handler that turns any failing MPI call on any
// rank into an abort of the whole job with the reason, instead of a hang in the next collective.
#include <mpi.h>
#include <stdio.h>

static inline MPI_Comm lmkit_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype lmkit_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype lmkit_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op lmkit_mpi_sum(void) { return MPI_SUM; }
static inline void *lmkit_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request lmkit_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *lmkit_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *lmkit_mpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
static inline int lmkit_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

// MPI_ERRORS_ARE_FATAL would also stop the job, but without saying which rank or why; this names both.
static void lmkit_mpi_abort_on_error(MPI_Comm *comm, int *code, ...) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0, rank = -1;
    MPI_Error_string(*code, text, &length);
    MPI_Comm_rank(*comm, &rank);
    fprintf(stderr, "lmkit: rank %d: MPI error: %.*s; stopping all ranks\n", rank, length, text);
    fflush(stderr);
    MPI_Abort(*comm, 3);
}

static inline int lmkit_mpi_install_abort_handler(void) {
    MPI_Errhandler handler;
    int status = MPI_Comm_create_errhandler(lmkit_mpi_abort_on_error, &handler);
    if (status != MPI_SUCCESS) return status;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, handler);
}
