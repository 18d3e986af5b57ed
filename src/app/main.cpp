// The only place MPI is initialised and finalised. Everything below receives the
// communicator explicitly.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "sarscale/app/commands.hpp"
#include "sarscale/dist/comm.hpp"

namespace {

// A process started without a launcher (no mpirun, srun, ...) is a singleton with one rank and
// no peers. Open MPI's default transport selection then still probes UCX, which costs ~0.2 s of
// a 0.31 s start-up (a bare MPI hello: 0.31 s, 0.11 s with the ob1 PML); a one-process `sarscale
// predict` paid it on every call. Only then, and only when the user chose no PML, pick ob1.
// Under a launcher nothing changes: clusters need their fast transports.
void prefer_fast_singleton_start() {
  for (const char* launched : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_STEP_ID"})
    if (std::getenv(launched)) return;
  setenv("OMPI_MCA_pml", "ob1", 0);  // 0: a value the user set wins
}

}  // namespace

int main(int argc, char** argv) {
  prefer_fast_singleton_start();
  int provided = 0;
  // FUNNELED: OpenMP threads compute, only the main thread calls MPI.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int status = 1;
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  try {
    const sarscale::dist::Comm world(MPI_COMM_WORLD);
    status = sarscale::app::run(world, argc, argv);
  } catch (const std::exception& e) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::fprintf(stderr, "sarscale%s: error: %s\n", size > 1 ? ("[" + std::to_string(rank) + "]").c_str() : "",
                 e.what());
    std::fflush(stderr);
    // Other ranks may be waiting in a collective: take the whole job down instead of hanging.
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    status = 1;
  }
  MPI_Finalize();
  return status;
}
