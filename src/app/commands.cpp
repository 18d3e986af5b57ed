#include "sarscale/app/commands.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"synth", "generate synthetic MSTAR-like chips or a large SAR scene", cmd_synth},
      {"ingest", "read SAR files (Phoenix, GDAL formats) into one parallel HDF5 archive", cmd_ingest},
      {"features", "compute preprocessing + feature blocks (HOG, Gabor, ...) and PCA for an archive", cmd_features},
      {"train", "train a multi-class SVM (LIBSVM-exact SMO) on features or LIBSVM data, with a CV grid search", cmd_train},
      {"pipeline", "ingest, features, train and evaluate in one job, reusing stages that are up to date", cmd_pipeline},
      {"evaluate", "apply a model to a test archive: accuracy, precision, recall, F1, confusion matrix", cmd_evaluate},
      {"predict", "apply a model to LIBSVM/svmlight data (svm-predict's output)", cmd_predict},
      {"info", "summarise an archive: chips, classes, sources, rejects, provenance", cmd_info},
      {"convert", "export Phoenix files or archive chips as PNG or GeoTIFF", cmd_convert},
      {"version", "print the versions of sarscale, MPI, HDF5 and GDAL", cmd_version},
  };
  return table;
}

namespace {
void print_usage(std::ostream& os) {
  os << "Usage: sarscale <command> [options]   (under mpirun -np N for N ranks)\n\nCommands:\n";
  for (const auto& c : commands())
    os << "  " << c.name << std::string(10 - std::strlen(c.name), ' ') << c.summary << "\n";
  os << "\nRun 'sarscale <command> --help' for a command's options; 'sarscale --version' for versions.\n";
}
}  // namespace

namespace {

// OpenMP threads per rank: OMP_NUM_THREADS when set (Slurm's job scripts set it from
// --cpus-per-task); otherwise this node's cores divided among the ranks sharing the node, so
// that `mpirun -np N` on a workstation does not oversubscribe it N times over.
void set_default_threads(const dist::Comm& comm) {
  const char* env = std::getenv("OMP_NUM_THREADS");
  if (env && *env) {
    // omp_get_num_procs() counts the cores this process may run on: a launcher that binds each
    // rank to one core (Open MPI's default for small runs) makes extra threads share it.
    if (omp_get_max_threads() > omp_get_num_procs() && comm.is_root())
      log::warn("OMP_NUM_THREADS=", env, " but this rank may only run on ", omp_get_num_procs(),
                " core(s): the threads will share them (launch with mpirun --bind-to none, or --map-by slot:PE=",
                omp_get_max_threads(), "; srun --cpus-per-task)");
    return;
  }
  MPI_Comm node = MPI_COMM_NULL;
  dist::Comm::check(MPI_Comm_split_type(comm.raw(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
                    "MPI_Comm_split_type");
  int local = 1;
  MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  omp_set_num_threads(std::max(1, omp_get_num_procs() / local));
}

}  // namespace

int run(const dist::Comm& comm, int argc, char** argv) {
  log::set_rank(comm.rank(), comm.size());
  set_default_threads(comm);
  const bool root = comm.is_root();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    if (root) print_usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    if (root) std::cout << version_text() << std::flush;
    return 0;
  }
  CommandLine cl{argv[1], std::vector<std::string>(argv + 2, argv + argc), root};
  for (const auto& c : commands()) {
    if (cl.command != c.name) continue;
    try {
      return c.run(comm, cl);
    } catch (const ConfigError& e) {
      // Options are parsed identically on every rank, so every rank gets here: no abort needed.
      if (root) std::cerr << "sarscale " << cl.command << ": error: " << e.what() << "\n";
      return 2;
    } catch (const StrictRejectError& e) {
      if (root) std::cerr << "sarscale " << cl.command << ": error: " << e.what() << "\n";
      return 1;
    } catch (const io::OutputInUseError& e) {  // raised on every rank together (dist/output_guard.hpp)
      if (root) std::cerr << "sarscale " << cl.command << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  if (root) {
    std::cerr << "sarscale: unknown command '" << cl.command << "'\n\n";
    print_usage(std::cerr);
  }
  return 2;
}

}  // namespace sarscale::app
