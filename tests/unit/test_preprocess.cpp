// Chip preprocessing: every step on small hand-computed images, the text form, and the flagging of
// unusable chips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/features/preprocess.hpp"

namespace sf = sarscale::features;

namespace {

struct Result {
  std::vector<float> image;
  int rows, cols;
  std::string reason;
};

Result run(const std::string& chain, const std::vector<float>& in, int rows, int cols) {
  sf::Preprocessor pre(sf::parse_chain(chain), rows, cols);
  Result r{std::vector<float>(static_cast<std::size_t>(pre.out_rows()) * pre.out_cols(), -12345.0f), pre.out_rows(),
           pre.out_cols(), ""};
  r.reason = pre.apply(in.data(), r.image.data());
  return r;
}

// Left `left` columns at `a`, the rest at `b`.
std::vector<float> step_edge(int rows, int cols, int left, float a, float b) {
  std::vector<float> img(static_cast<std::size_t>(rows) * cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) img[static_cast<std::size_t>(i) * cols + j] = j < left ? a : b;
  return img;
}

void expect_config_error(const std::string& text, const std::string& token) {
  try {
    sf::parse_chain(text);
    ADD_FAILURE() << "no ConfigError for \"" << text << "\"";
  } catch (const sarscale::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(token), std::string::npos) << e.what() << " should name '" << token << "'";
  }
}

}  // namespace

TEST(PreprocessChain, ParsesFillsDefaultsAndRoundTrips) {
  const auto chain = sf::parse_chain(" db(floor=-40); crop(88); lee(window=5, looks=1) ;zscore; ");
  ASSERT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[0].name, "db");
  EXPECT_EQ(chain[0].params.at("floor"), -40);
  EXPECT_EQ(chain[0].params.at("scale"), 20);
  EXPECT_EQ(chain[1].params.at("rows"), 88);
  EXPECT_EQ(chain[1].params.at("cols"), 88);
  EXPECT_EQ(chain[2].params.at("data"), 0);  // amplitude
  EXPECT_TRUE(chain[3].params.empty());
  const std::string text = sf::describe_chain(chain);
  EXPECT_EQ(text, "db(floor=-40, scale=20); crop(rows=88, cols=88); lee(window=5, looks=1, data=amplitude); zscore");
  EXPECT_EQ(sf::parse_chain(text), chain);

  EXPECT_EQ(sf::parse_chain("crop(88x64)")[0].params.at("cols"), 64);
  EXPECT_EQ(sf::parse_chain("crop(88, 64)")[0].params.at("cols"), 64);
  EXPECT_EQ(sf::parse_chain("crop(88, cols=60)")[0].params.at("cols"), 60);
  const auto ml = sf::parse_chain("multilook(3, mode=rms)")[0];
  EXPECT_EQ(ml.params.at("rows"), 3);
  EXPECT_EQ(ml.params.at("cols"), 3);
  EXPECT_EQ(ml.params.at("mode"), 1);
  const auto all = sf::parse_chain(
      "percentile(lo=0.5, hi=99.5); mean; median(5); frost(damping=1.25); equalize(bins=64); multilook(2x1); "
      "mask(method=cfar, pfa=1e-4, fill=min); mask(fill=-3.5); linear");
  EXPECT_EQ(all[6].params.at("fill"), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(sf::parse_chain(sf::describe_chain(all)), all);
  EXPECT_NE(sf::describe_chain(all).find("method=cfar, grow=2, reach=16, guard=2, train=4, pfa=1e-04"),
            std::string::npos);
  EXPECT_TRUE(sf::parse_chain("  ").empty());
}

