#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

#include "h5_reference.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/features/gabor.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;

namespace {

// "Within 1e-6 of each value's scale": |ours - ref| <= 1e-6 * max(1, max|ref|) over one array.
double max_error_over_scale(const std::vector<double>& ours, const std::vector<double>& ref) {
  double scale = 1;
  for (double v : ref) scale = std::max(scale, std::abs(v));
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(ours[i] - ref[i]));
  return worst / scale;
}

double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double scale = 0, worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    worst = std::max(worst, std::abs(a[i] - b[i]));
  }
  return worst / scale;
}

std::vector<float> random_chip(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::gamma_distribution<float> speckle(1.0f, 1.0f);  // SAR-like intensity statistics
  std::vector<float> chip(static_cast<std::size_t>(rows) * cols);
  for (auto& v : chip) v = speckle(rng);
  return chip;
}

}  // namespace

TEST(Gabor, MatchesScikitImageReference) {
  SARSCALE_REQUIRE_SHARED(file, "reference/gabor_skimage.h5");
  sarscale::test::H5Reference ref(file);
  const auto input = ref.dataset("input");
  ASSERT_EQ(input.shape.size(), 2u);
  const int rows = static_cast<int>(input.shape[0]), cols = static_cast<int>(input.shape[1]);
  const auto cases = ref.groups();
  ASSERT_GE(cases.size(), 5u);
  for (const auto& name : cases) {
    sf::GaborParams p;
    p.frequency = ref.number(name, "frequency");
    p.theta = ref.number(name, "theta");
    p.bandwidth = ref.number(name, "bandwidth");
    const auto kernel = sf::gabor_kernel(p);
    const auto kernel_real = ref.dataset(name + "/kernel_real");
    const auto kernel_imag = ref.dataset(name + "/kernel_imag");
    ASSERT_EQ(kernel_real.shape[0], static_cast<std::uint64_t>(kernel.rows)) << name;
    ASSERT_EQ(kernel_real.shape[1], static_cast<std::uint64_t>(kernel.cols)) << name;
    const double kernel_error = std::max(max_error_over_scale(kernel.real, kernel_real.values),
                                         max_error_over_scale(kernel.imag, kernel_imag.values));
    EXPECT_LE(kernel_error, 1e-6) << name;

    const auto expected_real = ref.dataset(name + "/real");
    const auto expected_imag = ref.dataset(name + "/imag");
    for (auto method : {sf::Convolution::kDirect, sf::Convolution::kFft}) {
      std::vector<double> real(input.values.size()), imag(input.values.size());
      sf::gabor_filter(kernel, input.values.data(), rows, cols, real.data(), imag.data(), method);
      const double error =
          std::max(max_error_over_scale(real, expected_real.values), max_error_over_scale(imag, expected_imag.values));
      EXPECT_LE(error, 1e-6) << name;
      std::printf("%s f=%g theta=%.4f b=%g kernel %dx%d: kernel err/scale %.2e, %s response err/scale %.2e\n",
                  name.c_str(), p.frequency, p.theta, p.bandwidth, kernel.rows, kernel.cols, kernel_error,
                  method == sf::Convolution::kFft ? "fft" : "direct", error);
    }
  }
}

TEST(Gabor, KernelShapeFollowsScikitImage) {
  sf::GaborParams p;
  p.frequency = 0.1;  // sigma = 0.5622 / 0.1, x0 = ceil(3 * 5.622) = 17
  const auto k = sf::gabor_kernel(p);
  EXPECT_EQ(k.rows, 35);
  EXPECT_EQ(k.cols, 35);
  // Centre value: exp(0) * 1 / (2 pi sigma^2), imag sin(0) = 0.
  const double sigma = 1.0 / std::numbers::pi * std::sqrt(std::log(2.0) / 2.0) * 3.0 / 0.1;
  EXPECT_NEAR(k.real[17 * 35 + 17], 1 / (2 * std::numbers::pi * sigma * sigma), 1e-15);
  EXPECT_EQ(k.imag[17 * 35 + 17], 0.0);
  p.sigma_x = 2.0;
  p.sigma_y = 1.0;
  p.theta = std::numbers::pi / 2;  // sigma_x now vertical: y0 = ceil(3*2) = 6, x0 = ceil(3*1) = 3
  const auto r = sf::gabor_kernel(p);
  EXPECT_EQ(r.rows, 13);
  EXPECT_EQ(r.cols, 7);
}

