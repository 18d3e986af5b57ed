#pragma once
// The train stage: data from a feature file (or LIBSVM text), an optional grid search with
// stratified k-fold cross-validation whose (parameter, fold) jobs are spread over the ranks, and
// the final model trained with the best parameters and written by rank 0 (HDF5 model file, or
// LIBSVM's text format). Without --cascade every rank holds the whole training set (the grid's
// jobs need all of it) and rank 0 trains; with --cascade each rank holds only its share of the
// rows and the ranks train together. --cascade with a grid: the grid search as without it
// (every rank holds every row), then the final model by the cascade on the same shares.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/cascade_train.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/features/acquisition_shift.hpp"
#include "sarscale/svm/train.hpp"

namespace sarscale::dist {

// A grid: every combination of the C and gamma values (gamma 0 = 1/features).
struct Grid {
  std::vector<double> C;
  std::vector<double> gamma;
  // "C=1,10,100 gamma=auto,0.01" (values: numbers, 2^k, or auto for gamma); ConfigError.
  static Grid parse(const std::string& text);
  bool empty() const { return C.empty() && gamma.empty(); }
};

struct TrainConfig {
  std::filesystem::path features;  // a feature file (sarscale features), or
  std::filesystem::path data;      // LIBSVM/svmlight text
  std::filesystem::path model;     // output
  bool libsvm_model = false;       // write LIBSVM's text format instead of the HDF5 model file
  svm::TrainParams params;
  Grid grid;  // empty: no search, params as given
  int folds = 5;
  // Grid search: every rank computes the rows' Gram matrix once and its (point, fold) jobs look
  // their kernel values up in it, when n^2 doubles fit in this budget (0: never).
  std::size_t gram_bytes = std::size_t{512} << 20;
  std::uint64_t seed = 1;
  bool balanced = false;  // class weights n / (k n_c)
  // Rows spread over the ranks (each reads only its share of a feature file); one-vs-one
  // machines gathered to one rank when small, cascaded when large (dist/cascade_train.hpp).
  bool cascade = false;
  CascadeTrainOptions cascade_options;
  // Incremental training: a previous model file. Its support vectors join the new rows and every
  // machine starts from their alphas (svm::WarmStart); kernel, gamma and class weights are the
  // model's, C too unless C_given. New rows must have the model's features: a feature file with
  // its fingerprint, or a chip archive, whose features are then computed with the model's chain
  // and PCA into MODEL.features.h5 beside the output. New rows equal to an old support vector
  // of the same class are dropped (a duplicate would weigh twice).
  // Rows of the old training set that were not support vectors can become ones with the new
  // rows; when the old training data are at hand (previous_data, else the path the model
  // records, if it still holds the same features) they are re-checked against the new model
  // and the violators join, warm, until none remains (the Cascade SVM's feedback): the result
  // is then the full retrain's optimum. Without them the result is approximate (reported).
  std::filesystem::path warm_start;
  std::filesystem::path previous_data;
  bool C_given = true;
  std::string command_line;
  // Every option value (key=value), for the key under which a finished HDF5 model is recognised:
  // a rerun with the same inputs (paths, sizes, modification times) and options leaves the model
  // as it is, unless fresh.
  std::vector<std::string> parameters;
  bool fresh = false;
  // The output policy (io/output_policy.hpp), checked before any work: the model is never one of
  // the inputs, its folder must exist and be writable, and an existing file that is not a model
  // of the same format (HDF5 or LIBSVM text) is refused unless overwrite.
  bool overwrite = false;
  // Acquisition-shift validation of the grid search (features/acquisition_shift.hpp): each
  // validation fold's chips perturbed as a new acquisition would be (spec, seeded by slot)
  // before their features are computed, from the archive the feature file records with the
  // file's chain and standardisation/PCA, and scored by the fold's model beside the clean CV.
  // "none" turns it off. It needs the chips: for LIBSVM text, a feature file that does not
  // record its archive, or an archive changed since, it is skipped with a warning, or refused
  // (ConfigError) when required (asked for explicitly, or selected by).
  std::string shift_validation = features::kDefaultAcquisitionShift;
  std::uint64_t shift_seed = 1;
  bool shift_validation_required = false;
  // Which accuracy chooses the grid point: the CV accuracy, or the shifted one (ties: the other
  // accuracy, then the first point in grid order).
  enum class SelectBy { cv, shifted };
  SelectBy select_by = SelectBy::cv;
};

struct GridPoint {
  double C = 0, gamma = 0;
  double cv_accuracy = 0;
  double shifted_accuracy = -1;  // acquisition-shift validation (-1: not run)
  double seconds = 0;            // summed over its folds
};

struct TrainSummary {
  std::int64_t rows = 0;
  int dim = 0;
  int classes = 0;
  std::vector<GridPoint> grid;
  double best_C = 0, best_gamma = 0, best_cv_accuracy = -1;
  // Augmented feature files: their rows all train, but cross-validation folds are drawn over the
  // slots' rows (each copy follows its source's fold) and scores only those, cv_rows of them.
  std::string augment;             // the file's augmentation spec ("" = none)
  std::int64_t augmented_rows = 0;  // training rows that are augmented copies (of rows)
  std::int64_t cv_rows = 0;         // rows the CV accuracy is over
  // Acquisition-shift validation (TrainConfig::shift_validation), over the same cv_rows: the
  // canonical spec ("" when not run), seed, shifted feature file, the scored rows whose
  // perturbed chip gave no usable features (counted as errors), and the chosen point's figures.
  std::string shift_validation;
  std::uint64_t shift_seed = 0;
  std::string shift_features;
  std::int64_t shift_unusable = 0;
  std::string select_by = "cv";
  double best_shifted_accuracy = -1;
  double shift_seconds = 0;  // computing the shifted rows (once, before the grid search)
  std::int64_t speckle_redrawn = -1;  // chips whose speckle was re-drawn (-1: not known, the rows were reused)
  svm::TrainReport report;        // of the final model (single-node training)
  std::vector<PairReport> pairs;  // of the final model (--cascade)
  double cv_seconds = 0, train_seconds = 0, seconds = 0;
  std::int64_t warm_support_vectors = -1;  // old support vectors used (-1: no warm start)
  std::int64_t warm_duplicates = 0;       // new rows dropped as copies of an old support vector
  std::string previous_data;              // old training data re-checked ("" when unavailable)
  std::int64_t previous_rows = 0;         // its rows outside the training set
  std::vector<std::int64_t> feedback_violators;  // per feedback pass: old rows that joined
  std::vector<std::int64_t> peak_rss_mb;  // per rank: peak resident memory of the process (MiB)
  std::filesystem::path model;
  bool up_to_date = false;  // the model was already trained from the same inputs and options

  json::Value to_json() const;
  std::string table() const;  // readable CV table and the chosen values
};

// Collective. ConfigError for bad options, InputError for unusable data.
TrainSummary run_train(const Comm& comm, const TrainConfig& config);

}  // namespace sarscale::dist
