// LIBSVM's Solver (svm.cpp, version 3.24) for C-SVC, ported step for step so that iterations,
// objective and rho match svm-train's; differences: a per-sample upper bound C_i, a warm start,
// and the kernel columns (kernel_cache.hpp).
#include "sarscale/svm/solver.hpp"

#include <omp.h>

#include <algorithm>
#include <optional>
#include <climits>
#include <cmath>
#include <limits>
#include <string>

#include "kernel_cache.hpp"
#include "sarscale/core/error.hpp"

namespace sarscale::svm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTau = 1e-12;  // LIBSVM's TAU: floor of a non-positive quadratic coefficient

class Smo {
 public:
  Smo(detail::SvcQ& q, std::vector<signed char> y, std::vector<double> c, std::vector<double> alpha, double eps,
      bool shrinking)
      : q_(q),
        qd_(q.get_QD()),
        y_(std::move(y)),
        c_(std::move(c)),
        alpha_(std::move(alpha)),
        l_(static_cast<int>(y_.size())),
        eps_(eps),
        shrinking_(shrinking) {}

  BinarySolution solve(std::int64_t max_iterations);

 private:
  enum Status : char { kLower, kUpper, kFree };
  bool is_upper(int i) const { return status_[i] == kUpper; }
  bool is_lower(int i) const { return status_[i] == kLower; }
  bool is_free(int i) const { return status_[i] == kFree; }
  void update_status(int i) { status_[i] = alpha_[i] >= c_[i] ? kUpper : alpha_[i] <= 0 ? kLower : kFree; }
  void swap_index(int i, int j);
  void reconstruct_gradient();
  bool select_working_set(int& out_i, int& out_j);  // false: optimal
  bool be_shrunk(int i, double gmax1, double gmax2) const;
  void do_shrinking();
  double calculate_rho() const;

  detail::SvcQ& q_;
  const double* qd_;
  std::vector<signed char> y_;
  std::vector<double> c_;
  std::vector<double> alpha_;
  int l_;
  double eps_;
  bool shrinking_;
  bool unshrink_ = false;
  int active_size_ = 0;
  std::vector<char> status_;
  std::vector<int> active_set_;
  std::vector<double> g_, g_bar_;  // gradient; sum of C_j Q_ij over upper-bound j
};

void Smo::swap_index(int i, int j) {
  q_.swap_index(i, j);
  qd_ = q_.get_QD();
  std::swap(y_[i], y_[j]);
  std::swap(g_[i], g_[j]);
  std::swap(status_[i], status_[j]);
  std::swap(alpha_[i], alpha_[j]);
  std::swap(c_[i], c_[j]);
  std::swap(active_set_[i], active_set_[j]);
  std::swap(g_bar_[i], g_bar_[j]);
}

// The gradient of the shrunk (inactive) variables, from G_bar and the free variables.
void Smo::reconstruct_gradient() {
  if (active_size_ == l_) return;
  int nr_free = 0;
  for (int j = active_size_; j < l_; ++j) g_[j] = g_bar_[j] - 1.0;  // p_j = -1
  for (int j = 0; j < active_size_; ++j)
    if (is_free(j)) ++nr_free;
  if (static_cast<double>(nr_free) * l_ > 2.0 * active_size_ * (l_ - active_size_)) {
    for (int i = active_size_; i < l_; ++i) {
      const float* q_i = q_.get_Q(i, active_size_);
      for (int j = 0; j < active_size_; ++j)
        if (is_free(j)) g_[i] += alpha_[j] * q_i[j];
    }
  } else {
    for (int i = 0; i < active_size_; ++i)
      if (is_free(i)) {
        const float* q_i = q_.get_Q(i, l_);
        const double alpha_i = alpha_[i];
        for (int j = active_size_; j < l_; ++j) g_[j] += alpha_i * q_i[j];
      }
  }
}

