// Multi-class training as LIBSVM's svm_train (C-SVC), probability estimates as its
// svm_binary_svc_probability + sigmoid_train, and stratified cross-validation.
#include "sarscale/svm/train.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <random>

#include "sarscale/core/error.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::svm {

namespace {

// LIBSVM's svm_group_classes: labels in order of first appearance (a -1/+1 problem starting
// with -1 is swapped), and the rows regrouped class by class (perm), keeping their order.
struct Groups {
  std::vector<std::int32_t> label;
  std::vector<std::int64_t> start, count;
  std::vector<std::int64_t> perm;
};

Groups group_classes(const std::vector<std::int32_t>& labels) {
  Groups g;
  std::vector<int> data_label(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    std::size_t j = 0;
    while (j < g.label.size() && g.label[j] != labels[i]) ++j;
    if (j == g.label.size()) {
      g.label.push_back(labels[i]);
      g.count.push_back(0);
    }
    ++g.count[j];
    data_label[i] = static_cast<int>(j);
  }
  if (g.label.size() == 2 && g.label[0] == -1 && g.label[1] == 1) {
    std::swap(g.label[0], g.label[1]);
    std::swap(g.count[0], g.count[1]);
    for (auto& d : data_label) d = 1 - d;
  }
  const std::size_t k = g.label.size();
  g.start.assign(k, 0);
  for (std::size_t c = 1; c < k; ++c) g.start[c] = g.start[c - 1] + g.count[c - 1];
  std::vector<std::int64_t> next = g.start;
  g.perm.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i)
    g.perm[static_cast<std::size_t>(next[static_cast<std::size_t>(data_label[i])]++)] = static_cast<std::int64_t>(i);
  return g;
}

// The previous model's alphas (WarmStart) looked up per training row and pair of class labels.
class WarmAlphas {
 public:
  WarmAlphas(const WarmStart& w, std::int64_t rows) : w_(w), sv_of_(w.empty() ? 0 : static_cast<std::size_t>(rows), -1) {
    const std::size_t k = w.labels.size();
    if (w.empty()) return;
    if (k < 2 || w.coef.size() != (k - 1) * w.rows.size())
      throw ConfigError("warm start: the previous model's coefficients are not (classes - 1) x support vectors");
    for (std::size_t s = 0; s < w.rows.size(); ++s) {
      const std::int64_t r = w.rows[s];
      if (r < 0 || r >= rows) throw ConfigError("warm start: a support vector's row is outside the training data");
      sv_of_[static_cast<std::size_t>(r)] = static_cast<std::int64_t>(s);
    }
  }
  // Both classes were in the previous model.
  bool covers(std::int32_t a, std::int32_t b) const { return !w_.empty() && position(a) >= 0 && position(b) >= 0; }
  // Alpha of `row` (class `own`) in the previous model's machine between `own` and `other`.
  double alpha(std::int64_t row, std::int32_t own, std::int32_t other) const {
    const std::int64_t s = sv_of_[static_cast<std::size_t>(row)];
    if (s < 0) return 0.0;
    const auto a = static_cast<std::size_t>(position(own)), b = static_cast<std::size_t>(position(other));
    // LIBSVM: in machine (i, j), i < j, an SV of class i has coefficient sv_coef[j-1], one of class j sv_coef[i].
    const std::size_t coef_row = a < b ? b - 1 : b;
    return std::abs(w_.coef[coef_row * w_.rows.size() + static_cast<std::size_t>(s)]);
  }

 private:
  int position(std::int32_t label) const {
    const auto it = std::find(w_.labels.begin(), w_.labels.end(), label);
    return it == w_.labels.end() ? -1 : static_cast<int>(it - w_.labels.begin());
  }
  const WarmStart& w_;
  std::vector<std::int64_t> sv_of_;
};

// A binary problem on selected rows: x copied contiguously, y and C per row.
struct Binary {
  std::vector<double> x;
  std::vector<signed char> y;
  std::vector<double> C;
  std::vector<double> alpha0;  // warm start (empty: all zero)
  std::vector<std::int64_t> gram_rows;  // with TrainParams::gram: each row's Gram row
};

BinarySolution solve(const Binary& b, int dim, const TrainParams& params, int threads) {
  BinaryProblem p;
  p.x = b.x.data();
  p.n = static_cast<std::int64_t>(b.y.size());
  p.dim = dim;
  p.y = b.y;
  p.C = b.C;
  p.kernel = params.kernel;
  p.initial_alpha = b.alpha0;
  p.gram = params.gram;
  p.gram_rows = b.gram_rows;
  SolverOptions o = params.solver;
  o.threads = threads;
  return solve_c_svc(p, o);
}

