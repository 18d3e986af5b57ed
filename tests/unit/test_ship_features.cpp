// Multi-band feature chains (planes, ratio planes, per-plane blocks) and the ship blocks: text
// forms, layout, values against computations done here by hand, heading invariance, and that the
// text and fingerprint of single-plane chains are those of before planes existed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/features/blocks.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/planes.hpp"
#include "sarscale/features/ship.hpp"
#include "test_support.hpp"

namespace sf = sarscale::features;

using sarscale::test::config_error_of;

namespace {

// FNV-1a 64 of the chain format version and its text, written out here (the chain's fingerprint).
std::string fnv1a_hex(const std::string& text) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : "sarscale-feature-chain/1\n" + text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A rows x cols plane of constant sea `sea`, a ship of `ship` on the pixels `on(r, c)`.
std::vector<float> plane_with(int rows, int cols, float sea, float ship, const std::function<bool(int, int)>& on) {
  std::vector<float> p(static_cast<std::size_t>(rows) * cols, sea);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (on(r, c)) p[static_cast<std::size_t>(r) * cols + c] = ship;
  return p;
}

// Centre crop of a rows x cols plane to n x n (offsets rounded down, as the crop step does).
std::vector<float> centre_crop(const std::vector<float>& p, int rows, int cols, int n) {
  std::vector<float> out;
  const int r0 = (rows - n) / 2, c0 = (cols - n) / 2;
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) out.push_back(p[static_cast<std::size_t>(r0 + r) * cols + c0 + c]);
  return out;
}

}  // namespace

TEST(Planes, TextFormRoundTripsAndNamesBands) {
  const auto planes = sf::parse_planes(" VH, vv ,ratio = vh/VV, span=vh+vv");
  ASSERT_EQ(planes.size(), 4u);
  EXPECT_EQ(sf::describe_planes(planes), "vh, vv, ratio=vh/vv, span=vh+vv");
  EXPECT_EQ(planes[2].op, sf::PlaneSpec::Op::ratio);
  EXPECT_EQ(planes[3].op, sf::PlaneSpec::Op::sum);
  EXPECT_EQ(sf::parse_planes(sf::describe_planes(planes)), planes);
  EXPECT_EQ(sf::plane_bands(sf::parse_planes("ratio=vh/vv, vv")), (std::vector<std::string>{"vh", "vv"}));
  EXPECT_TRUE(sf::parse_planes("").empty());
  EXPECT_NE(config_error_of([] { sf::parse_planes("vh, vh"); }).find("twice"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_planes("vv=vh/vv"); }).find("name of a band"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_planes("r=vh*vv"); }).find("'r=vh*vv'"), std::string::npos);
  EXPECT_NE(config_error_of([] { sf::parse_planes("v h"); }).find("'v h'"), std::string::npos);
}

TEST(Planes, RatioIsZeroWhereTheDenominatorHasNoData) {
  const std::vector<float> vh = {1, 0.5f, 0, 2}, vv = {4, 0, 0, 0.25f};
  std::vector<float> out(4);
  sf::derive_plane(sf::parse_planes("r=vh/vv")[0], {"vh", "vv"}, {vh.data(), vv.data()}, 4, out.data());
  EXPECT_EQ(out, (std::vector<float>{0.25f, 0, 0, 8}));
  sf::derive_plane(sf::parse_planes("s=vh+vv")[0], {"vh", "vv"}, {vh.data(), vv.data()}, 4, out.data());
  EXPECT_EQ(out, (std::vector<float>{5, 0.5f, 0, 2.25f}));
}

TEST(PlaneChains, SinglePlaneChainsKeepTheirTextAndFingerprint) {
  // The MSTAR chain of configs/mstar10-soc.ini, as every sarscale before planes described it.
  const std::string text =
      "chip=128x128 | preprocess=linear; db(floor=-48, scale=20); crop(rows=64, cols=64) | "
      "blocks=pixels(size=16, db=false, floor=-60)";
  const sf::FeatureChain chain(sf::make_chain_spec("linear; db(floor=-48); crop(64)", "pixels(size=16)", 128, 128));
  EXPECT_EQ(chain.description(), text);
  EXPECT_EQ(chain.fingerprint(), fnv1a_hex(text));
  EXPECT_EQ(chain.fingerprint(), "49cf74bf01a8603e");
  EXPECT_TRUE(chain.bands().empty());
  EXPECT_EQ(chain.input_planes(), 1);
  EXPECT_EQ(chain.layout().front().name, "pixels");
  EXPECT_EQ(sf::describe(sf::parse_chain_spec(text)), text);
  EXPECT_NE(config_error_of([] { sf::make_chain_spec("", "pixels(size=4, on=vv)", 16, 16); }).find("has none"),
            std::string::npos);
}

