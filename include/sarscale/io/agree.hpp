#pragma once
// The one way ranks agree on a failure (docs/architecture.md, "MPI"). Lives in `io` because the
// HDF5 writers need it around their collective calls; `dist::Comm::agree` is the same call.
#include <mpi.h>

#include <exception>
#include <utility>

namespace sarscale::io {

// Collective over `comm`: every rank passes what it caught since the last agreement (null when
// its work succeeded). Returns when no rank failed. Otherwise every rank throws the same
// exception: the lowest failing rank's kind (ConfigError, StrictRejectError, InputError,
// IoError, OutOfMemoryError (a std::bad_alloc), else Error) and message, marked
// FailedOnEveryRank (core/error.hpp). Call it before any collective that depends on the work.
void agree_on_failure(MPI_Comm comm, const std::exception_ptr& local);

// Runs `work` on this rank, then agrees on failure across `comm` (collective).
template <typename Work>
void agree_on(MPI_Comm comm, Work&& work) {
  std::exception_ptr local;
  try {
    std::forward<Work>(work)();
  } catch (...) {
    local = std::current_exception();
  }
  agree_on_failure(comm, local);
}

}  // namespace sarscale::io
