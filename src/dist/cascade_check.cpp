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
  // The terms to add: every support vector whose coefficient changed (new ones included), and
  // minus the last coefficient of those that left the top set.
  struct Term {
    const double* row;
    double delta;
    const float* column;  // null: evaluated on the fly (and stored when `store` is set)
    float* store;
  };
  std::vector<Term> terms;
  const std::unordered_set<std::int64_t> wanted(ids.begin(), ids.end());
  std::vector<std::int64_t> departed;
  for (const auto& [id, entry] : known_)
    if (!wanted.count(id)) departed.push_back(id);
  std::sort(departed.begin(), departed.end());
  for (const auto id : departed) {  // their slots are free again for the new ones
    Entry& e = known_.at(id);
    if (e.slot >= 0) free_.push_back(static_cast<std::size_t>(e.slot));
  }
  for (std::size_t j = 0; j < ids.size(); ++j) {
    const double* row = sv_x + j * static_cast<std::size_t>(dim_);
    auto [it, added] = known_.try_emplace(ids[j]);
    Entry& e = it->second;
    if (added) e.row.assign(row, row + dim_);
    const double delta = coef[j] - e.coef;
    e.coef = coef[j];
    if (delta == 0.0) continue;
    float* store = nullptr;
    if (e.slot < 0) {
      if (!free_.empty()) {
        e.slot = static_cast<std::int64_t>(free_.back());
        free_.pop_back();
      } else if (slots_.size() < capacity_) {
        e.slot = static_cast<std::int64_t>(slots_.size());
        slots_.emplace_back(new float[static_cast<std::size_t>(n_)]);
      }
      if (e.slot >= 0) {
        store = slots_[static_cast<std::size_t>(e.slot)].get();
        ++computed_;
      }
    }
    terms.push_back({e.row.data(), delta, store || e.slot < 0 ? nullptr : slots_[static_cast<std::size_t>(e.slot)].get(),
                     store});
  }
  // Departed support vectors: their columns may have been handed to new ones above, so they are
  // evaluated from their rows (cheap: few leave between passes).
  for (const auto id : departed) terms.push_back({known_.at(id).row.data(), -known_.at(id).coef, nullptr, nullptr});

  // Rows to evaluate (no column yet), gathered once.
  std::vector<std::size_t> evaluated;
  for (std::size_t t = 0; t < terms.size(); ++t)
    if (!terms[t].column) evaluated.push_back(t);
  const auto ne = static_cast<std::int64_t>(evaluated.size());
  std::vector<double> ev_x(evaluated.size() * static_cast<std::size_t>(dim_)), ev_xx(evaluated.size());
  std::vector<std::size_t> position(terms.size(), 0);  // term -> row of the kernel block
  for (std::size_t e = 0; e < evaluated.size(); ++e) {
    const double* row = terms[evaluated[e]].row;
    std::copy_n(row, dim_, ev_x.data() + e * static_cast<std::size_t>(dim_));
    ev_xx[e] = svm::dot(row, row, dim_);
    position[evaluated[e]] = e;
  }
  if (sums_.empty()) sums_.assign(static_cast<std::size_t>(n_), 0.0);

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
        double* acc = sums_.data() + r0;
        for (const Term& t : terms) {  // in term order: the same sums for any thread count
          if (t.column) {
            const float* col = t.column + r0;
            for (std::int64_t r = 0; r < rows; ++r) acc[r] += t.delta * col[r];
            continue;
          }
          const double* k = k_block.data() + position[static_cast<std::size_t>(&t - terms.data())] * rows;
          if (t.store)
            for (std::int64_t r = 0; r < rows; ++r) t.store[r0 + r] = static_cast<float>(k[r]);
          for (std::int64_t r = 0; r < rows; ++r) acc[r] += t.delta * k[r];
        }
      } catch (...) {
#pragma omp critical(sarscale_cascade_check_error)
        if (!error) error = std::current_exception();
      }
    }
  }
  if (error) std::rethrow_exception(error);
  for (const auto id : departed) known_.erase(id);
  return sums_;
}

}  // namespace sarscale::dist
