#pragma once
// The statistics behind the CFAR thresholds: a normal quantile, the regularised incomplete beta
// function, and the threshold factors that give a requested false-alarm probability (Pfa) under
// each clutter model. Pure functions; docs/detection.md derives the formulas.
namespace sarscale::detect {

// k such that P(Z > k) = p for a standard normal Z (0 < p < 1): the Gaussian-in-dB CFAR's
// threshold is mean + k * std of the background in dB. Accurate to ~1e-14 relative.
double normal_upper_quantile(double p);

// P(Z > z) for a standard normal Z, as 0.5 erfc(z / sqrt 2).
double normal_upper_tail(double z);

// The regularised incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1.
double incomplete_beta(double a, double b, double x);

// Cell-averaging CFAR with Gaussian clutter in dB: the test y > m + k s, m and s the mean and
// the sample standard deviation (n - 1) of N background cells, has
//   Pfa(k) = P(t_{N-1} > k / sqrt(1 + 1/N))
// exactly (y - m is N(0, sigma^2 (1 + 1/N)) and independent of s), t_v Student's t with v degrees
// of freedom; P(t_v > t) = I_{v/(v+t^2)}(v/2, 1/2) / 2. Returns k; it tends to
// normal_upper_quantile(Pfa) as N grows. Needs N >= 2.
double gaussian_db_factor(double pfa, int cells);
double gaussian_db_pfa(double factor, int cells);

// Cell-averaging CFAR on L-look gamma (L = 1: exponential) intensity with N background cells
// of sum S: the test x > T * S has false-alarm probability
//   Pfa(T) = I_{1/(1+T)}(N L, L)
// (x / (x + S) is Beta(L, N L) when x and the cells share one gamma law); for L = 1 this is
// (1 + T)^(-N), so T = Pfa^(-1/N) - 1 (the exact CA-CFAR formula for exponential clutter, e.g.
// Richards, Fundamentals of Radar Signal Processing, 2nd ed., sec. 7.3; Gandhi & Kassam, IEEE
// Trans. AES 24(4), 1988). Returns T (the threshold over the *sum*; alpha = N T over the mean).
double ca_gamma_factor(double pfa, int cells, double looks);

// The false-alarm probability of that test for a given T (the inverse of ca_gamma_factor).
double ca_gamma_pfa(double factor, int cells, double looks);

// Order-statistic CFAR on exponential (single-look) intensity, the k-th smallest of N cells as
// the clutter estimate: the test x > T * X_(k) has
//   Pfa(T) = prod_{i=0}^{k-1} (N - i) / (N - i + T)
// (Rohling, IEEE Trans. AES 19(4), 1983, eq. 13). Returns T.
double os_exponential_factor(double pfa, int cells, int rank);

// Pfa of that test for a given T.
double os_exponential_pfa(double factor, int cells, int rank);

}  // namespace sarscale::detect
