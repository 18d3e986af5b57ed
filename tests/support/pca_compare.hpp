#pragma once
// Comparing two PCA fits (e.g. across ranks against a single process).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "sarscale/features/pca.hpp"

namespace sarscale::test {

inline double relative_difference(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-300); }

// Largest relative difference between two fits (components compared as unit vectors up to
// sign). Records a test failure when their shapes differ.
inline double max_difference(const features::PcaModel& a, const features::PcaModel& b) {
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.n_samples, b.n_samples);
  EXPECT_EQ(a.n_components(), b.n_components());
  if (a.n_components() != b.n_components() || a.dim != b.dim) return std::numeric_limits<double>::infinity();
  double worst = relative_difference(a.total_variance, b.total_variance);
  for (std::size_t i = 0; i < a.mean.size(); ++i) {
    worst = std::max(worst, relative_difference(a.mean[i], b.mean[i]));
    worst = std::max(worst, relative_difference(a.scale[i], b.scale[i]));
  }
  const auto d = static_cast<std::size_t>(a.dim);
  for (std::size_t j = 0; j < a.eigenvalues.size(); ++j) {
    worst = std::max(worst, relative_difference(a.eigenvalues[j], b.eigenvalues[j]));
    worst = std::max(worst, relative_difference(a.explained_variance_ratio[j], b.explained_variance_ratio[j]));
    double dot = 0;
    for (std::size_t i = 0; i < d; ++i) dot += a.components[j * d + i] * b.components[j * d + i];
    const double sign = dot < 0 ? -1.0 : 1.0;
    for (std::size_t i = 0; i < d; ++i)
      worst = std::max(worst, std::abs(a.components[j * d + i] - sign * b.components[j * d + i]));
  }
  return worst;
}

}  // namespace sarscale::test
