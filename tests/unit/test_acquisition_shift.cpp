// Acquisition shift (features/acquisition_shift.hpp): the text form round trips and refuses bad
// specs; draws are reproducible and independent of threads; gains follow U[-db, db] and clip;
// the clutter gain leaves the mask step's target and shadow alone; shifts move the content by the
// drawn offsets; a speckle re-draw keeps the mean intensity, changes the pattern of clutter and
// keeps a point scatterer's energy, and leaves chips without phase alone.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <functional>
#include <numbers>
#include <random>
#include <set>
#include <thread>

#include "sarscale/core/error.hpp"
#include "sarscale/features/acquisition_shift.hpp"
#include "sarscale/features/preprocess.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;
using sarscale::Image;
using Speckle = sf::ShiftOutcome::Speckle;

namespace {

using sarscale::test::message_of;

// Circular separable Gaussian blur (sigma 1.5 px, +-5 taps): a band limit to about 45% of the
// band per axis at the speckle's 1% rule.
std::vector<std::complex<double>> blur(const std::vector<std::complex<double>>& in, int n) {
  std::vector<double> k;
  for (int x = -5; x <= 5; ++x) k.push_back(std::exp(-x * x / (2 * 1.5 * 1.5)));
  std::vector<std::complex<double>> tmp(in.size()), out(in.size());
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c)
      for (int t = -5; t <= 5; ++t) tmp[r * n + c] += k[t + 5] * in[r * n + (c + t + n) % n];
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c)
      for (int t = -5; t <= 5; ++t) out[r * n + c] += k[t + 5] * tmp[((r + t + n) % n) * n + c];
  return out;
}

std::vector<std::complex<double>> white(int n, unsigned seed, double sigma) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, sigma);
  std::vector<std::complex<double>> z(static_cast<std::size_t>(n) * n);
  for (auto& v : z) v = {normal(rng), normal(rng)};
  return z;
}

Image from_complex(const std::vector<std::complex<double>>& z, int n) {
  Image img;
  img.rows = img.cols = n;
  for (const auto& v : z) {
    img.magnitude.push_back(static_cast<float>(std::abs(v)));
    double a = std::arg(v);
    img.phase.push_back(static_cast<float>(a < 0 ? a + 2 * std::numbers::pi : a));
  }
  return img;
}

double mean_intensity(const Image& img) {
  double s = 0;
  for (float v : img.magnitude) s += static_cast<double>(v) * v;
  return s / static_cast<double>(img.magnitude.size());
}

double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= a.size(), mb /= b.size();
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

Image constant(int rows, int cols, float v) {
  Image img;
  img.rows = rows;
  img.cols = cols;
  img.magnitude.assign(img.pixels(), v);
  return img;
}

}  // namespace

TEST(AcquisitionShift, TextFormRoundTripsInApplicationOrder) {
  const sf::AcquisitionShiftSpec d = sf::parse_acquisition_shift(sf::kDefaultAcquisitionShift);
  EXPECT_EQ(sf::describe(d), "speckle(support=0.01); gain(db=2, clip=0); shift(pixels=1)");
  EXPECT_EQ(sf::parse_acquisition_shift(sf::describe(d)), d);
  const auto s = sf::parse_acquisition_shift(" shift(2) ; clutter(db=3.5); gain(1, 255) ");
  EXPECT_EQ(sf::describe(s), "clutter(db=3.5); gain(db=1, clip=255); shift(pixels=2)");
  EXPECT_EQ(sf::parse_acquisition_shift(sf::describe(s)), s);
  ASSERT_EQ(s.ops.size(), 3u);
  EXPECT_EQ(s.ops[0].kind, sf::ShiftOp::Kind::clutter);
  EXPECT_DOUBLE_EQ(s.ops[0].db, 3.5);
  EXPECT_DOUBLE_EQ(s.ops[1].clip, 255);
  EXPECT_EQ(s.ops[2].pixels, 2);
  EXPECT_EQ(sf::describe(sf::parse_acquisition_shift("speckle(support=0.2); clutter")),
            "speckle(support=0.2); clutter(db=0)");
  for (const char* off : {"none", "", "  none "}) {
    EXPECT_TRUE(sf::parse_acquisition_shift(off).empty()) << off;
  }
  EXPECT_EQ(sf::describe(sf::AcquisitionShiftSpec{}), "none");
}

