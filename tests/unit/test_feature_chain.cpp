// Feature blocks (pixels, stats) and the feature chain: text form, layout, equality with the blocks
// run by hand, flagging of unusable chips, thread-count independence, fingerprints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/features/blocks.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/gabor.hpp"
#include "sarscale/features/hog.hpp"
#include "sarscale/features/preprocess.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;

using sarscale::test::config_error_of;

namespace {

using sarscale::test::message_of;

constexpr const char* kBlocks =
    "hog(orientations=9, cell=8, block=2, norm=L2-Hys); gabor(frequencies=0.1/0.2/0.4, orientations=4, grid=2); "
    "pixels(size=16, db=1); stats(bins=64)";

// Speckle-like amplitude chips: Rayleigh clutter with a bright square target.
std::vector<float> make_chips(std::size_t count, int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> intensity(1.0f);
  std::vector<float> chips(count * rows * cols);
  for (std::size_t k = 0; k < count; ++k)
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const bool target = std::abs(r - rows / 2) < 6 && std::abs(c - cols / 2) < 4;
        chips[(k * rows + r) * cols + c] = std::sqrt(intensity(rng)) * (target ? 8.0f : 1.0f);
      }
  return chips;
}


}  // namespace

TEST(FeatureBlocks, StatsOfKnownImages) {
  float out[sf::kStatsLength];
  // {1,2,3,4}: mean 2.5, var 1.25, skew 0, kurtosis 2.5625/1.5625 - 3, entropy of 4 single-pixel bins = 2 bits.
  const float ramp[] = {1, 2, 3, 4};
  sf::StatsBlock(sf::StatsParams{4, 2, 1}, 2, 2).compute(ramp, out);
  EXPECT_FLOAT_EQ(out[0], 2.5f);
  EXPECT_FLOAT_EQ(out[1], 1.25f);
  EXPECT_NEAR(out[2], 0.0f, 1e-7);
  EXPECT_FLOAT_EQ(out[3], -1.36f);
  EXPECT_FLOAT_EQ(out[4], 2.0f);
  EXPECT_FLOAT_EQ(out[5], 4.0f / 2.5f);  // max / mean
  EXPECT_FLOAT_EQ(out[6], 3.5f / 2.5f);  // top-2 mean / mean
  EXPECT_FLOAT_EQ(out[7], 0.25f);        // only 4 > 2.5 + 1.118
  // {0,0,0,4}: mean 1, m2 3, m3 6, m4 21; histogram (2 bins) 3/4 + 1/4.
  const float spike[] = {0, 0, 0, 4};
  sf::StatsBlock(sf::StatsParams{2, 1, 1}, 1, 4).compute(spike, out);
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], 3.0f);
  EXPECT_FLOAT_EQ(out[2], static_cast<float>(6.0 / std::pow(3.0, 1.5)));
  EXPECT_FLOAT_EQ(out[3], static_cast<float>(21.0 / 9.0 - 3.0));
  EXPECT_FLOAT_EQ(out[4], static_cast<float>(-(0.75 * std::log2(0.75) + 0.25 * std::log2(0.25))));
  EXPECT_FLOAT_EQ(out[5], 4.0f);
  EXPECT_FLOAT_EQ(out[6], 4.0f);
  EXPECT_FLOAT_EQ(out[7], 0.25f);
  // Negative data: the ratios are taken above the minimum (-2): (1+2)/(-0.5+2) = 2.
  const float signed_values[] = {-2, -1, 0, 1};
  sf::StatsBlock(sf::StatsParams{}, 2, 2).compute(signed_values, out);
  EXPECT_FLOAT_EQ(out[5], 2.0f);
  EXPECT_FLOAT_EQ(out[6], 1.0f);  // topk 16 clamps to the 4 pixels: mean/mean
  EXPECT_EQ(sf::stats_names()[4], "entropy");
}

