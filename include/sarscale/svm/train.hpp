#pragma once
// Multi-class C-SVC training as LIBSVM's svm_train: classes in order of first appearance
// (except that a -1/+1 problem whose first label is -1 is swapped so +1 comes first), one binary
// machine per pair of classes i < j on the rows of both (class i as +1), with C_i = C x class
// weight x sample weight. Optional Platt-scaled probabilities (LIBSVM's -b 1).
// Plus stratified k-fold cross-validation and a grid search over (C, gamma).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sarscale/svm/dataset.hpp"
#include "sarscale/svm/model.hpp"
#include "sarscale/svm/solver.hpp"

namespace sarscale::svm {

// Incremental training: the support vectors of a previous model, present among the training rows,
// start every machine with the alphas they had in that model (the other rows start at 0), so
// training on old support vectors + new rows continues from the old optimum instead of from
// scratch (the Cascade SVM's argument: rows that were not support vectors rarely become ones).
struct WarmStart {
  std::vector<std::int32_t> labels;  // the previous model's class labels, in its order
  std::vector<std::int64_t> rows;    // the training row holding each of its support vectors
  std::vector<double> coef;          // its sv_coef: (labels.size() - 1) x rows.size(), LIBSVM's layout
  bool empty() const { return rows.empty(); }
};

struct TrainParams {
  KernelParams kernel;  // gamma 0: 1 / dim
  double C = 1.0;
  std::map<std::int32_t, double> class_weights;  // label -> weight (LIBSVM -wLABEL), default 1
  std::vector<double> sample_weights;            // per row (empty: all 1)
  SolverOptions solver;
  bool probability = false;  // LIBSVM -b 1
  std::uint64_t seed = 1;    // for the internal cross-validation of probability estimates
  WarmStart warm_start;      // empty: every machine starts from alpha = 0
  // Optional: the dot products of the rows from a Gram matrix shared by many trainings (a grid
  // search), training row r being gram_rows[r] of it. Same model; kernel columns become look-ups.
  const GramMatrix* gram = nullptr;
  std::vector<std::int64_t> gram_rows;
};

// What each binary machine did (LIBSVM prints the same figures).
struct BinaryReport {
  std::int32_t label_i = 0, label_j = 0;  // class labels (+1 side, -1 side)
  std::int64_t rows = 0;
  std::int64_t iterations = 0;
  double objective = 0, rho = 0;
  std::int64_t n_sv = 0, n_bsv = 0;
  double seconds = 0;
};

struct TrainReport {
  std::vector<BinaryReport> machines;  // in LIBSVM's pair order
  std::int64_t total_sv = 0;
  double seconds = 0;
};

// ConfigError for bad parameters, InputError for data that cannot be trained on (fewer than two
// classes, NaN features).
SvmModel train(const Dataset& data, const TrainParams& params, TrainReport* report = nullptr);

// Rows of `data` that would change `model` if added to its training set: those violating, beyond
// eps, the optimality condition of a row with alpha 0 (y f(x) >= 1) in any one-vs-one machine
// between the row's class and another, and rows of classes the model does not know. Used to
// re-check old rows after incremental training (the Cascade SVM's feedback). Ascending order.
std::vector<std::int64_t> kkt_violators(const SvmModel& model, const Dataset& data, double eps, int threads = 0);

// Fold of each row for stratified k-fold cross-validation: each class's rows are shuffled
// (seeded) and dealt to folds in turn, so every fold holds ~1/k of every class (as LIBSVM's -v).
std::vector<int> stratified_folds(const std::vector<std::int32_t>& labels, int folds, std::uint64_t seed);

// Predicted label of every row, each predicted by the model trained on the other folds.
std::vector<std::int32_t> cross_validate(const Dataset& data, const TrainParams& params,
                                         const std::vector<int>& fold_of);

}  // namespace sarscale::svm
