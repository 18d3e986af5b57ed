// The only place MPI is initialised and finalised. Everything below receives the
// communicator explicitly.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/hdf5_util.hpp"

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

// SIGINT/SIGTERM (Ctrl-C, mpirun passing on a signal, Slurm's scancel or time limit): say so once
// and end with 128 + the signal's number. Nothing is flushed or closed: outputs keep what their
// last checkpoint recorded, and the same command resumes from there. The messages are composed
// before the handler is installed, since a handler may only call async-signal-safe functions.
char interrupt_message[2][160];
std::size_t interrupt_length[2] = {0, 0};

extern "C" void on_interrupt(int signal_number) {
  const int which = signal_number == SIGINT ? 0 : 1;
  ssize_t ignored = write(STDERR_FILENO, interrupt_message[which], interrupt_length[which]);
  (void)ignored;
  _exit(128 + signal_number);
}

void install_interrupt_handlers(int rank, int size) {
  const std::string who = size > 1 ? "sarscale[" + std::to_string(rank) + "]" : "sarscale";
  const char* names[2] = {"SIGINT", "SIGTERM"};
  for (int i = 0; i < 2; ++i) {
    const std::string text = who + ": interrupted (" + names[i] +
                             "): stopping; outputs keep what their last checkpoint recorded (re-run the same "
                             "command to resume)\n";
    interrupt_length[i] = std::min(text.size(), sizeof interrupt_message[i] - 1);
    text.copy(interrupt_message[i], interrupt_length[i]);
  }
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  prefer_fast_singleton_start();
  // HDF5 first: it then leaves MPI_Finalize alone and is shut down below (io/hdf5_util.hpp).
  sarscale::io::h5::open_library();
  int provided = 0;
  // FUNNELED: OpenMP threads compute, only the main thread calls MPI.
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int status = 1;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  install_interrupt_handlers(rank, size);
  try {
    const sarscale::dist::Comm world(MPI_COMM_WORLD);
    // Errors raised on every rank together are reported by `run`; what arrives here was raised
    // on this rank alone (docs/architecture.md, "MPI").
    status = sarscale::app::run(world, argc, argv);
  } catch (const std::exception& e) {
    status = sarscale::exit_status_of(e);
    std::fprintf(stderr, "sarscale%s: error: %s\n", size > 1 ? ("[" + std::to_string(rank) + "]").c_str() : "",
                 e.what());
    std::fflush(stderr);
    // The other ranks may be waiting in a collective this rank will never reach: the last resort
    // is to take the whole job down (the message above is already out).
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, status);
  } catch (...) {
    std::fprintf(stderr, "sarscale: error: unknown exception\n");
    std::fflush(stderr);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    status = 1;
  }
  // HDF5 is shut down while MPI-IO still works, and not at all after a file failed to close: it
  // would crash in H5F__close_cb (issue 12, item 10).
  sarscale::io::h5::close_library();
  MPI_Finalize();
  return status;
}