TEST(PreprocessChain, BadSpecsNameTheToken) {
  expect_config_error("db; blur(3)", "blur");
  expect_config_error("lee(window=4)", "window");
  expect_config_error("lee(size=3)", "size");
  expect_config_error("db(floor=abc)", "abc");
  expect_config_error("db(floor=nan)", "nan");
  expect_config_error("crop", "rows");
  expect_config_error("percentile(lo=90, hi=10)", "lo < hi");
  expect_config_error("mean(3", "(3");
  expect_config_error("zscore(1)", "1");
  expect_config_error("mask(method=foo)", "foo");
  expect_config_error("median(3, window=5)", "window=5");
  expect_config_error("db(floor=)", "floor");
  // Sizes are checked against the chip.
  EXPECT_THROW(sf::Preprocessor(sf::parse_chain("crop(100)"), 88, 88), sarscale::ConfigError);
  EXPECT_THROW(sf::Preprocessor(sf::parse_chain("crop(60); multilook(61)"), 88, 88), sarscale::ConfigError);
  EXPECT_THROW(sf::Preprocessor({{"lee", {{"window", 2}}}}, 8, 8), sarscale::ConfigError);
  sf::Preprocessor sized(sf::parse_chain("crop(4x3); multilook(2)"), 10, 10);
  EXPECT_EQ(sized.out_rows(), 2);
  EXPECT_EQ(sized.out_cols(), 1);
}

TEST(PreprocessSteps, DbFloorLinearPercentileZscore) {
  auto r = run("db", {0.0f, 1.0f, 10.0f, 1e-4f, -10.0f, 0.5f}, 2, 3);
  ASSERT_EQ(r.reason, "");
  const std::vector<float> db = {-60, 0, 20, -60, 20, static_cast<float>(20 * std::log10(0.5))};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.image[i], db[i], 1e-5) << i;
  r = run("db(floor=-100)", {1e-4f, 1.0f}, 1, 2);
  EXPECT_NEAR(r.image[0], -80, 1e-4);
  r = run("db(scale=10)", {100.0f, 1.0f}, 1, 2);
  EXPECT_NEAR(r.image[0], 20, 1e-5);

  r = run("linear", {1, 2, 3, 5}, 2, 2);
  EXPECT_EQ(r.image, (std::vector<float>{0, 0.25f, 0.5f, 1}));

  std::vector<float> ramp(101);
  for (int i = 0; i < 101; ++i) ramp[i] = static_cast<float>(i + 1);
  r = run("percentile(lo=10, hi=90)", ramp, 1, 101);  // p10 = 11, p90 = 91
  EXPECT_FLOAT_EQ(r.image[0], 0);
  EXPECT_FLOAT_EQ(r.image[10], 0);
  EXPECT_FLOAT_EQ(r.image[50], 0.5f);
  EXPECT_FLOAT_EQ(r.image[60], 0.625f);
  EXPECT_FLOAT_EQ(r.image[100], 1);
  r = run("percentile(lo=25, hi=75)", {0, 0, 0, 0, 0, 0, 1, 9}, 2, 4);  // p25 = 0, p75 = 0.25: 1 and 9 clip to 1
  EXPECT_NEAR(r.image[6], 1, 1e-6);
  r = run("percentile(lo=10, hi=60)", {0, 0, 0, 0, 0, 0, 1, 9}, 2, 4);  // range closed: step at 0
  EXPECT_EQ(r.image, (std::vector<float>{0, 0, 0, 0, 0, 0, 1, 1}));

  r = run("zscore", {2, 4, 4, 4, 5, 5, 7, 9}, 2, 4);  // mean 5, population std 2
  ASSERT_EQ(r.reason, "");
  EXPECT_FLOAT_EQ(r.image[0], -1.5f);
  EXPECT_FLOAT_EQ(r.image[7], 2.0f);
  double mean = 0, sq = 0;
  for (float v : r.image) mean += v;
  for (float v : r.image) sq += v * v;
  EXPECT_NEAR(mean / 8, 0, 1e-7);
  EXPECT_NEAR(sq / 8, 1, 1e-6);
}