TEST(AcquisitionShift, BadSpecsNameTheToken) {
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain; blur(2)"); }).find("'blur'"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(dB=2)"); }).find("'dB=2'"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(db=x)"); }).find("'x'"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(db=-1)"); }).find("'-1'"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("shift(1.5)"); }).find("'1.5'"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("shift(1, 2)"); }).find("too many"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("speckle(support=0)"); }).find("support"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(2); shift; gain(3)"); }).find("repeated"),
            std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(db=1, db=2)"); }).find("repeated"), std::string::npos);
  EXPECT_NE(message_of([] { sf::parse_acquisition_shift("gain(2"); }).find("expected"), std::string::npos);
  // A shift as large as the chip moves its content out.
  const auto big = sf::parse_acquisition_shift("shift(8)");
  EXPECT_NE(message_of([&] { sf::AcquisitionShift(big, 1, 8, 32); }).find("shift(pixels=8)"), std::string::npos);
  EXPECT_NO_THROW(sf::AcquisitionShift(big, 1, 9, 9));
}

TEST(AcquisitionShift, DrawsDependOnSeedAndIndexOnlyNotOnThreads) {
  const auto spec = sf::parse_acquisition_shift("speckle; clutter(3); gain(2); shift(2)");
  const sf::AcquisitionShift a(spec, 7, 32, 32), same(spec, 7, 32, 32), other_seed(spec, 8, 32, 32);
  const Image chip = from_complex(blur(white(32, 1, 1.0), 32), 32);
  constexpr int kChips = 16;
  std::vector<Image> serial(kChips, chip), threaded(kChips, chip), again(kChips, chip), reseeded(kChips, chip);
  for (int i = 0; i < kChips; ++i) {
    a.apply(serial[i], static_cast<std::uint64_t>(i));
    same.apply(again[i], static_cast<std::uint64_t>(i));
    other_seed.apply(reseeded[i], static_cast<std::uint64_t>(i));
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int i = t; i < kChips; i += 4) a.apply(threaded[i], static_cast<std::uint64_t>(i));
    });
  for (auto& th : pool) th.join();
  std::set<std::vector<float>> distinct;
  for (int i = 0; i < kChips; ++i) {
    EXPECT_EQ(serial[i].magnitude, threaded[i].magnitude) << i;
    EXPECT_EQ(serial[i].phase, threaded[i].phase) << i;
    EXPECT_EQ(serial[i].magnitude, again[i].magnitude) << i;
    EXPECT_NE(serial[i].magnitude, reseeded[i].magnitude) << i;
    distinct.insert(serial[i].magnitude);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kChips));  // every chip its own draws
}

TEST(AcquisitionShift, GainIsUniformInDecibels) {
  const sf::AcquisitionShift gain(sf::parse_acquisition_shift("gain(db=2)"), 3, 2, 2);
  constexpr int kChips = 4000;
  double sum = 0, sum2 = 0;
  int quarter[4] = {0, 0, 0, 0};
  for (int i = 0; i < kChips; ++i) {
    Image chip = constant(2, 2, 1.0f);
    const sf::ShiftOutcome o = gain.apply(chip, static_cast<std::uint64_t>(i));
    const double g = 20 * std::log10(static_cast<double>(chip.magnitude[0]));
    ASSERT_NEAR(g, o.gain_db, 1e-5);
    ASSERT_GE(g, -2.0 - 1e-5);
    ASSERT_LE(g, 2.0 + 1e-5);
    sum += g;
    sum2 += g * g;
    ++quarter[std::clamp(static_cast<int>((g + 2.0) / 1.0), 0, 3)];
  }
  // U[-2, 2]: mean 0, variance 4/3; standard error of the mean 0.018, of the variance ~0.02.
  EXPECT_NEAR(sum / kChips, 0.0, 0.08);
  EXPECT_NEAR(sum2 / kChips, 4.0 / 3.0, 0.1);
  for (int q : quarter) EXPECT_NEAR(q, kChips / 4, 150);  // binomial sd 27
}

TEST(AcquisitionShift, GainClipsAtTheSaturationLevel) {
  const sf::AcquisitionShift gain(sf::parse_acquisition_shift("gain(db=6, clip=255)"), 1, 1, 3);
  int clipped = 0, below = 0;
  for (int i = 0; i < 200; ++i) {
    Image chip;
    chip.rows = 1;
    chip.cols = 3;
    chip.magnitude = {250.0f, 100.0f, 0.0f};
    const double g = gain.apply(chip, static_cast<std::uint64_t>(i)).gain_db;
    const double f = std::pow(10.0, g / 20.0);
    EXPECT_FLOAT_EQ(chip.magnitude[0], static_cast<float>(std::min(250.0 * f, 255.0)));
    EXPECT_FLOAT_EQ(chip.magnitude[1], static_cast<float>(100.0 * f));  // 100 * 2 dB < 255
    EXPECT_EQ(chip.magnitude[2], 0.0f);
    EXPECT_LE(chip.magnitude[0], 255.0f);
    (250.0 * f > 255.0 ? clipped : below) += 1;
  }
  EXPECT_GT(clipped, 50);  // g > 0.17 dB: about 49% of the draws
  EXPECT_GT(below, 50);
}

