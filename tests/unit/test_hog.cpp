// HOG against scikit-image 0.19.3 (../shared/reference/hog_skimage.h5) and against a direct,
// slow transcription of skimage's algorithm (atan2 per pixel, cell_hog's loops) for parameters the
// reference file does not cover.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "h5_reference.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/features/hog.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;

namespace {

// skimage.feature.hog, transcribed literally (float64 image): numpy's gradients, hypot, rad2deg(arctan2) % 180,
// cell_hog's float accumulator and boundary tests, _hog_normalize_block.
std::vector<double> naive_hog(const sf::HogParams& p, const std::vector<double>& input, int rows, int cols) {
  std::vector<double> image = input;
  if (p.transform_sqrt)
    for (double& v : image) v = std::sqrt(v);
  std::vector<double> gr(image.size(), 0.0), gc(image.size(), 0.0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      if (r > 0 && r < rows - 1) gr[r * cols + c] = image[(r + 1) * cols + c] - image[(r - 1) * cols + c];
      if (c > 0 && c < cols - 1) gc[r * cols + c] = image[r * cols + c + 1] - image[r * cols + c - 1];
    }
  std::vector<double> magnitude(image.size()), orientation(image.size());
  for (std::size_t i = 0; i < image.size(); ++i) {
    magnitude[i] = std::hypot(gc[i], gr[i]);
    double deg = std::atan2(gr[i], gc[i]) * (180.0 / M_PI);
    double mod = std::fmod(deg, 180.0);
    mod = (mod != 0) ? (mod < 0 ? mod + 180.0 : mod) : 0.0;
    orientation[i] = mod;
  }
  const int ncr = rows / p.cell_rows, ncc = cols / p.cell_cols;
  std::vector<double> hist(static_cast<std::size_t>(ncr) * ncc * p.orientations);
  const float per_180 = static_cast<float>(180.0 / p.orientations);
  for (int i = 0; i < p.orientations; ++i) {
    const float start = per_180 * static_cast<float>(i + 1), end = per_180 * static_cast<float>(i);
    for (int yi = 0; yi < ncr; ++yi)
      for (int xi = 0; xi < ncc; ++xi) {
        const int r0 = p.cell_rows / 2 + yi * p.cell_rows, c0 = p.cell_cols / 2 + xi * p.cell_cols;
        float total = 0;
        for (int dr = -(p.cell_rows / 2); dr < (p.cell_rows + 1) / 2; ++dr)
          for (int dc = -(p.cell_cols / 2); dc < (p.cell_cols + 1) / 2; ++dc) {
            const std::size_t k = static_cast<std::size_t>(r0 + dr) * cols + (c0 + dc);
            if (orientation[k] >= start || orientation[k] < end) continue;
            total = static_cast<float>(total + magnitude[k]);
          }
        hist[(static_cast<std::size_t>(yi) * ncc + xi) * p.orientations + i] =
            total / static_cast<float>(p.cell_rows * p.cell_cols);
      }
  }
  std::vector<double> out;
  const double eps = 1e-5;
  for (int br = 0; br + p.block_rows <= ncr; ++br)
    for (int bc = 0; bc + p.block_cols <= ncc; ++bc) {
      std::vector<double> b;
      for (int i = 0; i < p.block_rows; ++i)
        for (int j = 0; j < p.block_cols; ++j)
          for (int o = 0; o < p.orientations; ++o)
            b.push_back(hist[((static_cast<std::size_t>(br) + i) * ncc + bc + j) * p.orientations + o]);
      double s1 = 0, s2 = 0;
      for (double v : b) s1 += std::fabs(v), s2 += v * v;
      for (double& v : b) {
        switch (p.norm) {
          case sf::HogBlockNorm::kL1:
            v = v / (s1 + eps);
            break;
          case sf::HogBlockNorm::kL1Sqrt:
            v = std::sqrt(v / (s1 + eps));
            break;
          case sf::HogBlockNorm::kL2:
          case sf::HogBlockNorm::kL2Hys:
            v = v / std::sqrt(s2 + eps * eps);
            break;
        }
      }
      if (p.norm == sf::HogBlockNorm::kL2Hys) {
        double s = 0;
        for (double& v : b) v = std::min(v, 0.2), s += v * v;
        for (double& v : b) v /= std::sqrt(s + eps * eps);
      }
      out.insert(out.end(), b.begin(), b.end());
    }
  return out;
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    if (!(d <= worst)) worst = d;  // NaN wins
  }
  return worst;
}

