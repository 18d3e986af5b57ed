#pragma once
// Test helpers for the CFAR tests: synthetic clutter scenes and a brute-force CFAR that looks at
// every ring cell of every pixel (no running sums, no fixed point, no order-statistic tree).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "sarscale/detect/cfar.hpp"

namespace cfar_test {

using sarscale::detect::Cfar;
using sarscale::detect::CfarMethod;
using sarscale::detect::CfarParams;
using sarscale::detect::ClutterModel;
using sarscale::detect::Rect;
using sarscale::detect::SceneWindow;

struct Scene {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> pixels;
  SceneWindow whole() const { return {pixels.data(), 0, 0, rows, cols, cols, rows, cols}; }
  float& at(std::int64_t r, std::int64_t c) { return pixels[static_cast<std::size_t>(r * cols + c)]; }
  float at(std::int64_t r, std::int64_t c) const { return pixels[static_cast<std::size_t>(r * cols + c)]; }
};

// L-look gamma clutter of mean `level` (L = 1: exponential).
inline Scene gamma_clutter(std::int64_t rows, std::int64_t cols, double looks, double level, std::uint64_t seed) {
  Scene s{rows, cols, std::vector<float>(static_cast<std::size_t>(rows * cols))};
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> g(looks, level / looks);
  for (float& x : s.pixels) x = static_cast<float>(g(rng));
  return s;
}

// A bright rectangle ("target") with top-left (r, c), clipped to the scene.
inline void add_target(Scene& s, std::int64_t r, std::int64_t c, int h, int w, float value) {
  for (std::int64_t i = std::max<std::int64_t>(0, r); i < std::min(s.rows, r + h); ++i)
    for (std::int64_t j = std::max<std::int64_t>(0, c); j < std::min(s.cols, c + w); ++j) s.at(i, j) = value * (1 + 0.1f * static_cast<float>((i + j) % 3));
}

struct Reference {
  std::vector<std::uint8_t> flags;
  std::vector<double> scores;  // NaN where untested
};

inline bool valid(float x, float nodata) { return std::isfinite(x) && x >= 0 && x != nodata; }

// The CFAR's rule (cfar.hpp), pixel by pixel with a direct look at every ring cell.
inline Reference brute_force(const Scene& s, const Cfar& cfar) {
  const CfarParams& p = cfar.params();
  const int h = cfar.halo(), g = p.guard;
  Reference ref{std::vector<std::uint8_t>(s.pixels.size(), 0),
                std::vector<double>(s.pixels.size(), std::numeric_limits<double>::quiet_NaN())};
  std::vector<double> ring;
  for (std::int64_t r = 0; r < s.rows; ++r)
    for (std::int64_t c = 0; c < s.cols; ++c) {
      ring.clear();
      for (std::int64_t i = r - h; i <= r + h; ++i)
        for (std::int64_t j = c - h; j <= c + h; ++j) {
          if (i < 0 || j < 0 || i >= s.rows || j >= s.cols) continue;
          if (std::abs(i - r) <= g && std::abs(j - c) <= g) continue;
          const float v = s.at(i, j);
          if (!valid(v, p.nodata)) continue;
          ring.push_back(p.model == ClutterModel::gaussian_db ? 10 * std::log10(static_cast<double>(std::max(v, p.db_floor))) : v);
        }
      const float x = s.at(r, c);
      const int n = static_cast<int>(ring.size());
      if (!valid(x, p.nodata) || n < cfar.min_cells()) continue;
      double score = 0;
      if (p.method == CfarMethod::order_statistic) {
        const int k = std::clamp(static_cast<int>(std::ceil(p.os_rank * n)), 1, n);
        std::nth_element(ring.begin(), ring.begin() + (k - 1), ring.end());
        score = 10 * std::log10(x / (cfar.factor(n) * ring[static_cast<std::size_t>(k - 1)]));
      } else if (p.model == ClutterModel::gamma) {
        long double sum = 0;
        for (double v : ring) sum += v;
        score = 10 * std::log10(x / (cfar.factor(n) * static_cast<double>(sum)));
      } else {
        long double sum = 0, sq = 0;
        for (double v : ring) sum += v;
        const long double mean = sum / n;
        for (double v : ring) sq += (v - mean) * (v - mean);
        const double thr = static_cast<double>(mean) + cfar.factor(n) * std::sqrt(static_cast<double>(sq / (n - 1)));
        score = 10 * std::log10(static_cast<double>(std::max(x, p.db_floor))) - thr;
      }
      const auto idx = static_cast<std::size_t>(r * s.cols + c);
      ref.scores[idx] = score;
      ref.flags[idx] = score > 0;
    }
  return ref;
}

}  // namespace cfar_test