TEST(FeatureBlocks, StatsOfConstantChipAreFinite) {
  for (float value : {0.0f, 5.0f, -3.0f}) {
    const std::vector<float> chip(64, value);
    float out[sf::kStatsLength];
    sf::StatsBlock(sf::StatsParams{}, 8, 8).compute(chip.data(), out);
    const float expected[] = {value, 0, 0, 0, 0, 1, 1, 0};
    for (std::size_t i = 0; i < sf::kStatsLength; ++i) EXPECT_EQ(out[i], expected[i]) << sf::stats_names()[i];
  }
}

TEST(FeatureBlocks, PixelsOfRamp) {
  // Integer factor: 8 columns of a column ramp -> 4 block means 0.5, 2.5, 4.5, 6.5 (rows are equal).
  std::vector<float> ramp(8 * 8);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) ramp[r * 8 + c] = static_cast<float>(c);
  sf::PixelsBlock block(sf::PixelsParams{4, 4}, 8, 8);
  ASSERT_EQ(block.length(), 16u);
  std::vector<float> out(16);
  block.compute(ramp.data(), out.data());
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(out[r * 4 + c], 2.0f * c + 0.5f);
  // Fractional factor 6 -> 4 (1.5 pixels per output): overlaps give 1/3, 5/3, 10/3, 14/3.
  std::vector<float> row_ramp(3 * 6);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 6; ++c) row_ramp[r * 6 + c] = static_cast<float>(c + 10 * r);
  sf::PixelsBlock frac(sf::PixelsParams{1, 4}, 3, 6);
  std::vector<float> out2(4);
  frac.compute(row_ramp.data(), out2.data());
  const double expected[] = {1.0 / 3, 5.0 / 3, 10.0 / 3, 14.0 / 3};
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(out2[c], expected[c] + 10.0, 1e-5) << c;  // row mean 10
  // dB with a floor: mean 10 -> 20 dB, mean 0 -> floor.
  sf::PixelsParams db{1, 2, true, -45};
  float out3[2];
  const float cols[] = {10, 0, 10, 0};
  sf::PixelsBlock(db, 2, 2).compute(cols, out3);
  EXPECT_FLOAT_EQ(out3[0], 20.0f);
  EXPECT_FLOAT_EQ(out3[1], -45.0f);
  EXPECT_THROW(sf::PixelsBlock(sf::PixelsParams{9, 8}, 8, 8), sarscale::ConfigError);
}

TEST(FeatureChain, ParseDescribeRoundTrip) {
  const auto blocks = sf::parse_blocks(kBlocks);
  ASSERT_EQ(blocks.size(), 4u);
  const std::string canonical = sf::describe_blocks(blocks);
  EXPECT_EQ(canonical,
            "hog(orientations=9, cell=8, block=2, norm=L2-Hys, sqrt=false); "
            "gabor(frequencies=0.1/0.2/0.4, orientations=4, bandwidth=1, grid=2, method=auto); "
            "pixels(size=16, db=true, floor=-60); stats(bins=64, topk=16, sigma=3)");
  EXPECT_EQ(sf::parse_blocks(canonical), blocks);
  EXPECT_EQ(sf::parse_blocks("hog(cell=8x8, block=3x2)")[0].params.at("block"), "3x2");
  EXPECT_EQ(sf::parse_blocks("hog(cell=8x8)")[0].params.at("cell"), "8");
  EXPECT_EQ(sf::parse_blocks(" ; stats ;"), sf::parse_blocks("stats(bins=64, topk=16, sigma=3)"));

  const sf::ChainSpec spec = sf::make_chain_spec("db(floor=-40); crop(48)", kBlocks, 64, 64);
  EXPECT_EQ(spec.preprocess, "db(floor=-40, scale=20); crop(rows=48, cols=48)");
  const std::string text = sf::describe(spec);
  EXPECT_EQ(text.substr(0, 59), "chip=64x64 | preprocess=db(floor=-40, scale=20); crop(rows=");
  EXPECT_EQ(sf::parse_chain_spec(text), spec);
  EXPECT_EQ(sf::describe(sf::parse_chain_spec(text)), text);
  EXPECT_EQ(sf::parse_chain_spec("chip=32 | blocks=stats").rows, 32);
  EXPECT_EQ(sf::parse_chain_spec("chip=32 | blocks=stats").preprocess, "");
}