TEST(PlaneChains, PerPlaneBlocksMatchTheBlocksRunOnEachPlane) {
  const int n = 20, crop = 16;
  const sf::ChainSpec spec =
      sf::make_chain_spec("crop(16)", "pixels(size=4); stats(on=Ratio)", n, n, "vh, vv, ratio=vh/vv");
  const std::string text = sf::describe(spec);
  EXPECT_EQ(text,
            "chip=20x20 | planes=vh, vv, ratio=vh/vv | preprocess=crop(rows=16, cols=16) | "
            "blocks=pixels(size=4, db=false, floor=-60, on=vh/vv/ratio); stats(bins=64, topk=16, sigma=3, on=ratio)");
  EXPECT_EQ(sf::parse_chain_spec(text), spec);
  const sf::FeatureChain chain(spec);
  EXPECT_EQ(chain.bands(), (std::vector<std::string>{"vh", "vv"}));
  EXPECT_EQ(chain.input_planes(), 2);
  ASSERT_EQ(chain.layout().size(), 4u);
  const char* names[] = {"pixels[vh]", "pixels[vv]", "pixels[ratio]", "stats[ratio]"};
  const std::size_t offsets[] = {0, 16, 32, 48};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(chain.layout()[i].name, names[i]);
    EXPECT_EQ(chain.layout()[i].offset, offsets[i]);
  }
  EXPECT_EQ(chain.length(), 48u + sf::kStatsLength);

  // Bands: vh a ramp, vv another, with a zero (no data) pixel in vv.
  std::vector<float> chip(2 * n * n);
  for (int i = 0; i < n * n; ++i) {
    chip[static_cast<std::size_t>(i)] = 0.01f * static_cast<float>(1 + i % 37);
    chip[static_cast<std::size_t>(n * n + i)] = 0.1f * static_cast<float>(1 + (i * 7) % 23);
  }
  chip[n * n + 10 * n + 10] = 0;
  std::vector<float> out(chain.length());
  ASSERT_EQ(sf::FeatureChain(spec).compute(chip.data(), out.data()), "");
  const std::vector<float> vh(chip.begin(), chip.begin() + n * n), vv(chip.begin() + n * n, chip.end());
  std::vector<float> ratio(n * n);
  for (int i = 0; i < n * n; ++i)
    ratio[static_cast<std::size_t>(i)] =
        vv[static_cast<std::size_t>(i)] > 0
            ? static_cast<float>(double(vh[static_cast<std::size_t>(i)]) / vv[static_cast<std::size_t>(i)])
            : 0.0f;
  const sf::PixelsBlock pixels(sf::PixelsParams{4, 4, false, -60}, crop, crop);
  const sf::StatsBlock stats(sf::StatsParams{}, crop, crop);
  std::vector<float> expect(chain.length());
  pixels.compute(centre_crop(vh, n, n, crop).data(), expect.data());
  pixels.compute(centre_crop(vv, n, n, crop).data(), expect.data() + 16);
  pixels.compute(centre_crop(ratio, n, n, crop).data(), expect.data() + 32);
  stats.compute(centre_crop(ratio, n, n, crop).data(), expect.data() + 48);
  EXPECT_EQ(out, expect);

  // A batch at 1 and 2 threads: bitwise the same as chip by chip.
  std::vector<float> batch(3 * chip.size());
  for (int k = 0; k < 3; ++k) std::copy(chip.begin(), chip.end(), batch.begin() + k * chip.size());
  std::vector<float> one(3 * chain.length()), two(3 * chain.length());
  chain.compute_batch(batch.data(), 3, one.data(), 1);
  chain.compute_batch(batch.data(), 3, two.data(), 2);
  EXPECT_EQ(one, two);
  EXPECT_EQ(std::vector<float>(one.begin() + chain.length(), one.begin() + 2 * chain.length()), expect);
}

