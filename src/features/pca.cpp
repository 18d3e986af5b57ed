#include "sarscale/features/pca.hpp"

#include <lapacke.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "sarscale/core/error.hpp"

namespace sarscale::features {

namespace {

using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows per block in add_rows: large enough for an efficient rank-k update, small enough that the
// block (kBlockRows x dim doubles) stays modest next to the dim x dim co-moment matrix.
constexpr std::size_t kBlockRows = 256;

// Chan et al.'s pairwise combination of (count, mean, M2) of set b into set a.
void merge_into(std::uint64_t& count_a, double* mean_a, double* m2_a, std::uint64_t count_b, const double* mean_b,
                const double* m2_b, int dim) {
  if (count_b == 0) return;
  const auto d = static_cast<Eigen::Index>(dim);
  Eigen::Map<Eigen::VectorXd> ma(mean_a, d);
  Eigen::Map<MatrixRM> sa(m2_a, d, d);
  const Eigen::Map<const Eigen::VectorXd> mb(mean_b, d);
  const Eigen::Map<const MatrixRM> sb(m2_b, d, d);
  if (count_a == 0) {
    ma = mb;
    sa = sb;
    count_a = count_b;
    return;
  }
  const double na = static_cast<double>(count_a);
  const double nb = static_cast<double>(count_b);
  const double n = na + nb;
  const Eigen::VectorXd delta = mb - ma;
  ma += delta * (nb / n);
  sa += sb;
  sa.noalias() += (na * nb / n) * (delta * delta.transpose());
  count_a += count_b;
}

void check_finite_rows(const float* rows, std::size_t n, int dim, const std::uint8_t* flagged) {
  for (std::size_t r = 0; r < n; ++r) {
    if (flagged && flagged[r]) continue;
    const float* row = rows + r * static_cast<std::size_t>(dim);
    for (int c = 0; c < dim; ++c) {
      if (!std::isfinite(row[c]))
        throw InputError("PCA input: row " + std::to_string(r) + " of " + std::to_string(n) + ", feature " +
                         std::to_string(c) + " is " + std::to_string(row[c]) +
                         " (flag such rows as bad to exclude them from fitting)");
    }
  }
}

// Whitening divides by sqrt(eigenvalue); numerically zero components are left unscaled.
std::vector<double> whitening_factors(const PcaModel& model) {
  std::vector<double> factors(model.eigenvalues.size(), 1.0);
  if (!model.options.whiten || model.eigenvalues.empty()) return factors;
  const double floor = model.options.epsilon * model.eigenvalues.front();
  for (std::size_t j = 0; j < factors.size(); ++j)
    if (model.eigenvalues[j] > floor && model.eigenvalues[j] > 0.0) factors[j] = 1.0 / std::sqrt(model.eigenvalues[j]);
  return factors;
}

// The one projection kernel behind both apply() overloads, so they agree bit for bit.
void project_row(const PcaModel& model, const std::vector<double>& factors, const float* in, float* out,
                 Eigen::VectorXd& z, Eigen::VectorXd& y) {
  const auto d = static_cast<Eigen::Index>(model.dim);
  const auto k = static_cast<Eigen::Index>(model.n_components());
  for (Eigen::Index i = 0; i < d; ++i) {
    const auto u = static_cast<std::size_t>(i);
    z[i] = (static_cast<double>(in[i]) - model.mean[u]) / model.scale[u];
  }
  const Eigen::Map<const MatrixRM> components(model.components.data(), k, d);
  y.noalias() = components * z;
  for (Eigen::Index j = 0; j < k; ++j) out[j] = static_cast<float>(y[j] * factors[static_cast<std::size_t>(j)]);
}

}  // namespace

Moments::Moments(int dim) : dim_(dim) {
  if (dim < 0) throw ConfigError("PCA moments: negative feature dimension " + std::to_string(dim));
  mean_.assign(static_cast<std::size_t>(dim), 0.0);
  m2_.assign(static_cast<std::size_t>(dim) * static_cast<std::size_t>(dim), 0.0);
}

void Moments::add(const float* row, int dim) { add_rows(row, 1, dim, nullptr); }

void Moments::add_rows(const float* rows, std::size_t n, int dim, const std::uint8_t* flagged) {
  if (dim != dim_)
    throw ConfigError("PCA moments: rows have " + std::to_string(dim) + " features, the accumulator " +
                      std::to_string(dim_));
  if (n == 0 || dim == 0) return;
  // Validate everything first so that a bad row leaves the accumulator untouched.
  check_finite_rows(rows, n, dim, flagged);

  const auto d = static_cast<Eigen::Index>(dim);
  if (n == 1) {
    // Welford's single-row update (a pairwise merge with a one-row set, whose M2 is zero).
    if (flagged && flagged[0]) return;
    Eigen::Map<Eigen::VectorXd> mean(mean_.data(), d);
    Eigen::Map<MatrixRM> m2(m2_.data(), d, d);
    const Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXf>(rows, d).cast<double>();
    const double before = static_cast<double>(count_);
    const Eigen::VectorXd delta = x - mean;
    ++count_;
    mean += delta / static_cast<double>(count_);
    m2.noalias() += (before / static_cast<double>(count_)) * (delta * delta.transpose());
    return;
  }

  Eigen::MatrixXd block(static_cast<Eigen::Index>(std::min(n, kBlockRows)), d);
  Eigen::MatrixXd block_m2(d, d);
  Eigen::VectorXd block_mean(d);
  Eigen::Index filled = 0;
  auto flush = [&]() {
    if (filled == 0) return;
    auto x = block.topRows(filled);
    block_mean = x.colwise().mean().transpose();
    x.rowwise() -= block_mean.transpose();
    // Two-pass within the block: co-moments of centred values, lower triangle then mirrored.
    block_m2.setZero();
    block_m2.selfadjointView<Eigen::Lower>().rankUpdate(x.transpose());
    block_m2.triangularView<Eigen::StrictlyUpper>() = block_m2.transpose();
    // block_m2 is symmetric, so its column-major storage is also its row-major storage.
    merge_into(count_, mean_.data(), m2_.data(), static_cast<std::uint64_t>(filled), block_mean.data(), block_m2.data(),
               dim);
    filled = 0;
  };
  for (std::size_t r = 0; r < n; ++r) {
    if (flagged && flagged[r]) continue;
    block.row(filled) =
        Eigen::Map<const Eigen::RowVectorXf>(rows + r * static_cast<std::size_t>(dim), d).cast<double>();
    if (++filled == block.rows()) flush();
  }
  flush();
}

void Moments::merge(const Moments& other) {
  if (other.count_ == 0 && other.dim_ == 0) return;
  if (dim_ == 0 && count_ == 0) {
    *this = other;
    return;
  }
  if (other.dim_ != dim_)
    throw ConfigError("PCA moments: cannot merge " + std::to_string(other.dim_) + " features into " +
                      std::to_string(dim_));
  merge_into(count_, mean_.data(), m2_.data(), other.count_, other.mean_.data(), other.m2_.data(), dim_);
}

std::vector<double> Moments::serialize() const {
  std::vector<double> flat;
  flat.reserve(serialized_size(dim_));
  flat.push_back(static_cast<double>(dim_));
  flat.push_back(static_cast<double>(count_));
  flat.insert(flat.end(), mean_.begin(), mean_.end());
  flat.insert(flat.end(), m2_.begin(), m2_.end());
  return flat;
}

Moments Moments::deserialize(const double* data, std::size_t size) {
  // dim and count travel as doubles: exact for every value that fits in memory (< 2^53).
  constexpr double kMaxExact = 9007199254740992.0;
  if (size < 2 || !std::isfinite(data[0]) || !std::isfinite(data[1]) || data[0] < 0 || data[1] < 0 ||
      data[0] != std::floor(data[0]) || data[1] != std::floor(data[1]) || data[0] > 46340 || data[1] > kMaxExact)
    throw InputError("PCA moments: malformed serialized header (" + std::to_string(size) + " values)");
  const int dim = static_cast<int>(data[0]);
  if (size != serialized_size(dim))
    throw InputError("PCA moments: serialized size " + std::to_string(size) + " does not match dimension " +
                     std::to_string(dim) + " (expected " + std::to_string(serialized_size(dim)) + ")");
  Moments m(dim);
  m.count_ = static_cast<std::uint64_t>(data[1]);
  std::copy(data + 2, data + 2 + dim, m.mean_.begin());
  std::copy(data + 2 + dim, data + size, m.m2_.begin());
  return m;
}

void validate(const PcaOptions& o) {
  if (o.components < 0) throw ConfigError("PCA: components must be >= 0, got " + std::to_string(o.components));
  if (!(o.explained_variance >= 0.0 && o.explained_variance <= 1.0))
    throw ConfigError("PCA: explained_variance must be in (0, 1] (0 = unused), got " +
                      std::to_string(o.explained_variance));
  if (o.components > 0 && o.explained_variance > 0.0)
    throw ConfigError("PCA: give either components or explained_variance, not both");
  if (!(o.epsilon >= 0.0 && o.epsilon < 1.0))
    throw ConfigError("PCA: epsilon must be in [0, 1), got " + std::to_string(o.epsilon));
}

PcaModel fit_pca(const Moments& moments, const PcaOptions& options) {
  validate(options);
  const int dim = moments.dim();
  const std::uint64_t n = moments.count();
  if (n < 2 || dim == 0)
    throw InputError("PCA: fitting needs at least 2 usable (unflagged) rows with at least one feature, got " +
                     std::to_string(n) + " rows of " + std::to_string(dim) + " features");
  if (options.components > dim)
    throw ConfigError("PCA: components = " + std::to_string(options.components) + " exceeds the " +
                      std::to_string(dim) + " features");

  PcaModel model;
  model.dim = dim;
  model.n_samples = n;
  model.options = options;
  model.mean = moments.mean();
  model.scale.assign(static_cast<std::size_t>(dim), 1.0);
  const auto d = static_cast<Eigen::Index>(dim);
  const Eigen::Map<const MatrixRM> m2(moments.m2().data(), d, d);
  const double count = static_cast<double>(n);
  if (options.standardise) {
    for (Eigen::Index i = 0; i < d; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const double sd = std::sqrt(std::max(0.0, m2(i, i)) / count);
      if (sd > options.epsilon * std::max(1.0, std::abs(model.mean[u]))) model.scale[u] = sd;
    }
  }

  // Covariance of the standardised features, row-major (= column-major: it is symmetric).
  std::vector<double> a(static_cast<std::size_t>(dim) * static_cast<std::size_t>(dim));
  {
    Eigen::Map<MatrixRM> covariance(a.data(), d, d);
    const Eigen::Map<const Eigen::VectorXd> scale(model.scale.data(), d);
    const Eigen::VectorXd inv = scale.cwiseInverse();
    covariance = inv.asDiagonal() * (m2 / (count - 1.0)) * inv.asDiagonal();
  }
  // LAPACK's divide and conquer: eigenvalues ascending, eigenvectors in the columns of `a`.
  std::vector<double> w(static_cast<std::size_t>(dim));
  const lapack_int info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'U', dim, a.data(), dim, w.data());
  if (info != 0)
    throw InputError("PCA: the eigen-decomposition of the " + std::to_string(dim) + "x" + std::to_string(dim) +
                     " covariance matrix failed (LAPACK dsyevd info " + std::to_string(info) + ")");
  const Eigen::Map<const Eigen::MatrixXd> vectors(a.data(), d, d);

