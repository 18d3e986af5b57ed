#include "sarscale/detect/cfar_stats.hpp"

#include <cmath>
#include <limits>

#include "sarscale/core/error.hpp"

namespace sarscale::detect {
namespace {

// Acklam's rational approximation of the lower normal quantile (relative error < 1.2e-9),
// refined below by one Halley step on erfc.
double acklam_lower_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -acklam_lower_quantile(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// Continued fraction of the incomplete beta function (modified Lentz), as in Numerical Recipes'
// betacf; converges in O(sqrt(max(a, b))) terms for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m < 100000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < eps) return h;
  }
  throw Error("incomplete beta: the continued fraction did not converge");
}

// Solves pfa_of(T) = pfa for T > 0 (pfa_of decreasing from 1 at T = 0): a bracket by doubling,
// then the Illinois variant of regula falsi on log pfa_of(T) - log pfa (about 10 evaluations
// instead of bisection's 50; the factor table of a large ring needs one solve per ring size),
// falling back to bisection where the logarithm underflows. Deterministic.
template <class PfaOf>
double solve_factor(double pfa, PfaOf pfa_of) {
  const double log_pfa = std::log(pfa);
  auto g = [&](double t) { return std::log(pfa_of(t)) - log_pfa; };
  double lo = 0, hi = 1, g_lo = -log_pfa, g_hi = g(hi);
  while (g_hi > 0) {
    lo = hi;
    g_lo = g_hi;
    hi *= 2;
    if (hi > 1e300) throw ConfigError("CFAR: no threshold factor reaches the requested false-alarm probability");
    g_hi = g(hi);
  }
  int stale = 0;  // which end stayed put last time: -1 low, +1 high
  for (int i = 0; i < 400 && hi - lo > 1e-15 * hi; ++i) {
    double t = std::isfinite(g_hi) ? (lo * g_hi - hi * g_lo) / (g_hi - g_lo) : 0.5 * (lo + hi);
    if (!(t > lo && t < hi)) t = 0.5 * (lo + hi);
    const double g_t = g(t);
    if (std::fabs(g_t) < 1e-14) return t;
    if (g_t > 0) {
      lo = t;
      g_lo = g_t;
      if (stale == +1) g_hi /= 2;
      stale = +1;
    } else {
      hi = t;
      g_hi = g_t;
      if (stale == -1) g_lo /= 2;
      stale = -1;
    }
  }
  return hi;
}

void check_pfa(double pfa) {
  if (!(pfa > 0 && pfa < 1)) throw ConfigError("CFAR: the false-alarm probability must lie in (0, 1)");
}

}  // namespace

double normal_upper_tail(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

double normal_upper_quantile(double p) {
  check_pfa(p);
  double z = acklam_lower_quantile(p);  // lower quantile of p = minus the upper one
  // Halley step on Phi(z) - p, Phi(z) = 0.5 erfc(-z / sqrt 2) (accurate in the far tail).
  const double e = 0.5 * std::erfc(-z / std::sqrt(2.0)) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(z * z / 2);
  z -= u / (1 + z * u / 2);
  return -z;
}

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0 && b > 0) || !(x >= 0 && x <= 1)) throw Error("incomplete beta: arguments out of range");
  if (x == 0 || x == 1) return x;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) +
                           b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double gaussian_db_pfa(double factor, int cells) {
  const double v = cells - 1.0, t = factor / std::sqrt(1 + 1.0 / cells);
  if (t <= 0) return 1 - 0.5 * incomplete_beta(v / 2, 0.5, v / (v + t * t));
  return 0.5 * incomplete_beta(v / 2, 0.5, v / (v + t * t));
}

double gaussian_db_factor(double pfa, int cells) {
  check_pfa(pfa);
  if (cells < 2 || pfa >= 0.5) throw ConfigError("CFAR: Gaussian-in-dB needs at least 2 cells and Pfa < 0.5");
  return solve_factor(pfa, [&](double k) { return gaussian_db_pfa(k, cells); });
}

double ca_gamma_pfa(double factor, int cells, double looks) {
  if (looks == 1) return std::exp(-cells * std::log1p(factor));
  return incomplete_beta(cells * looks, looks, 1 / (1 + factor));
}

double ca_gamma_factor(double pfa, int cells, double looks) {
  check_pfa(pfa);
  if (cells < 1 || !(looks > 0)) throw ConfigError("CFAR: needs at least one cell and a positive number of looks");
  if (looks == 1) return std::expm1(-std::log(pfa) / cells);  // (1 + T)^-N = Pfa, exactly
  return solve_factor(pfa, [&](double t) { return ca_gamma_pfa(t, cells, looks); });
}

double os_exponential_pfa(double factor, int cells, int rank) {
  double log_pfa = 0;
  for (int i = 0; i < rank; ++i) log_pfa -= std::log1p(factor / (cells - i));
  return std::exp(log_pfa);
}

double os_exponential_factor(double pfa, int cells, int rank) {
  check_pfa(pfa);
  if (rank < 1 || rank > cells) throw ConfigError("CFAR: the order-statistic rank must lie in 1..N");
  return solve_factor(pfa, [&](double t) { return os_exponential_pfa(t, cells, rank); });
}

}  // namespace sarscale::detect