TEST(FeatureChain, BadTextNamesTheToken) {
  EXPECT_NE(config_error_of([] { sf::parse_blocks("hog(orientations=abc)"); }).find("'abc'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("hog; sift(x=1)"); }).find("'sift'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("hog(foo=1)"); }).find("'foo=1'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("pixels(16)"); }).find("'16'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("stats(bins=4, bins=5)"); }).find("repeated"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("gabor(frequencies=0.1/-2)"); }).find("'0.1/-2'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("hog(norm=L3)"); }).find("'L3'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("pixels(db=maybe)"); }).find("'maybe'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_blocks("stats(bins=64"); }).find("'(bins=64'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_chain_spec("blocks=stats"); }).find("'chip='"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_chain_spec("chip=32 | size=3 | blocks=stats"); }).find("'size=3'"),
            std::string::npos);
  EXPECT_NE(config_error_of([] { sf::make_chain_spec("", "", 32, 32); }).find("no feature blocks"), std::string::npos);
  // A block that does not fit the preprocessed chip: HOG with 3x3 blocks of 8x8 cells on 16x16.
  EXPECT_NE(config_error_of([] { sf::FeatureChain(sf::make_chain_spec("crop(16)", "hog", 64, 64)); }).find("hog("),
            std::string::npos);
  EXPECT_THROW(sf::FeatureChain(sf::make_chain_spec("", "pixels(size=65)", 64, 64)), sarscale::ConfigError);
}

TEST(FeatureChain, LayoutMatchesEachBlock) {
  const sf::FeatureChain chain(sf::make_chain_spec("crop(48)", kBlocks, 64, 64));
  EXPECT_EQ(chain.feature_rows(), 48);
  EXPECT_EQ(chain.feature_cols(), 48);
  sf::HogParams hog;
  hog.block_rows = hog.block_cols = 2;
  const sf::GaborBank bank(sf::gabor_bank_params({0.1, 0.2, 0.4}, 4), 48, 48);
  const std::size_t expected[] = {sf::hog_length(hog, 48, 48), bank.feature_length(), 256, 8};
  EXPECT_EQ(expected[0], 5u * 5 * 2 * 2 * 9);
  EXPECT_EQ(expected[1], 12u * 2 * 5);
  const auto& layout = chain.layout();
  ASSERT_EQ(layout.size(), 4u);
  std::size_t offset = 0;
  const char* names[] = {"hog", "gabor", "pixels", "stats"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(layout[i].name, names[i]);
    EXPECT_EQ(layout[i].offset, offset);
    EXPECT_EQ(layout[i].length, expected[i]);
    offset += layout[i].length;
  }
  EXPECT_EQ(chain.length(), offset);
  EXPECT_EQ(layout[3].params, "bins=64, topk=16, sigma=3");
  EXPECT_EQ(chain.description(), sf::describe(chain.spec()));
}

