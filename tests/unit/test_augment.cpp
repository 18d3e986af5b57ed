// Training-set augmentation (features/augment.hpp): shifted impulses land where expected with
// edge-replicated borders, crops lie inside the chip and are reproducible, the text form round
// trips, bad specs are refused, and crops must reach the chain's preprocessed size.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/features/augment.hpp"
#include "sarscale/features/chain.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;

using sarscale::test::config_error_of;

namespace {

using sarscale::test::message_of;

// value(r, c) = 100 r + c: every pixel names its position.
sarscale::Image ramp(int rows, int cols, bool phase = false) {
  sarscale::Image img;
  img.rows = rows;
  img.cols = cols;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) img.magnitude.push_back(static_cast<float>(100 * r + c));
  if (phase)
    for (float v : img.magnitude) img.phase.push_back(-v);
  return img;
}

float at(const sarscale::Image& img, int r, int c) {
  return img.magnitude[static_cast<std::size_t>(r) * static_cast<std::size_t>(img.cols) + static_cast<std::size_t>(c)];
}


}  // namespace

TEST(Augment, ShiftedImpulseLandsWhereExpected) {
  // A 7x9 chip, zero but for 1 at (3, 4); shift(2, directions=8).
  sarscale::Image chip;
  chip.rows = 7;
  chip.cols = 9;
  chip.magnitude.assign(63, 0.0f);
  chip.magnitude[3 * 9 + 4] = 1.0f;
  const auto copies = sf::augment(chip, sf::parse_augment("shift(2, directions=8)"), 0);
  ASSERT_EQ(copies.size(), 8u);
  // up, down, left, right, up-left, up-right, down-left, down-right.
  const int expected[8][2] = {{1, 4}, {5, 4}, {3, 2}, {3, 6}, {1, 2}, {1, 6}, {5, 2}, {5, 6}};
  for (int k = 0; k < 8; ++k) {
    ASSERT_EQ(copies[k].rows, 7);
    ASSERT_EQ(copies[k].cols, 9);
    EXPECT_FALSE(copies[k].has_phase());
    float sum = 0;
    for (float v : copies[k].magnitude) sum += v;
    EXPECT_EQ(sum, 1.0f) << "copy " << k;  // the impulse is inside and the zero border stays zero
    EXPECT_EQ(at(copies[k], expected[k][0], expected[k][1]), 1.0f) << "copy " << k;
  }
}

TEST(Augment, ShiftBordersReplicateTheEdge) {
  const sarscale::Image chip = ramp(4, 5, true);
  const auto copies = sf::augment(chip, sf::parse_augment("shift(1)"), 3);
  ASSERT_EQ(copies.size(), 4u);
  const sarscale::Image &up = copies[0], &down = copies[1], &left = copies[2], &right = copies[3];
  // Down by one: row 0 repeats the chip's row 0, row r is the chip's row r-1.
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(at(down, 0, c), c);
    EXPECT_EQ(at(down, 1, c), c);
    EXPECT_EQ(at(down, 3, c), 200 + c);
    EXPECT_EQ(at(up, 0, c), 100 + c);
    EXPECT_EQ(at(up, 3, c), 300 + c);  // the bottom row repeated
    EXPECT_EQ(at(up, 2, c), 300 + c);
  }
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(at(right, r, 0), 100 * r);
    EXPECT_EQ(at(right, r, 1), 100 * r);
    EXPECT_EQ(at(right, r, 4), 100 * r + 3);
    EXPECT_EQ(at(left, r, 0), 100 * r + 1);
    EXPECT_EQ(at(left, r, 4), 100 * r + 4);
    EXPECT_EQ(at(left, r, 3), 100 * r + 4);
  }
  // The phase plane moves with the magnitude.
  ASSERT_TRUE(right.has_phase());
  for (std::size_t i = 0; i < right.pixels(); ++i) EXPECT_EQ(right.phase[i], -right.magnitude[i]);
}

