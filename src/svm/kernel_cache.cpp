#include "kernel_cache.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <new>
#include <numeric>
#include <utility>

namespace sarscale::svm::detail {

ColumnCache::ColumnCache(int l, std::size_t bytes) : head_(static_cast<std::size_t>(l)) {
  // As LIBSVM: the budget minus the headers, and never less than two full columns.
  size_ = static_cast<std::int64_t>(bytes / sizeof(float));
  size_ -= static_cast<std::int64_t>(l) * static_cast<std::int64_t>(sizeof(Head) / sizeof(float));
  size_ = std::max<std::int64_t>(size_, 2 * static_cast<std::int64_t>(l));
  lru_head_.next = lru_head_.prev = &lru_head_;
}

ColumnCache::~ColumnCache() {
  for (Head* h = lru_head_.next; h != &lru_head_; h = h->next) std::free(h->data);
}

void ColumnCache::lru_delete(Head* h) {
  h->prev->next = h->next;
  h->next->prev = h->prev;
}

void ColumnCache::lru_insert(Head* h) {
  h->next = &lru_head_;
  h->prev = lru_head_.prev;
  h->prev->next = h;
  h->next->prev = h;
}

int ColumnCache::get_data(int index, float** data, int len) {
  Head* h = &head_[static_cast<std::size_t>(index)];
  if (h->len) lru_delete(h);
  const int more = len - h->len;
  if (more > 0) {
    while (size_ < more) {  // evict least recently used columns
      Head* old = lru_head_.next;
      lru_delete(old);
      std::free(old->data);
      size_ += old->len;
      old->data = nullptr;
      old->len = 0;
    }
    auto* grown = static_cast<float*>(std::realloc(h->data, sizeof(float) * static_cast<std::size_t>(len)));
    if (!grown) throw std::bad_alloc();
    h->data = grown;
    size_ -= more;
    std::swap(h->len, len);
  }
  lru_insert(h);
  *data = h->data;
  return len;
}

void ColumnCache::swap_index(int i, int j) {
  if (i == j) return;
  Head& hi = head_[static_cast<std::size_t>(i)];
  Head& hj = head_[static_cast<std::size_t>(j)];
  if (hi.len) lru_delete(&hi);
  if (hj.len) lru_delete(&hj);
  std::swap(hi.data, hj.data);
  std::swap(hi.len, hj.len);
  if (hi.len) lru_insert(&hi);
  if (hj.len) lru_insert(&hj);
  if (i > j) std::swap(i, j);
  for (Head* h = lru_head_.next; h != &lru_head_;) {
    Head* next = h->next;
    if (h->len > i) {
      if (h->len > j) {
        std::swap(h->data[i], h->data[j]);
      } else {  // the column covers i but not j: drop it (LIBSVM's "give up")
        lru_delete(h);
        std::free(h->data);
        size_ += h->len;
        h->data = nullptr;
        h->len = 0;
      }
    }
    h = next;
  }
}

SvcQ::SvcQ(const double* x, int l, int dim, const std::vector<signed char>& y, const KernelParams& kernel,
           std::size_t cache_bytes, int threads)
    : xx_(l),
      y_(y),
      qd_(static_cast<std::size_t>(l)),
      kernel_(kernel),
      cache_(l, cache_bytes),
      threads_(std::max(1, threads)),
      dim_(dim) {
  const auto total = static_cast<std::size_t>(l) * static_cast<std::size_t>(dim);
  const auto nonzero = static_cast<std::size_t>(std::count_if(x, x + total, [](double v) { return v != 0.0; }));
  sparse_ = total > 0 && static_cast<double>(nonzero) < kSparseDensity * static_cast<double>(total);
  if (sparse_) {
    row_start_.reserve(static_cast<std::size_t>(l) + 1);
    values_.reserve(nonzero);
    columns_.reserve(nonzero);
    row_start_.push_back(0);
    for (int i = 0; i < l; ++i) {
      double norm = 0;
      for (int k = 0; k < dim; ++k) {
        const double v = x[static_cast<std::size_t>(i) * static_cast<std::size_t>(dim) + static_cast<std::size_t>(k)];
        if (v == 0.0) continue;
        values_.push_back(v);
        columns_.push_back(k);
        norm += v * v;
      }
      xx_[i] = norm;
      row_start_.push_back(values_.size());
    }
    position_row_.resize(static_cast<std::size_t>(l));
    std::iota(position_row_.begin(), position_row_.end(), 0);
  } else {
    x_.resize(l, dim);
    if (l > 0 && dim > 0)
      x_ = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(x, l, dim);
    xx_ = x_.rowwise().squaredNorm();
  }
  for (int i = 0; i < l; ++i) qd_[static_cast<std::size_t>(i)] = kernel_diagonal(i);
}

SvcQ::SvcQ(const GramMatrix& gram, const std::vector<std::int64_t>& gram_rows, const std::vector<signed char>& y,
           const KernelParams& kernel, std::size_t cache_bytes)
    : gram_(&gram),
      gram_rows_(gram_rows),
      xx_(static_cast<Eigen::Index>(y.size())),
      y_(y),
      qd_(y.size()),
      kernel_(kernel),
      cache_(static_cast<int>(y.size()), cache_bytes),
      threads_(1),
      dim_(0) {
  for (std::size_t i = 0; i < y.size(); ++i) {
    const std::int64_t g = gram_rows_[i];
    xx_[static_cast<Eigen::Index>(i)] = gram.values[static_cast<std::size_t>(g * gram.n + g)];
  }
  for (std::size_t i = 0; i < y.size(); ++i) qd_[i] = kernel_diagonal(static_cast<int>(i));
}

double SvcQ::kernel_diagonal(int i) const {
  const double d = xx_[i];
  switch (kernel_.type) {
    case KernelType::linear:
      return d;
    case KernelType::polynomial:
      return powi(kernel_.gamma * d + kernel_.coef0, kernel_.degree);
    case KernelType::rbf:
      return 1.0;
    case KernelType::sigmoid:
      return std::tanh(kernel_.gamma * d + kernel_.coef0);
  }
  return 0.0;
}

// Q values of column i for rows [start, len): one matrix-vector product for the dot products,
// then the kernel's transform, in row blocks over OpenMP threads.
void SvcQ::compute(int i, int start, int len, float* out) {
  const int n = len - start;
  if (n <= 0) return;
  evaluations_ += n;
  const double yi = y_[static_cast<std::size_t>(i)];
  Eigen::VectorXd xi;
  if (gram_) {
    // Look-ups, n per column: not worth threads.
  } else if (sparse_) {  // row i scattered into a dense vector: each other row's nonzeros gather from it
    xi = Eigen::VectorXd::Zero(dim_);
    const auto r = static_cast<std::size_t>(position_row_[static_cast<std::size_t>(i)]);
    for (std::size_t k = row_start_[r]; k < row_start_[r + 1]; ++k) xi[columns_[k]] = values_[k];
  } else {
    xi = x_.row(i).transpose();
  }
  const auto block = [&](int b0, int b1) {
    Eigen::VectorXd d(b1 - b0);
    if (gram_) {
      const double* gi = gram_->row(gram_rows_[static_cast<std::size_t>(i)]);
      for (int p = b0; p < b1; ++p) d[p - b0] = gi[gram_rows_[static_cast<std::size_t>(p)]];
    } else if (sparse_) {
      // Products summed in increasing feature order, as LIBSVM's sparse dot does.
      for (int p = b0; p < b1; ++p) {
        const auto r = static_cast<std::size_t>(position_row_[static_cast<std::size_t>(p)]);
        double sum = 0;
        for (std::size_t k = row_start_[r]; k < row_start_[r + 1]; ++k) sum += values_[k] * xi[columns_[k]];
        d[p - b0] = sum;
      }
    } else {
      d.noalias() = x_.middleRows(b0, b1 - b0) * xi;
    }
    switch (kernel_.type) {
      case KernelType::linear:
        break;
      case KernelType::polynomial:
        for (auto& v : d) v = powi(kernel_.gamma * v + kernel_.coef0, kernel_.degree);
        break;
      case KernelType::rbf:
        d = (-kernel_.gamma * (xx_[i] + xx_.segment(b0, b1 - b0).array() - 2.0 * d.array())).exp().matrix();
        break;
      case KernelType::sigmoid:
        d = (kernel_.gamma * d.array() + kernel_.coef0).tanh().matrix();
        break;
    }
    for (int j = b0; j < b1; ++j) out[j] = static_cast<float>(yi * y_[static_cast<std::size_t>(j)] * d[j - b0]);
  };
  // Below ~64k multiply-adds a column is too short for threads whatever the machine does.
  const std::int64_t per_row =
      gram_ ? 1
      : sparse_
          ? std::max<std::int64_t>(1, static_cast<std::int64_t>(values_.size()) / std::max<Eigen::Index>(xx_.size(), 1))
          : std::max<std::int64_t>(dim_, 1);
  const std::int64_t work = static_cast<std::int64_t>(n) * per_row;
  const bool parallel = threads_ > 1 && work >= 65536 && choice_.parallel_next();
  const auto t0 = std::chrono::steady_clock::now();
  if (!parallel) {
    block(start, len);
    if (threads_ > 1 && work >= 65536)
      choice_.record(false, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), n);
    return;
  }
  // Threads: the solver's option (its caller's thread count). An exception (allocation
  // failure) is carried out of the region and rethrown.
  std::exception_ptr error;
#pragma omp parallel num_threads(threads_)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    // Split points on multiples of 8 rows from `start`: Eigen's vectorised loops then see the
    // same packets and the same tail as one thread does, so the values are bitwise identical.
    const auto split = [&](int k) {
      return k == nt ? len : start + static_cast<int>(static_cast<std::int64_t>(n) * k / nt / 8 * 8);
    };
    const int b0 = split(t), b1 = split(t + 1);
    try {
      if (b1 > b0) block(b0, b1);
    } catch (...) {
#pragma omp critical(sarscale_svm_q_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  choice_.record(true, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), n);
}

// The first 16 columns alternate between the two ways; then the faster is used, and every 512
// columns the other way is tried 8 times (its cost may have changed with the machine's load).
bool SvcQ::ThreadChoice::parallel_next() {
  const std::int64_t c = calls_++;
  if (c < 16) return c % 2 == 1;
  const bool faster_parallel = rate_[1] < rate_[0];
  return c % 512 < 8 ? !faster_parallel : faster_parallel;
}

void SvcQ::ThreadChoice::record(bool parallel, double seconds, std::int64_t elements) {
  const double rate = seconds / static_cast<double>(std::max<std::int64_t>(elements, 1));
  double& r = rate_[parallel ? 1 : 0];
  r = r == 0 ? rate : 0.75 * r + 0.25 * rate;
}

const float* SvcQ::get_Q(int i, int len) {
  float* data = nullptr;
  const int start = cache_.get_data(i, &data, len);
  if (start < len) compute(i, start, len, data);
  return data;
}

void SvcQ::swap_index(int i, int j) {
  cache_.swap_index(i, j);
  if (gram_)
    std::swap(gram_rows_[static_cast<std::size_t>(i)], gram_rows_[static_cast<std::size_t>(j)]);
  else if (sparse_)
    std::swap(position_row_[static_cast<std::size_t>(i)], position_row_[static_cast<std::size_t>(j)]);
  else
    x_.row(i).swap(x_.row(j));
  std::swap(xx_[i], xx_[j]);
  std::swap(y_[static_cast<std::size_t>(i)], y_[static_cast<std::size_t>(j)]);
  std::swap(qd_[static_cast<std::size_t>(i)], qd_[static_cast<std::size_t>(j)]);
}

}  // namespace sarscale::svm::detail
