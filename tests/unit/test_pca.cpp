#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "random_data.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/features/pca.hpp"

using sarscale::ConfigError;
using sarscale::InputError;
using sarscale::features::fit_pca;
using sarscale::features::Moments;
using sarscale::features::pca_from_arrays;
using sarscale::features::pca_to_arrays;
using sarscale::features::PcaModel;
using sarscale::features::PcaOptions;

namespace {

// Correlated Gaussian rows whose feature j is offset by `offset + j`.
std::vector<float> correlated_rows(std::size_t n, int d, unsigned seed, double offset) {
  return sarscale::test::correlated_rows(n, d, seed, offset, 1.0);
}

// Reference moments by two passes in long double.
void reference_moments(const std::vector<float>& rows, int d, std::vector<long double>& mean,
                       std::vector<long double>& m2) {
  const std::size_t n = rows.size() / static_cast<std::size_t>(d);
  const auto du = static_cast<std::size_t>(d);
  mean.assign(du, 0.0L);
  m2.assign(du * du, 0.0L);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t j = 0; j < du; ++j) mean[j] += rows[r * du + j];
  for (auto& m : mean) m /= static_cast<long double>(n);
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t i = 0; i < du; ++i)
      for (std::size_t j = 0; j < du; ++j)
        m2[i * du + j] += (rows[r * du + i] - mean[i]) * (rows[r * du + j] - mean[j]);
}

// A Householder reflection: an orthonormal (symmetric) d x d matrix, rows = basis vectors.
std::vector<double> orthonormal_basis(int d) {
  std::vector<double> v(static_cast<std::size_t>(d));
  for (int i = 0; i < d; ++i) v[static_cast<std::size_t>(i)] = 1.0 + 0.37 * i * i - 0.9 * i;
  double norm2 = 0;
  for (double x : v) norm2 += x * x;
  std::vector<double> q(static_cast<std::size_t>(d * d));
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j)
      q[static_cast<std::size_t>(i * d + j)] =
          (i == j ? 1.0 : 0.0) - 2.0 * v[static_cast<std::size_t>(i)] * v[static_cast<std::size_t>(j)] / norm2;
  return q;
}

// Rows mean +- s_i q_i (i < d): mean is exact, sample covariance is sum 2 s_i^2 q_i q_i^T / (2d - 1).
struct KnownData {
  int d = 5;
  std::vector<double> q, s{4.0, 2.0 * std::sqrt(2.0), 2.0, std::sqrt(2.0), 1.0};
  std::vector<float> rows;
  KnownData() {
    q = orthonormal_basis(d);
    for (int i = 0; i < d; ++i)
      for (double sign : {1.0, -1.0})
        for (int j = 0; j < d; ++j)
          rows.push_back(static_cast<float>(10.0 * j + sign * s[static_cast<std::size_t>(i)] *
                                                           q[static_cast<std::size_t>(i * d + j)]));
  }
  double eigenvalue(int i) const {
    return 2.0 * s[static_cast<std::size_t>(i)] * s[static_cast<std::size_t>(i)] / (2.0 * d - 1.0);
  }
  Moments moments() const {
    Moments m(d);
    m.add_rows(rows.data(), rows.size() / static_cast<std::size_t>(d), d);
    return m;
  }
};

}  // namespace

