#include "sarscale/app/commands.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"synth", "generate synthetic MSTAR-like chips or a large SAR scene", synth_options, cmd_synth},
      {"ingest", "read SAR files (Phoenix, GDAL formats) into one parallel HDF5 archive", ingest_options, cmd_ingest},
      {"features", "compute feature vectors (preprocessing, HOG, Gabor, ..., optional PCA) for an archive's chips",
       features_options, cmd_features},
      {"train", "train a multi-class SVM (LIBSVM-exact SMO, grid search, cascade over ranks) on features or LIBSVM data",
       train_options, cmd_train},
      {"pipeline", "ingest, features, train and evaluate in one job, reusing stages that are up to date",
       pipeline_options, cmd_pipeline},
      {"evaluate", "apply a model to a test archive (or its features): accuracy, F1, confusion matrix, report",
       evaluate_options, cmd_evaluate},
      {"predict", "apply a model to a chip archive, a scene (GeoTIFF class map) or LIBSVM/svmlight data",
       predict_options, cmd_predict},
      {"detect", "find and classify targets in whole scenes: CFAR, clutter discrimination, classification; GeoJSON",
       detect_options, cmd_detect},
      {"cut", "cut training chips (targets and clutter) from scenes with ground truth into a chip archive",
       cut_options, cmd_cut},
      {"info", "summarise an archive, a feature file or a model file", info_options, cmd_info},
      {"convert", "export archive chips, Phoenix files or rasters (scenes) as PNG or GeoTIFF", convert_options,
       cmd_convert},
      {"version", "print the versions of sarscale, MPI, HDF5 and GDAL", version_options, cmd_version},
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
    } catch (const std::exception& e) {
      // Raised on every rank together: by the failure agreement (Comm::agree), by option parsing
      // (identical on every rank) or by --strict. Rank 0 reports it, every rank ends cleanly.
      // Anything else was raised on this rank alone: `main` ends the job with its message.
      const FailedOnEveryRank* agreed = failed_on_every_rank(e);
      const bool everywhere = agreed || comm.size() == 1 || dynamic_cast<const ConfigError*>(&e) ||
                              dynamic_cast<const StrictRejectError*>(&e);
      if (!everywhere) throw;
      if (root) {
        std::cerr << "sarscale " << cl.command << ": error";
        if (agreed && comm.size() > 1 && agreed->failed_rank() != 0)
          std::cerr << " on rank " << agreed->failed_rank() << " of " << comm.size();
        std::cerr << ": " << e.what() << std::endl;
      }
      return exit_status_of(e);
    }
  }
  if (root) {
    std::cerr << "sarscale: unknown command '" << cl.command << "'\n\n";
    print_usage(std::cerr);
  }
  return 2;
}

}  // namespace sarscale::app