bool Smo::select_working_set(int& out_i, int& out_j) {
  double gmax = -kInf, gmax2 = -kInf;
  int gmax_idx = -1, gmin_idx = -1;
  double obj_diff_min = kInf;
  for (int t = 0; t < active_size_; ++t) {
    if (y_[t] == +1) {
      if (!is_upper(t) && -g_[t] >= gmax) {
        gmax = -g_[t];
        gmax_idx = t;
      }
    } else {
      if (!is_lower(t) && g_[t] >= gmax) {
        gmax = g_[t];
        gmax_idx = t;
      }
    }
  }
  const int i = gmax_idx;
  const float* q_i = i != -1 ? q_.get_Q(i, active_size_) : nullptr;
  for (int j = 0; j < active_size_; ++j) {
    if (y_[j] == +1) {
      if (!is_lower(j)) {
        const double grad_diff = gmax + g_[j];
        if (g_[j] >= gmax2) gmax2 = g_[j];
        if (grad_diff > 0) {
          const double quad_coef = qd_[i] + qd_[j] - 2.0 * y_[i] * q_i[j];
          const double obj_diff = -(grad_diff * grad_diff) / (quad_coef > 0 ? quad_coef : kTau);
          if (obj_diff <= obj_diff_min) {
            gmin_idx = j;
            obj_diff_min = obj_diff;
          }
        }
      }
    } else {
      if (!is_upper(j)) {
        const double grad_diff = gmax - g_[j];
        if (-g_[j] >= gmax2) gmax2 = -g_[j];
        if (grad_diff > 0) {
          const double quad_coef = qd_[i] + qd_[j] + 2.0 * y_[i] * q_i[j];
          const double obj_diff = -(grad_diff * grad_diff) / (quad_coef > 0 ? quad_coef : kTau);
          if (obj_diff <= obj_diff_min) {
            gmin_idx = j;
            obj_diff_min = obj_diff;
          }
        }
      }
    }
  }
  if (gmax + gmax2 < eps_ || gmin_idx == -1) return false;
  out_i = gmax_idx;
  out_j = gmin_idx;
  return true;
}

bool Smo::be_shrunk(int i, double gmax1, double gmax2) const {
  if (is_upper(i)) return y_[i] == +1 ? -g_[i] > gmax1 : -g_[i] > gmax2;
  if (is_lower(i)) return y_[i] == +1 ? g_[i] > gmax2 : g_[i] > gmax1;
  return false;
}

void Smo::do_shrinking() {
  double gmax1 = -kInf;  // max { -y_i grad_i | i in I_up }
  double gmax2 = -kInf;  // max {  y_i grad_i | i in I_low }
  for (int i = 0; i < active_size_; ++i) {
    if (y_[i] == +1) {
      if (!is_upper(i) && -g_[i] >= gmax1) gmax1 = -g_[i];
      if (!is_lower(i) && g_[i] >= gmax2) gmax2 = g_[i];
    } else {
      if (!is_upper(i) && -g_[i] >= gmax2) gmax2 = -g_[i];
      if (!is_lower(i) && g_[i] >= gmax1) gmax1 = g_[i];
    }
  }
  // Close to the end: un-shrink once, so the final iterations see every variable.
  if (!unshrink_ && gmax1 + gmax2 <= eps_ * 10) {
    unshrink_ = true;
    reconstruct_gradient();
    active_size_ = l_;
  }
  for (int i = 0; i < active_size_; ++i)
    if (be_shrunk(i, gmax1, gmax2)) {
      --active_size_;
      while (active_size_ > i) {
        if (!be_shrunk(active_size_, gmax1, gmax2)) {
          swap_index(i, active_size_);
          break;
        }
        --active_size_;
      }
    }
}

double Smo::calculate_rho() const {
  int nr_free = 0;
  double ub = kInf, lb = -kInf, sum_free = 0;
  for (int i = 0; i < active_size_; ++i) {
    const double yg = y_[i] * g_[i];
    if (is_upper(i)) {
      if (y_[i] == -1)
        ub = std::min(ub, yg);
      else
        lb = std::max(lb, yg);
    } else if (is_lower(i)) {
      if (y_[i] == +1)
        ub = std::min(ub, yg);
      else
        lb = std::max(lb, yg);
    } else {
      ++nr_free;
      sum_free += yg;
    }
  }
  return nr_free > 0 ? sum_free / nr_free : (ub + lb) / 2;
}