TEST(FeatureChain, OutputEqualsBlocksRunByHand) {
  const int rows = 40, cols = 40;
  const auto chips = make_chips(1, rows, cols, 7);
  sf::FeatureChain chain(sf::make_chain_spec("lee(window=3); crop(32)", kBlocks, rows, cols));
  std::vector<float> out(chain.length());
  ASSERT_EQ(chain.compute(chips.data(), out.data()), "");

  sf::Preprocessor pre(sf::parse_chain("lee(window=3); crop(32)"), rows, cols);
  std::vector<float> image(32 * 32);
  ASSERT_EQ(pre.apply(chips.data(), image.data()), "");
  std::vector<float> expected;
  sf::HogParams hog;
  hog.block_rows = hog.block_cols = 2;
  sf::HogExtractor extractor(hog, 32, 32);
  std::vector<float> part(extractor.length());
  extractor.compute(image.data(), part.data());
  expected.insert(expected.end(), part.begin(), part.end());
  const sf::GaborBank bank(sf::gabor_bank_params({0.1, 0.2, 0.4}, 4), 32, 32);
  part.assign(bank.feature_length(), 0);
  bank.features(image.data(), part.data());
  expected.insert(expected.end(), part.begin(), part.end());
  part.assign(256, 0);
  sf::PixelsBlock(sf::PixelsParams{16, 16, true, -60}, 32, 32).compute(image.data(), part.data());
  expected.insert(expected.end(), part.begin(), part.end());
  part.assign(8, 0);
  sf::StatsBlock(sf::StatsParams{64, 16, 3}, 32, 32).compute(image.data(), part.data());
  expected.insert(expected.end(), part.begin(), part.end());

  ASSERT_EQ(expected.size(), out.size());
  EXPECT_EQ(std::memcmp(expected.data(), out.data(), out.size() * sizeof(float)), 0);
  // The bright target makes the stats block's max/mean ratio well above 1.
  EXPECT_GT(out[chain.layout()[3].offset + 5], 1.0f);  // max/mean of amplitude with a bright target
}

TEST(FeatureChain, UnusableChipsAreFlaggedWithZeroRows) {
  sf::FeatureChain chain(sf::make_chain_spec("", "pixels(size=4); stats", 16, 16));
  std::vector<float> out(chain.length(), 7.0f);
  std::vector<float> chip(256, 2.0f);
  EXPECT_NE(chain.compute(chip.data(), out.data()).find("constant"), std::string::npos);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  chip = make_chips(1, 16, 16, 3);
  chip[17] = std::nanf("");
  std::fill(out.begin(), out.end(), 7.0f);
  EXPECT_NE(chain.compute(chip.data(), out.data()).find("NaN"), std::string::npos);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  // Finite but huge pixels: the variance overflows float32, so the stats block flags the chip.
  for (std::size_t i = 0; i < chip.size(); ++i) chip[i] = (i % 2 ? 3e38f : -3e38f);
  std::fill(out.begin(), out.end(), 7.0f);
  EXPECT_NE(chain.compute(chip.data(), out.data()).find("stats block produced"), std::string::npos);
  for (float v : out) EXPECT_EQ(v, 0.0f);
  // HOG with sqrt on negative pixels is a property of the chip, not of the config: flagged.
  sf::FeatureChain sqrt_hog(sf::make_chain_spec("", "hog(sqrt=true, block=1)", 16, 16));
  std::vector<float> hog_out(sqrt_hog.length(), 7.0f);
  chip = make_chips(1, 16, 16, 4);
  chip[5] = -1.0f;
  EXPECT_NE(sqrt_hog.compute(chip.data(), hog_out.data()).find("hog block"), std::string::npos);
  for (float v : hog_out) EXPECT_EQ(v, 0.0f);
}