TEST(AcquisitionShift, ClutterGainLeavesTargetAndShadowAlone) {
  // 48x48: speckle-like clutter around 1, a bright 8x8 target in the middle and a dark shadow
  // band below it.
  Image chip = constant(48, 48, 1.0f);
  std::mt19937 rng(2);
  std::exponential_distribution<double> intensity(1.0);
  for (auto& v : chip.magnitude) v = static_cast<float>(std::sqrt(intensity(rng)));
  for (int r = 20; r < 28; ++r)
    for (int c = 20; c < 28; ++c) chip.magnitude[r * 48 + c] = 40.0f;
  for (int r = 28; r < 36; ++r)
    for (int c = 20; c < 28; ++c) chip.magnitude[r * 48 + c] = 0.05f;
  const std::vector<unsigned char> keep = sf::target_shadow_mask(chip.magnitude.data(), 48, 48, sf::kClutterSegmentation);
  ASSERT_EQ(keep.size(), chip.pixels());
  for (int r = 20; r < 36; ++r)
    for (int c = 20; c < 28; ++c) ASSERT_TRUE(keep[r * 48 + c]) << r << "," << c;  // target and shadow kept
  // The same segmentation as the preprocessing step kClutterSegmentation: it keeps exactly these pixels.
  sf::Preprocessor mask(sf::parse_chain(sf::kClutterSegmentation), 48, 48);
  std::vector<float> masked(chip.pixels());
  ASSERT_EQ(mask.apply(chip.magnitude.data(), masked.data()), "");
  const float fill = *std::min_element(chip.magnitude.begin(), chip.magnitude.end());
  for (std::size_t k = 0; k < chip.pixels(); ++k)
    ASSERT_EQ(masked[k], keep[k] ? chip.magnitude[k] : fill) << k;
  const sf::AcquisitionShift clutter(sf::parse_acquisition_shift("clutter(db=6)"), 5, 48, 48);
  for (std::uint64_t index : {0u, 1u, 2u}) {
    Image out = chip;
    const double c = clutter.apply(out, index).clutter_db;
    EXPECT_GT(std::abs(c), 0.0);
    const double f = std::pow(10.0, c / 20.0);
    std::size_t background = 0;
    for (std::size_t k = 0; k < chip.pixels(); ++k) {
      if (keep[k]) {
        ASSERT_EQ(out.magnitude[k], chip.magnitude[k]) << k;
      } else {
        ++background;
        ASSERT_FLOAT_EQ(out.magnitude[k], static_cast<float>(chip.magnitude[k] * f)) << k;
      }
    }
    EXPECT_GT(background, 0u);
    // Farther than the mask step's reach (16) from the dilated target: all background.
    for (int c = 0; c < 48; ++c) EXPECT_FALSE(keep[c] || keep[47 * 48 + c]) << c;
  }
}

TEST(AcquisitionShift, ShiftMovesContentByTheDrawnOffsets) {
  Image ramp;
  ramp.rows = 9;
  ramp.cols = 11;
  for (int r = 0; r < 9; ++r)
    for (int c = 0; c < 11; ++c) {
      ramp.magnitude.push_back(static_cast<float>(100 * r + c));
      ramp.phase.push_back(static_cast<float>(0.01 * (100 * r + c)));
    }
  const sf::AcquisitionShift shift(sf::parse_acquisition_shift("shift(2)"), 1, 9, 11);
  std::set<std::pair<int, int>> seen;
  for (std::uint64_t i = 0; i < 200; ++i) {
    Image out = ramp;
    const sf::ShiftOutcome o = shift.apply(out, i);
    ASSERT_LE(std::abs(o.shift_rows), 2);
    ASSERT_LE(std::abs(o.shift_cols), 2);
    seen.insert({o.shift_rows, o.shift_cols});
    // The pixel at (r, c) lands at (r + dr, c + dc); vacated pixels repeat the edge.
    for (int r = 0; r < 9; ++r)
      for (int c = 0; c < 11; ++c) {
        const int sr = std::clamp(r - o.shift_rows, 0, 8), sc = std::clamp(c - o.shift_cols, 0, 10);
        ASSERT_EQ(out.magnitude[r * 11 + c], ramp.magnitude[sr * 11 + sc]) << i << ": " << r << "," << c;
        ASSERT_EQ(out.phase[r * 11 + c], ramp.phase[sr * 11 + sc]);
      }
  }
  EXPECT_EQ(seen.size(), 25u);  // every offset in [-2, 2]^2 occurs
}