// The support vectors of one binary solution with their coefficients and squared norms,
// gathered once, for the decision values of the internal cross-validation.
struct SupportSet {
  std::vector<const double*> x;
  std::vector<double> coef, norm;
  double rho = 0;
};

SupportSet support_set(const Binary& b, const BinarySolution& s, int dim) {
  SupportSet out;
  out.rho = s.rho;
  for (std::size_t i = 0; i < b.y.size(); ++i) {
    if (s.alpha[i] == 0) continue;
    const double* xi = b.x.data() + i * static_cast<std::size_t>(dim);
    out.x.push_back(xi);
    out.coef.push_back(s.alpha[i] * b.y[i]);
    out.norm.push_back(dot(xi, xi, dim));
  }
  return out;
}

// sum alpha y K - rho at row `r`.
double decision(const SupportSet& sv, int dim, const KernelParams& k, const double* r) {
  const double rr = dot(r, r, dim);
  double sum = 0;
  for (std::size_t i = 0; i < sv.x.size(); ++i) sum += sv.coef[i] * kernel_value(k, sv.x[i], r, dim, sv.norm[i], rr);
  return sum - sv.rho;
}

// Platt's sigmoid fit with Lin, Lin & Weng's Newton method (LIBSVM's sigmoid_train).
void sigmoid_train(const std::vector<double>& dec, const std::vector<signed char>& y, double& a, double& b) {
  const std::size_t l = dec.size();
  double prior1 = 0, prior0 = 0;
  for (const auto v : y) (v > 0 ? prior1 : prior0) += 1;
  const int max_iter = 100;
  const double min_step = 1e-10, sigma = 1e-12, eps = 1e-5;
  const double hi = (prior1 + 1.0) / (prior1 + 2.0), lo = 1 / (prior0 + 2.0);
  std::vector<double> t(l);
  a = 0.0;
  b = std::log((prior0 + 1.0) / (prior1 + 1.0));
  const auto f = [&](double aa, double bb) {
    double v = 0;
    for (std::size_t i = 0; i < l; ++i) {
      const double fapb = dec[i] * aa + bb;
      v += fapb >= 0 ? t[i] * fapb + std::log(1 + std::exp(-fapb)) : (t[i] - 1) * fapb + std::log(1 + std::exp(fapb));
    }
    return v;
  };
  for (std::size_t i = 0; i < l; ++i) t[i] = y[i] > 0 ? hi : lo;
  double fval = f(a, b);
  for (int iter = 0; iter < max_iter; ++iter) {
    double h11 = sigma, h22 = sigma, h21 = 0, g1 = 0, g2 = 0;
    for (std::size_t i = 0; i < l; ++i) {
      const double fapb = dec[i] * a + b;
      double p, q;
      if (fapb >= 0) {
        p = std::exp(-fapb) / (1.0 + std::exp(-fapb));
        q = 1.0 / (1.0 + std::exp(-fapb));
      } else {
        p = 1.0 / (1.0 + std::exp(fapb));
        q = std::exp(fapb) / (1.0 + std::exp(fapb));
      }
      const double d2 = p * q;
      h11 += dec[i] * dec[i] * d2;
      h22 += d2;
      h21 += dec[i] * d2;
      const double d1 = t[i] - p;
      g1 += dec[i] * d1;
      g2 += d1;
    }
    if (std::fabs(g1) < eps && std::fabs(g2) < eps) break;
    const double det = h11 * h22 - h21 * h21;
    const double da = -(h22 * g1 - h21 * g2) / det, db = -(-h21 * g1 + h11 * g2) / det;
    const double gd = g1 * da + g2 * db;
    double step = 1;
    while (step >= min_step) {
      const double na = a + step * da, nb = b + step * db, nf = f(na, nb);
      if (nf < fval + 0.0001 * step * gd) {
        a = na;
        b = nb;
        fval = nf;
        break;
      }
      step /= 2.0;
    }
    if (step < min_step) break;  // line search failed: keep the last point, as LIBSVM
  }
}

