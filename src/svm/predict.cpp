// Prediction as LIBSVM's svm_predict_values / svm_predict_probability, batched.
#include "sarscale/svm/predict.hpp"

#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <exception>

#include "sarscale/core/error.hpp"

namespace sarscale::svm {

namespace {

using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
constexpr std::int64_t kBlockRows = 64;  // rows per kernel block: 64 x total_sv doubles per thread

double sigmoid_predict(double decision_value, double a, double b) {
  const double fapb = decision_value * a + b;
  // 1 - p is used later: avoid catastrophic cancellation.
  return fapb >= 0 ? std::exp(-fapb) / (1.0 + std::exp(-fapb)) : 1.0 / (1 + std::exp(fapb));
}

// Wu, Lin & Weng (2004) method 2, as LIBSVM's multiclass_probability. r is k x k, row-major.
void multiclass_probability(int k, const std::vector<double>& r, double* p) {
  const int max_iter = std::max(100, k);
  const double eps = 0.005 / k;
  std::vector<double> q(static_cast<std::size_t>(k * k)), qp(static_cast<std::size_t>(k));
  const auto R = [&](int a, int b) { return r[static_cast<std::size_t>(a * k + b)]; };
  const auto Q = [&](int a, int b) -> double& { return q[static_cast<std::size_t>(a * k + b)]; };
  for (int t = 0; t < k; ++t) {
    p[t] = 1.0 / k;
    Q(t, t) = 0;
    for (int j = 0; j < t; ++j) {
      Q(t, t) += R(j, t) * R(j, t);
      Q(t, j) = Q(j, t);
    }
    for (int j = t + 1; j < k; ++j) {
      Q(t, t) += R(j, t) * R(j, t);
      Q(t, j) = -R(j, t) * R(t, j);
    }
  }
  for (int iter = 0; iter < max_iter; ++iter) {
    double pqp = 0;
    for (int t = 0; t < k; ++t) {
      qp[static_cast<std::size_t>(t)] = 0;
      for (int j = 0; j < k; ++j) qp[static_cast<std::size_t>(t)] += Q(t, j) * p[j];
      pqp += p[t] * qp[static_cast<std::size_t>(t)];
    }
    double max_error = 0;
    for (int t = 0; t < k; ++t) max_error = std::max(max_error, std::fabs(qp[static_cast<std::size_t>(t)] - pqp));
    if (max_error < eps) break;
    for (int t = 0; t < k; ++t) {
      const double diff = (-qp[static_cast<std::size_t>(t)] + pqp) / Q(t, t);
      p[t] += diff;
      pqp = (pqp + diff * (diff * Q(t, t) + 2 * qp[static_cast<std::size_t>(t)])) / (1 + diff) / (1 + diff);
      for (int j = 0; j < k; ++j) {
        qp[static_cast<std::size_t>(j)] = (qp[static_cast<std::size_t>(j)] + diff * Q(t, j)) / (1 + diff);
        p[j] /= (1 + diff);
      }
    }
  }
}

}  // namespace

std::int64_t SvmModel::total_sv() const {
  std::int64_t n = 0;
  for (const auto c : sv_count) n += c;
  return n;
}

void SvmModel::check() const {
  const auto k = static_cast<std::size_t>(classes());
  const auto l = static_cast<std::size_t>(total_sv());
  const auto pairs = k * (k - 1) / 2;
  const auto fail = [](const std::string& what) { throw ConfigError("SVM model: " + what); };
  if (k < 2) fail("fewer than two classes");
  if (dim < 0) fail("negative dimension");
  if (sv_count.size() != k) fail("sv_count does not have one entry per class");
  for (const auto c : sv_count)
    if (c < 0) fail("negative support-vector count");
  if (support_vectors.size() != l * static_cast<std::size_t>(dim)) fail("support_vectors is not total_sv x dim");
  if (sv_coef.size() != (k - 1) * l) fail("sv_coef is not (classes-1) x total_sv");
  if (rho.size() != pairs) fail("rho does not have one value per pair of classes");
  if (prob_a.size() != prob_b.size() || (!prob_a.empty() && prob_a.size() != pairs))
    fail("probA/probB do not have one value per pair of classes");
  if (!sv_indices.empty() && sv_indices.size() != l) fail("sv_indices does not have one entry per support vector");
  validate(kernel);
}

namespace {

template <typename T>
Predictions predict_rows(const SvmModel& model, const T* x, std::int64_t n, bool probabilities, int threads) {
  model.check();
  if (n < 0 || (n > 0 && !x)) throw ConfigError("predict: no data");
  const int k = model.classes(), dim = model.dim;
  const std::int64_t l = model.total_sv();
  const std::size_t pairs = static_cast<std::size_t>(k) * static_cast<std::size_t>(k - 1) / 2;
  const bool with_prob = probabilities && model.has_probability();
  Predictions out;
  out.labels.resize(static_cast<std::size_t>(n));
  out.decision_values.resize(static_cast<std::size_t>(n) * pairs);
  if (with_prob) out.probabilities.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(k));