BinarySolution Smo::solve(std::int64_t max_iterations) {
  status_.resize(static_cast<std::size_t>(l_));
  for (int i = 0; i < l_; ++i) update_status(i);
  active_set_.resize(static_cast<std::size_t>(l_));
  for (int i = 0; i < l_; ++i) active_set_[i] = i;
  active_size_ = l_;
  g_.assign(static_cast<std::size_t>(l_), -1.0);  // p = -e
  g_bar_.assign(static_cast<std::size_t>(l_), 0.0);
  for (int i = 0; i < l_; ++i)
    if (!is_lower(i)) {  // warm start: the gradient of the starting point
      const float* q_i = q_.get_Q(i, l_);
      const double alpha_i = alpha_[i];
      for (int j = 0; j < l_; ++j) g_[j] += alpha_i * q_i[j];
      if (is_upper(i))
        for (int j = 0; j < l_; ++j) g_bar_[j] += c_[i] * q_i[j];
    }

  const std::int64_t max_iter =
      max_iterations > 0 ? max_iterations
                         : std::max<std::int64_t>(10000000, l_ > INT_MAX / 100 ? INT_MAX : 100 * std::int64_t{l_});
  std::int64_t iter = 0;
  int counter = std::min(l_, 1000) + 1;
  while (iter < max_iter) {
    if (--counter == 0) {
      counter = std::min(l_, 1000);
      if (shrinking_) do_shrinking();
    }
    int i = 0, j = 0;
    if (!select_working_set(i, j)) {
      reconstruct_gradient();
      active_size_ = l_;
      if (!select_working_set(i, j)) break;
      counter = 1;  // shrink at the next iteration
    }
    ++iter;

    const float* q_i = q_.get_Q(i, active_size_);
    const float* q_j = q_.get_Q(j, active_size_);
    const double c_i = c_[i], c_j = c_[j];
    const double old_alpha_i = alpha_[i], old_alpha_j = alpha_[j];
    if (y_[i] != y_[j]) {
      double quad_coef = qd_[i] + qd_[j] + 2 * q_i[j];
      if (quad_coef <= 0) quad_coef = kTau;
      const double delta = (-g_[i] - g_[j]) / quad_coef;
      const double diff = alpha_[i] - alpha_[j];
      alpha_[i] += delta;
      alpha_[j] += delta;
      if (diff > 0) {
        if (alpha_[j] < 0) {
          alpha_[j] = 0;
          alpha_[i] = diff;
        }
      } else if (alpha_[i] < 0) {
        alpha_[i] = 0;
        alpha_[j] = -diff;
      }
      if (diff > c_i - c_j) {
        if (alpha_[i] > c_i) {
          alpha_[i] = c_i;
          alpha_[j] = c_i - diff;
        }
      } else if (alpha_[j] > c_j) {
        alpha_[j] = c_j;
        alpha_[i] = c_j + diff;
      }
    } else {
      double quad_coef = qd_[i] + qd_[j] - 2 * q_i[j];
      if (quad_coef <= 0) quad_coef = kTau;
      const double delta = (g_[i] - g_[j]) / quad_coef;
      const double sum = alpha_[i] + alpha_[j];
      alpha_[i] -= delta;
      alpha_[j] += delta;
      if (sum > c_i) {
        if (alpha_[i] > c_i) {
          alpha_[i] = c_i;
          alpha_[j] = sum - c_i;
        }
      } else if (alpha_[j] < 0) {
        alpha_[j] = 0;
        alpha_[i] = sum;
      }
      if (sum > c_j) {
        if (alpha_[j] > c_j) {
          alpha_[j] = c_j;
          alpha_[i] = sum - c_j;
        }
      } else if (alpha_[i] < 0) {
        alpha_[i] = 0;
        alpha_[j] = sum;
      }
    }

    const double delta_i = alpha_[i] - old_alpha_i, delta_j = alpha_[j] - old_alpha_j;
    for (int k = 0; k < active_size_; ++k) g_[k] += q_i[k] * delta_i + q_j[k] * delta_j;

    const bool ui = is_upper(i), uj = is_upper(j);
    update_status(i);
    update_status(j);
    if (ui != is_upper(i)) {
      q_i = q_.get_Q(i, l_);
      const double s = ui ? -c_i : c_i;
      for (int k = 0; k < l_; ++k) g_bar_[k] += s * q_i[k];
    }
    if (uj != is_upper(j)) {
      q_j = q_.get_Q(j, l_);
      const double s = uj ? -c_j : c_j;
      for (int k = 0; k < l_; ++k) g_bar_[k] += s * q_j[k];
    }
  }

  BinarySolution out;
  out.reached_max_iterations = iter >= max_iter;
  if (out.reached_max_iterations && active_size_ < l_) {
    reconstruct_gradient();
    active_size_ = l_;
  }
  out.rho = calculate_rho();
  double v = 0;
  for (int i = 0; i < l_; ++i) v += alpha_[i] * (g_[i] - 1.0);
  out.objective = v / 2;
  out.iterations = iter;
  out.alpha.resize(static_cast<std::size_t>(l_));
  out.gradient.resize(static_cast<std::size_t>(l_));
  for (int i = 0; i < l_; ++i) {
    out.alpha[static_cast<std::size_t>(active_set_[i])] = alpha_[i];
    out.gradient[static_cast<std::size_t>(active_set_[i])] = g_[i];
    if (alpha_[i] > 0) {
      ++out.n_sv;
      if (alpha_[i] >= c_[i]) ++out.n_bsv;
    }
  }
  out.kernel_evaluations = q_.kernel_evaluations();
  return out;
}