TEST(AcquisitionShift, SpeckleRedrawsClutterAndKeepsTheMeanIntensity) {
  constexpr int n = 64;
  const Image chip = from_complex(blur(white(n, 3, 1.0), n), n);
  const sf::AcquisitionShift speckle(sf::parse_acquisition_shift("speckle"), 1, n, n);
  for (std::uint64_t index : {0u, 1u, 2u, 3u}) {
    Image out = chip;
    ASSERT_EQ(speckle.apply(out, index).speckle, Speckle::redrawn);
    EXPECT_NEAR(mean_intensity(out) / mean_intensity(chip), 1.0, 1e-5);
    // A new pattern: an unchanged one correlates 1, an independent one about 0.
    EXPECT_LT(correlation(out.magnitude, chip.magnitude), 0.7) << index;
    EXPECT_NE(out.phase, chip.phase);
    for (float p : out.phase) ASSERT_TRUE(p >= 0.0f && p <= static_cast<float>(2 * std::numbers::pi));
  }
}

TEST(AcquisitionShift, SpeckleKeepsAPointScatterersEnergy) {
  // One band-limited point response of amplitude 100 at (32, 32) on clutter 40 dB weaker.
  constexpr int n = 64;
  std::vector<std::complex<double>> point(n * n);
  point[32 * n + 32] = 100.0;
  std::vector<std::complex<double>> z = blur(point, n);
  const auto clutter = blur(white(n, 4, 0.01), n);
  for (std::size_t k = 0; k < z.size(); ++k) z[k] += clutter[k];
  const Image chip = from_complex(z, n);
  const auto energy = [&](const Image& img) {  // within 4 pixels of the point
    double e = 0;
    for (int r = 28; r <= 36; ++r)
      for (int c = 28; c <= 36; ++c) e += static_cast<double>(img.magnitude[r * n + c]) * img.magnitude[r * n + c];
    return e;
  };
  const sf::AcquisitionShift speckle(sf::parse_acquisition_shift("speckle"), 2, n, n);
  for (std::uint64_t index = 0; index < 8; ++index) {
    Image out = chip;
    ASSERT_EQ(speckle.apply(out, index).speckle, Speckle::redrawn);
    EXPECT_NEAR(energy(out) / energy(chip), 1.0, 0.25) << index;
    const auto peak = std::max_element(out.magnitude.begin(), out.magnitude.end()) - out.magnitude.begin();
    EXPECT_LE(std::abs(peak / n - 32), 2) << index;
    EXPECT_LE(std::abs(peak % n - 32), 2) << index;
  }
}

TEST(AcquisitionShift, SpeckleLeavesChipsWithoutUsablePhaseAlone) {
  const auto spec = sf::parse_acquisition_shift("speckle");
  const sf::AcquisitionShift speckle(spec, 1, 16, 16);
  Image chip = from_complex(blur(white(16, 5, 1.0), 16), 16);
  Image magnitude_only = chip;
  magnitude_only.phase.clear();
  EXPECT_EQ(speckle.apply(magnitude_only, 0).speckle, Speckle::no_phase);
  EXPECT_EQ(magnitude_only.magnitude, chip.magnitude);
  Image zero_phase = chip;
  std::fill(zero_phase.phase.begin(), zero_phase.phase.end(), 0.0f);
  EXPECT_EQ(speckle.apply(zero_phase, 0).speckle, Speckle::constant_phase);
  EXPECT_EQ(zero_phase.magnitude, chip.magnitude);
  // White (unfiltered) clutter fills the whole band: nothing to re-draw it from.
  Image full = from_complex(white(16, 6, 1.0), 16);
  const Image before = full;
  EXPECT_EQ(speckle.apply(full, 0).speckle, Speckle::whole_band);
  EXPECT_EQ(full.magnitude, before.magnitude);
  // Without a speckle operation nothing is reported.
  Image plain = chip;
  EXPECT_EQ(sf::AcquisitionShift(sf::parse_acquisition_shift("gain"), 1, 16, 16).apply(plain, 0).speckle,
            Speckle::not_asked);
}

TEST(AcquisitionShift, NegativeMagnitudesAreRefusedWithAReason) {
  const sf::AcquisitionShift gain(sf::parse_acquisition_shift("gain; shift"), 1, 4, 4);
  Image db = constant(4, 4, -12.0f);
  const Image before = db;
  const sf::ShiftOutcome o = gain.apply(db, 0);
  EXPECT_NE(o.reason.find("linear amplitudes"), std::string::npos) << o.reason;
  EXPECT_EQ(db.magnitude, before.magnitude);
  Image wrong = constant(4, 5, 1.0f);
  EXPECT_THROW(gain.apply(wrong, 0), sarscale::Error);
}