TEST(Augment, CropsAreInsideReproducibleAndVaryWithTheChip) {
  const sarscale::Image chip = ramp(20, 30);
  const sf::AugmentSpec spec = sf::parse_augment("crop(8x12, count=16, seed=7)");
  std::set<std::pair<int, int>> offsets;
  for (std::uint64_t index : {0u, 1u, 12345u}) {
    const auto windows = sf::augment_windows(spec, 20, 30, index);
    ASSERT_EQ(windows.size(), 16u);
    EXPECT_EQ(windows, sf::augment_windows(spec, 20, 30, index));  // reproducible
    const auto copies = sf::augment(chip, spec, index);
    for (std::size_t k = 0; k < windows.size(); ++k) {
      const auto& w = windows[k];
      EXPECT_EQ(w.rows, 8);
      EXPECT_EQ(w.cols, 12);
      EXPECT_GE(w.top, 0);
      EXPECT_LE(w.top, 12);
      EXPECT_GE(w.left, 0);
      EXPECT_LE(w.left, 18);
      offsets.insert({w.top, w.left});
      // The copy is the chip's window, pixel for pixel (the ramp names each pixel).
      ASSERT_EQ(copies[k].rows, 8);
      ASSERT_EQ(copies[k].cols, 12);
      EXPECT_EQ(at(copies[k], 0, 0), 100 * w.top + w.left);
      EXPECT_EQ(at(copies[k], 7, 11), 100 * (w.top + 7) + w.left + 11);
    }
  }
  EXPECT_GT(offsets.size(), 30u);  // 48 draws from 13 x 19 offsets: not stuck
  EXPECT_NE(sf::augment_windows(spec, 20, 30, 0), sf::augment_windows(spec, 20, 30, 1));
  EXPECT_NE(sf::augment_windows(spec, 20, 30, 0),
            sf::augment_windows(sf::parse_augment("crop(8x12, count=16, seed=8)"), 20, 30, 0));
}

TEST(Augment, CopiesComeInSpecOrder) {
  const sf::AugmentSpec spec = sf::parse_augment("crop(10, count=2); shift(3)");
  EXPECT_EQ(spec.copies(), 6);
  const auto w = sf::augment_windows(spec, 16, 16, 5);
  ASSERT_EQ(w.size(), 6u);
  EXPECT_EQ(w[0].rows, 10);
  EXPECT_EQ(w[1].rows, 10);
  EXPECT_EQ(w[2], (sf::AugmentWindow{3, 0, 16, 16}));   // up by 3 reads 3 rows lower
  EXPECT_EQ(w[3], (sf::AugmentWindow{-3, 0, 16, 16}));  // down
  EXPECT_EQ(w[4], (sf::AugmentWindow{0, 3, 16, 16}));   // left
  EXPECT_EQ(w[5], (sf::AugmentWindow{0, -3, 16, 16}));  // right
}

TEST(Augment, TextRoundTripsCanonically) {
  const sf::AugmentSpec s = sf::parse_augment(" shift(2);shift( 4 , directions = 8 ); crop(112, count=4) ;");
  ASSERT_EQ(s.ops.size(), 3u);
  EXPECT_EQ(s.copies(), 4 + 8 + 4);
  const std::string text = sf::describe(s);
  EXPECT_EQ(text,
            "shift(pixels=2, directions=4); shift(pixels=4, directions=8); crop(size=112, count=4, seed=1)");
  EXPECT_EQ(sf::parse_augment(text), s);
  const sf::AugmentSpec r = sf::parse_augment("crop(size=96x80, seed=18446744073709551615)");
  EXPECT_EQ(sf::describe(r), "crop(size=96x80, count=1, seed=18446744073709551615)");
  EXPECT_EQ(sf::parse_augment(sf::describe(r)), r);
  EXPECT_TRUE(sf::parse_augment("").empty());
  EXPECT_TRUE(sf::parse_augment(" ; ").empty());
  EXPECT_EQ(sf::describe(sf::AugmentSpec{}), "");
}