TEST(FeatureChain, BatchIsBitwiseIdenticalForAnyThreadCount) {
  const int rows = 32, cols = 32;
  const std::size_t count = 9;
  auto chips = make_chips(count, rows, cols, 11);
  std::fill_n(chips.begin() + 2 * rows * cols, rows * cols, 1.5f);  // constant chip
  chips[5 * rows * cols + 40] = INFINITY;
  const sf::FeatureChain chain(sf::make_chain_spec("db; crop(24)", kBlocks, rows, cols));
  std::vector<float> one(count * chain.length()), two(count * chain.length(), -1.0f);
  const auto reasons_one = chain.compute_batch(chips.data(), count, one.data(), 1);
  const auto reasons_two = chain.compute_batch(chips.data(), count, two.data(), 2);
  EXPECT_EQ(reasons_one, reasons_two);
  std::vector<float> by_default(count * chain.length());
  EXPECT_EQ(chain.compute_batch(chips.data(), count, by_default.data()), reasons_one);  // OMP_NUM_THREADS
  EXPECT_EQ(std::memcmp(one.data(), by_default.data(), one.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  for (std::size_t k = 0; k < count; ++k) EXPECT_EQ(reasons_one[k].empty(), k != 2 && k != 5) << k;
  auto ws = chain.workspace();
  std::vector<float> single(chain.length());
  for (std::size_t k = 0; k < count; ++k) {
    EXPECT_EQ(chain.compute(chips.data() + k * rows * cols, single.data(), ws), reasons_one[k]);
    EXPECT_EQ(std::memcmp(single.data(), one.data() + k * chain.length(), single.size() * sizeof(float)), 0) << k;
  }
  for (float v : one) ASSERT_TRUE(std::isfinite(v));
}

TEST(FeatureChain, FingerprintsIdentifyTheChain) {
  const auto fingerprint = [](const char* pre, const char* blocks, int size) {
    return sf::FeatureChain(sf::make_chain_spec(pre, blocks, size, size)).fingerprint();
  };
  const std::string base = fingerprint("crop(48)", kBlocks, 64);
  EXPECT_EQ(base.size(), 16u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos);
  // Equivalent text (defaults spelled out, other spacing) gives the same fingerprint.
  EXPECT_EQ(fingerprint(" crop(48x48) ",
                        "hog(block=2x2,orientations=9); gabor; pixels(db=yes, size=16x16, floor=-60); stats", 64),
            base);
  EXPECT_NE(fingerprint("crop(48)", kBlocks, 60), base);                                     // chip size
  EXPECT_NE(fingerprint("crop(46)", kBlocks, 64), base);                                     // preprocessing
  EXPECT_NE(fingerprint("crop(48)", "gabor; hog(block=2); pixels(db=1); stats", 64), base);  // block order
  EXPECT_NE(fingerprint("crop(48)", "hog(block=2); gabor; pixels(size=16, db=1); stats(bins=32)", 64),
            base);  // one parameter
}

// A chain with pose(turn=no) reports, per chip, where it found the target (what detect reports
// as the target's position); chains without one report nothing; refused chips report nothing.
TEST(FeatureChain, BatchReportsWhereARegisteringChainFoundTheTarget) {
  const int n = 32;
  std::vector<float> chips(3 * n * n, 0.1f);
  chips[static_cast<std::size_t>(10 * n + 7)] = chips[static_cast<std::size_t>(10 * n + 8)] = 9.0f;  // chip 0: (10, 7.5)
  chips[static_cast<std::size_t>(n * n + 20 * n + 25)] = 9.0f;                                      // chip 1: (20, 25)
  std::fill(chips.begin() + 2 * n * n, chips.end(), 0.5f);                                       // chip 2: constant
  const sf::FeatureChain registering(sf::make_chain_spec("pose(smooth=1, turn=no); crop(16)", "pixels(size=4)", n, n));
  std::vector<float> out(3 * registering.length());
  std::vector<std::optional<std::array<double, 2>>> where;
  const auto reasons = registering.compute_batch(chips.data(), 3, out.data(), 2, &where);
  ASSERT_EQ(where.size(), 3u);
  EXPECT_EQ(reasons[0], "");
  ASSERT_TRUE(where[0].has_value());
  EXPECT_NEAR((*where[0])[0], 10.0, 1e-9);
  EXPECT_NEAR((*where[0])[1], 7.5, 1e-9);
  ASSERT_TRUE(where[1].has_value());
  EXPECT_NEAR((*where[1])[0], 20.0, 1e-9);
  EXPECT_NEAR((*where[1])[1], 25.0, 1e-9);
  EXPECT_NE(reasons[2], "");
  EXPECT_FALSE(where[2].has_value());
  const sf::FeatureChain plain(sf::make_chain_spec("crop(16)", "pixels(size=4)", n, n));
  plain.compute_batch(chips.data(), 2, out.data(), 1, &where);
  EXPECT_FALSE(where[0].has_value());
  EXPECT_FALSE(where[1].has_value());
}
