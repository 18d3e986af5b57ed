#pragma once
// SVM kernels on dense rows of doubles, as LIBSVM defines them:
//   linear     u.v
//   polynomial (gamma u.v + coef0)^degree
//   rbf        exp(-gamma |u - v|^2)
//   sigmoid    tanh(gamma u.v + coef0)
// Values and dot products are double, as in LIBSVM.
#include <cstdint>
#include <string>
#include <vector>

namespace sarscale::svm {

enum class KernelType { linear, polynomial, rbf, sigmoid };

// "linear", "polynomial" (or "poly"), "rbf", "sigmoid"; ConfigError otherwise.
KernelType parse_kernel(const std::string& text);
// LIBSVM's names: "linear", "polynomial", "rbf", "sigmoid".
std::string to_string(KernelType type);

struct KernelParams {
  KernelType type = KernelType::rbf;
  int degree = 3;
  double gamma = 0.0;  // 0 at training: 1 / number of features (LIBSVM's default)
  double coef0 = 0.0;
  bool operator==(const KernelParams&) const = default;
};

// ConfigError for a negative degree or a non-finite/negative gamma.
void validate(const KernelParams& params);

// u.v of two rows of `dim` values.
double dot(const double* u, const double* v, int dim);

// K(u, v); `uu` and `vv` are dot(u, u) and dot(v, v) (used by the RBF kernel only).
double kernel_value(const KernelParams& params, const double* u, const double* v, int dim, double uu, double vv);

// K(a_i, b_j) for every i < na, j < nb into `out` (na x nb, row-major), through one matrix
// product of the dot products (dot products may differ from dot() in the last bit). `bb` holds
// dot(b_j, b_j) for the RBF kernel (null: computed here). One thread: callers parallelise over
// blocks of `a`.
void kernel_block(const KernelParams& params, const double* a, std::int64_t na, const double* b, std::int64_t nb,
                  int dim, const double* bb, double* out);

// The kernel values of an na x nb block from its dot products `k` (in place): aa and bb are
// the rows' squared norms (used by the RBF kernel only). The second step of kernel_block, for
// callers that compute the dot products another way (sparse rows).
void kernel_from_dots(const KernelParams& params, const double* aa, std::int64_t na, const double* bb,
                      std::int64_t nb, double* k);

// base^times by repeated squaring, exactly as LIBSVM's powi (the polynomial kernel).
double powi(double base, int times);

// The dot products x_a . x_b of every pair of a set of rows, computed once (one symmetric matrix
// product) and shared by many problems over subsets of those rows, as the points and folds of a
// grid search are: a kernel column is then n look-ups instead of n dot products of dim values.
// n x n doubles: for sets of a few thousand rows (8,192 rows take 512 MiB).
struct GramMatrix {
  std::vector<double> values;  // n x n, row-major, exactly symmetric
  std::int64_t n = 0;
  // threads 0: omp_get_max_threads() (Eigen's product runs on them).
  static GramMatrix of(const double* x, std::int64_t n, int dim, int threads = 0);
  static std::size_t bytes(std::int64_t n) { return static_cast<std::size_t>(n) * static_cast<std::size_t>(n) * 8; }
  const double* row(std::int64_t a) const { return values.data() + a * n; }
};

}  // namespace sarscale::svm