TEST(PcaMoments, MergeOfRandomSplitsEqualsOnePass) {
  const int d = 7;
  const std::size_t n = 1000;
  const auto rows = correlated_rows(n, d, 11, 1000.0);  // a large offset tests stability
  std::vector<long double> ref_mean, ref_m2;
  reference_moments(rows, d, ref_mean, ref_m2);
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    // Random cut points; some parts are fed row by row, others in blocks.
    std::vector<std::size_t> cuts{0, n};
    for (int c = 0; c < trial % 6; ++c) cuts.push_back(rng() % (n + 1));
    std::sort(cuts.begin(), cuts.end());
    Moments total(d);
    for (std::size_t p = 0; p + 1 < cuts.size(); ++p) {
      Moments part(d);
      if ((p + static_cast<std::size_t>(trial)) % 3 == 0) {
        for (std::size_t r = cuts[p]; r < cuts[p + 1]; ++r) part.add(rows.data() + r * d, d);
      } else {
        part.add_rows(rows.data() + cuts[p] * d, cuts[p + 1] - cuts[p], d);
      }
      // Serialization is lossless.
      const auto flat = part.serialize();
      total.merge(Moments::deserialize(flat.data(), flat.size()));
    }
    ASSERT_EQ(total.count(), n);
    double worst = 0;
    for (int i = 0; i < d; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      worst = std::max(worst, static_cast<double>(std::abs(total.mean()[ui] - ref_mean[ui]) / std::abs(ref_mean[ui])));
      for (int j = 0; j < d; ++j) {
        const auto k = static_cast<std::size_t>(i * d + j);
        const long double scale = std::sqrt(ref_m2[ui * d + ui] * ref_m2[static_cast<std::size_t>(j * d + j)]);
        worst = std::max(worst, static_cast<double>(std::abs(total.m2()[k] - ref_m2[k]) / scale));
      }
    }
    EXPECT_LT(worst, 1e-12) << "trial " << trial << " with " << cuts.size() - 1 << " parts";
  }
}

TEST(PcaMoments, FlaggedRowsAreExcludedAndBadRowsRejected) {
  const int d = 4;
  auto rows = correlated_rows(50, d, 3, 0.0);
  std::vector<std::uint8_t> flags(50, 0);
  std::vector<float> kept;
  for (std::size_t r = 0; r < 50; ++r) {
    if (r % 4 == 1) {
      flags[r] = 1;
      rows[r * d + 2] = std::numeric_limits<float>::quiet_NaN();  // flagged: ignored
    } else {
      kept.insert(kept.end(), rows.begin() + static_cast<std::ptrdiff_t>(r * d),
                  rows.begin() + static_cast<std::ptrdiff_t>((r + 1) * d));
    }
  }
  Moments flagged(d), reference(d);
  flagged.add_rows(rows.data(), 50, d, flags.data());
  reference.add_rows(kept.data(), kept.size() / d, d);
  EXPECT_EQ(flagged.count(), 37u);
  for (int i = 0; i < d * d; ++i) EXPECT_NEAR(flagged.m2()[i], reference.m2()[i], 1e-9 * std::abs(reference.m2()[i]));

  Moments untouched(d);
  EXPECT_THROW(untouched.add_rows(rows.data(), 50, d), InputError);  // NaN in an unflagged row
  EXPECT_EQ(untouched.count(), 0u);
  EXPECT_THROW(untouched.add_rows(rows.data(), 50, d + 1), ConfigError);
  const std::vector<double> bad{3.0, 1.0, 0.0};
  EXPECT_THROW(Moments::deserialize(bad.data(), bad.size()), InputError);
}

TEST(Pca, RecoversKnownEigenvaluesAndVectors) {
  const KnownData data;
  PcaOptions options;
  options.standardise = false;
  const PcaModel model = fit_pca(data.moments(), options);
  ASSERT_EQ(model.n_components(), data.d);
  EXPECT_EQ(model.n_samples, 10u);
  double total = 0;
  for (int i = 0; i < data.d; ++i) total += data.eigenvalue(i);
  EXPECT_NEAR(model.total_variance, total, 1e-5 * total);
  for (int i = 0; i < data.d; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    EXPECT_NEAR(model.eigenvalues[ui], data.eigenvalue(i), 1e-5 * data.eigenvalue(i)) << i;
    EXPECT_NEAR(model.explained_variance_ratio[ui], data.eigenvalue(i) / total, 1e-6) << i;
    EXPECT_NEAR(model.mean[ui], 10.0 * i, 1e-5);
    EXPECT_EQ(model.scale[ui], 1.0);
    // Same direction up to sign, and the sign convention holds: the largest |element| is positive.
    double dot = 0, largest = 0;
    for (int j = 0; j < data.d; ++j) {
      const double c = model.components[ui * data.d + static_cast<std::size_t>(j)];
      dot += c * data.q[ui * data.d + static_cast<std::size_t>(j)];
      if (std::abs(c) > std::abs(largest)) largest = c;
    }
    EXPECT_NEAR(std::abs(dot), 1.0, 1e-6) << i;
    EXPECT_GT(largest, 0.0) << i;
  }
}

