#pragma once
// The sub-command table of the `sarscale` binary and its dispatcher.
#include <string>
#include <vector>

#include "sarscale/app/options.hpp"
#include "sarscale/dist/comm.hpp"

namespace sarscale::app {

struct Command {
  const char* name;
  const char* summary;                    // its line in `sarscale --help`
  po::options_description (*options)();  // its own options (--help, --config, --log-level come on top)
  int (*run)(const dist::Comm& comm, const CommandLine& cl);  // returns the exit status
};

const std::vector<Command>& commands();

// Runs `sarscale <command> ...`: parses, runs, reports errors on stderr. Exit statuses:
// 0 success, 1 the work failed (bad input under --strict, I/O error), 2 usage error.
int run(const dist::Comm& comm, int argc, char** argv);

// The sub-commands (one file each) and their options.
po::options_description version_options();
po::options_description synth_options();
po::options_description cut_options();
po::options_description ingest_options();
po::options_description info_options();
po::options_description convert_options();
po::options_description features_options();
po::options_description train_options();
po::options_description predict_options();
po::options_description detect_options();
po::options_description evaluate_options();
po::options_description pipeline_options();
int cmd_version(const dist::Comm& comm, const CommandLine& cl);
int cmd_synth(const dist::Comm& comm, const CommandLine& cl);
int cmd_cut(const dist::Comm& comm, const CommandLine& cl);
int cmd_ingest(const dist::Comm& comm, const CommandLine& cl);
int cmd_info(const dist::Comm& comm, const CommandLine& cl);
int cmd_convert(const dist::Comm& comm, const CommandLine& cl);
int cmd_features(const dist::Comm& comm, const CommandLine& cl);
int cmd_train(const dist::Comm& comm, const CommandLine& cl);
int cmd_predict(const dist::Comm& comm, const CommandLine& cl);
int cmd_detect(const dist::Comm& comm, const CommandLine& cl);
int cmd_evaluate(const dist::Comm& comm, const CommandLine& cl);
int cmd_pipeline(const dist::Comm& comm, const CommandLine& cl);

// `sarscale info` on a feature file (text or one JSON object on rank 0).
int info_features(const dist::Comm& comm, const std::string& path, bool as_json);
// `sarscale info` on a model file (text or one JSON object on rank 0).
int info_model(const dist::Comm& comm, const std::string& path, bool as_json);

// Text for `sarscale --version`: sarscale, MPI, HDF5 and GDAL versions in use.
std::string version_text();

}  // namespace sarscale::app