// LIBSVM's svm_binary_svc_probability: decision values from a 5-fold CV of the binary problem
// (rows shuffled with a seeded generator instead of rand()), then the sigmoid fit.
void binary_probability(const Binary& b, int dim, const TrainParams& params, int threads, std::uint64_t seed,
                        double& prob_a, double& prob_b) {
  const std::size_t l = b.y.size();
  constexpr int kFolds = 5;
  std::vector<std::size_t> perm(l);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i + 1 < l; ++i)
    std::swap(perm[i], perm[i + std::uniform_int_distribution<std::size_t>(0, l - 1 - i)(rng)]);
  std::vector<double> dec(l, 0.0);
  for (int f = 0; f < kFolds; ++f) {
    const std::size_t begin = f * l / kFolds, end = (f + 1) * l / kFolds;
    Binary sub;
    for (std::size_t j = 0; j < l; ++j) {
      if (j >= begin && j < end) continue;
      const std::size_t r = perm[j];
      sub.x.insert(sub.x.end(), b.x.begin() + static_cast<std::ptrdiff_t>(r * dim),
                   b.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * dim));
      sub.y.push_back(b.y[r]);
      sub.C.push_back(b.C[r]);
      if (!b.gram_rows.empty()) sub.gram_rows.push_back(b.gram_rows[r]);
    }
    const auto pos = std::count(sub.y.begin(), sub.y.end(), 1), neg = std::count(sub.y.begin(), sub.y.end(), -1);
    if (pos == 0 || neg == 0) {
      for (std::size_t j = begin; j < end; ++j) dec[perm[j]] = pos == 0 && neg == 0 ? 0 : pos > 0 ? 1 : -1;
      continue;
    }
    const SupportSet sv = support_set(sub, solve(sub, dim, params, threads), dim);
    for (std::size_t j = begin; j < end; ++j)
      dec[perm[j]] = decision(sv, dim, params.kernel, b.x.data() + perm[j] * static_cast<std::size_t>(dim));
  }
  sigmoid_train(dec, b.y, prob_a, prob_b);
}

}  // namespace