TEST(Pca, ExplainedVarianceChoosesTheFewestComponents) {
  const KnownData data;  // ratios 16, 8, 4, 2, 1 over 31: cumulative .516 .774 .903 .968 1
  const Moments moments = data.moments();
  const std::vector<std::pair<double, int>> cases{{0.5, 1}, {0.6, 2}, {0.9, 3}, {0.95, 4}, {0.99, 5}, {1.0, 5}};
  for (const auto& [fraction, expected] : cases) {
    PcaOptions options;
    options.standardise = false;
    options.explained_variance = fraction;
    const PcaModel model = fit_pca(moments, options);
    EXPECT_EQ(model.n_components(), expected) << fraction;
    EXPECT_EQ(model.components.size(), static_cast<std::size_t>(expected * data.d));
  }
  PcaOptions two;
  two.components = 2;
  EXPECT_EQ(fit_pca(moments, two).n_components(), 2);
}

TEST(Pca, WhiteningGivesUnitVarianceOnTrainingData) {
  const int d = 6, k = 4;
  const std::size_t n = 2000;
  const auto rows = correlated_rows(n, d, 21, 50.0);
  Moments moments(d);
  moments.add_rows(rows.data(), n, d);
  PcaOptions options;
  options.components = k;
  options.whiten = true;
  const PcaModel model = fit_pca(moments, options);
  std::vector<float> out(n * k);
  model.apply(rows.data(), n, out.data());
  for (int a = 0; a < k; ++a) {
    for (int b = 0; b <= a; ++b) {
      double mean_a = 0, mean_b = 0, cov = 0;
      for (std::size_t r = 0; r < n; ++r) mean_a += out[r * k + a], mean_b += out[r * k + b];
      mean_a /= n;
      mean_b /= n;
      for (std::size_t r = 0; r < n; ++r) cov += (out[r * k + a] - mean_a) * (out[r * k + b] - mean_b);
      cov /= static_cast<double>(n - 1);
      EXPECT_NEAR(cov, a == b ? 1.0 : 0.0, 1e-5) << a << "," << b;
      EXPECT_NEAR(mean_a, 0.0, 1e-5);
    }
  }
}

TEST(Pca, ConstantFeatureDoesNotProduceNaN) {
  const int d = 5;
  const std::size_t n = 300;
  auto rows = correlated_rows(n, d, 8, 0.0);
  for (std::size_t r = 0; r < n; ++r) rows[r * d + 2] = 3.7f;
  Moments moments(d);
  moments.add_rows(rows.data(), n, d);
  const PcaModel model = fit_pca(moments, PcaOptions{});
  EXPECT_EQ(model.scale[2], 1.0);
  // Four unit-variance (ddof 0) features: the trace of the ddof-1 covariance is 4 n / (n - 1).
  EXPECT_NEAR(model.total_variance, 4.0 * n / (n - 1.0), 1e-9);
  EXPECT_NEAR(model.eigenvalues.back(), 0.0, 1e-9);
  for (double c : model.components) EXPECT_TRUE(std::isfinite(c));
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(model.components[static_cast<std::size_t>(j * d + 2)], 0.0, 1e-9);
  std::vector<float> out(n * d);
  model.apply(rows.data(), n, out.data());
  for (float v : out) ASSERT_TRUE(std::isfinite(v));

  // Whitening with a zero-variance component must not divide by zero either.
  PcaOptions whiten;
  whiten.whiten = true;
  const PcaModel whitened = fit_pca(moments, whiten);
  whitened.apply(rows.data(), n, out.data());
  for (float v : out) ASSERT_TRUE(std::isfinite(v));
}