TEST(Gabor, FftEqualsDirect) {
  // Sizes where reflect padding wraps more than once (kernel wider than the image) too.
  for (auto [rows, cols] : {std::pair{64, 48}, std::pair{17, 23}, std::pair{5, 9}}) {
    const auto chip = random_chip(rows, cols, 7);
    const std::vector<double> image(chip.begin(), chip.end());
    for (double frequency : {0.07, 0.2, 0.45}) {
      sf::GaborParams p;
      p.frequency = frequency;
      p.theta = 0.6;
      p.offset = 0.3;
      const auto k = sf::gabor_kernel(p);
      std::vector<double> dr(image.size()), di(image.size()), fr(image.size()), fi(image.size());
      sf::gabor_filter(k, image.data(), rows, cols, dr.data(), di.data(), sf::Convolution::kDirect);
      sf::gabor_filter(k, image.data(), rows, cols, fr.data(), fi.data(), sf::Convolution::kFft);
      EXPECT_LE(max_relative_difference(fr, dr), 1e-9) << rows << "x" << cols << " f=" << frequency;
      EXPECT_LE(max_relative_difference(fi, di), 1e-9) << rows << "x" << cols << " f=" << frequency;
    }
  }
}

TEST(Gabor, ReflectBordersOnTinyImage) {
  // 1x3 image, 3x3 kernel of ones (sum), reflect: row -1 and 1 both map to row 0.
  sf::GaborKernel k{3, 3, std::vector<double>(9, 1.0), std::vector<double>(9, 0.0)};
  k.imag[0] = 1;  // imag kernel: only tap (-1,-1); convolve flips it: out(i,j) = in(i+1, j+1)
  const double image[3] = {1, 2, 4};
  for (auto method : {sf::Convolution::kDirect, sf::Convolution::kFft}) {
    double real[3], imag[3];
    sf::gabor_filter(k, image, 1, 3, real, imag, method);
    // Columns: [1 | 1 2 4 | 4]; each output sums its 3 neighbours, times 3 rows.
    EXPECT_NEAR(real[0], 3 * (1 + 1 + 2), 1e-12);
    EXPECT_NEAR(real[1], 3 * (1 + 2 + 4), 1e-12);
    EXPECT_NEAR(real[2], 3 * (2 + 4 + 4), 1e-12);
    EXPECT_NEAR(imag[0], 2, 1e-12);
    EXPECT_NEAR(imag[2], 4, 1e-12);
  }
}

TEST(Gabor, BankFeaturesMatchResponsesAndPooling) {
  const int rows = 40, cols = 30;
  const sf::GaborBank bank(sf::gabor_bank_params({0.1, 0.3}, 4), rows, cols, {.grid = 2});
  ASSERT_EQ(bank.filter_count(), 8u);
  ASSERT_EQ(bank.feature_length(), 8u * 2 * 5);
  const auto chip = random_chip(rows, cols, 3);
  const std::vector<double> image(chip.begin(), chip.end());
  std::vector<float> features(bank.feature_length());
  bank.features(chip.data(), features.data());
  for (std::size_t f = 0; f < bank.filter_count(); ++f) {
    std::vector<double> real(image.size()), imag(image.size());
    sf::gabor_filter(bank.kernel(f), image.data(), rows, cols, real.data(), imag.data(), sf::Convolution::kDirect);
    // Whole chip and the bottom-right cell (rows 20..39, cols 15..29).
    auto stats = [&](int r0, int r1, int c0, int c1) {
      double sum = 0, sq = 0, n = 0;
      for (int r = r0; r < r1; ++r)
        for (int c = c0; c < c1; ++c) {
          const double m = std::hypot(real[r * cols + c], imag[r * cols + c]);
          sum += m;
          sq += m * m;
          n += 1;
        }
      const double mean = sum / n;
      return std::pair{mean, std::sqrt(sq / n - mean * mean)};
    };
    const auto whole = stats(0, rows, 0, cols);
    const auto cell = stats(20, 40, 15, 30);
    const float* out = features.data() + f * 10;
    EXPECT_NEAR(out[0], whole.first, 1e-5 * whole.first) << f;
    EXPECT_NEAR(out[1], whole.second, 1e-4 * whole.second) << f;
    EXPECT_NEAR(out[8], cell.first, 1e-5 * cell.first) << f;
    EXPECT_NEAR(out[9], cell.second, 1e-4 * cell.second) << f;
    EXPECT_GT(out[1], 0.0f);
  }
}

