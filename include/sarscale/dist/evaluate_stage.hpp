#pragma once
// The evaluate stage: a model applied to a test archive, with a report of how well it does.
//  1. the test chips' features are computed with the model's own chain and fitted PCA (stored in
//     the model file), unless a matching feature file is already there (same fingerprint);
//  2. every rank predicts its share of the rows (OpenMP inside), rank 0 gathers them;
//  3. test labels are matched to the model's classes by name; rows the model cannot judge (no
//     label, a class the model does not know, flagged chips, invalid slots) are counted in the
//     report, never dropped silently;
//  4. rank 0 writes DIR/report.json, DIR/report.md, DIR/predictions.csv and DIR/confusion.png.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/metrics.hpp"

namespace sarscale::dist {

struct EvaluateConfig {
  std::filesystem::path archive;   // chip archive (features computed into the report directory), or
  std::filesystem::path features;  // a feature file computed with the model's chain
  std::filesystem::path model;
  std::filesystem::path report_dir;
  int threads = 0;
  bool fresh = false;  // recompute REPORT/features.h5 even when it holds this archive's features
  bool overwrite = false;  // the output policy (io/output_policy.hpp): replace a folder of other files
  std::string command_line;
};

struct EvaluateSummary {
  svm::Metrics metrics;
  std::int64_t rows = 0;                                      // archive slots
  std::int64_t evaluated = 0;                                 // rows with a known class and usable features
  std::int64_t flagged = 0;                                   // unusable chips
  std::int64_t invalid_slots = 0;                             // slots the ingest marked invalid
  std::int64_t unlabelled = 0;                                // no class label
  std::int64_t unknown_class = 0;                             // a class the model was not trained on
  std::vector<std::pair<std::string, double>> stage_seconds;  // features, predict, report
  std::filesystem::path report_json;

  json::Value to_json() const;
};

// Collective. ConfigError for bad options or a feature file computed differently from the
// model's chain, InputError for unreadable inputs.
EvaluateSummary run_evaluate(const Comm& comm, const EvaluateConfig& config);

// Collective: the archive's features computed with the model's chain and PCA into `output`, or
// `output` as it is when it already holds them for this very archive (same path, size and
// modification time, as `features` decides for a rerun) unless `fresh`. Returns output.
std::filesystem::path features_for_model(const Comm& comm, const io::ModelFile& model,
                                         const std::filesystem::path& model_path, const std::filesystem::path& archive,
                                         const std::filesystem::path& output, int threads,
                                         const std::string& command_line, bool fresh = false);

}  // namespace sarscale::dist