TEST(PreprocessSteps, CropAndMultilook) {
  std::vector<float> img(5 * 6);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 6; ++j) img[i * 6 + j] = static_cast<float>(10 * i + j);
  auto r = run("crop(2x3)", img, 5, 6);  // offsets (5-2)/2 = 1 and (6-3)/2 = 1
  ASSERT_EQ(r.rows, 2);
  ASSERT_EQ(r.cols, 3);
  EXPECT_EQ(r.image, (std::vector<float>{11, 12, 13, 21, 22, 23}));

  r = run("multilook(2)", img, 5, 6);  // 2x3 output, last row dropped
  ASSERT_EQ(r.rows, 2);
  ASSERT_EQ(r.cols, 3);
  EXPECT_EQ(r.image, (std::vector<float>{5.5f, 7.5f, 9.5f, 25.5f, 27.5f, 29.5f}));
  r = run("multilook(1x3, mode=rms)", {3, 4, 0, 1, 1, 1}, 1, 6);
  ASSERT_EQ(r.cols, 2);
  EXPECT_FLOAT_EQ(r.image[0], std::sqrt(25.0f / 3));
  EXPECT_FLOAT_EQ(r.image[1], 1.0f);
}

TEST(PreprocessSteps, MeanReflectsBordersAndMedianRemovesImpulse) {
  std::vector<float> img(25, 0.0f);
  img[0] = 9;  // corner impulse: with reflected borders the 3x3 window at (0,0) sees it 4 times
  img[12] = 9;
  auto r = run("mean", img, 5, 5);
  EXPECT_NEAR(r.image[0], 4, 1e-6);
  EXPECT_NEAR(r.image[1], 2, 1e-6);
  EXPECT_NEAR(r.image[12], 1, 1e-6);
  EXPECT_NEAR(r.image[6], 2, 1e-6);  // sees the corner once and the centre once
  EXPECT_NEAR(r.image[4], 0, 1e-6);

  std::vector<float> flat(49, 2.0f);
  flat[24] = 100;
  flat[0] = -50;
  r = run("median", flat, 7, 7);
  for (float v : r.image) EXPECT_EQ(v, 2.0f);
  r = run("median(window=5)", flat, 7, 7);
  for (float v : r.image) EXPECT_EQ(v, 2.0f);
}

// Median and Frost against a direct evaluation (reflected borders, every window recomputed).
TEST(PreprocessSteps, MedianAndFrostMatchDirectEvaluation) {
  const int rows = 23, cols = 19;
  std::mt19937 rng(3);
  std::exponential_distribution<float> speckle(1.0f);
  std::vector<float> img(rows * cols);
  for (float& v : img) v = std::round(speckle(rng) * 8) / 8;  // many ties, to exercise equal values
  const auto at = [&](int i, int j) {
    const auto reflect = [](int k, int n) {
      k %= 2 * n;
      if (k < 0) k += 2 * n;
      return k < n ? k : 2 * n - 1 - k;
    };
    return static_cast<double>(img[reflect(i, rows) * cols + reflect(j, cols)]);
  };
  for (int w : {1, 3, 5, 7, 31}) {
    const auto med = run("median(window=" + std::to_string(w) + ")", img, rows, cols);
    const auto frost = run("frost(window=" + std::to_string(w) + ", damping=1.5)", img, rows, cols);
    const int h = w / 2;
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        std::vector<double> win;
        for (int u = -h; u <= h; ++u)
          for (int v = -h; v <= h; ++v) win.push_back(at(i + u, j + v));
        double m = 0, ss = 0;
        for (double x : win) m += x;
        m /= static_cast<double>(win.size());
        for (double x : win) ss += (x - m) * (x - m);
        const double ci2 = ss == 0 ? 0.0 : ss / static_cast<double>(win.size()) / (m * m);  // flat: a plain mean
        double sw = 0, swx = 0, k = 0;
        for (int u = -h; u <= h; ++u)
          for (int v = -h; v <= h; ++v) {
            const double wt = std::exp(-1.5 * ci2 * std::hypot(u, v));
            sw += wt;
            swx += wt * win[static_cast<std::size_t>(k++)];
          }
        std::nth_element(win.begin(), win.begin() + static_cast<std::ptrdiff_t>(win.size() / 2), win.end());
        ASSERT_EQ(med.image[i * cols + j], win[win.size() / 2]) << "w=" << w << " at " << i << "," << j;
        ASSERT_NEAR(frost.image[i * cols + j], swx / sw, 1e-5 * (1 + swx / sw)) << "w=" << w << " at " << i << "," << j;
      }
  }
}

