#pragma once
// The end of a parallel writer's close() (private to src/io: the archive and the feature file).
#include <mpi.h>

#include <string>
#include <utility>
#include <vector>

#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::io::h5 {

// Collective: closes `datasets` (name for messages), flushes, sets the root attribute complete=1,
// flushes again, so that the close itself has nothing left to write that could fail on one rank
// only, and closes `file`. Every step agrees on failure across `comm` (docs/architecture.md, "MPI").
void finish_output(Handle& file, MPI_Comm comm, const std::vector<std::pair<Handle*, std::string>>& datasets,
                   const std::string& where);

}  // namespace sarscale::io::h5
