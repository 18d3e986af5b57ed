#include "cascade_check.hpp"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <unordered_set>

namespace sarscale::dist {

namespace {
constexpr std::int64_t kBlockRows = 256;  // own rows per kernel block (256 x new SVs doubles per thread)
}

CheckColumns::CheckColumns(const double* x, std::int64_t n, int dim, const svm::KernelParams& kernel,
                           std::size_t budget_bytes, int threads)
    : x_(x), n_(n), dim_(dim), kernel_(kernel), threads_(threads > 0 ? threads : omp_get_max_threads()) {
  const std::size_t column_bytes = static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(float);
  capacity_ = budget_bytes / column_bytes;
  xx_.resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) xx_[static_cast<std::size_t>(i)] = svm::dot(x + i * dim, x + i * dim, dim);
}

std::vector<double> CheckColumns::sums(const std::vector<std::int64_t>& ids, const double* sv_x,
                                       const std::vector<double>& coef) {
  const std::size_t m = ids.size();
  // Drop columns of support vectors that left the top set.
  const std::unordered_set<std::int64_t> wanted(ids.begin(), ids.end());
  for (auto it = slot_of_.begin(); it != slot_of_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    free_.push_back(it->second);
    it = slot_of_.erase(it);
  }
  // Per top position: its column, or null (evaluated on the fly). New columns while the budget lasts.
  std::vector<const float*> column(m, nullptr);
  std::vector<std::size_t> fresh;       // top positions whose column is computed now (and kept)
  std::vector<std::size_t> transient;   // top positions evaluated on the fly
  for (std::size_t j = 0; j < m; ++j) {
    const auto it = slot_of_.find(ids[j]);
    if (it != slot_of_.end()) {
      column[j] = slots_[it->second].get();
      continue;
    }
    std::size_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else if (slots_.size() < capacity_) {
      slot = slots_.size();
      slots_.emplace_back(new float[static_cast<std::size_t>(n_)]);
    } else {
      transient.push_back(j);
      continue;
    }
    slot_of_.emplace(ids[j], slot);
    column[j] = slots_[slot].get();
    fresh.push_back(j);
  }
  computed_ += static_cast<std::int64_t>(fresh.size());

  // Gather the rows to evaluate (fresh first, then transient) once.
  std::vector<std::size_t> evaluated = fresh;
  evaluated.insert(evaluated.end(), transient.begin(), transient.end());
  const auto ne = static_cast<std::int64_t>(evaluated.size());
  std::vector<double> ev_x(evaluated.size() * static_cast<std::size_t>(dim_)), ev_xx(evaluated.size());
  for (std::size_t e = 0; e < evaluated.size(); ++e) {
    const double* row = sv_x + evaluated[e] * static_cast<std::size_t>(dim_);
    std::copy_n(row, dim_, ev_x.data() + e * static_cast<std::size_t>(dim_));
    ev_xx[e] = svm::dot(row, row, dim_);
  }

  std::vector<double> out(static_cast<std::size_t>(n_), 0.0);
  const std::int64_t blocks = (n_ + kBlockRows - 1) / kBlockRows;
  std::exception_ptr error;
  // Threads: the constructor's count (the solver's --threads); blocks of own rows are independent.
#pragma omp parallel num_threads(threads_)
  {
    std::vector<double> k_block;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t b = 0; b < blocks; ++b) {
      try {
        const std::int64_t r0 = b * kBlockRows, rows = std::min(kBlockRows, n_ - r0);
        // K(evaluated SVs, own rows of the block): one SV's values are contiguous over the rows.
        k_block.resize(static_cast<std::size_t>(rows * ne));
        svm::kernel_block(kernel_, ev_x.data(), ne, x_ + r0 * dim_, rows, dim_, xx_.data() + r0, k_block.data());
        // Fresh columns are stored for the next passes.
        for (std::size_t e = 0; e < fresh.size(); ++e) {
          auto* col = const_cast<float*>(column[fresh[e]]) + r0;
          const double* k = k_block.data() + e * static_cast<std::size_t>(rows);
          for (std::int64_t r = 0; r < rows; ++r) col[r] = static_cast<float>(k[r]);
        }
        // Summed in top order per row; row-contiguous axpys over each column.
        double* acc = out.data() + r0;
        std::size_t t = 0;  // next transient position
        for (std::size_t j = 0; j < m; ++j) {
          const double c = coef[j];
          if (column[j]) {
            const float* col = column[j] + r0;
            for (std::int64_t r = 0; r < rows; ++r) acc[r] += c * col[r];
          } else {
            const double* k = k_block.data() + (fresh.size() + t++) * static_cast<std::size_t>(rows);
            for (std::int64_t r = 0; r < rows; ++r) acc[r] += c * k[r];
          }
        }
      } catch (...) {
#pragma omp critical(sarscale_cascade_check_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace sarscale::dist
