#pragma once
// SVM kernels on dense rows of doubles, as LIBSVM defines them:
//   linear     u.v
//   polynomial (gamma u.v + coef0)^degree
//   rbf        exp(-gamma |u - v|^2)
//   sigmoid    tanh(gamma u.v + coef0)
// Values and dot products are double, as in LIBSVM.
#include <cstdint>
#include <string>

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

// base^times by repeated squaring, exactly as LIBSVM's powi (the polynomial kernel).
double powi(double base, int times);

}  // namespace sarscale::svm