sf::HogParams params_of(const sarscale::test::H5Reference& ref, const std::string& group) {
  sf::HogParams p;
  p.orientations = static_cast<int>(ref.number(group, "orientations"));
  const auto ppc = ref.numbers(group, "pixels_per_cell");
  const auto cpb = ref.numbers(group, "cells_per_block");
  p.cell_rows = static_cast<int>(ppc.at(0));
  p.cell_cols = static_cast<int>(ppc.at(1));
  p.block_rows = static_cast<int>(cpb.at(0));
  p.block_cols = static_cast<int>(cpb.at(1));
  p.norm = sf::parse_hog_block_norm(ref.text(group, "block_norm"));
  p.transform_sqrt = ref.number(group, "transform_sqrt") != 0;
  return p;
}

// Smooth structure plus speckle, positive (so transform_sqrt applies).
std::vector<float> synthetic_chip(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::gamma_distribution<float> speckle(4.0f, 0.25f);
  std::vector<float> chip(static_cast<std::size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      chip[r * cols + c] =
          (1.0f + 0.5f * std::sin(0.11f * r + 0.05f * c) + ((r - rows / 2) * (r - rows / 2) < 200 ? 3.0f : 0.0f)) *
          speckle(rng);
  return chip;
}

}  // namespace

TEST(Hog, MatchesScikitImageReference) {
  SARSCALE_REQUIRE_SHARED(file, "reference/hog_skimage.h5");
  sarscale::test::H5Reference ref(file);
  const auto groups = ref.groups();
  ASSERT_EQ(groups.size(), 9u);
  for (const auto& g : groups) {
    SCOPED_TRACE(g);
    const auto input = ref.dataset(g + "/input");
    const auto expected = ref.dataset(g + "/expected");
    ASSERT_EQ(input.shape.size(), 2u);
    const int rows = static_cast<int>(input.shape[0]), cols = static_cast<int>(input.shape[1]);
    const sf::HogParams p = params_of(ref, g);
    ASSERT_EQ(sf::hog_length(p, rows, cols), expected.values.size());

    std::vector<double> out(expected.values.size());
    sf::hog(p, input.values.data(), rows, cols, out.data());
    const double err = max_abs_diff(out, expected.values);
    const double err_naive = max_abs_diff(naive_hog(p, input.values, rows, cols), expected.values);
    // The float32 path on the float32-rounded input: a different input, so only roughly equal.
    std::vector<float> input32(input.values.begin(), input.values.end()), out32(out.size());
    sf::hog(p, input32.data(), rows, cols, out32.data());
    const double err32 = max_abs_diff(std::vector<double>(out32.begin(), out32.end()), expected.values);
    std::printf("%-26s %s  max|ours-skimage| = %.3g  (naive transcription %.3g, float32 input %.3g)\n", g.c_str(),
                p.describe().c_str(), err, err_naive, err32);
    EXPECT_LE(err, 1e-6);
    EXPECT_GT(*std::max_element(out.begin(), out.end()), 0.01);  // not trivially zero
  }
}