  // Sorted descending; round-off can make zero eigenvalues slightly negative.
  std::vector<double> values(static_cast<std::size_t>(dim));
  double total = 0.0;
  for (Eigen::Index j = 0; j < d; ++j) {
    values[static_cast<std::size_t>(j)] = std::max(0.0, w[static_cast<std::size_t>(d - 1 - j)]);
    total += values[static_cast<std::size_t>(j)];
  }
  if (!(total > 0.0))
    throw InputError("PCA: every feature is constant over the " + std::to_string(n) +
                     " rows: there is no variance to analyse");
  model.total_variance = total;

  int k = dim;
  if (options.components > 0) {
    k = options.components;
  } else if (options.explained_variance > 0.0) {
    double cumulative = 0.0;
    k = 0;
    while (k < dim && cumulative < options.explained_variance)
      cumulative += values[static_cast<std::size_t>(k++)] / total;
  }

  model.eigenvalues.assign(values.begin(), values.begin() + k);
  model.explained_variance_ratio.resize(static_cast<std::size_t>(k));
  model.components.resize(static_cast<std::size_t>(k) * static_cast<std::size_t>(dim));
  for (int j = 0; j < k; ++j) {
    const auto ju = static_cast<std::size_t>(j);
    model.explained_variance_ratio[ju] = values[ju] / total;
    const Eigen::VectorXd v = vectors.col(d - 1 - j);
    Eigen::Index largest = 0;
    for (Eigen::Index i = 1; i < d; ++i)
      if (std::abs(v[i]) > std::abs(v[largest])) largest = i;
    const double sign = v[largest] < 0.0 ? -1.0 : 1.0;
    for (Eigen::Index i = 0; i < d; ++i)
      model.components[ju * static_cast<std::size_t>(dim) + static_cast<std::size_t>(i)] = sign * v[i];
  }
  return model;
}

