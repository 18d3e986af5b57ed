#include "sarscale/svm/kernel.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <omp.h>

#include "sarscale/core/error.hpp"

namespace sarscale::svm {

KernelType parse_kernel(const std::string& text) {
  if (text == "linear") return KernelType::linear;
  if (text == "polynomial" || text == "poly") return KernelType::polynomial;
  if (text == "rbf") return KernelType::rbf;
  if (text == "sigmoid") return KernelType::sigmoid;
  throw ConfigError("unknown kernel '" + text + "' (linear, poly, rbf or sigmoid)");
}

std::string to_string(KernelType type) {
  switch (type) {
    case KernelType::linear:
      return "linear";
    case KernelType::polynomial:
      return "polynomial";
    case KernelType::rbf:
      return "rbf";
    case KernelType::sigmoid:
      return "sigmoid";
  }
  return "?";
}

void validate(const KernelParams& params) {
  if (params.degree < 0) throw ConfigError("kernel degree must not be negative");
  if (!std::isfinite(params.gamma) || params.gamma < 0) throw ConfigError("kernel gamma must be finite and >= 0");
  if (!std::isfinite(params.coef0)) throw ConfigError("kernel coef0 must be finite");
}

double dot(const double* u, const double* v, int dim) {
  double s = 0.0;
  for (int k = 0; k < dim; ++k) s += u[k] * v[k];
  return s;
}

double powi(double base, int times) {
  double tmp = base, ret = 1.0;
  for (int t = times; t > 0; t /= 2) {
    if (t % 2 == 1) ret *= tmp;
    tmp = tmp * tmp;
  }
  return ret;
}

double kernel_value(const KernelParams& p, const double* u, const double* v, int dim, double uu, double vv) {
  switch (p.type) {
    case KernelType::linear:
      return dot(u, v, dim);
    case KernelType::polynomial:
      return powi(p.gamma * dot(u, v, dim) + p.coef0, p.degree);
    case KernelType::rbf:
      return std::exp(-p.gamma * (uu + vv - 2.0 * dot(u, v, dim)));
    case KernelType::sigmoid:
      return std::tanh(p.gamma * dot(u, v, dim) + p.coef0);
  }
  return 0.0;
}

void kernel_block(const KernelParams& p, const double* a, std::int64_t na, const double* b, std::int64_t nb, int dim,
                  const double* bb, double* out) {
  using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  if (na <= 0 || nb <= 0) return;
  const Eigen::Map<const MatrixRM> A(a, na, dim), B(b, nb, dim);
  Eigen::Map<MatrixRM> K(out, na, nb);
  K.noalias() = A * B.transpose();
  Eigen::VectorXd aa, norms_b;
  if (p.type == KernelType::rbf) {
    aa = A.rowwise().squaredNorm();
    if (!bb) {
      norms_b = B.rowwise().squaredNorm();
      bb = norms_b.data();
    }
  }
  kernel_from_dots(p, aa.data(), na, bb, nb, out);
}

void kernel_from_dots(const KernelParams& p, const double* aa, std::int64_t na, const double* bb, std::int64_t nb,
                      double* k) {
  using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  if (na <= 0 || nb <= 0) return;
  Eigen::Map<MatrixRM> K(k, na, nb);
  switch (p.type) {
    case KernelType::linear:
      break;
    case KernelType::polynomial:
      K = (p.gamma * K.array() + p.coef0).pow(p.degree).matrix();
      break;
    case KernelType::rbf:
      K *= -2.0;
      K.colwise() += Eigen::Map<const Eigen::VectorXd>(aa, na);
      K.rowwise() += Eigen::Map<const Eigen::RowVectorXd>(bb, nb);
      K = (-p.gamma * K.array()).exp().matrix();
      break;
    case KernelType::sigmoid:
      K = (p.gamma * K.array() + p.coef0).tanh().matrix();
      break;
  }
}

GramMatrix GramMatrix::of(const double* x, std::int64_t n, int dim, int threads) {
  using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  GramMatrix g;
  g.n = n;
  g.values.assign(bytes(n) / sizeof(double), 0.0);
  if (n == 0) return g;
  const Eigen::Map<const MatrixRM> X(x, n, dim);
  // Computed in place (one n x n matrix, as the memory budget assumes): the lower triangle.
  Eigen::Map<MatrixRM> G(g.values.data(), n, n);
  // Threads: the caller's (Eigen's own OpenMP loop); restored afterwards.
  const int before = Eigen::nbThreads();
  Eigen::setNbThreads(threads > 0 ? threads : omp_get_max_threads());
  G.selfadjointView<Eigen::Lower>().rankUpdate(X);  // X X^T
  Eigen::setNbThreads(before);
  // Mirrored, so that Q is exactly symmetric as the solver assumes.
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < a; ++b) G(b, a) = G(a, b);
  return g;
}

}  // namespace sarscale::svm