  const Eigen::Map<const MatrixRM> sv(model.support_vectors.data(), l, dim);
  const Eigen::VectorXd ss = sv.rowwise().squaredNorm();
  // Sparse rows (LIBSVM text data such as w8a: 12 of 300 values nonzero): their dot products
  // with the support vectors as one scaled row of the transposed support vectors per nonzero,
  // summed in increasing feature order as LIBSVM does, instead of a dense product. Decided once
  // from the density of all rows.
  constexpr double kSparseDensity = 0.25;
  MatrixRM sv_t;  // dim x l, only for sparse rows
  bool sv_t_ready = false;
  {
    std::int64_t nonzero = 0;
    for (std::int64_t i = 0; i < n * dim; ++i) nonzero += x[i] != 0 ? 1 : 0;
    if (static_cast<double>(nonzero) < kSparseDensity * static_cast<double>(n * dim)) {
      sv_t = sv.transpose();
      sv_t_ready = true;
    }
  }
  std::vector<std::int64_t> start(static_cast<std::size_t>(k), 0);
  for (int c = 1; c < k; ++c)
    start[static_cast<std::size_t>(c)] =
        start[static_cast<std::size_t>(c - 1)] + model.sv_count[static_cast<std::size_t>(c - 1)];
  const KernelParams& kp = model.kernel;
  const std::int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  const int nthreads = threads > 0 ? threads : omp_get_max_threads();
  std::exception_ptr error;
  // Threads: the caller's (default OMP_NUM_THREADS); blocks are independent, so any thread
  // count gives the same output. Exceptions are carried out of the region.
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
  for (std::int64_t b = 0; b < blocks; ++b) {
    try {
      const std::int64_t r0 = b * kBlockRows, rows = std::min(kBlockRows, n - r0);
      const MatrixRM xb =
          Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(x + r0 * dim, rows, dim)
              .template cast<double>();
      MatrixRM kv(rows, l);
      if (sv_t_ready) {
        kv.setZero();
        Eigen::VectorXd aa(rows);
        for (std::int64_t r = 0; r < rows; ++r) {
          double norm = 0;
          for (int c = 0; c < dim; ++c) {
            const double v = xb(r, c);
            if (v == 0) continue;
            kv.row(r) += v * sv_t.row(c);
            norm += v * v;
          }
          aa[r] = norm;
        }
        kernel_from_dots(kp, aa.data(), rows, ss.data(), l, kv.data());
      } else {
        kernel_block(kp, xb.data(), rows, model.support_vectors.data(), l, dim, ss.data(), kv.data());
      }
      std::vector<int> votes(static_cast<std::size_t>(k));
      std::vector<double> pairwise(with_prob ? static_cast<std::size_t>(k * k) : 0);
      for (std::int64_t r = 0; r < rows; ++r) {
        const double* kr = kv.data() + r * l;
        double* dec = out.decision_values.data() + static_cast<std::size_t>(r0 + r) * pairs;
        std::fill(votes.begin(), votes.end(), 0);
        std::size_t p = 0;
        for (int i = 0; i < k; ++i)
          for (int j = i + 1; j < k; ++j, ++p) {
            double sum = 0;
            const double* coef_i = model.sv_coef.data() + static_cast<std::size_t>(j - 1) * static_cast<std::size_t>(l);
            const double* coef_j = model.sv_coef.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(l);
            for (std::int64_t s = start[static_cast<std::size_t>(i)];
                 s < start[static_cast<std::size_t>(i)] + model.sv_count[static_cast<std::size_t>(i)]; ++s)
              sum += coef_i[s] * kr[s];
            for (std::int64_t s = start[static_cast<std::size_t>(j)];
                 s < start[static_cast<std::size_t>(j)] + model.sv_count[static_cast<std::size_t>(j)]; ++s)
              sum += coef_j[s] * kr[s];
            dec[p] = sum - model.rho[p];
            ++votes[static_cast<std::size_t>(dec[p] > 0 ? i : j)];
          }
        int best = 0;
        if (with_prob) {
          constexpr double kMinProb = 1e-7;
          p = 0;
          for (int i = 0; i < k; ++i)
            for (int j = i + 1; j < k; ++j, ++p) {
              const double v =
                  std::min(std::max(sigmoid_predict(dec[p], model.prob_a[p], model.prob_b[p]), kMinProb), 1 - kMinProb);
              pairwise[static_cast<std::size_t>(i * k + j)] = v;
              pairwise[static_cast<std::size_t>(j * k + i)] = 1 - v;
            }
          double* prob = out.probabilities.data() + static_cast<std::size_t>(r0 + r) * static_cast<std::size_t>(k);
          if (k == 2) {
            prob[0] = pairwise[1];
            prob[1] = pairwise[2];
          } else {
            multiclass_probability(k, pairwise, prob);
          }
          for (int c = 1; c < k; ++c)
            if (prob[c] > prob[best]) best = c;
        } else {
          for (int c = 1; c < k; ++c)  // ties: the first class with the most votes
            if (votes[static_cast<std::size_t>(c)] > votes[static_cast<std::size_t>(best)]) best = c;
        }
        out.labels[static_cast<std::size_t>(r0 + r)] = model.labels[static_cast<std::size_t>(best)];
      }
    } catch (...) {
#pragma omp critical(sarscale_svm_predict_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace

Predictions predict(const SvmModel& model, const float* x, std::int64_t n, bool probabilities, int threads) {
  return predict_rows(model, x, n, probabilities, threads);
}

Predictions predict(const SvmModel& model, const double* x, std::int64_t n, bool probabilities, int threads) {
  return predict_rows(model, x, n, probabilities, threads);
}

double accuracy(const std::vector<std::int32_t>& predicted, const std::vector<std::int32_t>& truth) {
  if (predicted.size() != truth.size()) throw ConfigError("accuracy: the label lists differ in length");
  if (truth.empty()) return 0.0;
  std::size_t hit = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) hit += predicted[i] == truth[i] ? 1 : 0;
  return static_cast<double>(hit) / static_cast<double>(truth.size());
}

}  // namespace sarscale::svm
