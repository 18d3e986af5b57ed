#pragma once
// `predict` on a chip archive: the model's own chain and PCA applied to the archive's chips
// (features cached in OUT/features.h5), every rank predicting its share, rank 0 writing
// OUT/predictions.csv (one line per chip: source, window, predicted class, probability, status)
// and OUT/predictions.h5 (predicted class index, decision values per one-vs-one machine,
// probabilities when the model has them, flags; class names).
#include <cstdint>
#include <filesystem>
#include <string>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

struct PredictConfig {
  std::filesystem::path archive;
  std::filesystem::path model;
  std::filesystem::path output_dir;
  int threads = 0;
  bool fresh = false;  // recompute OUT/features.h5 even when it holds this archive's features
  bool overwrite = false;  // the output policy (io/output_policy.hpp): replace a folder of other files
  std::string command_line;
};

struct PredictSummary {
  std::int64_t rows = 0, predicted = 0, flagged = 0, invalid_slots = 0;
  bool probabilities = false;
  double seconds = 0;
  std::filesystem::path csv, h5;
  json::Value to_json() const;
};

// Collective. ConfigError for bad options or a model without a feature chain.
PredictSummary run_predict_archive(const Comm& comm, const PredictConfig& config);

}  // namespace sarscale::dist