void PcaModel::check_consistent() const {
  const auto d = static_cast<std::size_t>(dim);
  const auto k = eigenvalues.size();
  if (dim <= 0 || k == 0) throw ConfigError("PCA model is empty (not fitted)");
  if (mean.size() != d || scale.size() != d || components.size() != k * d || explained_variance_ratio.size() != k)
    throw ConfigError("PCA model arrays do not fit together (dim " + std::to_string(dim) + ", " + std::to_string(k) +
                      " components)");
}

void PcaModel::apply(const float* in, float* out) const {
  check_consistent();
  const auto factors = whitening_factors(*this);
  Eigen::VectorXd z(dim), y(n_components());
  project_row(*this, factors, in, out, z, y);
}

void PcaModel::apply(const float* in, std::size_t n, float* out) const {
  check_consistent();
  const auto factors = whitening_factors(*this);
  const auto d = static_cast<std::size_t>(dim);
  const auto k = static_cast<std::size_t>(n_components());
  std::exception_ptr error;
  // Thread count: the OpenMP default (OMP_NUM_THREADS, or the caller's omp_set_num_threads).
  // Exceptions (allocation) are caught per thread and rethrown after the region.
#pragma omp parallel
  {
    Eigen::VectorXd z, y;
    bool ready = false;
    try {
      z.resize(dim);
      y.resize(n_components());
      ready = true;
    } catch (...) {
#pragma omp critical(sarscale_pca_apply_error)
      if (!error) error = std::current_exception();
    }
#pragma omp for schedule(static)
    for (std::ptrdiff_t r = 0; r < static_cast<std::ptrdiff_t>(n); ++r) {
      if (!ready) continue;
      const auto ru = static_cast<std::size_t>(r);
      try {
        project_row(*this, factors, in + ru * d, out + ru * k, z, y);
      } catch (...) {
#pragma omp critical(sarscale_pca_apply_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

std::map<std::string, std::vector<double>> pca_to_arrays(const PcaModel& model) {
  model.check_consistent();
  return {
      {"format_version", {1.0}},
      {"dim", {static_cast<double>(model.dim)}},
      {"n_samples", {static_cast<double>(model.n_samples)}},
      {"components_requested", {static_cast<double>(model.options.components)}},
      {"explained_variance_requested", {model.options.explained_variance}},
      {"whiten", {model.options.whiten ? 1.0 : 0.0}},
      {"standardise", {model.options.standardise ? 1.0 : 0.0}},
      {"epsilon", {model.options.epsilon}},
      {"total_variance", {model.total_variance}},
      {"mean", model.mean},
      {"scale", model.scale},
      {"components", model.components},
      {"eigenvalues", model.eigenvalues},
      {"explained_variance_ratio", model.explained_variance_ratio},
  };
}

PcaModel pca_from_arrays(const std::map<std::string, std::vector<double>>& arrays) {
  auto get = [&](const std::string& key, std::size_t expected_size) -> const std::vector<double>& {
    const auto it = arrays.find(key);
    if (it == arrays.end()) throw InputError("PCA model: missing array '" + key + "'");
    if (expected_size != 0 && it->second.size() != expected_size)
      throw InputError("PCA model: array '" + key + "' has " + std::to_string(it->second.size()) +
                       " values, expected " + std::to_string(expected_size));
    for (double v : it->second)
      if (!std::isfinite(v)) throw InputError("PCA model: array '" + key + "' holds a NaN or infinite value");
    return it->second;
  };
  auto whole = [&](const std::string& key, double max) {
    const double v = get(key, 1)[0];
    if (v < 0 || v > max || v != std::floor(v))
      throw InputError("PCA model: '" + key + "' = " + std::to_string(v) + " is not a valid count");
    return v;
  };
  if (get("format_version", 1)[0] != 1.0)
    throw InputError("PCA model: unsupported format_version " + std::to_string(get("format_version", 1)[0]));
  PcaModel model;
  model.dim = static_cast<int>(whole("dim", 46340));
  model.n_samples = static_cast<std::uint64_t>(whole("n_samples", 9007199254740992.0));
  model.options.components = static_cast<int>(whole("components_requested", model.dim));
  model.options.explained_variance = get("explained_variance_requested", 1)[0];
  model.options.whiten = get("whiten", 1)[0] != 0.0;
  model.options.standardise = get("standardise", 1)[0] != 0.0;
  model.options.epsilon = get("epsilon", 1)[0];
  model.total_variance = get("total_variance", 1)[0];
  const auto d = static_cast<std::size_t>(model.dim);
  model.mean = get("mean", d);
  model.scale = get("scale", d);
  model.eigenvalues = get("eigenvalues", 0);
  const std::size_t k = model.eigenvalues.size();
  model.components = get("components", k * d);
  model.explained_variance_ratio = get("explained_variance_ratio", k);
  try {
    validate(model.options);
    model.check_consistent();
  } catch (const ConfigError& e) {
    throw InputError(std::string("PCA model: ") + e.what());
  }
  for (double s : model.scale)
    if (!(s > 0.0)) throw InputError("PCA model: 'scale' holds a non-positive value");
  return model;
}

}  // namespace sarscale::features
