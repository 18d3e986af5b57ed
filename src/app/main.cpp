// The only place MPI is initialised and finalised. Everything below receives the
// communicator explicitly.
#include <mpi.h>

#include <cstdio>
#include <exception>
#include <string>

#include "sarscale/app/commands.hpp"
#include "sarscale/dist/comm.hpp"

int main(int argc, char** argv) {
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