TEST(PreprocessSteps, LeeAndFrostKeepFlatRegionsAndPreserveEdges) {
  const int rows = 12, cols = 12, left = 6;
  const auto img = step_edge(rows, cols, left, 1.0f, 10.0f);
  const auto mean = run("mean(window=5)", img, rows, cols);
  const auto lee = run("lee(window=5, looks=1)", img, rows, cols);
  const auto frost = run("frost(window=5, damping=2)", img, rows, cols);
  for (const auto* r : {&mean, &lee, &frost}) ASSERT_EQ(r->reason, "");
  // Flat regions (window entirely on one side) are returned unchanged.
  for (int i = 0; i < rows; ++i)
    for (int j : {0, 1, 2, 3, 8, 9, 10, 11}) {
      const float want = j < left ? 1.0f : 10.0f;
      EXPECT_NEAR(lee.image[i * cols + j], want, 1e-5) << i << "," << j;
      EXPECT_NEAR(frost.image[i * cols + j], want, 1e-5) << i << "," << j;
    }
  // Contrast across the edge: the jump between the two columns next to it (9 in the input).
  const auto jump = [&](const Result& r) { return r.image[5 * cols + left] - r.image[5 * cols + left - 1]; };
  EXPECT_NEAR(jump(mean), 9.0 / 5, 1e-5);
  // Lee by hand: m = 4.6, v = 19.44 on the dark side, m = 6.4 on the bright side; Cu^2 = 4/pi - 1.
  const double cu2 = 4 / M_PI - 1;
  const double k_dark = (1 - cu2 * 4.6 * 4.6 / 19.44) / (1 + cu2), k_bright = (1 - cu2 * 6.4 * 6.4 / 19.44) / (1 + cu2);
  EXPECT_NEAR(lee.image[5 * cols + left - 1], 4.6 + k_dark * (1 - 4.6), 1e-4);
  EXPECT_NEAR(lee.image[5 * cols + left], 6.4 + k_bright * (10 - 6.4), 1e-4);
  EXPECT_GT(jump(lee), 2.5 * jump(mean));
  EXPECT_GT(jump(frost), 2.5 * jump(mean));
  // Intensity data with one look (Cu = 1): this edge is within the speckle, Lee smooths it fully.
  const auto lee_int = run("lee(window=5, looks=1, data=intensity)", img, rows, cols);
  EXPECT_NEAR(lee_int.image[5 * cols + left - 1], 4.6, 1e-4);
  // More looks: less noise assumed, more of the edge kept.
  const auto lee16 = run("lee(window=5, looks=16)", img, rows, cols);
  EXPECT_GT(jump(lee16), jump(lee));
}

TEST(PreprocessSteps, EqualizeFlattensARamp) {
  std::vector<float> ramp(64);
  for (int i = 0; i < 64; ++i) ramp[i] = static_cast<float>(i * i);  // very uneven spacing
  const auto r = run("equalize(bins=4096)", ramp, 8, 8);
  ASSERT_EQ(r.reason, "");
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 64; ++i) {
    if (i > 0) EXPECT_GT(r.image[i], r.image[i - 1]);
    counts[std::min(3, static_cast<int>(r.image[i] * 4))]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 16, 1);
  EXPECT_FLOAT_EQ(r.image[63], 1.0f);
  EXPECT_NEAR(r.image[0], 1.0 / 64, 1e-6);
}

