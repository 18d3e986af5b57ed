#pragma once
// The solver's view of the kernel: Q_ij = y_i y_j K(x_i, x_j) for a binary problem, columns
// computed on demand (OpenMP over rows, Eigen-vectorised dot products in double) and kept in
// an LRU cache bounded in bytes, as LIBSVM's Cache and SVC_Q. Rows can be swapped (shrinking
// moves inactive variables to the end), which the cache follows.
#include <Eigen/Dense>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sarscale/svm/kernel.hpp"

namespace sarscale::svm::detail {

// LIBSVM's Cache: columns of variable length (the active size when they were computed), in a
// circular LRU list; a request for a longer column extends it.
class ColumnCache {
 public:
  ColumnCache(int l, std::size_t bytes);
  ~ColumnCache();
  ColumnCache(const ColumnCache&) = delete;
  ColumnCache& operator=(const ColumnCache&) = delete;

  // Points *data at column `index` with room for `len` values; returns the position from which
  // values still have to be computed (len when the column was complete).
  int get_data(int index, float** data, int len);
  void swap_index(int i, int j);

 private:
  struct Head {
    Head* prev = nullptr;
    Head* next = nullptr;
    float* data = nullptr;
    int len = 0;
  };
  void lru_delete(Head* h);
  void lru_insert(Head* h);

  std::vector<Head> head_;
  Head lru_head_;
  std::int64_t size_;  // free space, in floats
};

class SvcQ {
 public:
  // x: l rows of dim values (copied: rows are swapped while shrinking); y: +1/-1.
  SvcQ(const double* x, int l, int dim, const std::vector<signed char>& y, const KernelParams& kernel,
       std::size_t cache_bytes, int threads);
  // Dot products looked up in `gram` (row i of the problem is gram_rows[i] there) instead of
  // computed from rows: the rows themselves are not needed.
  SvcQ(const GramMatrix& gram, const std::vector<std::int64_t>& gram_rows, const std::vector<signed char>& y,
       const KernelParams& kernel, std::size_t cache_bytes);

  // Column i, rows [0, len).
  const float* get_Q(int i, int len);
  const double* get_QD() const { return qd_.data(); }
  void swap_index(int i, int j);
  std::int64_t kernel_evaluations() const { return evaluations_; }

 private:
  double kernel_diagonal(int i) const;
  void compute(int i, int start, int len, float* out);

  // Whether a column is computed by one thread or by all: measured, not assumed. A parallel
  // region per column (~0.1-1 ms of work) pays off on idle cores, but when the cores are shared
  // (ctest -j, oversubscribed ranks, other jobs) each fork/join can wait a scheduler tick for a
  // descheduled thread: ijcnn1 took 60 s with 2 threads against 6.8 s with 1 on a loaded
  // 2-core machine. So both ways are timed at first and re-probed now and then; the faster wins.
  class ThreadChoice {
   public:
    bool parallel_next();
    void record(bool parallel, double seconds, std::int64_t elements);

   private:
    double rate_[2] = {0, 0};  // seconds per element, smoothed (0: not measured yet)
    std::int64_t calls_ = 0;
  };

  // Rows with fewer nonzeros than this fraction are held sparse (CSR): LIBSVM text data such as
  // a9a (14 of 123) or w8a (12 of 300) would otherwise cost 10-25x the multiply-adds.
  static constexpr double kSparseDensity = 0.25;

  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> x_;  // dense rows, swapped in place
  bool sparse_ = false;
  std::vector<std::size_t> row_start_;  // sparse: CSR of the rows in their original order
  std::vector<double> values_;
  std::vector<int> columns_;
  std::vector<int> position_row_;  // sparse: original row at each (swapped) position
  const GramMatrix* gram_ = nullptr;
  std::vector<std::int64_t> gram_rows_;  // Gram row at each (swapped) position
  Eigen::VectorXd xx_;             // |x_i|^2
  std::vector<signed char> y_;
  std::vector<double> qd_;
  KernelParams kernel_;
  ColumnCache cache_;
  int threads_;
  int dim_;
  ThreadChoice choice_;
  std::int64_t evaluations_ = 0;
};

}  // namespace sarscale::svm::detail
