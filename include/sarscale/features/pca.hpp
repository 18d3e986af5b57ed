#pragma once
// Standardisation and principal component analysis of feature vectors (pure, no MPI).
//
// Fitting is split in two so that it can span ranks: Moments accumulates the count, mean and
// co-moment matrix of the rows one process sees (double precision), Moments::merge combines two
// accumulators exactly as if their rows had been seen by one (Chan, Golub & LeVeque's pairwise
// update), and fit_pca turns the combined moments into a model. dist/pca.hpp does the merging
// across ranks.
//
// Conventions follow scikit-learn's StandardScaler + PCA, so results can be checked against it:
//   - the per-feature scale is the population standard deviation (ddof = 0); features whose
//     standard deviation is ~0 (below epsilon * max(1, |mean|)) get scale 1 instead of dividing
//     by zero, so a constant feature maps to 0 rather than NaN;
//   - the covariance is the sample covariance (ddof = 1) of the standardised data;
//   - eigenvalues are the variances along the components, sorted descending, each eigenvector's
//     sign is fixed so that its largest-magnitude element (the first, on ties) is positive;
//   - whitening divides each component by sqrt(eigenvalue), so whitened training data have unit
//     sample variance; components whose eigenvalue is ~0 (<= epsilon * largest) are not scaled.
// The public API uses plain std::vector (row-major matrices) so that Eigen stays private.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sarscale::features {

// Count, mean and co-moment matrix M2 = sum (x - mean)(x - mean)^T of a set of rows.
class Moments {
 public:
  Moments() = default;  // dimension 0: adopts the dimension of the first merge
  explicit Moments(int dim);

  int dim() const { return dim_; }
  std::uint64_t count() const { return count_; }
  const std::vector<double>& mean() const { return mean_; }
  // dim x dim, row-major, symmetric.
  const std::vector<double>& m2() const { return m2_; }

  // Adds one row of `dim` values. Throws ConfigError when dim differs from this accumulator's,
  // InputError when a value is NaN or infinite (it would poison every statistic).
  void add(const float* row, int dim);
  // Adds n contiguous rows of `dim` values; rows whose flag is nonzero are skipped (flagged may
  // be null). Works in blocks (two-pass centring inside a block, pairwise merge between blocks),
  // which is both faster and more accurate than row-by-row updates.
  void add_rows(const float* rows, std::size_t n, int dim, const std::uint8_t* flagged = nullptr);
  // Combines `other` into this accumulator: the result equals the moments of the union of rows
  // up to rounding. Merging in a fixed order keeps results reproducible.
  void merge(const Moments& other);

  // Flat form for transport: [dim, count, mean (dim), M2 (dim * dim, row-major)].
  std::vector<double> serialize() const;
  static std::size_t serialized_size(int dim) {
    return 2 + static_cast<std::size_t>(dim) + static_cast<std::size_t>(dim) * static_cast<std::size_t>(dim);
  }
  // Inverse of serialize(); throws InputError when the data are not a valid serialized form.
  static Moments deserialize(const double* data, std::size_t size);

 private:
  int dim_ = 0;
  std::uint64_t count_ = 0;
  std::vector<double> mean_;
  std::vector<double> m2_;
};

struct PcaOptions {
  int components = 0;               // keep this many components (0: decide by explained_variance)
  double explained_variance = 0.0;  // else keep the fewest reaching this fraction, in (0, 1]
                                    // (both 0: keep every component)
  bool whiten = false;              // scale components to unit variance
  bool standardise = true;          // divide each feature by its standard deviation first
  double epsilon = 1e-12;           // relative threshold below which a std / eigenvalue is "zero"
};

// Throws ConfigError for inconsistent options (negative values, both selections given...).
void validate(const PcaOptions& options);

struct PcaModel {
  int dim = 0;
  std::uint64_t n_samples = 0;                   // rows the model was fitted on
  PcaOptions options;                            // as requested at fitting
  std::vector<double> mean;                      // dim
  std::vector<double> scale;                     // dim: std per feature (1 where ~0, or everywhere without standardise)
  std::vector<double> components;                // k x dim, row-major, rows = unit eigenvectors
  std::vector<double> eigenvalues;               // k, descending (variance along each component)
  std::vector<double> explained_variance_ratio;  // k: eigenvalue / total variance
  double total_variance = 0.0;                   // sum of all dim eigenvalues (trace)

  int n_components() const { return static_cast<int>(eigenvalues.size()); }

  // Projects one row of `dim` floats to n_components() floats (double arithmetic inside).
  // Throws ConfigError when the model is empty or inconsistent.
  void apply(const float* in, float* out) const;
  // Projects n contiguous rows; out holds n * n_components() floats. Row for row identical to
  // apply(in, out). OpenMP over rows.
  void apply(const float* in, std::size_t n, float* out) const;

  // Throws ConfigError when the arrays do not fit together.
  void check_consistent() const;
};

// Fits the model on combined moments. Throws ConfigError for bad options, InputError when the
// data cannot support a fit (fewer than 2 rows, every feature constant).
PcaModel fit_pca(const Moments& moments, const PcaOptions& options);

// Flat key -> array form for storage (every value is a double array; scalars have length 1).
// Keys: format_version, dim, n_samples, components_requested, explained_variance_requested,
// whiten, standardise, epsilon, total_variance, mean, scale, components, eigenvalues,
// explained_variance_ratio.
std::map<std::string, std::vector<double>> pca_to_arrays(const PcaModel& model);
// Inverse of pca_to_arrays; throws InputError naming the missing or malformed key.
PcaModel pca_from_arrays(const std::map<std::string, std::vector<double>>& arrays);

}  // namespace sarscale::features