TEST(Hog, MatchesNaiveTranscriptionOnUncoveredParameters) {
  // Odd cell sizes, bin counts whose boundaries are not integers, 12 bins (boundaries at 45/90/135
  // degrees, hit exactly by integer images), leftover rows and columns, every norm.
  struct Case {
    int orientations, cell_rows, cell_cols, block_rows, block_cols;
    sf::HogBlockNorm norm;
    bool sqrt;
    int rows, cols;
    bool integer_image;
  };
  const Case cases[] = {
      {7, 5, 7, 2, 3, sf::HogBlockNorm::kL1, false, 61, 75, false},
      {12, 4, 4, 2, 2, sf::HogBlockNorm::kL2Hys, false, 50, 47, true},
      {12, 6, 6, 3, 3, sf::HogBlockNorm::kL1Sqrt, true, 64, 64, true},
      {11, 3, 9, 1, 1, sf::HogBlockNorm::kL2, false, 40, 50, false},
      {4, 8, 8, 2, 2, sf::HogBlockNorm::kL2Hys, false, 33, 33, true},
      {1, 8, 8, 2, 2, sf::HogBlockNorm::kL2, false, 32, 32, false},
  };
  double worst = 0;
  for (const auto& k : cases) {
    sf::HogParams p{k.orientations, k.cell_rows, k.cell_cols, k.block_rows, k.block_cols, k.norm, k.sqrt};
    SCOPED_TRACE(p.describe());
    const auto chip = synthetic_chip(k.rows, k.cols, 7u + k.orientations);
    std::vector<double> image(chip.begin(), chip.end());
    if (k.integer_image)
      for (double& v : image) v = std::round(v * 2);  // many gx == gy, gx == 0, gy == 0 pixels
    std::vector<double> out(sf::hog_length(p, k.rows, k.cols));
    sf::hog(p, image.data(), k.rows, k.cols, out.data());
    const double err = max_abs_diff(out, naive_hog(p, image, k.rows, k.cols));
    worst = std::max(worst, err);
    EXPECT_LE(err, 1e-9);
  }
  std::printf("worst max|fast - naive| over %zu parameter sets: %.3g\n", std::size(cases), worst);
}

TEST(Hog, FloatInputMatchesDoubleWhenGradientsAreExact) {
  // Small integers: float32 and float64 gradients are identical, so both paths must agree to the
  // float32 rounding of the output.
  const int rows = 64, cols = 72;
  auto chip = synthetic_chip(rows, cols, 3);
  for (float& v : chip) v = std::round(v * 10);
  const std::vector<double> chip64(chip.begin(), chip.end());
  sf::HogParams p;
  p.block_rows = p.block_cols = 2;
  std::vector<float> out32(sf::hog_length(p, rows, cols));
  std::vector<double> out64(out32.size());
  sf::hog(p, chip.data(), rows, cols, out32.data());
  sf::hog(p, chip64.data(), rows, cols, out64.data());
  for (std::size_t i = 0; i < out32.size(); ++i) ASSERT_EQ(out32[i], static_cast<float>(out64[i])) << i;
}

TEST(Hog, LengthMatchesScikitImageShapes) {
  sf::HogParams p;                                               // 9 bins, 8x8 cells, 3x3 blocks
  EXPECT_EQ(sf::hog_length(p, 128, 128), 14u * 14 * 3 * 3 * 9);  // 15876 as in the reference
  p.block_rows = p.block_cols = 2;
  EXPECT_EQ(sf::hog_length(p, 128, 128), 15u * 15 * 2 * 2 * 9);  // 8100
  EXPECT_EQ(sf::hog_length(p, 100, 90), 11u * 10 * 2 * 2 * 9);   // 3960: 12x11 cells, leftovers dropped
  EXPECT_EQ(sf::hog_length(p, 16, 16), 2u * 2 * 9);              // exactly one block
  sf::HogParams q{12, 6, 6, 2, 2, sf::HogBlockNorm::kL2Hys, false};
  EXPECT_EQ(sf::hog_length(q, 88, 88), 8112u);
  sf::HogParams r{5, 3, 4, 2, 1, sf::HogBlockNorm::kL1, false};
  EXPECT_EQ(sf::hog_length(r, 10, 9), 2u * 2 * 2 * 1 * 5);  // 3x2 cells -> 2x2 blocks of 2x1 cells
  EXPECT_EQ(sf::HogExtractor(r, 10, 9).length(), sf::hog_length(r, 10, 9));
}

TEST(Hog, BatchIsBitwiseIdenticalForAnyThreadCount) {
  const int rows = 128, cols = 128, count = 7;
  std::vector<float> chips;
  for (int i = 0; i < count; ++i) {
    const auto c = synthetic_chip(rows, cols, 100 + i);
    chips.insert(chips.end(), c.begin(), c.end());
  }
  for (bool sqrt : {false, true}) {
    sf::HogParams p;
    p.transform_sqrt = sqrt;
    const std::size_t len = sf::hog_length(p, rows, cols);
    std::vector<float> one(len * count), two(len * count, -1.0f), single(len);
    sf::hog_batch(p, chips.data(), count, rows, cols, one.data(), 1);
    sf::hog_batch(p, chips.data(), count, rows, cols, two.data(), 2);
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
    sf::hog(p, chips.data() + 5 * rows * cols, rows, cols, single.data());
    EXPECT_EQ(std::memcmp(single.data(), one.data() + 5 * len, len * sizeof(float)), 0);
    EXPECT_GT(*std::max_element(one.begin(), one.end()), 0.05f);
  }
}