TEST(PreprocessMask, OtsuSplitsABimodalImage) {
  std::vector<float> v;
  for (int i = 0; i < 50; ++i) v.push_back(i % 2 ? 0.1f : 0.2f);
  for (int i = 0; i < 20; ++i) v.push_back(i % 2 ? 0.8f : 0.9f);
  const double t = sf::otsu_threshold(v.data(), v.size());
  EXPECT_EQ(t, 0.2f);  // the largest value of the dark class
  EXPECT_EQ(sf::otsu_threshold(v.data(), 1), 0.2f);
}

TEST(PreprocessMask, KeepsTargetAndNearbyShadow) {
  const int n = 16;
  std::vector<float> img(n * n);
  for (int i = 0; i < n * n; ++i) img[i] = (i + i / n) % 2 ? 0.4f : 0.5f;  // clutter
  for (int i = 6; i < 9; ++i)
    for (int j = 6; j < 9; ++j) img[i * n + j] = 0.9f;                    // target
  for (int j = 6; j < 9; ++j) img[10 * n + j] = img[11 * n + j] = 0.05f;  // shadow below it
  img[0] = 0.05f;                                                         // dark, but far away
  auto r = run("mask(grow=0, reach=3, fill=-1)", img, n, n);
  ASSERT_EQ(r.reason, "");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const float v = img[i * n + j];
      const bool target = v == 0.9f, shadow = v == 0.05f && i > 0;
      EXPECT_EQ(r.image[i * n + j], target || shadow ? v : -1.0f) << i << "," << j;
    }
  // grow=1 keeps the clutter ring around the target; fill=min uses the image minimum.
  r = run("mask(grow=1, reach=0)", img, n, n);
  EXPECT_EQ(r.image[5 * n + 5], img[5 * n + 5]);
  EXPECT_EQ(r.image[10 * n + 7], 0.05f);  // shadow not kept (reach=0) but the fill is the minimum
  EXPECT_EQ(r.image[4 * n + 4], 0.05f);
}

TEST(PreprocessMask, CfarDetectsAPointTarget) {
  const int n = 20;
  std::vector<float> img(n * n);
  for (int i = 0; i < n * n; ++i) img[i] = i % 3 ? 1.0f : 1.1f;
  img[9 * n + 11] = 10;
  auto r = run("mask(method=cfar, guard=2, train=4, pfa=1e-3, grow=0, reach=0, fill=0)", img, n, n);
  ASSERT_EQ(r.reason, "");
  for (int i = 0; i < n * n; ++i) EXPECT_EQ(r.image[i], i == 9 * n + 11 ? 10.0f : 0.0f) << i;
  img[9 * n + 11] = 1;
  r = run("mask(method=cfar)", img, n, n);
  EXPECT_NE(r.reason.find("no target"), std::string::npos) << r.reason;
  for (float v : r.image) EXPECT_EQ(v, 0.0f);
}

