// CFAR prescreener (detect/cfar.hpp): the threshold statistics against Boost.Math and closed
// forms, every variant against a brute-force reference, the measured false-alarm rate on simulated
// clutter against the requested one, tiles and threads against the whole scene, bad input.
#include <gtest/gtest.h>

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "cfar_reference.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/detect/cfar_stats.hpp"

namespace sarscale::detect {
namespace {

using cfar_test::Scene;

TEST(CfarStats, NormalQuantileMatchesBoost) {
  const boost::math::normal normal;
  for (double p : {0.4, 0.1, 0.02425, 1e-3, 1e-6, 1e-9, 1e-12}) {
    const double expected = boost::math::quantile(boost::math::complement(normal, p));
    EXPECT_NEAR(normal_upper_quantile(p), expected, 1e-12 * expected) << "p = " << p;
    EXPECT_NEAR(normal_upper_tail(expected), p, 1e-12 * p);
  }
}

TEST(CfarStats, IncompleteBetaMatchesBoost) {
  for (double a : {0.5, 1.0, 4.4, 30.0, 2000.0})
    for (double b : {0.5, 1.0, 3.0, 250.0})
      for (double x : {0.001, 0.2, 0.5, 0.93, 0.9999}) {
        const double expected = boost::math::ibeta(a, b, x);
        EXPECT_NEAR(incomplete_beta(a, b, x), expected, 1e-11 * expected + 1e-300) << a << " " << b << " " << x;
      }
}

TEST(CfarStats, GammaFactorIsExactForOneLookAndInvertsForMany) {
  // L = 1: (1 + T)^-N = Pfa, T = Pfa^(-1/N) - 1.
  EXPECT_NEAR(ca_gamma_factor(1e-6, 100, 1), std::pow(1e-6, -1.0 / 100) - 1, 1e-15);
  // Integer L: the finite sum sum_{k<L} C(NL+k-1, k) T^k / (1+T)^(NL+k), an independent form.
  for (int looks : {2, 4})
    for (int n : {8, 72, 400}) {
      const double t = ca_gamma_factor(1e-5, n, looks);
      double pfa = 0, binom = 1;
      for (int k = 0; k < looks; ++k) {
        if (k > 0) binom *= static_cast<double>(n * looks + k - 1) / k;
        pfa += binom * std::pow(t, k) / std::pow(1 + t, n * looks + k);
      }
      EXPECT_NEAR(pfa, 1e-5, 1e-12) << "L = " << looks << ", N = " << n;
    }
  EXPECT_NEAR(ca_gamma_pfa(ca_gamma_factor(1e-7, 300, 4.4), 300, 4.4), 1e-7, 1e-16);
}

TEST(CfarStats, OsAndGaussianFactorsInvert) {
  for (int n : {16, 100, 1000}) {
    const int k = (3 * n + 3) / 4;
    EXPECT_NEAR(os_exponential_pfa(os_exponential_factor(1e-6, n, k), n, k), 1e-6, 1e-15);
    // Rohling's product against its definition for N = 1: P(x > T y) = 1 / (1 + T).
    EXPECT_NEAR(os_exponential_pfa(3.0, 1, 1), 0.25, 1e-15);
    // Student's t with N - 1 degrees of freedom, scaled by sqrt(1 + 1/N).
    const boost::math::students_t t(n - 1.0);
    const double expected = std::sqrt(1 + 1.0 / n) * boost::math::quantile(boost::math::complement(t, 1e-6));
    EXPECT_NEAR(gaussian_db_factor(1e-6, n), expected, 1e-9 * expected) << "N = " << n;
  }
  EXPECT_GT(gaussian_db_factor(1e-3, 1000), normal_upper_quantile(1e-3));
  EXPECT_NEAR(gaussian_db_factor(1e-3, 100000), normal_upper_quantile(1e-3), 1e-3);
}

struct Variant {
  const char* name;
  CfarMethod method;
  ClutterModel model;
  double looks;
  int guard, background;
};

const Variant kVariants[] = {
    {"ca_gamma1", CfarMethod::cell_averaging, ClutterModel::gamma, 1, 2, 3},
    {"ca_gamma3", CfarMethod::cell_averaging, ClutterModel::gamma, 3, 1, 4},
    {"ca_db", CfarMethod::cell_averaging, ClutterModel::gaussian_db, 1, 3, 2},
    {"ca_noguard", CfarMethod::cell_averaging, ClutterModel::gamma, 1, 0, 1},
    {"os", CfarMethod::order_statistic, ClutterModel::gamma, 1, 2, 3},
    {"os_noguard", CfarMethod::order_statistic, ClutterModel::gamma, 1, 0, 2},
};

CfarParams params_of(const Variant& v, double pfa) {
  CfarParams p;
  p.method = v.method;
  p.model = v.model;
  p.looks = v.looks;
  p.guard = v.guard;
  p.background = v.background;
  p.pfa = pfa;
  return p;
}

// A small scene with targets, NaN and nodata holes, zeros and a fully empty corner.
Scene test_scene(std::uint64_t seed, float nodata) {
  Scene s = cfar_test::gamma_clutter(41, 53, 1, 2.0, seed);
  cfar_test::add_target(s, 10, 12, 3, 4, 60);
  cfar_test::add_target(s, 0, 40, 2, 3, 45);   // on the scene's top border
  cfar_test::add_target(s, 38, 50, 5, 5, 80);  // in its bottom-right corner
  std::mt19937_64 rng(seed + 1);
  for (int i = 0; i < 60; ++i) {
    const std::int64_t r = static_cast<std::int64_t>(rng() % 41), c = static_cast<std::int64_t>(rng() % 53);
    s.at(r, c) = i % 3 == 0 ? std::numeric_limits<float>::quiet_NaN() : i % 3 == 1 ? nodata : 0.0f;
  }
  for (int r = 30; r < 41; ++r)
    for (int c = 0; c < 9; ++c) s.at(r, c) = std::numeric_limits<float>::quiet_NaN();
  return s;
}

TEST(Cfar, EveryVariantMatchesBruteForce) {
  for (const Variant& v : kVariants) {
    CfarParams p = params_of(v, 1e-2);
    p.nodata = -9999.0f;
    const Cfar cfar(p);
    const Scene s = test_scene(7, p.nodata);
    const cfar_test::Reference ref = cfar_test::brute_force(s, cfar);
    const CfarTile tile = cfar.run(s.whole(), {0, 0, s.rows, s.cols}, 2, {true, true});
    std::size_t detected = 0, tested = 0;
    for (std::size_t i = 0; i < s.pixels.size(); ++i) {
      ASSERT_EQ(tile.flags[i], ref.flags[i]) << v.name << " pixel " << i;
      if (std::isnan(ref.scores[i])) {
        ASSERT_TRUE(std::isnan(tile.scores[i])) << v.name << " pixel " << i;
        continue;
      }
      ++tested;
      detected += ref.flags[i];
      if (std::isinf(ref.scores[i])) {  // a zero-intensity pixel: -inf dB above its threshold
        ASSERT_EQ(tile.scores[i], ref.scores[i]) << v.name << " pixel " << i;
        continue;
      }
      ASSERT_NEAR(tile.scores[i], ref.scores[i], 1e-9 * (1 + std::fabs(ref.scores[i]))) << v.name << " pixel " << i;
    }
    EXPECT_EQ(static_cast<std::size_t>(tile.tested), tested) << v.name;
    EXPECT_EQ(tile.detections.size(), detected) << v.name;
    EXPECT_GT(detected, 10u) << v.name;  // the targets, at least
    EXPECT_LT(tested, s.pixels.size() - 99) << v.name;  // the empty corner and the holes are untested
    for (const CfarDetection& d : tile.detections) {
      EXPECT_TRUE(ref.flags[static_cast<std::size_t>(d.row * s.cols + d.col)]);
      EXPECT_GT(d.value, d.threshold);
      EXPECT_GE(d.score, 0);
    }
  }
}

// Measured false alarms on simulated clutter against the requested Pfa: the count of a
// 1024 x 1024 scene must lie within 5 binomial standard deviations (about 5%) of N Pfa.
// With the asymptotic factor alpha = -ln Pfa instead of the exact one, CA on 72 cells would
// give 15% more.
TEST(Cfar, FalseAlarmRateMatchesTheClutterModel) {
  struct Case {
    const char* name;
    CfarMethod method;
    ClutterModel model;
    double looks;  // of the simulated clutter and the model
  };
  const Case cases[] = {{"CA exponential", CfarMethod::cell_averaging, ClutterModel::gamma, 1},
                        {"CA gamma L=4", CfarMethod::cell_averaging, ClutterModel::gamma, 4},
                        {"OS exponential", CfarMethod::order_statistic, ClutterModel::gamma, 1},
                        {"CA Gaussian dB", CfarMethod::cell_averaging, ClutterModel::gaussian_db, 1}};
  const double pfa = 1e-2;
  for (const Case& k : cases) {
    Scene s = cfar_test::gamma_clutter(1024, 1024, k.looks, 0.3, 99);
    if (k.model == ClutterModel::gaussian_db) {  // log-normal clutter: Gaussian with 2.5 dB spread in dB
      std::mt19937_64 rng(5);
      std::normal_distribution<double> db(-8, 2.5);
      for (float& x : s.pixels) x = static_cast<float>(std::pow(10.0, db(rng) / 10));
    }
    CfarParams p;
    p.method = k.method;
    p.model = k.model;
    p.looks = k.looks;
    p.guard = 1;
    p.background = 3;  // 72 ring cells
    p.pfa = pfa;
    const Cfar cfar(p);
    const CfarTile tile = cfar.run(s.whole(), {0, 0, s.rows, s.cols}, 2);
    const double n = static_cast<double>(tile.tested);
    const double expected = n * pfa, sd = std::sqrt(n * pfa * (1 - pfa));
    const double measured = static_cast<double>(tile.detections.size());
    EXPECT_NEAR(measured, expected, 5 * sd) << k.name << ": " << measured << " false alarms, expected " << expected;
    RecordProperty(k.name, std::to_string(measured / n));
  }
}

// Tiles with halos, in random tilings, give bit for bit what the whole scene gives.
TEST(Cfar, TilesWithHalosMatchTheWholeScene) {
  std::mt19937_64 rng(2024);
  for (const Variant& v : kVariants) {
    const Cfar cfar(params_of(v, 2e-2));
    const Scene s = test_scene(11, -1.0f);
    const CfarTile whole = cfar.run(s.whole(), {0, 0, s.rows, s.cols}, 1, {true, true});
    for (int trial = 0; trial < 4; ++trial) {
      const std::int64_t tile_rows = 1 + static_cast<std::int64_t>(rng() % 20), tile_cols = 1 + static_cast<std::int64_t>(rng() % 25);
      std::vector<CfarDetection> joined;
      for (std::int64_t r0 = 0; r0 < s.rows; r0 += tile_rows)
        for (std::int64_t c0 = 0; c0 < s.cols; c0 += tile_cols) {
          const Rect core{r0, c0, std::min(tile_rows, s.rows - r0), std::min(tile_cols, s.cols - c0)};
          const Rect win = tile_window(core, cfar.halo(), s.rows, s.cols);
          std::vector<float> copy;  // the window alone, as a rank would hold it
          for (std::int64_t r = win.row0; r < win.row0 + win.rows; ++r)
            copy.insert(copy.end(), s.pixels.begin() + r * s.cols + win.col0, s.pixels.begin() + r * s.cols + win.col0 + win.cols);
          const SceneWindow w{copy.data(), win.row0, win.col0, win.rows, win.cols, win.cols, s.rows, s.cols};
          const CfarTile t = cfar.run(w, core, 1 + trial % 3, {true, true});
          for (std::int64_t r = 0; r < core.rows; ++r)
            for (std::int64_t c = 0; c < core.cols; ++c) {
              const auto at_tile = static_cast<std::size_t>(r * core.cols + c);
              const auto at_whole = static_cast<std::size_t>((r + r0) * s.cols + c + c0);
              ASSERT_EQ(t.flags[at_tile], whole.flags[at_whole]) << v.name;
              ASSERT_EQ(std::memcmp(&t.scores[at_tile], &whole.scores[at_whole], sizeof(double)), 0)
                  << v.name << " at (" << r + r0 << ", " << c + c0 << "): " << t.scores[at_tile] << " vs "
                  << whole.scores[at_whole];
            }
          joined.insert(joined.end(), t.detections.begin(), t.detections.end());
        }
      std::sort(joined.begin(), joined.end(), [](const CfarDetection& a, const CfarDetection& b) {
        return a.row < b.row || (a.row == b.row && a.col < b.col);
      });
      ASSERT_EQ(joined.size(), whole.detections.size()) << v.name;
      for (std::size_t i = 0; i < joined.size(); ++i)
        ASSERT_EQ(std::memcmp(&joined[i], &whole.detections[i], sizeof(CfarDetection)), 0) << v.name << " detection " << i;
    }
  }
}

TEST(Cfar, ResultDoesNotDependOnTheThreadCount) {
  for (const Variant& v : kVariants) {
    const Cfar cfar(params_of(v, 1e-2));
    const Scene s = test_scene(3, -1.0f);
    const CfarTile one = cfar.run(s.whole(), {0, 0, s.rows, s.cols}, 1, {true, true});
    for (int threads : {2, 3, 4, 7, 64}) {
      const CfarTile many = cfar.run(s.whole(), {0, 0, s.rows, s.cols}, threads, {true, true});
      EXPECT_EQ(many.flags, one.flags) << v.name << " at " << threads << " threads";
      EXPECT_EQ(std::memcmp(many.scores.data(), one.scores.data(), one.scores.size() * sizeof(double)), 0) << v.name;
      ASSERT_EQ(many.detections.size(), one.detections.size());
      EXPECT_EQ(std::memcmp(many.detections.data(), one.detections.data(), one.detections.size() * sizeof(CfarDetection)), 0);
    }
  }
}

// Each detection's own false-alarm probability: the detections of a strict Pfa are those of a
// loose run whose probability lies below it (ROC points from one pass).
TEST(Cfar, OneLooseRunGivesTheDetectionsOfStricterPfa) {
  for (const Variant& v : kVariants) {
    const Cfar loose(params_of(v, 5e-2)), strict(params_of(v, 1e-3));
    for (int n : {loose.min_cells(), loose.full_ring()}) EXPECT_NEAR(strict.log10_pfa(strict.factor(n), n), -3, 1e-9) << v.name;
    const Scene s = test_scene(19, -1.0f);
    const CfarTile all = loose.run(s.whole(), {0, 0, s.rows, s.cols}, 1);
    const CfarTile few = strict.run(s.whole(), {0, 0, s.rows, s.cols}, 1);
    std::vector<std::pair<std::int64_t, std::int64_t>> kept, expected;
    for (const CfarDetection& d : all.detections) {
      EXPECT_LT(d.log10_pfa, std::log10(5e-2)) << v.name;
      if (d.log10_pfa < -3) kept.emplace_back(d.row, d.col);
    }
    for (const CfarDetection& d : few.detections) expected.emplace_back(d.row, d.col);
    EXPECT_EQ(kept, expected) << v.name;
    EXPECT_GT(all.detections.size(), few.detections.size() + 10) << v.name;
  }
}

TEST(Cfar, NanAndNodataAreNeverDetectedNorCounted) {
  CfarParams p;
  p.guard = 1;
  p.background = 2;
  p.pfa = 1e-3;
  p.nodata = 0.0f;
  const Cfar cfar(p);
  Scene s = cfar_test::gamma_clutter(20, 20, 1, 1.0, 1);
  // A bright pixel amid NaN and nodata rings is still judged on its valid ring cells alone.
  for (int r = 5; r <= 13; ++r)
    for (int c = 5; c <= 13; ++c) s.at(r, c) = (r + c) % 2 ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
  s.at(9, 9) = 1000;
  s.at(3, 3) = std::numeric_limits<float>::infinity();
  const CfarTile t = cfar.run(s.whole(), {0, 0, 20, 20}, 1, {true, true});
  const cfar_test::Reference ref = cfar_test::brute_force(s, cfar);
  EXPECT_EQ(t.flags, ref.flags);
  EXPECT_TRUE(std::isnan(t.scores[3 * 20 + 3]));  // +inf is not a valid intensity
  EXPECT_TRUE(std::isnan(t.scores[9 * 20 + 9]));  // all ring cells of (9, 9) are holes: untested
  for (const CfarDetection& d : t.detections) EXPECT_TRUE(std::isfinite(d.value) && d.value != 0.0f);
}

TEST(Cfar, RejectsBadParametersGeometryAndPixels) {
  CfarParams p;
  p.pfa = 0;
  EXPECT_THROW(Cfar{p}, ConfigError);
  p = {};
  p.background = 0;
  EXPECT_THROW(Cfar{p}, ConfigError);
  p = {};
  p.method = CfarMethod::order_statistic;
  p.looks = 4;
  EXPECT_THROW(Cfar{p}, ConfigError);
  p = {};
  p.min_cells = 100000;
  EXPECT_THROW(Cfar{p}, ConfigError);

  const Cfar cfar(CfarParams{});
  Scene s = cfar_test::gamma_clutter(64, 64, 1, 1.0, 2);
  // A window without the core's halo is refused: its results would differ from the scene's.
  const SceneWindow narrow{s.pixels.data() + 20 * 64 + 20, 20, 20, 20, 20, 64, 64, 64};
  EXPECT_THROW(cfar.run(narrow, {20, 20, 20, 20}, 1), ConfigError);
  EXPECT_THROW(cfar.run(s.whole(), {50, 50, 20, 20}, 1), ConfigError);
  s.at(40, 41) = 1e14f;
  try {
    cfar.run(s.whole(), {0, 0, 64, 64}, 1);
    FAIL() << "an intensity above the exact sums' range was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("row 40, col 41"), std::string::npos) << e.what();
  }
}

TEST(Cfar, MetresToPixels) {
  EXPECT_EQ(metres_to_pixels(25, {500000, 10, 0, 4000000, 0, -10}), 3);
  EXPECT_EQ(metres_to_pixels(20, {500000, 10, 0, 4000000, 0, -10}), 2);
  EXPECT_EQ(metres_to_pixels(30, {0, 6, 8, 0, 8, -6}), 3);  // rotated: 10 m pixels
  EXPECT_EQ(metres_to_pixels(40, {0, 10, 0, 0, 0, -20}), 4);  // the finer axis decides
  EXPECT_EQ(metres_to_pixels(222, {0, 0.001, 0, 0, 0, -0.001}, 111000), 2);
  EXPECT_THROW(metres_to_pixels(10, {0, 0, 0, 0, 0, 0}), InputError);
}

}  // namespace
}  // namespace sarscale::detect