SvmModel train(const Dataset& data, const TrainParams& params, TrainReport* report) {
  const auto t0 = std::chrono::steady_clock::now();
  data.check();
  if (!(params.C > 0) || !std::isfinite(params.C)) throw ConfigError("C must be positive");
  if (!params.sample_weights.empty() && params.sample_weights.size() != data.labels.size())
    throw ConfigError("sample weights: one per row is needed");
  for (const auto w : params.sample_weights)
    if (!(w > 0) || !std::isfinite(w)) throw ConfigError("sample weights must be positive");
  for (const auto& [label, w] : params.class_weights)
    if (!(w > 0) || !std::isfinite(w))
      throw ConfigError("class weight of " + std::to_string(label) + " must be positive");
  for (const double v : data.x)
    if (!std::isfinite(v)) throw InputError("training data contain NaN or infinite features");
  if (params.gram && params.gram_rows.size() != data.labels.size())
    throw ConfigError("Gram matrix: one Gram row per training row is needed");

  SvmModel model;
  model.kernel = params.kernel;
  if (model.kernel.gamma == 0 && data.dim > 0) model.kernel.gamma = 1.0 / data.dim;
  validate(model.kernel);
  model.dim = data.dim;
  TrainParams p = params;
  p.kernel = model.kernel;

  const Groups g = group_classes(data.labels);
  const int k = static_cast<int>(g.label.size());
  if (k < 2) throw InputError("training needs at least two classes, the data hold " + std::to_string(k));
  model.labels = g.label;
  std::vector<double> weighted_c(static_cast<std::size_t>(k), params.C);
  for (int c = 0; c < k; ++c) {
    const auto it = params.class_weights.find(g.label[static_cast<std::size_t>(c)]);
    if (it != params.class_weights.end()) weighted_c[static_cast<std::size_t>(c)] *= it->second;
  }

  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j) pairs.emplace_back(i, j);
  const std::size_t npairs = pairs.size();
  std::vector<BinarySolution> sol(npairs);
  std::vector<double> prob_a(npairs), prob_b(npairs), secs(npairs);
  const WarmAlphas warm(params.warm_start, data.rows);
  const auto make_binary = [&](int i, int j) {
    Binary b;
    const bool warm_pair = warm.covers(g.label[static_cast<std::size_t>(i)], g.label[static_cast<std::size_t>(j)]);
    for (const int c : {i, j})
      for (std::int64_t r = 0; r < g.count[static_cast<std::size_t>(c)]; ++r) {
        const std::int64_t row = g.perm[static_cast<std::size_t>(g.start[static_cast<std::size_t>(c)] + r)];
        // With a Gram matrix the solver needs no rows (support vectors come from `data`); the
        // probability fit's decision values still do.
        if (!params.gram || params.probability) b.x.insert(b.x.end(), data.row(row), data.row(row) + data.dim);
        b.y.push_back(c == i ? 1 : -1);
        if (params.gram) b.gram_rows.push_back(params.gram_rows[static_cast<std::size_t>(row)]);
        const double w = params.sample_weights.empty() ? 1.0 : params.sample_weights[static_cast<std::size_t>(row)];
        b.C.push_back(weighted_c[static_cast<std::size_t>(c)] * w);
        if (warm_pair)
          b.alpha0.push_back(warm.alpha(row, g.label[static_cast<std::size_t>(c)],
                                        g.label[static_cast<std::size_t>(c == i ? j : i)]));
      }
    return b;
  };
  // Many small machines: one per thread. Few large ones: one at a time, threads inside the
  // kernel columns. Either way each machine's result is the same (the solver is deterministic).
  const int threads = params.solver.threads > 0 ? params.solver.threads : omp_get_max_threads();
  const double avg_rows = static_cast<double>(data.rows) * 2.0 / k;
  const bool across = npairs > 1 && avg_rows * data.dim < 4e6;
  std::exception_ptr error;
  const auto run_pair = [&](std::size_t q, int inner_threads) {
    const auto t = std::chrono::steady_clock::now();
    const Binary b = make_binary(pairs[q].first, pairs[q].second);
    if (params.probability) binary_probability(b, data.dim, p, inner_threads, params.seed + q, prob_a[q], prob_b[q]);
    sol[q] = solve(b, data.dim, p, inner_threads);
    secs[q] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (across) {
    // Threads: the solver option (default OMP_NUM_THREADS); errors carried out of the region.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (std::size_t q = 0; q < npairs; ++q) {
      try {
        run_pair(q, 1);
      } catch (...) {
#pragma omp critical(sarscale_svm_train_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
  } else {
    for (std::size_t q = 0; q < npairs; ++q) run_pair(q, threads);
  }

  // Support vectors: rows with a nonzero alpha in any machine, grouped by class (LIBSVM's layout).
  std::vector<char> nonzero(static_cast<std::size_t>(data.rows), 0);
  for (std::size_t q = 0; q < npairs; ++q) {
    const auto [i, j] = pairs[q];
    const auto ci = g.count[static_cast<std::size_t>(i)];
    for (std::int64_t r = 0; r < ci; ++r)
      if (sol[q].alpha[static_cast<std::size_t>(r)] > 0)
        nonzero[static_cast<std::size_t>(g.start[static_cast<std::size_t>(i)] + r)] = 1;
    for (std::int64_t r = 0; r < g.count[static_cast<std::size_t>(j)]; ++r)
      if (sol[q].alpha[static_cast<std::size_t>(ci + r)] > 0)
        nonzero[static_cast<std::size_t>(g.start[static_cast<std::size_t>(j)] + r)] = 1;
  }
  std::vector<std::int64_t> nz_start(static_cast<std::size_t>(k), 0);
  model.sv_count.assign(static_cast<std::size_t>(k), 0);
  for (int c = 0; c < k; ++c)
    for (std::int64_t r = 0; r < g.count[static_cast<std::size_t>(c)]; ++r)
      model.sv_count[static_cast<std::size_t>(c)] +=
          nonzero[static_cast<std::size_t>(g.start[static_cast<std::size_t>(c)] + r)];
  for (int c = 1; c < k; ++c)
    nz_start[static_cast<std::size_t>(c)] =
        nz_start[static_cast<std::size_t>(c - 1)] + model.sv_count[static_cast<std::size_t>(c - 1)];
  const std::int64_t total = nz_start.back() + model.sv_count.back();
  for (std::int64_t r = 0; r < data.rows; ++r)
    if (nonzero[static_cast<std::size_t>(r)]) {
      const std::int64_t row = g.perm[static_cast<std::size_t>(r)];
      model.support_vectors.insert(model.support_vectors.end(), data.row(row), data.row(row) + data.dim);
      model.sv_indices.push_back(row);
    }
  model.sv_coef.assign(static_cast<std::size_t>(k - 1) * static_cast<std::size_t>(total), 0.0);
  for (std::size_t q = 0; q < npairs; ++q) {
    const auto [i, j] = pairs[q];
    const auto si = g.start[static_cast<std::size_t>(i)], sj = g.start[static_cast<std::size_t>(j)];
    const auto ci = g.count[static_cast<std::size_t>(i)], cj = g.count[static_cast<std::size_t>(j)];
    std::int64_t at = nz_start[static_cast<std::size_t>(i)];
    for (std::int64_t r = 0; r < ci; ++r)
      if (nonzero[static_cast<std::size_t>(si + r)])
        model.sv_coef[static_cast<std::size_t>((j - 1) * total + at++)] = sol[q].alpha[static_cast<std::size_t>(r)];
    at = nz_start[static_cast<std::size_t>(j)];
    for (std::int64_t r = 0; r < cj; ++r)
      if (nonzero[static_cast<std::size_t>(sj + r)])
        model.sv_coef[static_cast<std::size_t>(i * total + at++)] = -sol[q].alpha[static_cast<std::size_t>(ci + r)];
    model.rho.push_back(sol[q].rho);
  }
  if (params.probability) {
    model.prob_a = prob_a;
    model.prob_b = prob_b;
  }
  if (report) {
    report->machines.clear();
    for (std::size_t q = 0; q < npairs; ++q) {
      const auto [i, j] = pairs[q];
      report->machines.push_back({g.label[static_cast<std::size_t>(i)], g.label[static_cast<std::size_t>(j)],
                                  g.count[static_cast<std::size_t>(i)] + g.count[static_cast<std::size_t>(j)],
                                  sol[q].iterations, sol[q].objective, sol[q].rho, sol[q].n_sv, sol[q].n_bsv, secs[q]});
    }
    report->total_sv = total;
    report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return model;
}

std::vector<int> stratified_folds(const std::vector<std::int32_t>& labels, int folds, std::uint64_t seed) {
  if (folds < 2) throw ConfigError("cross-validation needs at least 2 folds");
  std::vector<int> fold_of(labels.size(), 0);
  std::vector<std::int32_t> classes(labels);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  std::mt19937_64 rng(seed);
  int next = 0;  // continue dealing where the previous class stopped, so folds stay balanced in size
  for (const auto c : classes) {
    std::vector<std::size_t> rows;
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == c) rows.push_back(i);
    std::shuffle(rows.begin(), rows.end(), rng);
    for (const auto r : rows) {
      fold_of[r] = next;
      next = (next + 1) % folds;
    }
  }
  return fold_of;
}

std::vector<std::int32_t> cross_validate(const Dataset& data, const TrainParams& params,
                                         const std::vector<int>& fold_of) {
  if (fold_of.size() != static_cast<std::size_t>(data.rows)) throw ConfigError("cross_validate: one fold per row");
  const int folds = fold_of.empty() ? 0 : *std::max_element(fold_of.begin(), fold_of.end()) + 1;
  std::vector<std::int32_t> predicted(static_cast<std::size_t>(data.rows), 0);
  for (int f = 0; f < folds; ++f) {
    std::vector<std::int64_t> train_rows, test_rows;
    for (std::int64_t i = 0; i < data.rows; ++i)
      (fold_of[static_cast<std::size_t>(i)] == f ? test_rows : train_rows).push_back(i);
    if (test_rows.empty()) continue;
    TrainParams p = params;
    if (!p.sample_weights.empty()) {
      p.sample_weights.clear();
      for (const auto r : train_rows) p.sample_weights.push_back(params.sample_weights[static_cast<std::size_t>(r)]);
    }
    const SvmModel m = train(data.subset(train_rows), p);
    const Dataset test = data.subset(test_rows);
    const Predictions pr = predict(m, test.x.data(), test.rows, false, params.solver.threads);
    for (std::size_t t = 0; t < test_rows.size(); ++t) predicted[static_cast<std::size_t>(test_rows[t])] = pr.labels[t];
  }
  return predicted;
}

std::vector<std::int64_t> kkt_violators(const SvmModel& model, const Dataset& data, double eps, int threads) {
  data.check();
  if (data.dim != model.dim) throw ConfigError("kkt_violators: the rows do not have the model's features");
  const Predictions p = predict(model, data.x.data(), data.rows, false, threads);
  const int k = model.classes();
  const std::size_t pairs = static_cast<std::size_t>(k) * static_cast<std::size_t>(k - 1) / 2;
  std::vector<std::int64_t> out;
  for (std::int64_t r = 0; r < data.rows; ++r) {
    const auto it = std::find(model.labels.begin(), model.labels.end(), data.labels[static_cast<std::size_t>(r)]);
    const int c = it == model.labels.end() ? -1 : static_cast<int>(it - model.labels.begin());
    bool violates = c < 0;
    const double* dec = p.decision_values.data() + static_cast<std::size_t>(r) * pairs;
    std::size_t q = 0;
    for (int i = 0; i < k && !violates; ++i)
      for (int j = i + 1; j < k; ++j, ++q)
        if ((i == c && dec[q] < 1.0 - eps) || (j == c && -dec[q] < 1.0 - eps)) violates = true;
    if (violates) out.push_back(r);
  }
  return out;
}

}  // namespace sarscale::svm