TEST(Gabor, BankMethodsAgree) {
  const int rows = 32, cols = 32;
  const auto params = sf::gabor_bank_params({0.1, 0.25, 0.4}, 4);
  const sf::GaborBank fft(params, rows, cols, {.grid = 3, .method = sf::Convolution::kFft});
  const sf::GaborBank direct(params, rows, cols, {.grid = 3, .method = sf::Convolution::kDirect});
  const auto chip = random_chip(rows, cols, 11);
  std::vector<float> a(fft.feature_length()), b(direct.feature_length());
  fft.features(chip.data(), a.data());
  direct.features(chip.data(), b.data());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::abs(b[i]) + 1e-9) << i;

  // responses() is skimage's gabor() on the (float) chip, whichever path the bank took.
  const std::vector<double> image(chip.begin(), chip.end());
  auto ws = fft.workspace();
  for (std::size_t f = 0; f < fft.filter_count(); f += 5) {
    std::vector<double> br(image.size()), bi(image.size()), dr(image.size()), di(image.size());
    fft.responses(chip.data(), f, br.data(), bi.data(), ws);
    sf::gabor_filter(fft.kernel(f), image.data(), rows, cols, dr.data(), di.data(), sf::Convolution::kDirect);
    EXPECT_LE(max_relative_difference(br, dr), 1e-9) << f;
    EXPECT_LE(max_relative_difference(bi, di), 1e-9) << f;
  }
}

TEST(Gabor, BatchIsBitwiseIdenticalForAnyThreadCount) {
  const int rows = 64, cols = 64, count = 7;
  const sf::GaborBank bank(sf::gabor_bank_params({0.1, 0.2, 0.4}, 4), rows, cols, {.grid = 4});
  std::vector<float> chips;
  for (int c = 0; c < count; ++c) {
    const auto chip = random_chip(rows, cols, 100 + c);
    chips.insert(chips.end(), chip.begin(), chip.end());
  }
  const std::size_t length = bank.feature_length();
  std::vector<float> one(count * length), two(count * length), single(length);
  bank.features_batch(chips.data(), count, one.data(), 1);
  bank.features_batch(chips.data(), count, two.data(), 2);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  bank.features(chips.data() + 3 * rows * cols, single.data());
  EXPECT_EQ(std::memcmp(single.data(), one.data() + 3 * length, length * sizeof(float)), 0);
  EXPECT_GT(*std::max_element(one.begin(), one.end()), 0.0f);
}

TEST(Gabor, ConstantChipGivesFiniteFeatures) {
  const sf::GaborBank bank(sf::gabor_bank_params({0.1, 0.3}, 4), 32, 32);
  const std::vector<float> chip(32 * 32, 5.0f);
  std::vector<float> features(bank.feature_length());
  bank.features(chip.data(), features.data());
  for (float v : features) EXPECT_TRUE(std::isfinite(v));
  // Reflect borders keep a constant image constant, so every response is constant: std ~ 0
  // relative to the mean (DC gain of the kernel, non-zero for the real part).
  EXPECT_GT(features[0], 0.0f);
  EXPECT_LT(features[1], 1e-6f * features[0] + 1e-12f);
}

TEST(Gabor, BadParametersAreConfigErrors) {
  sf::GaborParams p;
  p.frequency = 0;
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.frequency = -0.1;
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.frequency = 0.1;
  p.bandwidth = 0;
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.bandwidth = -1;
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.bandwidth = std::nan("");
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.bandwidth = 1;
  p.sigma_x = -2.0;
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.sigma_x.reset();
  p.frequency = 1e-9;  // kernel would be millions of pixels wide
  EXPECT_THROW(sf::gabor_kernel(p), sarscale::ConfigError);
  p.frequency = 0.1;
  EXPECT_THROW(sf::GaborBank({p}, 0, 16), sarscale::ConfigError);
  EXPECT_THROW(sf::GaborBank({}, 16, 16), sarscale::ConfigError);
  EXPECT_THROW(sf::GaborBank({p}, 16, 16, {.grid = 17}), sarscale::ConfigError);
  EXPECT_THROW(sf::gabor_bank_params({0.1}, 0), sarscale::ConfigError);
}
