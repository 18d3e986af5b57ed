#pragma once
// The cascade's KKT check on one rank: sum_j coef_j K(sv_j, x_i) over the top level's support
// vectors j, for every own row i. Between feedback passes the top level keeps most of its
// support vectors but changes most of their alphas, so the kernel columns K(., sv_j) are kept
// across passes (within a byte budget) and each pass costs one pass over the cached columns
// plus the columns of new support vectors. Support vectors beyond the budget are evaluated on
// the fly every pass. Columns are stored as float: half the memory, and their rounding (1e-7
// relative per value) is far below the KKT tolerance eps the sums are compared with; the sums
// themselves are accumulated in double. Private to the dist layer.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "sarscale/svm/kernel.hpp"

namespace sarscale::dist {

class CheckColumns {
 public:
  // `x`: the rank's own rows (n x dim), which must outlive this object. threads 0: OpenMP's default.
  CheckColumns(const double* x, std::int64_t n, int dim, const svm::KernelParams& kernel, std::size_t budget_bytes,
               int threads);

  // Per own row: sum over the top set of coef_j K(sv_j, row), summed in top order. `sv_x` holds
  // the top set's rows (ids.size() x dim). Columns of ids no longer in the top set are dropped.
  std::vector<double> sums(const std::vector<std::int64_t>& ids, const double* sv_x, const std::vector<double>& coef);

  std::size_t cached_columns() const { return slot_of_.size(); }
  std::int64_t computed_columns() const { return computed_; }  // over the object's life

 private:
  const double* x_;
  std::int64_t n_;
  int dim_;
  svm::KernelParams kernel_;
  std::size_t capacity_;  // columns that fit the budget
  int threads_;
  std::vector<double> xx_;  // squared norms of the own rows
  std::unordered_map<std::int64_t, std::size_t> slot_of_;
  std::vector<std::unique_ptr<float[]>> slots_;
  std::vector<std::size_t> free_;
  std::int64_t computed_ = 0;
};

}  // namespace sarscale::dist