// Speckle-like clutter (exponential intensity, seeded) with a bright 6x6 target at the centre and a
// bright 3x3 discrete in a corner: the smoothed threshold ignores isolated bright clutter pixels and
// keep=central drops the discrete.
TEST(PreprocessMask, SmoothedCentralMaskKeepsOnlyTheCentredTarget) {
  const int n = 48;
  std::mt19937 rng(5);
  std::exponential_distribution<float> speckle(1.0f);
  std::vector<float> img(n * n);
  for (float& v : img) v = std::sqrt(speckle(rng));  // Rayleigh amplitude, mean ~0.89
  for (int i = 21; i < 27; ++i)
    for (int j = 21; j < 27; ++j) img[i * n + j] = 3.0f;
  for (int i = 2; i < 5; ++i)
    for (int j = 40; j < 43; ++j) img[i * n + j] = 3.0f;
  const auto kept = [&](const Result& r, int i, int j) { return r.image[i * n + j] != -1.0f; };
  auto raw = run("mask(grow=0, reach=0, fill=-1)", img, n, n);
  ASSERT_EQ(raw.reason, "");
  int kept_clutter = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) kept_clutter += kept(raw, i, j) && img[i * n + j] != 3.0f;
  EXPECT_GT(kept_clutter, 0) << "Otsu on single pixels should pick up some bright speckle";
  auto central = run("mask(grow=0, reach=0, fill=-1, smooth=5, keep=central)", img, n, n);
  ASSERT_EQ(central.reason, "");
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const bool in_target = i >= 19 && i <= 28 && j >= 19 && j <= 28;  // a 5x5 mean blurs up to 2 pixels out
      if (!in_target) EXPECT_FALSE(kept(central, i, j)) << i << "," << j;
    }
  for (int i = 22; i < 26; ++i)
    for (int j = 22; j < 26; ++j) EXPECT_TRUE(kept(central, i, j)) << i << "," << j;
  // The same chain without keep=central keeps the corner discrete too.
  auto both = run("mask(grow=0, reach=0, fill=-1, smooth=5)", img, n, n);
  EXPECT_TRUE(kept(both, 3, 41));
  EXPECT_FALSE(kept(central, 3, 41));
}

TEST(PreprocessMask, NewParametersKeepOldCanonicalText) {
  // Feature files and models store the canonical text: parameters added later print only when set.
  EXPECT_EQ(sf::describe_chain(sf::parse_chain("mask")),
            "mask(method=otsu, grow=2, reach=16, guard=2, train=4, pfa=0.001, data=amplitude, fill=min)");
  const std::string text = sf::describe_chain(sf::parse_chain("mask(smooth=5, keep=central, fill=0)"));
  EXPECT_EQ(text,
            "mask(method=otsu, grow=2, reach=16, guard=2, train=4, pfa=0.001, data=amplitude, fill=0, smooth=5, "
            "keep=central)");
  EXPECT_EQ(sf::describe_chain(sf::parse_chain(text)), text);
  EXPECT_THROW(sf::parse_chain("mask(smooth=4)"), sarscale::ConfigError);  // odd windows only
  EXPECT_THROW(sf::parse_chain("mask(keep=largest)"), sarscale::ConfigError);
}

TEST(PreprocessSteps, PowerRaisesMagnitudes) {
  const std::vector<float> img = {0, -2, 3, 0.5f};
  auto r = run("power", img, 2, 2);  // intensity of an amplitude: squared, sign dropped
  ASSERT_EQ(r.reason, "");
  EXPECT_EQ(r.image, (std::vector<float>{0, 4, 9, 0.25f}));
  r = run("power(0.5)", img, 2, 2);
  EXPECT_FLOAT_EQ(r.image[1], std::sqrt(2.0f));
  EXPECT_FLOAT_EQ(r.image[2], std::sqrt(3.0f));
  EXPECT_EQ(sf::describe_chain(sf::parse_chain("power(1.5)")), "power(exponent=1.5)");
  EXPECT_THROW(sf::parse_chain("power(0)"), sarscale::ConfigError);
}