// A feasible start: alpha clipped to [0, C_i], then the side (y = +1 or -1) with the larger
// sum scaled down until y^T alpha = 0.
std::vector<double> feasible_start(const BinaryProblem& p) {
  std::vector<double> a(static_cast<std::size_t>(p.n), 0.0);
  if (p.initial_alpha.empty()) return a;
  double pos = 0, neg = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double v = p.initial_alpha[i];
    a[i] = std::isfinite(v) ? std::clamp(v, 0.0, p.C[i]) : 0.0;
    (p.y[i] > 0 ? pos : neg) += a[i];
  }
  if (pos != neg) {
    const bool shrink_pos = pos > neg;
    const double factor = shrink_pos ? neg / pos : pos / neg;
    for (std::size_t i = 0; i < a.size(); ++i)
      if ((p.y[i] > 0) == shrink_pos) a[i] *= factor;
  }
  return a;
}

}  // namespace

BinarySolution solve_c_svc(const BinaryProblem& p, const SolverOptions& options) {
  validate(p.kernel);
  const auto n = static_cast<std::size_t>(p.n);
  if (p.n < 0 || p.n > INT_MAX) throw ConfigError("solve_c_svc: the problem size must be in [0, 2^31)");
  if (p.dim < 0 || (p.n > 0 && !p.x && !p.gram)) throw ConfigError("solve_c_svc: no data");
  if (p.y.size() != n || p.C.size() != n || (!p.initial_alpha.empty() && p.initial_alpha.size() != n))
    throw ConfigError("solve_c_svc: y, C and initial alpha must have one value per row");
  for (std::size_t i = 0; i < n; ++i) {
    if (p.y[i] != 1 && p.y[i] != -1) throw ConfigError("solve_c_svc: labels must be +1 or -1");
    if (!(p.C[i] > 0) || !std::isfinite(p.C[i])) throw ConfigError("solve_c_svc: C must be positive and finite");
  }
  if (p.kernel.type != KernelType::linear && !(p.kernel.gamma > 0))
    throw ConfigError("solve_c_svc: gamma must be set (> 0) for the " + to_string(p.kernel.type) + " kernel");
  if (!(options.eps > 0)) throw ConfigError("solve_c_svc: eps must be positive");
  if (p.n == 0) return {};

  if (p.gram) {
    bool inside = p.gram_rows.size() == n;
    for (std::size_t i = 0; inside && i < n; ++i) inside = p.gram_rows[i] >= 0 && p.gram_rows[i] < p.gram->n;
    if (!inside) throw ConfigError("solve_c_svc: gram_rows must name one row of the Gram matrix per row");
  }
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  std::optional<detail::SvcQ> q;
  if (p.gram)
    q.emplace(*p.gram, p.gram_rows, p.y, p.kernel, options.cache_bytes);
  else
    q.emplace(p.x, static_cast<int>(p.n), p.dim, p.y, p.kernel, options.cache_bytes, threads);
  Smo smo(*q, p.y, p.C, feasible_start(p), options.eps, options.shrinking);
  return smo.solve(options.max_iterations);
}

}  // namespace sarscale::svm