TEST(Augment, BadSpecsAreRefused) {
  for (const char* bad : {"flip", "shift", "shift()", "shift(0)", "shift(-1)", "shift(2, directions=6)",
                          "shift(2, 4, 9)", "shift(2, size=3)", "shift(pixels=2, pixels=3)", "shift(2.5)",
                          "crop(count=3)", "crop(0)", "crop(12x)", "crop(12, count=0)", "crop(12, seed=-1)",
                          "shift(2); shift(2)", "shift(2); shift(2, directions=8)", "crop(10, count=1020); shift(1, 8)",
                          "shift(2) crop(4)"})
    EXPECT_THROW(sf::parse_augment(bad), sarscale::ConfigError) << bad;
  EXPECT_NE(config_error_of([] { sf::parse_augment("shift(2); flip"); }).find("unknown operation 'flip'"),
            std::string::npos);
  // Against the chip size.
  const sf::AugmentSpec shift = sf::parse_augment("shift(8)"), crop = sf::parse_augment("crop(65)");
  EXPECT_NO_THROW(sf::validate(shift, 64, 64));
  EXPECT_THROW(sf::validate(sf::parse_augment("shift(64)"), 64, 64), sarscale::ConfigError);
  EXPECT_THROW(sf::validate(crop, 64, 64), sarscale::ConfigError);
  EXPECT_NE(config_error_of([] { sf::validate(sf::parse_augment("crop(64)"), 64, 64); }).find("no room"),
            std::string::npos);
  EXPECT_NO_THROW(sf::validate(sf::parse_augment("crop(64x60)"), 64, 64));
}

TEST(Augment, CropCopiesMustReachTheChainsPreprocessedSize) {
  // The chain's own crop(64) brings 112x112 crops of 128x128 chips to the same 64x64 image.
  const sf::FeatureChain chain(sf::make_chain_spec("db; crop(64)", "pixels(size=8); stats", 128, 128));
  const sf::FeatureChain copies = sf::chain_for_copies(chain, 112, 112, "--augment crop(size=112)");
  EXPECT_EQ(copies.rows(), 112);
  EXPECT_EQ(copies.feature_rows(), 64);
  EXPECT_EQ(copies.layout(), chain.layout());
  // Smaller than the chain's crop: refused, naming the option.
  const std::string small = config_error_of([&] { sf::chain_for_copies(chain, 60, 60, "--augment crop(size=60)"); });
  EXPECT_NE(small.find("--augment crop(size=60)"), std::string::npos) << small;
  EXPECT_NE(small.find("60x60"), std::string::npos) << small;
  // No crop in the chain: the copies would be preprocessed to another size.
  const sf::FeatureChain plain(sf::make_chain_spec("db", "stats", 128, 128));
  const std::string nocrop = config_error_of([&] { sf::chain_for_copies(plain, 112, 112, "--augment crop(size=112)"); });
  EXPECT_NE(nocrop.find("would not line up"), std::string::npos) << nocrop;

  // A crop copy's features equal the chain's on the centre of the crop: the copy at offset
  // (top, left) reads the chip's 64x64 window at (top + 24, left + 24).
  std::vector<float> chip(128 * 128);
  for (std::size_t i = 0; i < chip.size(); ++i) chip[i] = 1.0f + static_cast<float>((i * 2654435761u) % 1000) / 100;
  const sf::AugmentSpec spec = sf::parse_augment("crop(112, count=3)");
  const auto windows = sf::augment_windows(spec, 128, 128, 9);
  const sf::FeatureChain direct(sf::make_chain_spec("db", "pixels(size=8); stats", 64, 64));
  for (const auto& w : windows) {
    std::vector<float> crop(112 * 112), centre(64 * 64), a(copies.length()), b(direct.length());
    sf::extract_window(chip.data(), 128, 128, w, crop.data());
    sf::extract_window(chip.data(), 128, 128, {w.top + 24, w.left + 24, 64, 64}, centre.data());
    sf::FeatureChain own(copies.spec());
    ASSERT_EQ(own.compute(crop.data(), a.data()), "");
    ASSERT_EQ(direct.length(), copies.length());
    sf::FeatureChain d(direct.spec());
    ASSERT_EQ(d.compute(centre.data(), b.data()), "");
    EXPECT_EQ(a, b);
  }
}