// A bright bar at 45 degrees off centre ends up centred and along the rows.
TEST(PreprocessSteps, PoseCentresTheTargetAndTurnsItsAxisAlongTheRows) {
  const int n = 41;
  std::vector<float> img(n * n, 0.1f);
  for (int k = -8; k <= 8; ++k) img[(14 + k) * n + (24 + k)] = img[(14 + k) * n + (25 + k)] = 5.0f;  // diagonal bar
  auto r = run("pose(smooth=1)", img, n, n);
  ASSERT_EQ(r.reason, "");
  // The bright pixels now lie in the centre column band, spread along the rows.
  double sum = 0, sr = 0, sc = 0, srr = 0, scc = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double v = std::max(0.0, r.image[i * n + j] - 0.1);
      sum += v;
      sr += v * i;
      sc += v * j;
      srr += v * (i - 20) * (i - 20);
      scc += v * (j - 20) * (j - 20);
    }
  EXPECT_NEAR(sr / sum, 20.0, 0.5);
  EXPECT_NEAR(sc / sum, 20.0, 0.5);
  EXPECT_GT(srr, 20 * scc);  // elongated along the rows
  EXPECT_NE(run("pose", std::vector<float>(n * n, 0.5f), n, n).reason, "");  // constant: flagged before pose
  EXPECT_EQ(sf::describe_chain(sf::parse_chain("pose")), "pose(smooth=5)");
}

TEST(PreprocessSteps, ScaleDividesByTheChipsOwnStatistic) {
  const std::vector<float> img = {0, 0, 2, 4, 0, 6, 0, 0, 8};  // non-zero: 2 4 6 8
  auto r = run("scale", img, 3, 3);                               // mean over all: 20 / 9
  ASSERT_EQ(r.reason, "");
  EXPECT_FLOAT_EQ(r.image[8], static_cast<float>(8.0 / (20.0 / 9.0)));
  r = run("scale(stat=mean, over=nonzero)", img, 3, 3);  // 5
  EXPECT_FLOAT_EQ(r.image[2], 0.4f);
  EXPECT_EQ(r.image[0], 0.0f);
  r = run("scale(median, nonzero)", img, 3, 3);  // upper median of 2 4 6 8: 6
  EXPECT_FLOAT_EQ(r.image[5], 1.0f);
  r = run("scale(stat=max)", img, 3, 3);
  EXPECT_FLOAT_EQ(r.image[8], 1.0f);
  r = run("scale(stat=rms, over=nonzero)", img, 3, 3);  // sqrt(120 / 4)
  EXPECT_FLOAT_EQ(r.image[8], static_cast<float>(8.0 / std::sqrt(30.0)));
  // A gain cancels: the same chip x 10 gives the same output.
  std::vector<float> louder = img;
  for (float& v : louder) v *= 10.0f;
  const auto a = run("scale(stat=mean, over=nonzero)", img, 3, 3), b = run("scale(stat=mean, over=nonzero)", louder, 3, 3);
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(a.image[i], b.image[i]);
  // The median of a chip that is mostly zero is zero: flagged, never a division by zero.
  r = run("scale(stat=median)", img, 3, 3);
  EXPECT_NE(r.reason.find("not a positive number"), std::string::npos) << r.reason;
  for (float v : r.image) EXPECT_EQ(v, 0.0f);
}

TEST(PreprocessFlags, UnusableChipsAreFlaggedWithFiniteOutput) {
  const std::string chain = "db; lee; zscore";
  const auto check = [&](std::vector<float> img, const std::string& word) {
    const auto r = run(chain, img, 4, 4);
    EXPECT_NE(r.reason.find(word), std::string::npos) << "reason: '" << r.reason << "'";
    for (float v : r.image) EXPECT_EQ(v, 0.0f);
  };
  check(std::vector<float>(16, 3.0f), "constant");
  check(std::vector<float>(16, 0.0f), "all zero");
  std::vector<float> img(16);
  for (int i = 0; i < 16; ++i) img[i] = static_cast<float>(i + 1);
  img[3] = std::numeric_limits<float>::quiet_NaN();
  check(img, "NaN");
  img[3] = std::numeric_limits<float>::infinity();
  img[4] = -std::numeric_limits<float>::infinity();
  check(img, "2 NaN/Inf");
  // Constant only after a step: the zscore step flags it.
  std::vector<float> framed(36, 5.0f);
  framed[0] = 1;
  const auto r = run("crop(4); zscore", framed, 6, 6);
  EXPECT_NE(r.reason.find("zscore"), std::string::npos) << r.reason;
  for (float v : r.image) EXPECT_EQ(v, 0.0f);
}

