#pragma once
// Reproducible synthetic data for numerical tests.
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

namespace sarscale::test {

// n x d rows (row-major float32) of correlated Gaussian data from a fixed seed:
// x_j = base + step * j + sum_i z_i * mixing_ij with z ~ N(0, I) per row and a random mixing matrix.
inline std::vector<float> correlated_rows(std::size_t n, int d, unsigned seed, double base, double step) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const auto dim = static_cast<std::size_t>(d);
  std::vector<double> mixing(dim * dim);
  for (auto& m : mixing) m = normal(rng);
  std::vector<float> rows(n * dim);
  std::vector<double> z(dim);
  for (std::size_t r = 0; r < n; ++r) {
    for (auto& v : z) v = normal(rng);
    for (std::size_t j = 0; j < dim; ++j) {
      double x = base + step * static_cast<double>(j);
      for (std::size_t i = 0; i < dim; ++i) x += z[i] * mixing[i * dim + j];
      rows[r * dim + j] = static_cast<float>(x);
    }
  }
  return rows;
}

// Two overlapping Gaussian classes (+1, -1, alternating) in LIBSVM text: `features` columns, the
// first two shifted by +-0.9, so that many rows are support vectors.
inline void write_blobs(const std::filesystem::path& path, int rows, unsigned seed, int features = 8) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::ofstream out(path);
  for (int r = 0; r < rows; ++r) {
    const int label = r % 2 ? 1 : -1;
    out << label;
    for (int k = 1; k <= features; ++k) out << ' ' << k << ':' << normal(rng) + (k <= 2 ? 0.9 * label : 0.0);
    out << '\n';
  }
}

}  // namespace sarscale::test