TEST(PlaneChains, UnknownPlanesAndPreprocessingFailuresAreNamed) {
  EXPECT_NE(
      config_error_of([] { sf::make_chain_spec("", "pixels(size=4, on=hh)", 16, 16, "vv"); }).find("no plane 'hh'"),
      std::string::npos);
  EXPECT_NE(config_error_of([] { sf::make_chain_spec("", "ship(detect=vh)", 16, 16, "vv"); }).find("no plane 'vh'"),
            std::string::npos);
  // A constant plane cannot be min-max normalised: the reason names the plane.
  sf::FeatureChain chain(sf::make_chain_spec("linear", "stats", 8, 8, "a, b"));
  std::vector<float> chip(128, 1.0f), out(chain.length(), 7.0f);
  for (int i = 0; i < 64; ++i) chip[static_cast<std::size_t>(i)] = static_cast<float>(i);
  const std::string why = chain.compute(chip.data(), out.data());
  EXPECT_EQ(why.rfind("plane b: ", 0), 0u) << why;
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(ShipBlock, AxisAlignedShipMeasuredExactly) {
  // 40x40 at 10 m: sea 0.01 (intensity), a 12 x 3 ship of 1.0 (rows 14..25, cols 19..21), a bright
  // 2x2 buoy at a corner (another component, farther from the centre), and zero padding on the
  // last 5 columns (no data: neither sea nor ship).
  const int n = 40;
  const auto ship = [](int r, int c) { return r >= 14 && r <= 25 && c >= 19 && c <= 21; };
  std::vector<float> vv = plane_with(n, n, 0.01f, 1.0f, ship);
  std::vector<float> vh = plane_with(n, n, 0.001f, 0.05f, ship);
  for (int r = 2; r < 4; ++r)
    for (int c = 2; c < 4; ++c) vv[static_cast<std::size_t>(r) * n + c] = 4.0f;
  for (int r = 0; r < n; ++r)
    for (int c = 35; c < n; ++c) vv[static_cast<std::size_t>(r) * n + c] = vh[static_cast<std::size_t>(r) * n + c] = 0;
  vh[static_cast<std::size_t>(20) * n + 20] = 0.2f;  // vh peaks at one pixel

  sf::ShipParams p;
  p.spacing_rows = p.spacing_cols = 10;
  p.scale = 10;
  p.topk = 4;
  const sf::ShipBlock block(p, n, n, 2);
  ASSERT_EQ(block.length(), 15u);
  std::vector<float> out(block.length());
  sf::ShipScratch scratch;
  block.compute(vv.data(), {vh.data(), vv.data()}, out.data(), scratch);
  EXPECT_FLOAT_EQ(out[0], 36 * 100.0f);  // 36 pixels of 100 m^2
  EXPECT_NEAR(out[1], 120.0, 1e-4);      // 12 pixels along the rows
  EXPECT_NEAR(out[2], 30.0, 1e-4);
  EXPECT_NEAR(out[3], 120.0, 1e-4);
  EXPECT_NEAR(out[4], 30.0, 1e-4);
  // vh: peak 0.2, mean (35 * 0.05 + 0.2) / 36, top-4 (0.2 + 3 * 0.05) / 4, total sum * 100 m^2, sea 0.001.
  const double vh_sum = 35 * 0.05 + 0.2;
  EXPECT_NEAR(out[5], 10 * std::log10(0.2), 1e-4);
  EXPECT_NEAR(out[6], 10 * std::log10(vh_sum / 36), 1e-4);
  EXPECT_NEAR(out[7], 10 * std::log10((0.2 + 3 * 0.05) / 4), 1e-4);
  EXPECT_NEAR(out[8], 10 * std::log10(vh_sum * 100), 1e-4);
  EXPECT_NEAR(out[9], 10 * std::log10(0.001), 1e-4);
  // vv: all ship pixels 1.0, the sea (including the buoy, which is not near the ship) 0.01 and 4.0.
  EXPECT_NEAR(out[10], 0.0, 1e-5);
  EXPECT_NEAR(out[11], 0.0, 1e-5);
  EXPECT_NEAR(out[12], 0.0, 1e-5);
  EXPECT_NEAR(out[13], 10 * std::log10(36 * 100.0), 1e-4);
  // Sea pixels: 35 columns with data, minus the ship's neighbourhood (grow + 1 = 2 pixels around it:
  // 16 x 7 = 112 pixels), 4 of them the buoy.
  const double sea_n = 35.0 * n - 112, sea_mean = ((sea_n - 4) * 0.01 + 4 * 4.0) / sea_n;
  EXPECT_NEAR(out[14], 10 * std::log10(sea_mean), 1e-4);
}

TEST(ShipBlock, DiagonalShipHasItsLengthAlongTheDiagonal) {
  const int n = 32, len = 11;
  const auto diagonal = [&](int r, int c) { return r == c && r >= 10 && r < 10 + len; };
  const std::vector<float> vv = plane_with(n, n, 0.02f, 2.0f, diagonal);
  sf::ShipParams p;
  p.spacing_rows = p.spacing_cols = 10;
  const sf::ShipBlock block(p, n, n, 1);
  std::vector<float> out(block.length());
  sf::ShipScratch scratch;
  block.compute(vv.data(), {vv.data()}, out.data(), scratch);
  // Pixels (i, i): variance along the diagonal 2 * s^2 (n^2 - 1) / 12, plus a pixel's own s^2 / 12 there.
  EXPECT_NEAR(out[1], 10 * std::sqrt(2.0 * len * len - 1), 1e-3);
  EXPECT_NEAR(out[2], 10.0, 1e-3);                       // one pixel across
  EXPECT_NEAR(out[3], len * 10 * std::sqrt(2.0), 1e-3);  // (len - 1) s sqrt2 + s sqrt2
  EXPECT_NEAR(out[4], 10 * std::sqrt(2.0), 1e-3);
}

// Sea with no data in the centre half (rows and columns 4..11 of 16): nothing above the threshold,
// and no central peak to lower it to.
std::vector<float> sea_around_nothing(int n) {
  std::vector<float> sea(static_cast<std::size_t>(n) * n, 0.5f);
  for (int r = n / 4; r < n - n / 4; ++r)
    for (int c = n / 4; c < n - n / 4; ++c) sea[static_cast<std::size_t>(r) * n + c] = 0;
  return sea;
}

TEST(ShipBlock, FaintCentralShipIsFoundBelowTheCfarThreshold) {
  // Sea alternating 0.01 / 0.1 (robust sigma ~ 7.4 dB), a 3-pixel ship of 0.4 at the centre: 6 dB
  // above the bright sea, below median + 3 sigma. The threshold falls to 3 dB below its peak.
  const int n = 16;
  std::vector<float> p(static_cast<std::size_t>(n) * n);
  for (int i = 0; i < n * n; ++i) p[static_cast<std::size_t>(i)] = (i / n + i % n) % 2 ? 0.1f : 0.01f;
  for (int c = 7; c <= 9; ++c) p[static_cast<std::size_t>(8) * n + c] = 0.4f;
  sf::ShipScratch scratch;
  sf::ShipDetectParams d;
  const sf::ShipRegion region = sf::detect_ship(p.data(), n, n, d, scratch);
  EXPECT_EQ(region.pixels, (std::vector<std::uint32_t>{8 * 16 + 7, 8 * 16 + 8, 8 * 16 + 9}));
  EXPECT_NEAR(region.threshold, std::log10(0.4) - 0.3, 1e-6);
}

TEST(ShipBlock, NoShipFlagsTheChip) {
  sf::FeatureChain chain(sf::make_chain_spec("", "ship", 16, 16));
  std::vector<float> sea = sea_around_nothing(16), sparse(256, 0.0f), out(chain.length());
  sparse[3] = sparse[70] = sparse[200] = 1.0f;  // three pixels with data in a padded chip
  EXPECT_NE(chain.compute(sea.data(), out.data()).find("ship block: ship detection: no pixel above the ship threshold"),
            std::string::npos);
  EXPECT_NE(chain.compute(sparse.data(), out.data()).find("3 pixel(s) with data (> 0), 4 needed"), std::string::npos);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(ShipBlock, LayoutNamesTheGeometryAndEachPlane) {
  const sf::FeatureChain chain(
      sf::make_chain_spec("crop(24)", "ship(spacing=10, scale=10, detect=vv)", 32, 32, "vh, vv"));
  EXPECT_NE(chain.description().find("ship(method=cfar, k=3, drop=3, grow=1, spacing=10, scale=10, floor=-100, topk=8, "
                                     "detect=vv, on=vh/vv)"),
            std::string::npos)
      << chain.description();
  ASSERT_EQ(chain.layout().size(), 3u);
  EXPECT_EQ(chain.layout()[0].name, "ship");
  EXPECT_EQ(chain.layout()[0].length, sf::kShipGeometryLength);
  EXPECT_EQ(chain.layout()[1].name, "ship[vh]");
  EXPECT_EQ(chain.layout()[2].name, "ship[vv]");
  EXPECT_EQ(chain.layout()[2].offset, sf::kShipGeometryLength + sf::kShipPlaneLength);
  // Without planes: one entry of geometry and radiometry.
  const sf::FeatureChain one(sf::make_chain_spec("", "ship(spacing=2.5x10)", 16, 16));
  EXPECT_EQ(one.layout().size(), 1u);
  EXPECT_EQ(one.length(), sf::kShipGeometryLength + sf::kShipPlaneLength);
  EXPECT_NE(one.description().find("spacing=2.5x10"), std::string::npos);
}

TEST(ShipPixels, ThumbnailDoesNotDependOnTheHeading) {
  // An L-free asymmetric ship (brighter bow) on a sea ramp; its copies turned by 90, 180 and 270
  // degrees and mirrored must give the same thumbnail.
  const int n = 41;
  std::vector<float> base(static_cast<std::size_t>(n) * n);
  for (int r = 0; r < n; ++r)
    for (int c = 0; c < n; ++c) {
      float v = 0.01f + 0.0002f * static_cast<float>((r * 3 + c * 5) % 11);
      if (r == 20 && c >= 12 && c <= 28) v = c >= 25 ? 3.0f : 1.0f;  // hull along the columns, bright bow
      if (r == 21 && c >= 14 && c <= 26) v = 0.8f;
      base[static_cast<std::size_t>(r) * n + c] = v;
    }
  const auto turned = [&](const std::function<std::pair<int, int>(int, int)>& from) {
    std::vector<float> out(base.size());
    for (int r = 0; r < n; ++r)
      for (int c = 0; c < n; ++c) {
        const auto [sr, sc] = from(r, c);
        out[static_cast<std::size_t>(r) * n + c] = base[static_cast<std::size_t>(sr) * n + sc];
      }
    return out;
  };
  sf::ShipPixelsParams p;
  p.out_rows = 4;
  p.out_cols = 8;
  p.window_rows = 8;
  p.window_cols = 24;
  p.scale = 10;
  const sf::ShipPixelsBlock block(p, n, n, 1);
  sf::ShipScratch scratch;
  const auto thumb = [&](const std::vector<float>& plane) {
    std::vector<float> out(block.length());
    block.compute(plane.data(), {plane.data()}, out.data(), scratch);
    return out;
  };
  const std::vector<float> ref = thumb(base);
  const std::vector<std::vector<float>> copies = {
      turned([&](int r, int c) {
        return std::pair{c, n - 1 - r};
      }),  // 90 degrees
      turned([&](int r, int c) {
        return std::pair{n - 1 - r, n - 1 - c};
      }),  // 180 degrees
      turned([&](int r, int c) {
        return std::pair{n - 1 - c, r};
      }),  // 270 degrees
      turned([&](int r, int c) {
        return std::pair{n - 1 - r, c};
      }),  // mirrored
  };
  for (std::size_t k = 0; k < copies.size(); ++k) {
    const std::vector<float> got = thumb(copies[k]);
    for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-3) << "copy " << k << " cell " << i;
  }
  // The bright bow at the +u end (the right half of the thumbnail), the far corner sea (~ -19.6 dB).
  float left = -1e9f, right = -1e9f;
  for (int i = 0; i < 4; ++i)
    for (int q = 0; q < 8; ++q) (q < 4 ? left : right) = std::max(q < 4 ? left : right, ref[i * 8 + q]);
  EXPECT_GT(right, left + 3.0f);
  EXPECT_LT(ref[0], -15.0f);
  // A chip of sea around no data: no ship, and the chain says so.
  sf::FeatureChain chain(sf::make_chain_spec("", "ship_pixels", 20, 20));
  std::vector<float> sea = sea_around_nothing(20), out(chain.length());
  EXPECT_NE(chain.compute(sea.data(), out.data()).find("ship_pixels block"), std::string::npos);
}
