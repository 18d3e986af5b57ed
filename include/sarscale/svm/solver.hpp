#pragma once
// The binary C-SVC solver: LIBSVM's SMO (Fan, Chen & Lin 2005), step for step, so results match
// svm-train's: second-order working-set selection (WSS3), its stopping rule (maximal violation
// below eps), shrinking with the final un-shrink and gradient reconstruction, and a kernel-column
// LRU cache bounded in bytes. Generalised to a per-sample upper bound C_i (class weights times
// sample weights) and to a warm start from given alphas.
//
//   min_a  1/2 a^T Q a - e^T a   s.t.  0 <= a_i <= C_i,  y^T a = 0,   Q_ij = y_i y_j K(x_i, x_j)
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sarscale/svm/kernel.hpp"

namespace sarscale::svm {

struct SolverOptions {
  double eps = 1e-3;                                 // stopping tolerance (LIBSVM -e)
  bool shrinking = true;                             // LIBSVM -h
  std::size_t cache_bytes = std::size_t{100} << 20;  // kernel-column cache (LIBSVM -m, in bytes)
  int threads = 0;                                   // OpenMP threads for kernel columns (0: omp_get_max_threads())
  std::int64_t max_iterations = 0;                   // 0: LIBSVM's max(10^7, 100 l)
};

struct BinaryProblem {
  const double* x = nullptr;  // n rows of dim values, row-major
  std::int64_t n = 0;
  int dim = 0;
  std::vector<signed char> y;  // +1 / -1 per row
  std::vector<double> C;       // upper bound per row (> 0)
  KernelParams kernel;         // gamma must be set (> 0 where the kernel uses it)
  // Warm start: alpha per row (empty: all zero). Values are clipped to [0, C_i] and, if
  // y^T alpha != 0, the larger side is scaled down to make the start feasible.
  std::vector<double> initial_alpha;
  // Optional: dot products of the rows from a Gram matrix shared with other problems, row i being
  // gram_rows[i] of it (x may then be null).
  const GramMatrix* gram = nullptr;
  std::vector<std::int64_t> gram_rows;
};

struct BinarySolution {
  std::vector<double> alpha;  // per row, in [0, C_i] (not multiplied by y)
  double rho = 0;             // decision f(x) = sum alpha_i y_i K(x_i, x) - rho
  double objective = 0;       // 1/2 a^T Q a - e^T a, LIBSVM's "obj"
  std::int64_t iterations = 0;
  std::int64_t n_sv = 0;   // alpha > 0
  std::int64_t n_bsv = 0;  // alpha at its bound C_i
  std::int64_t kernel_evaluations = 0;
  bool reached_max_iterations = false;
  // Gradient of the objective at the solution (per row): lets a caller check KKT conditions.
  std::vector<double> gradient;
};

// ConfigError for inconsistent sizes, non-positive C, or missing gamma.
BinarySolution solve_c_svc(const BinaryProblem& problem, const SolverOptions& options);

}  // namespace sarscale::svm