TEST(Pca, BatchApplyEqualsSingleApply) {
  const int d = 9;
  const std::size_t n = 257;
  const auto rows = correlated_rows(n, d, 4, -20.0);
  Moments moments(d);
  moments.add_rows(rows.data(), n, d);
  PcaOptions options;
  options.explained_variance = 0.8;
  options.whiten = true;
  const PcaModel model = fit_pca(moments, options);
  const auto k = static_cast<std::size_t>(model.n_components());
  ASSERT_GT(k, 0u);
  std::vector<float> batch(n * k), single(n * k);
  model.apply(rows.data(), n, batch.data());
  for (std::size_t r = 0; r < n; ++r) model.apply(rows.data() + r * d, single.data() + r * k);
  EXPECT_EQ(0, std::memcmp(batch.data(), single.data(), batch.size() * sizeof(float)));
  // And the projection is the documented formula.
  double expected = 0;
  for (int i = 0; i < d; ++i)
    expected += model.components[static_cast<std::size_t>(i)] * (rows[static_cast<std::size_t>(i)] - model.mean[i]) /
                model.scale[i];
  EXPECT_NEAR(batch[0], expected / std::sqrt(model.eigenvalues[0]), 1e-5);
}

TEST(Pca, SaveLoadRoundTrip) {
  const int d = 6;
  const auto rows = correlated_rows(100, d, 9, 1.0);
  Moments moments(d);
  moments.add_rows(rows.data(), 100, d);
  PcaOptions options;
  options.components = 3;
  options.whiten = true;
  const PcaModel model = fit_pca(moments, options);
  const auto arrays = pca_to_arrays(model);
  const PcaModel loaded = pca_from_arrays(arrays);
  EXPECT_EQ(loaded.dim, model.dim);
  EXPECT_EQ(loaded.n_samples, model.n_samples);
  EXPECT_EQ(loaded.options.components, 3);
  EXPECT_TRUE(loaded.options.whiten);
  EXPECT_EQ(loaded.mean, model.mean);
  EXPECT_EQ(loaded.scale, model.scale);
  EXPECT_EQ(loaded.components, model.components);
  EXPECT_EQ(loaded.eigenvalues, model.eigenvalues);
  EXPECT_EQ(loaded.explained_variance_ratio, model.explained_variance_ratio);
  EXPECT_EQ(loaded.total_variance, model.total_variance);
  std::vector<float> a(100 * 3), b(100 * 3);
  model.apply(rows.data(), 100, a.data());
  loaded.apply(rows.data(), 100, b.data());
  EXPECT_EQ(a, b);

  auto missing = arrays;
  missing.erase("scale");
  EXPECT_THROW(pca_from_arrays(missing), InputError);
  auto short_components = arrays;
  short_components["components"].pop_back();
  EXPECT_THROW(pca_from_arrays(short_components), InputError);
}

TEST(Pca, RejectsBadOptionsAndTooLittleData) {
  const KnownData data;
  const Moments moments = data.moments();
  PcaOptions both;
  both.components = 2;
  both.explained_variance = 0.5;
  EXPECT_THROW(fit_pca(moments, both), ConfigError);
  PcaOptions too_many;
  too_many.components = data.d + 1;
  EXPECT_THROW(fit_pca(moments, too_many), ConfigError);
  PcaOptions fraction;
  fraction.explained_variance = 1.5;
  EXPECT_THROW(fit_pca(moments, fraction), ConfigError);
  Moments one(data.d);
  one.add(data.rows.data(), data.d);
  EXPECT_THROW(fit_pca(one, PcaOptions{}), InputError);
  EXPECT_THROW(PcaModel{}.apply(data.rows.data(), nullptr), ConfigError);
}