TEST(PreprocessFlags, ChainIsDeterministicAndFinite) {
  std::mt19937 rng(7);
  std::exponential_distribution<float> speckle(1.0f);
  const int n = 40;
  std::vector<float> img(n * n);
  for (int i = 0; i < n * n; ++i)
    img[i] = speckle(rng) * ((i / n > 15 && i / n < 25 && i % n > 15 && i % n < 25) ? 8 : 1);
  const std::string chain =
      "multilook(2x1, mode=rms); crop(18); frost; lee(window=7, looks=2); median; mean; mask(grow=1); db(floor=-30); "
      "percentile; equalize(bins=64); zscore";
  sf::Preprocessor a(sf::parse_chain(chain), n, n), b(sf::parse_chain(chain), n, n);
  ASSERT_EQ(a.out_rows(), 18);
  std::vector<float> out1(18 * 18), out2(18 * 18), out3(18 * 18);
  ASSERT_EQ(a.apply(img.data(), out1.data()), "");
  ASSERT_EQ(a.apply(img.data(), out2.data()), "");
  ASSERT_EQ(b.apply(img.data(), out3.data()), "");
  EXPECT_EQ(std::memcmp(out1.data(), out2.data(), out1.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(out1.data(), out3.data(), out1.size() * sizeof(float)), 0);
  for (float v : out1) EXPECT_TRUE(std::isfinite(v));
}

// turn=no registers the chip: the target moves to the centre without turning, and the
// Preprocessor reports where it found it (a detector's finer position for the target).
TEST(PreprocessSteps, PoseWithoutTurnCentresAndReportsWhereTheTargetWas) {
  const int n = 41;
  std::vector<float> img(n * n, 0.1f);
  for (int k = -8; k <= 8; ++k) img[(14 + k) * n + (24 + k)] = img[(14 + k) * n + (25 + k)] = 5.0f;  // diagonal bar
  sf::Preprocessor p(sf::parse_chain("pose(smooth=1, turn=no)"), n, n);
  std::vector<float> out(n * n);
  ASSERT_EQ(p.apply(img.data(), out.data()), "");
  ASSERT_TRUE(p.registration().has_value());
  EXPECT_NEAR((*p.registration())[0], 14.0, 1e-9);  // the bar's weighted centroid
  EXPECT_NEAR((*p.registration())[1], 24.5, 1e-9);
  // Moved by (+6, -4.5) without turning: still diagonal (covariance of rows and columns > 0).
  double sum = 0, sr = 0, sc = 0, src = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const double v = std::max(0.0, out[i * n + j] - 0.1);
      sum += v, sr += v * i, sc += v * j, src += v * (i - 20) * (j - 20);
    }
  EXPECT_NEAR(sr / sum, 20.0, 0.5);
  EXPECT_NEAR(sc / sum, 20.0, 0.5);
  EXPECT_GT(src, 0.0);
  // The canonical text keeps its old form at the default (stored fingerprints do not change).
  EXPECT_EQ(sf::describe_chain(sf::parse_chain("pose(turn=yes)")), "pose(smooth=5)");
  EXPECT_EQ(sf::describe_chain(sf::parse_chain("pose(turn=no)")), "pose(smooth=5, turn=no)");
  // No pose step, or one after a crop (another pixel grid): nothing to report.
  sf::Preprocessor plain(sf::parse_chain("power(1.5)"), n, n);
  ASSERT_EQ(plain.apply(img.data(), out.data()), "");
  EXPECT_FALSE(plain.registration().has_value());
  sf::Preprocessor cropped(sf::parse_chain("crop(31); pose(smooth=1, turn=no)"), n, n);
  ASSERT_EQ(cropped.apply(img.data(), out.data()), "");
  EXPECT_FALSE(cropped.registration().has_value());
}