TEST(Hog, InvalidParametersAreConfigErrors) {
  sf::HogParams p;
  p.cell_rows = 0;
  EXPECT_THROW(p.validate(), sarscale::ConfigError);
  EXPECT_THROW(sf::hog_length(p, 128, 128), sarscale::ConfigError);
  p = {};
  p.block_cols = 0;
  EXPECT_THROW(sf::hog_length(p, 128, 128), sarscale::ConfigError);
  p = {};
  p.orientations = 0;
  EXPECT_THROW(sf::HogExtractor(p, 128, 128), sarscale::ConfigError);
  p = {};
  EXPECT_THROW(sf::hog_length(p, 23, 128), sarscale::ConfigError);  // 3x3 blocks of 8x8 need 24 rows
  EXPECT_THROW(sf::hog_length(p, 128, 16), sarscale::ConfigError);
  EXPECT_THROW(sf::hog_length(p, 0, 128), sarscale::ConfigError);
  EXPECT_EQ(sf::hog_length(p, 24, 24), 81u);
  EXPECT_THROW(sf::parse_hog_block_norm("L2Hys"), sarscale::ConfigError);
  EXPECT_EQ(sf::parse_hog_block_norm("L1-sqrt"), sf::HogBlockNorm::kL1Sqrt);
  std::vector<float> chip(16 * 16, 1.0f), out(100);
  EXPECT_THROW(sf::hog_batch(p, chip.data(), 1, 16, 16, out.data()), sarscale::ConfigError);
}

TEST(Hog, ConstantImageGivesZeros) {
  for (auto norm :
       {sf::HogBlockNorm::kL1, sf::HogBlockNorm::kL1Sqrt, sf::HogBlockNorm::kL2, sf::HogBlockNorm::kL2Hys}) {
    sf::HogParams p;
    p.norm = norm;
    p.transform_sqrt = true;
    std::vector<float> chip(64 * 64, 3.5f), out(sf::hog_length(p, 64, 64), -1.0f);
    sf::hog(p, chip.data(), 64, 64, out.data());
    for (float v : out) ASSERT_EQ(v, 0.0f) << sf::to_string(norm);
  }
}

TEST(Hog, NegativePixelsWithSqrtTransformAreInputErrors) {
  sf::HogParams p;
  p.transform_sqrt = true;
  auto chip = synthetic_chip(32, 32, 5);
  chip[3 * 32 + 4] = -0.5f;
  std::vector<float> out(sf::hog_length(p, 32, 32) * 2);
  EXPECT_THROW(sf::hog(p, chip.data(), 32, 32, out.data()), sarscale::InputError);
  std::vector<float> two = synthetic_chip(32, 32, 6);
  two.insert(two.end(), chip.begin(), chip.end());
  EXPECT_THROW(sf::hog_batch(p, two.data(), 2, 32, 32, out.data(), 2), sarscale::InputError);
  p.transform_sqrt = false;  // negative values are fine otherwise (e.g. dB images)
  EXPECT_NO_THROW(sf::hog(p, chip.data(), 32, 32, out.data()));
}

TEST(Hog, NonFinitePixelsPoisonOnlyTheirBlocks) {
  sf::HogParams p;
  p.block_rows = p.block_cols = 1;
  auto chip = synthetic_chip(32, 32, 9);
  chip[4 * 32 + 4] = std::nanf("");  // inside cell (0, 0), gradients reach only that cell
  std::vector<float> out(sf::hog_length(p, 32, 32));
  sf::hog(p, chip.data(), 32, 32, out.data());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i < 9)
      EXPECT_TRUE(std::isnan(out[i])) << i;
    else
      EXPECT_TRUE(std::isfinite(out[i])) << i;
  }
}
