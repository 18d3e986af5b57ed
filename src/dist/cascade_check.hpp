#pragma once
// The cascade's KKT check on one rank: sum_j coef_j K(sv_j, x_i) over the top level's support
// vectors j, for every own row i. The sums are kept across feedback passes and updated by the
// support vectors whose coefficient changed (and minus those that left): once warm starts
// settle, few change. The kernel columns K(., sv_j) are kept too (within a byte budget), so a
// changed coefficient costs one pass over its column; support vectors beyond the budget are
// evaluated on the fly when their coefficient changes. Columns are stored as float: half the memory, and their rounding (1e-7
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

  std::size_t cached_columns() const { return slots_.size() - free_.size(); }
  std::int64_t computed_columns() const { return computed_; }  // over the object's life

 private:
  const double* x_;
  std::int64_t n_;
  int dim_;
  svm::KernelParams kernel_;
  std::size_t capacity_;  // columns that fit the budget
  int threads_;
  std::vector<double> xx_;  // squared norms of the own rows
  // Every support vector of the last top set: its coefficient in the sums, its row, its column.
  struct Entry {
    double coef = 0;
    std::vector<double> row;
    std::int64_t slot = -1;
  };
  std::unordered_map<std::int64_t, Entry> known_;
  std::vector<double> sums_;  // per own row: sum over known_ of coef K(row, sv)
  std::vector<std::unique_ptr<float[]>> slots_;
  std::vector<std::size_t> free_;
  std::int64_t computed_ = 0;
};

}  // namespace sarscale::dist
