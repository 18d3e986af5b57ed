#pragma once
// Train's acquisition-shift validation (TrainConfig::shift_validation; private to dist): one
// perturbed feature row per slot of the training feature file. The perturbation depends only on
// (seed, slot), never on the fold, and every slot is in exactly one validation fold, so the
// archive is perturbed and featurised once: by the features stage itself (each rank its block of
// slots, with an acquisition shift, the training file's chain and stored standardisation/PCA:
// the transform that produced its /features), into MODEL_STEM.shifted.features.h5 beside the
// model, which a rerun with the same archive, chain, spec and seed reuses. Every rank then reads
// the rows back, for the grid search's (point, fold) jobs wherever they run.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sarscale/dist/comm.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/svm/model.hpp"

namespace sarscale::dist::detail {

// What the training rows were computed with: their file, chain, standardisation/PCA and slots.
struct TrainingSource {
  std::filesystem::path features;
  std::string chain, fingerprint;
  std::map<std::string, std::vector<double>> pca;
  std::int64_t slots = 0;
  int dim = 0;
};

struct ShiftedRows {
  std::string spec;  // canonical; "" when there is no shifted validation
  std::uint64_t seed = 0;
  std::filesystem::path features;    // the shifted feature file
  int dim = 0;
  std::vector<float> x;              // slots x dim, the shifted row of every slot
  std::vector<std::uint8_t> usable;  // per slot: 1 when its perturbed chip gave features
  FeaturesSummary computed;          // the features stage's summary (speckle counts)
  double seconds = 0;
  bool available() const { return !spec.empty(); }
  const float* row(std::int64_t slot) const { return x.data() + slot * dim; }
};

// The shifted feature file of a model: MODEL_STEM.shifted.features.h5 beside it.
std::filesystem::path shifted_features_path(const std::filesystem::path& model);

// Collective. The shifted rows for `cfg`, or none: when the spec is "none", when there is no grid
// search to validate, or when they cannot be computed faithfully (LIBSVM text data, a feature file
// that does not record its archive, an archive that is gone or changed since): then a warning, or,
// when cfg.shift_validation_required, a ConfigError saying why.
ShiftedRows shifted_rows(const Comm& comm, const TrainConfig& cfg, const TrainingSource& source);

// How many of the validation rows of one fold the fold's model gets right on their shifted rows:
// row k is slot slots[k] of class labels[k]. A slot whose perturbed chip gave no features counts
// as an error (a new acquisition the chain cannot use is not classified).
std::int64_t shifted_correct(const svm::SvmModel& model, const ShiftedRows& shifted,
                             const std::vector<std::int64_t>& slots, const std::vector<std::int32_t>& labels,
                             int threads);

}  // namespace sarscale::dist::detail
