// Synthetic targets, chips and scenes: determinism across orders, threads and row splits;
// Phoenix output; physically sensible statistics (speckle, shadow, aspect dependence).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <cstdio>
#include <numbers>
#include <set>
#include <thread>

#include "sarscale/core/error.hpp"
#include "sarscale/io/phoenix.hpp"
#include "sarscale/synth/chip_synth.hpp"
#include "sarscale/synth/scene_synth.hpp"
#include "sarscale/synth/target_model.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale::synth;
using sarscale::Image;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double median(std::vector<float> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

void expect_valid_pixels(const Image& img) {
  ASSERT_EQ(img.magnitude.size(), img.pixels());
  for (float m : img.magnitude) ASSERT_TRUE(std::isfinite(m) && m > 0.0f) << m;
  for (float p : img.phase) ASSERT_TRUE(p >= 0.0f && p < 2 * std::numbers::pi_v<float>) << p;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Random numbers and clutter

TEST(SynthRng, StreamsAreReproducibleAndDistributionsRight) {
  CounterRng a(stream_key(1, 2, 3)), b(stream_key(1, 2, 3)), c(stream_key(1, 3, 2));
  EXPECT_EQ(a.next_u64(), b.next_u64());
  EXPECT_NE(CounterRng(stream_key(1, 2, 3)).next_u64(), c.next_u64());
  CounterRng g(99);
  double sum = 0, sum2 = 0;
  constexpr int n = 40000;
  for (int i = 0; i < n; ++i) {
    const double x = g.gamma(3.0);
    sum += x;
    sum2 += x * x;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 3.0, 0.05);  // Gamma(3): mean 3, variance 3
  EXPECT_NEAR(var, 3.0, 0.15);
  double small = 0;
  for (int i = 0; i < n; ++i) small += g.gamma(0.5);
  EXPECT_NEAR(small / n, 0.5, 0.02);
}

TEST(SynthClutter, SpeckleAndTextureStatistics) {
  constexpr int rows = 256, cols = 256;
  std::vector<float> mag(rows * cols), phase(rows * cols);
  auto contrast = [&](const ClutterParams& p, double* mean_out) {
    render_clutter(p, 1000, rows, 5000, cols, mag.data(), phase.data());
    double s = 0, s2 = 0;
    for (float m : mag) {
      s += double(m) * m;
      s2 += double(m) * m * m * m;
    }
    const double mean = s / mag.size();
    *mean_out = mean;
    return (s2 / mag.size()) / (mean * mean) - 1.0;  // var(I) / E[I]^2
  };
  ClutterParams p;
  p.key = 17;
  p.mean_intensity = 0.01f;
  p.texture_shape = 0;  // pure speckle: exponential intensity, contrast 1
  double mean = 0;
  EXPECT_NEAR(contrast(p, &mean), 1.0, 0.06);
  EXPECT_NEAR(mean, 0.01, 0.0004);
  const auto [pmin, pmax] = std::minmax_element(phase.begin(), phase.end());
  EXPECT_GE(*pmin, 0.0f);
  EXPECT_LT(*pmax, 2 * std::numbers::pi_v<float>);
  EXPECT_GT(*pmax, 6.2f);

  p.texture_shape = 1.5f;  // K-distributed: heavier tail than Rayleigh
  p.texture_cell_px = 2;
  const double k_contrast = contrast(p, &mean);
  EXPECT_GT(k_contrast, 1.25);
  EXPECT_LT(k_contrast, 2.5);
  EXPECT_NEAR(mean, 0.01, 0.001);
}

TEST(SynthClutter, PixelsDependOnlyOnCoordinates) {
  ClutterParams p;
  p.key = 5;
  p.texture_cell_px = 4;
  std::vector<float> big(40 * 50), big_phase(40 * 50), part(13 * 17), part_phase(13 * 17);
  render_clutter(p, 100, 40, 200, 50, big.data(), big_phase.data());
  render_clutter(p, 111, 13, 207, 17, part.data(), part_phase.data());  // unaligned to the texture cells
  for (int r = 0; r < 13; ++r)
    for (int c = 0; c < 17; ++c) {
      ASSERT_EQ(part[r * 17 + c], big[(r + 11) * 50 + (c + 7)]);
      ASSERT_EQ(part_phase[r * 17 + c], big_phase[(r + 11) * 50 + (c + 7)]);
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

TEST(SynthTarget, ClassNamesAndSerials) {
  std::set<std::string> names;
  for (int c = 0; c < 35; ++c) {
    const std::string name = target_class_name(c);
    EXPECT_FALSE(name.empty());
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char ch) {
      return std::islower(ch) || std::isdigit(ch) || ch == '_';
    })) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
    std::set<std::string> serials;
    for (int v = 0; v < kSerialsPerClass; ++v) serials.insert(target_serial(c, v));
    EXPECT_EQ(serials.size(), static_cast<std::size_t>(kSerialsPerClass));
  }
  EXPECT_EQ(target_class_name(0), "tank_a");
  EXPECT_EQ(target_class_name(13), "scout_d_g1");
  EXPECT_THROW(target_class_name(-1), sarscale::ConfigError);
  EXPECT_THROW(make_target_model(0, kSerialsPerClass), sarscale::ConfigError);
}

TEST(SynthTarget, ModelsAreDeterministicAndDistinct) {
  const TargetModel a = make_target_model(4, 1), b = make_target_model(4, 1);
  ASSERT_EQ(a.scatterers.size(), b.scatterers.size());
  for (std::size_t i = 0; i < a.scatterers.size(); ++i) EXPECT_EQ(a.scatterers[i].x_m, b.scatterers[i].x_m);
  EXPECT_GT(a.scatterers.size(), 50u);
  EXPECT_FALSE(a.volumes.empty());
  // Vehicles of plausible size: 4..12 m long, 1.5..4 m tall.
  for (int c = 0; c < 20; ++c) {
    const TargetModel m = make_target_model(c, 0);
    EXPECT_GT(m.radius_m(), 2.0f) << m.class_name;
    EXPECT_LT(m.radius_m(), 8.0f) << m.class_name;
    EXPECT_GT(m.height_m(), 1.5f) << m.class_name;
    EXPECT_LT(m.height_m(), 4.5f) << m.class_name;
  }
  // Serial variants differ a little, classes a lot.
  const TargetModel v0 = make_target_model(0, 0), v1 = make_target_model(0, 1), other = make_target_model(5, 0);
  EXPECT_NE(v0.scatterers.size(), v1.scatterers.size());
  EXPECT_LT(std::abs(v0.radius_m() - v1.radius_m()), 0.3f);
  EXPECT_NE(v0.scatterers.size(), other.scatterers.size());
}

TEST(SynthTarget, AspectDependence) {
  Scatterer plate;  // a side plate facing the target's left (90 deg)
  plate.kind = ScattererKind::dihedral;
  plate.normal_deg = 90;
  plate.lobe_deg = 4;
  EXPECT_NEAR(aspect_gain(plate, 90), 1.06, 1e-3);  // flash at broadside
  EXPECT_LT(aspect_gain(plate, 80), 0.1f);
  EXPECT_EQ(aspect_gain(plate, 270), 0.0f);  // seen from behind: occluded
  Scatterer wheel;
  wheel.kind = ScattererKind::point;
  wheel.normal_deg = -90;
  EXPECT_EQ(aspect_gain(wheel, 270), 1.0f);
  EXPECT_EQ(aspect_gain(wheel, 90), 0.0f);
  Scatterer gun;
  gun.kind = ScattererKind::horizontal_cylinder;
  gun.normal_deg = 0;
  gun.lobe_deg = 2.5f;
  EXPECT_GT(aspect_gain(gun, 90), 1.0f);   // broadside onto the barrel
  EXPECT_GT(aspect_gain(gun, 270), 1.0f);  // from either side
  EXPECT_LT(aspect_gain(gun, 0), 0.1f);    // end-on
}

TEST(SynthTarget, AzimuthChangesTheImage) {
  const TargetModel model = make_target_model(0, 0);
  ImagingGeometry g;
  ClutterParams clutter;
  clutter.key = 3;
  clutter.mean_intensity = 1e-6f;  // nearly no clutter: compare the targets themselves
  const PixelBox box{0, 0, 128, 128};
  std::vector<float> a(128 * 128), b(128 * 128), c(128 * 128);
  render_target_window(model, g, TargetPose{64, 64, 30}, clutter, 0.25f, box, a.data(), nullptr);
  render_target_window(model, g, TargetPose{64, 64, 30}, clutter, 0.25f, box, c.data(), nullptr);
  render_target_window(model, g, TargetPose{64, 64, 120}, clutter, 0.25f, box, b.data(), nullptr);
  EXPECT_EQ(a, c);
  double diff = 0, energy = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += std::abs(a[i] - b[i]);
    energy += a[i];
  }
  EXPECT_GT(diff, 0.5 * energy);  // rotated by 90 deg: mostly different pixels
  // A long vehicle seen end-on is short in cross range and long in range; broadside the reverse.
  auto extent = [&](const std::vector<float>& img, bool along_rows) {
    const float peak = *std::max_element(img.begin(), img.end());
    int lo = 128, hi = -1;
    for (int r = 0; r < 128; ++r)
      for (int col = 0; col < 128; ++col)
        if (img[r * 128 + col] > 0.05f * peak) {
          const int k = along_rows ? r : col;
          lo = std::min(lo, k);
          hi = std::max(hi, k);
        }
    return hi - lo;
  };
  std::vector<float> nose(128 * 128), side(128 * 128);
  render_target_window(model, g, TargetPose{64, 64, 0}, clutter, 0.25f, box, nose.data(), nullptr);
  render_target_window(model, g, TargetPose{64, 64, 90}, clutter, 0.25f, box, side.data(), nullptr);
  EXPECT_GT(extent(side, false), extent(nose, false) + 10);  // 6.9 m vs 3.5 m across at 0.2 m/pixel
}

TEST(SynthTarget, LayoverMovesHighScatterersTowardsTheRadar) {
  // One scatterer at height z lies z sin(theta) of slant range nearer the radar than its foot
  // (target_model.hpp), i.e. towards larger rows. The pose puts that exactly on row 60, so the
  // response must peak there and be symmetric about it.
  constexpr double z = 2.5, spacing = 0.2, pi = std::numbers::pi;
  for (const float depression : {17.0f, 15.0f, 45.0f}) {
    SCOPED_TRACE(depression);
    TargetModel model;
    model.scatterers.push_back({ScattererKind::omni, 0, 0, static_cast<float>(z), 1.0f, 0, 10, 0, 0});
    const ImagingGeometry g = ImagingGeometry::square(depression, static_cast<float>(spacing), 0.3f);
    const double layover_px = z * std::sin(depression * pi / 180.0) / spacing;
    const TargetPose pose{60.0 - layover_px, 40.0, 0.0f};
    const PixelBox box{0, 0, 100, 80};
    std::vector<std::complex<float>> field(100 * 80);
    add_target_returns(model, g, pose, box, field.data());
    const auto at = [&](int r) { return std::abs(field[static_cast<std::size_t>(r) * 80 + 40]); };
    int peak = 0;
    for (int r = 0; r < 100; ++r) peak = at(r) > at(peak) ? r : peak;
    EXPECT_EQ(peak, 60);
    EXPECT_NEAR(at(59), at(61), 1e-5 * at(60));
    EXPECT_GT(layover_px, 3.0);  // the foot is rows away from the peak
  }
  // The figures documented in target_model.hpp: 0.73 m at 17 deg, 0.65 m at 15 deg.
  EXPECT_NEAR(2.5 * std::sin(17.0 * pi / 180.0), 0.73, 0.005);
  EXPECT_NEAR(2.5 * std::sin(15.0 * pi / 180.0), 0.65, 0.005);
}

TEST(SynthTarget, ShadowLengthFollowsTheDepression) {
  // A 1 m x 1 m block 2.5 m tall, radar ahead (azimuth 0): in the column through it the ground
  // is hidden from the block's near edge to h / tan(theta) beyond its far edge, which spans
  // (1 m + h / tan(theta)) cos(theta) of slant range: 8.78 m at 17 deg, 9.98 m at 15 deg.
  constexpr double h = 2.5, spacing = 0.2, pi = std::numbers::pi;
  TargetModel model;
  model.volumes.push_back({Volume::Shape::box, 0, 0, 1.0f, 1.0f, static_cast<float>(h)});
  std::map<float, double> hidden_m;
  for (const float depression : {17.0f, 15.0f}) {
    const ImagingGeometry g = ImagingGeometry::square(depression, static_cast<float>(spacing), 0.3f);
    const PixelBox box{0, 0, 200, 40};
    std::vector<float> gain(200 * 40, 1.0f);
    apply_target_shadow(model, g, TargetPose{150, 20, 0}, 0.0f, box, gain.data());
    double rows = 0;
    for (int r = 0; r < 200; ++r) rows += 1.0 - gain[static_cast<std::size_t>(r) * 40 + 20];
    const double theta = depression * pi / 180.0;
    hidden_m[depression] = rows * spacing;
    EXPECT_NEAR(rows * spacing, (1.0 + h / std::tan(theta)) * std::cos(theta), 1e-3) << depression << " deg";
    // Nothing is hidden on the radar's side of the block (whose near edge is at row 152.4).
    for (int r = 153; r < 200; ++r) EXPECT_EQ(gain[static_cast<std::size_t>(r) * 40 + 20], 1.0f) << r;
  }
  EXPECT_NEAR(hidden_m[17.0f], 8.78, 0.01);
  EXPECT_NEAR(hidden_m[15.0f], 9.98, 0.01);
}

// ---------------------------------------------------------------------------------------------
// Chips

TEST(SynthChip, DeterministicAcrossCallsOrdersAndThreads) {
  ChipSynthConfig cfg;
  cfg.seed = 1234;
  const SynthChip a = synthesize_chip(cfg, 42), b = synthesize_chip(cfg, 42);
  EXPECT_EQ(a.image.magnitude, b.image.magnitude);
  EXPECT_EQ(a.image.phase, b.image.phase);
  EXPECT_EQ(a.header.fields, b.header.fields);
  EXPECT_NE(synthesize_chip(cfg, 43).image.magnitude, a.image.magnitude);
  ChipSynthConfig other_seed = cfg;
  other_seed.seed = 1235;
  EXPECT_NE(synthesize_chip(other_seed, 42).image.magnitude, a.image.magnitude);

  const fs::path forward = sarscale::test::scratch_dir("synth-forward");
  const fs::path threaded = sarscale::test::scratch_dir("synth-threaded");
  constexpr int n = 24;
  for (int i = 0; i < n; ++i) write_synth_chip(forward, cfg, i);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] {
      for (int i = n - 1 - t; i >= 0; i -= 4) write_synth_chip(threaded, cfg, i);  // reverse, interleaved
    });
  for (auto& w : workers) w.join();
  for (int i = 0; i < n; ++i) {
    const fs::path rel = synth_chip_relative_path(cfg, i);
    const std::string x = slurp(forward / rel), y = slurp(threaded / rel);
    ASSERT_FALSE(x.empty()) << rel;
    ASSERT_EQ(x, y) << rel;
  }
}

TEST(SynthChip, WrittenFileReadsBackExactly) {
  ChipSynthConfig cfg;
  cfg.seed = 77;
  cfg.num_classes = 6;
  const fs::path dir = sarscale::test::scratch_dir("synth-phoenix");
  const SynthChip chip = synthesize_chip(cfg, 9);
  const SynthChipFile file = write_synth_chip(dir, cfg, 9);
  EXPECT_EQ(file.path, dir / "scout_d" / "SCOUT_D_SYN0000009.phx");
  EXPECT_EQ(file.class_index, 3);
  EXPECT_EQ(file.bytes, fs::file_size(file.path));

  const auto back = sarscale::io::read_phoenix(file.path);
  EXPECT_EQ(back.image.magnitude, chip.image.magnitude);
  EXPECT_EQ(back.image.phase, chip.image.phase);
  const auto& h = back.header;
  EXPECT_EQ(h.rows, 128);
  EXPECT_EQ(h.cols, 128);
  EXPECT_EQ(h.sig_size, static_cast<std::int64_t>(fs::file_size(file.path)));
  EXPECT_EQ(h.native_header_length, 0);
  EXPECT_EQ(h.get("TargetType"), "scout_d");
  EXPECT_EQ(h.get("TargetSerNum"), chip.serial);
  EXPECT_EQ(h.get("Filename"), "SCOUT_D_SYN0000009.phx");
  EXPECT_EQ(h.get("Polarization"), "HH");
  EXPECT_EQ(h.number("DesiredDepression"), 17.0);
  EXPECT_EQ(h.number("RangePixelSpacing"), 0.2);
  EXPECT_EQ(h.number("SynthSeed"), 77.0);
  EXPECT_EQ(h.number("SynthIndex"), 9.0);
  EXPECT_EQ(back.meta.azimuth_deg, chip.azimuth_deg);
  EXPECT_GE(chip.azimuth_deg, 0.0f);
  EXPECT_LT(chip.azimuth_deg, 360.0f);
  EXPECT_EQ(back.meta.target_type, "scout_d");
  EXPECT_EQ(h.get("CenterFrequency"), "9.60 GHz");
}

TEST(SynthChip, ClassesAreBalancedAndAzimuthsSpread) {
  ChipSynthConfig cfg;
  cfg.num_classes = 7;
  std::map<std::string, int> per_class;
  std::vector<float> azimuths;
  std::set<std::string> serials_of_class0;
  for (int i = 0; i < 70; ++i) {
    const fs::path rel = synth_chip_relative_path(cfg, i);
    ++per_class[rel.parent_path().string()];
    if (i < 35) {
      const SynthChip chip = synthesize_chip(cfg, i);
      EXPECT_EQ(chip.class_index, i % 7);
      EXPECT_EQ(rel.parent_path().string(), chip.class_name);
      azimuths.push_back(chip.azimuth_deg);
      if (chip.class_index == 0) serials_of_class0.insert(chip.serial);
    }
  }
  EXPECT_EQ(per_class.size(), 7u);
  for (const auto& [name, count] : per_class) EXPECT_EQ(count, 10) << name;
  EXPECT_EQ(synth_class_names(7).size(), 7u);
  EXPECT_EQ(synth_class_names(7)[6], "aaa_g");
  // Uniform azimuths: all four quadrants are visited by 35 chips.
  std::set<int> quadrants;
  for (float a : azimuths) quadrants.insert(static_cast<int>(a / 90.0f));
  EXPECT_EQ(quadrants.size(), 4u);
  EXPECT_GE(serials_of_class0.size(), 2u);
}

TEST(SynthChip, TargetShadowAndClutterStatistics) {
  ChipSynthConfig cfg;
  cfg.seed = 5;
  const ImagingGeometry g = cfg.geometry();
  int checked = 0;
  for (int i = 0; i < 12; ++i) {
    const SynthChip chip = synthesize_chip(cfg, i);
    SCOPED_TRACE(chip.relative_path.string());
    expect_valid_pixels(chip.image);
    ASSERT_EQ(chip.image.phase.size(), chip.image.pixels());
    const double med = median(chip.image.magnitude);
    const float peak = *std::max_element(chip.image.magnitude.begin(), chip.image.magnitude.end());
    EXPECT_GT(med, 0.025);  // MSTAR-like clutter level (~0.04)
    EXPECT_LT(med, 0.06);
    EXPECT_GT(peak / med, 8.0);  // target well above clutter (> 18 dB)
    EXPECT_LT(peak, 10.0f);

    // Shadow: the model's volumes (not jittered) give the exact mask.
    const TargetModel model = make_target_model(chip.class_index, chip.variant);
    const TargetPose pose{chip.target_row, chip.target_col, chip.azimuth_deg};
    const PixelBox box{0, 0, 128, 128};
    std::vector<float> gain(128 * 128, 1.0f);
    apply_target_shadow(model, g, pose, 0.0f, box, gain.data());
    // Compare pixels in full shadow beyond the target's reach (more than a PSF half-width past
    // where the layover of the tallest part can fall) with open clutter far from the target.
    const double reach_m = model.radius_m();
    double shadow = 0, open = 0;
    int n_shadow = 0, n_open = 0;
    for (int r = 0; r < 128; ++r)
      for (int c = 0; c < 128; ++c) {
        const double m2 = double(chip.image.magnitude[r * 128 + c]) * chip.image.magnitude[r * 128 + c];
        const double dist = std::hypot(r - pose.row, c - pose.col) * 0.2;
        if (gain[r * 128 + c] == 0.0f && r < pose.row - (reach_m + 2.0) / 0.2) {
          shadow += m2;
          ++n_shadow;
        } else if (gain[r * 128 + c] == 1.0f && dist > reach_m + 8.0) {
          open += m2;
          ++n_open;
        }
      }
    if (n_shadow < 20) continue;  // short shadows (low vehicles, some aspects) leave too few pixels
    ++checked;
    EXPECT_GT(n_open, 2000);
    const double ratio_db = 10.0 * std::log10((shadow / n_shadow) / (open / n_open));
    EXPECT_LT(ratio_db, -8.0) << "shadow only " << ratio_db << " dB below clutter";
    EXPECT_GT(ratio_db, -20.0);
  }
  EXPECT_GE(checked, 6);
}

TEST(SynthChip, ConfigValidationAndSpeed) {
  ChipSynthConfig bad;
  bad.chip_size = 4;
  EXPECT_THROW(synthesize_chip(bad, 0), sarscale::ConfigError);
  bad = ChipSynthConfig{};
  bad.num_classes = 0;
  EXPECT_THROW(synthesize_chip(bad, 0), sarscale::ConfigError);
  bad = ChipSynthConfig{};
  bad.depression_deg = 95;
  EXPECT_THROW(synthesize_chip(bad, 0), sarscale::ConfigError);
  EXPECT_THROW(synthesize_chip(ChipSynthConfig{}, -1), sarscale::ConfigError);

  ChipSynthConfig small;
  small.chip_size = 64;
  EXPECT_EQ(synthesize_chip(small, 3).image.rows, 64);

  // Generous bound (the generator takes ~1 ms per 128 x 128 chip): catches gross slowdowns.
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int n = 40;
  for (int i = 0; i < n; ++i) synthesize_chip(ChipSynthConfig{}, i);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / n;
  RecordProperty("ms_per_chip", std::to_string(ms));
  EXPECT_LT(ms, 25.0);
}

TEST(SynthChip, GainAndClutterLevelScaleTheAcquisition) {
  ChipSynthConfig cfg;
  cfg.seed = 8;
  const SynthChip base = synthesize_chip(cfg, 5);
  for (const auto& [key, value] : base.header.fields) EXPECT_TRUE(key != "SynthGainDb" && key != "SynthClutterDb");

  // The gain multiplies every magnitude by 10^(G/20) and leaves the phases.
  ChipSynthConfig gained = cfg;
  gained.gain_db = 1.5f;
  const fs::path dir = sarscale::test::scratch_dir("synth-gain");
  write_synth_chip(dir, gained, 5);
  const auto g = sarscale::io::read_phoenix(dir / synth_chip_relative_path(gained, 5));
  const auto factor = static_cast<float>(std::pow(10.0, 1.5 / 20.0));
  ASSERT_EQ(g.image.magnitude.size(), base.image.magnitude.size());
  for (std::size_t k = 0; k < base.image.magnitude.size(); ++k)
    ASSERT_EQ(g.image.magnitude[k], base.image.magnitude[k] * factor) << k;
  EXPECT_EQ(g.image.phase, base.image.phase);
  EXPECT_NEAR(factor, 1.18850, 1e-5);
  EXPECT_EQ(g.header.get("SynthGainDb"), "1.5");  // what a user reads in the header
  EXPECT_EQ(g.header.number("SynthGainDb"), 1.5);

  // The clutter level scales the clutter, not the target: pixels of clutter alone (most of
  // them: the median ratio) by 10^(C/20) to float precision, the peak (target) much less.
  ChipSynthConfig louder = cfg;
  louder.clutter_level_db = 6.0f;
  const SynthChip c = synthesize_chip(louder, 5);
  std::vector<float> ratio(c.image.magnitude.size());
  for (std::size_t k = 0; k < ratio.size(); ++k) ratio[k] = c.image.magnitude[k] / base.image.magnitude[k];
  EXPECT_NEAR(median(ratio), std::pow(10.0, 6.0 / 20.0), 1e-5);
  const auto peak = [](const Image& img) { return *std::max_element(img.magnitude.begin(), img.magnitude.end()); };
  EXPECT_LT(peak(c.image) / peak(base.image), 1.3);
  bool recorded = false;
  for (const auto& [key, value] : c.header.fields) recorded |= key == "SynthClutterDb" && value == "6";
  EXPECT_TRUE(recorded);

  for (const float bad : {41.0f, -41.0f, std::numeric_limits<float>::quiet_NaN()}) {
    ChipSynthConfig b = cfg;
    b.gain_db = bad;
    EXPECT_THROW(synthesize_chip(b, 0), sarscale::ConfigError) << bad;
    b = cfg;
    b.clutter_level_db = bad;
    EXPECT_THROW(synthesize_chip(b, 0), sarscale::ConfigError) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// Scenes

namespace {
// Rendering the rows above and below each split separately, at 1 and 3 threads, gives `full`.
void expect_split_renders_identical(const std::function<void(int, int, Image&)>& render, const Image& full,
                                    const std::vector<int>& splits) {
  const int saved = omp_get_max_threads();
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (int split : splits) {
      Image top, bottom;
      render(0, split, top);
      render(split, full.rows - split, bottom);
      std::vector<float> mag(top.magnitude), ph(top.phase);
      mag.insert(mag.end(), bottom.magnitude.begin(), bottom.magnitude.end());
      ph.insert(ph.end(), bottom.phase.begin(), bottom.phase.end());
      EXPECT_EQ(mag, full.magnitude) << threads << " threads, split at " << split;
      EXPECT_EQ(ph, full.phase) << threads << " threads, split at " << split;
    }
  }
  omp_set_num_threads(saved);
}

SceneSynthConfig small_scene() {
  SceneSynthConfig cfg;
  cfg.width = 700;
  cfg.height = 600;
  cfg.targets = 6;
  cfg.seed = 21;
  return cfg;
}
}  // namespace

TEST(SynthScene, PlanIsDeterministicInsideAndNonOverlapping) {
  const SceneSynthConfig cfg = small_scene();
  const auto plan = plan_scene_targets(cfg), again = plan_scene_targets(cfg);
  ASSERT_EQ(plan.size(), 6u);
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const SceneTarget& t = plan[i];
    EXPECT_EQ(t.row, again[i].row);
    EXPECT_EQ(t.azimuth_deg, again[i].azimuth_deg);
    EXPECT_GE(t.footprint.row0, 8);
    EXPECT_GE(t.footprint.col0, 8);
    EXPECT_LE(t.footprint.row0 + t.footprint.rows, cfg.height - 8);
    EXPECT_LE(t.footprint.col0 + t.footprint.cols, cfg.width - 8);
    EXPECT_GT(t.footprint.rows, 30);
    EXPECT_GE(t.class_index, 0);
    EXPECT_LT(t.class_index, cfg.num_classes);
    EXPECT_EQ(t.class_name, target_class_name(t.class_index));
    for (std::size_t j = i + 1; j < plan.size(); ++j) EXPECT_TRUE(t.footprint.intersect(plan[j].footprint).empty());
  }
  SceneSynthConfig crowded = cfg;
  crowded.targets = 500;
  EXPECT_THROW(plan_scene_targets(crowded), sarscale::ConfigError);
  crowded.targets = 0;
  EXPECT_TRUE(plan_scene_targets(crowded).empty());
}

TEST(SynthScene, AnyRowSplitAndThreadCountGivesIdenticalPixels) {
  const SceneSynthConfig cfg = small_scene();
  const auto plan = plan_scene_targets(cfg);
  Image full;
  render_scene_rows(cfg, plan, 0, cfg.height, full);
  ASSERT_EQ(full.rows, cfg.height);
  ASSERT_EQ(full.cols, cfg.width);
  expect_valid_pixels(full);

  // Splits that cut through targets and texture cells.
  expect_split_renders_identical(
      [&](int row0, int nrows, Image& out) { render_scene_rows(cfg, plan, row0, nrows, out); }, full,
      {1, 137, plan[2].footprint.row0 + 5});

  SceneSynthConfig detected = cfg;
  detected.pixels = ScenePixels::float32;
  Image magnitude_only;
  render_scene_rows(detected, plan, 0, cfg.height, magnitude_only);
  EXPECT_TRUE(magnitude_only.phase.empty());
  EXPECT_EQ(magnitude_only.magnitude, full.magnitude);
  EXPECT_THROW(render_scene_rows(cfg, plan, 590, 20, full), sarscale::ConfigError);
}

TEST(SynthScene, TargetsStandOutAndLandcoverVaries) {
  const SceneSynthConfig cfg = small_scene();
  const auto plan = plan_scene_targets(cfg);
  Image img;
  render_scene_rows(cfg, plan, 0, cfg.height, img);
  const double med = median(img.magnitude);
  for (const auto& t : plan) {
    float peak = 0;
    for (int r = t.footprint.row0; r < t.footprint.row0 + t.footprint.rows; ++r)
      for (int c = t.footprint.col0; c < t.footprint.col0 + t.footprint.cols; ++c)
        peak = std::max(peak, img.magnitude[static_cast<std::size_t>(r) * cfg.width + c]);
    EXPECT_GT(peak / med, 8.0) << "target " << t.index;
  }
  // Land cover: over a few km there is water (-12 dB), fields (0 dB) and rough ground (+4 dB).
  float lo = 1e9f, hi = 0;
  for (int r = 0; r < 40000; r += 500)
    for (int c = 0; c < 40000; c += 500) {
      const float gain = landcover_gain(12345, r, c);
      lo = std::min(lo, gain);
      hi = std::max(hi, gain);
    }
  EXPECT_LT(lo, 0.1f);
  EXPECT_GT(hi, 2.0f);
}

TEST(SynthScene, CInt16Conversion) {
  Image img;
  img.rows = 1;
  img.cols = 3;
  img.magnitude = {0.04f, 1.0f, 100.0f};
  img.phase = {0.0f, std::numbers::pi_v<float> / 2, std::numbers::pi_v<float>};
  std::vector<std::int16_t> iq;
  to_cint16(img, iq);
  ASSERT_EQ(iq.size(), 6u);
  EXPECT_EQ(iq[0], 40);
  EXPECT_EQ(iq[1], 0);
  EXPECT_EQ(iq[2], 0);
  EXPECT_EQ(iq[3], 1000);
  EXPECT_EQ(iq[4], -32767);  // saturated
  EXPECT_EQ(iq[5], 0);
  img.phase.clear();
  EXPECT_THROW(to_cint16(img, iq), sarscale::ConfigError);
}

TEST(SynthScene, GainScalesEveryPixelAndClutterLevelTheBackground) {
  const SceneSynthConfig cfg = small_scene();
  const auto plan = plan_scene_targets(cfg);
  Image base, gained, quieter;
  render_scene_rows(cfg, plan, 0, cfg.height, base);
  SceneSynthConfig g = cfg;
  g.gain_db = -2.0f;
  render_scene_rows(g, plan, 0, cfg.height, gained);
  const auto factor = static_cast<float>(std::pow(10.0, -2.0 / 20.0));
  for (std::size_t k = 0; k < base.magnitude.size(); ++k)
    ASSERT_EQ(gained.magnitude[k], base.magnitude[k] * factor) << k;
  EXPECT_EQ(gained.phase, base.phase);

  SceneSynthConfig q = cfg;
  q.clutter_level_db = -3.0f;
  EXPECT_EQ(plan_scene_targets(q).size(), plan.size());  // the plan does not depend on the level
  render_scene_rows(q, plan, 0, cfg.height, quieter);
  std::vector<float> ratio(base.magnitude.size());
  for (std::size_t k = 0; k < ratio.size(); ++k) ratio[k] = quieter.magnitude[k] / base.magnitude[k];
  EXPECT_NEAR(median(ratio), std::pow(10.0, -3.0 / 20.0), 1e-5);  // the background, all land covers

  SceneSynthConfig bad = cfg;
  bad.gain_db = 60.0f;
  EXPECT_THROW(plan_scene_targets(bad), sarscale::ConfigError);
  bad = cfg;
  bad.clutter_level_db = std::numeric_limits<float>::infinity();
  EXPECT_THROW(plan_scene_targets(bad), sarscale::ConfigError);
  bad = cfg;
  bad.variation.gain_jitter_db = -1.0f;
  EXPECT_THROW(plan_scene_targets(bad), sarscale::ConfigError);
}

// ---------------------------------------------------------------------------------------------
// Distractors: clutter discretes placed around the targets

namespace {
SceneSynthConfig scene_with_distractors() {
  SceneSynthConfig cfg = small_scene();
  cfg.distractors = 8;
  return cfg;
}

float peak_in(const Image& img, const PixelBox& box) {
  float peak = 0;
  for (int r = box.row0; r < box.row0 + box.rows; ++r)
    for (int c = box.col0; c < box.col0 + box.cols; ++c)
      peak = std::max(peak, img.magnitude[static_cast<std::size_t>(r) * img.cols + c]);
  return peak;
}
}  // namespace

TEST(SynthDistractors, PlacedDeterministicallyInsideAndClearOfEveryObject) {
  const SceneSynthConfig cfg = scene_with_distractors();
  const ScenePlan plan = plan_scene(cfg), again = plan_scene(cfg);
  // The targets' plan does not depend on the distractors.
  const auto targets_alone = plan_scene_targets(small_scene());
  ASSERT_EQ(plan.targets.size(), targets_alone.size());
  for (std::size_t i = 0; i < plan.targets.size(); ++i) {
    EXPECT_EQ(plan.targets[i].row, targets_alone[i].row);
    EXPECT_EQ(plan.targets[i].col, targets_alone[i].col);
  }
  ASSERT_EQ(plan.distractors.size(), 8u);
  std::set<DistractorKind> kinds;
  for (std::size_t i = 0; i < plan.distractors.size(); ++i) {
    const SceneDistractor& d = plan.distractors[i];
    EXPECT_EQ(d.index, static_cast<int>(i));
    EXPECT_EQ(d.row, again.distractors[i].row);
    EXPECT_EQ(d.col, again.distractors[i].col);
    EXPECT_EQ(d.amplitude, again.distractors[i].amplitude);
    kinds.insert(d.kind);
    EXPECT_GE(d.footprint.row0, 8);
    EXPECT_GE(d.footprint.col0, 8);
    EXPECT_LE(d.footprint.row0 + d.footprint.rows, cfg.height - 8);
    EXPECT_LE(d.footprint.col0 + d.footprint.cols, cfg.width - 8);
    // Its centre lies in its footprint, and the footprint is that of its model.
    EXPECT_GE(d.row, d.footprint.row0);
    EXPECT_LT(d.row, d.footprint.row0 + d.footprint.rows);
    EXPECT_GE(d.col, d.footprint.col0);
    EXPECT_LT(d.col, d.footprint.col0 + d.footprint.cols);
    const PixelBox fp = target_footprint(scene_distractor_model(cfg, d), cfg.geometry(),
                                         TargetPose{d.row, d.col, d.azimuth_deg});
    EXPECT_EQ(fp.row0, d.footprint.row0);
    EXPECT_EQ(fp.rows, d.footprint.rows);
    EXPECT_EQ(fp.cols, d.footprint.cols);
    for (const auto& t : plan.targets) EXPECT_TRUE(d.footprint.intersect(t.footprint).empty()) << i;
    for (std::size_t j = i + 1; j < plan.distractors.size(); ++j)
      EXPECT_TRUE(d.footprint.intersect(plan.distractors[j].footprint).empty()) << i << " " << j;
  }
  EXPECT_EQ(kinds.size(), 4u) << "eight distractors show every kind";
  EXPECT_EQ(distractor_kind_name(DistractorKind::treeline), "treeline");
  // Another seed places them elsewhere.
  SceneSynthConfig other = cfg;
  other.seed = 22;
  EXPECT_NE(plan_scene(other).distractors[0].row, plan.distractors[0].row);
  // No room: a clear error, not an endless search or an overlap.
  SceneSynthConfig crowded = cfg;
  crowded.distractors = 400;
  EXPECT_THROW(plan_scene(crowded), sarscale::ConfigError);
  crowded.distractors = -1;
  EXPECT_THROW(plan_scene(crowded), sarscale::ConfigError);
}

TEST(SynthDistractors, AnyRowSplitAndThreadCountGivesIdenticalPixels) {
  const SceneSynthConfig cfg = scene_with_distractors();
  const ScenePlan plan = plan_scene(cfg);
  Image full;
  render_scene_rows(cfg, plan, 0, cfg.height, full);
  expect_valid_pixels(full);
  // Splits through the first distractors' footprints.
  expect_split_renders_identical(
      [&](int row0, int nrows, Image& out) { render_scene_rows(cfg, plan, row0, nrows, out); }, full,
      {plan.distractors[0].footprint.row0 + 3, plan.distractors[1].footprint.row0 + 17, 301});
  // Without distractors the pixels are exactly those of a targets-only scene; outside the
  // distractors' footprints a scene with them is identical too.
  const SceneSynthConfig none = small_scene();
  Image plain, plain_plan;
  render_scene_rows(none, plan.targets, 0, none.height, plain);
  render_scene_rows(none, plan_scene(none), 0, none.height, plain_plan);
  EXPECT_EQ(plain.magnitude, plain_plan.magnitude);
  EXPECT_EQ(plain.phase, plain_plan.phase);
  std::size_t differ = 0, outside_differ = 0;
  for (int r = 0; r < cfg.height; ++r)
    for (int c = 0; c < cfg.width; ++c) {
      const std::size_t k = static_cast<std::size_t>(r) * cfg.width + c;
      if (plain.magnitude[k] == full.magnitude[k]) continue;
      ++differ;
      bool inside = false;
      for (const auto& d : plan.distractors) inside |= !d.footprint.intersect(PixelBox{r, c, 1, 1}).empty();
      outside_differ += !inside;
    }
  EXPECT_GT(differ, 1000u);
  EXPECT_EQ(outside_differ, 0u);
  // A distractor scene cannot be rendered from its targets alone.
  EXPECT_THROW(render_scene_rows(cfg, plan.targets, 0, 10, full), sarscale::ConfigError);
}

TEST(SynthDistractors, BrightLikeVehiclesAndShaped) {
  SceneSynthConfig cfg = small_scene();
  cfg.width = 1400;
  cfg.height = 1200;
  cfg.targets = 8;
  cfg.distractors = 16;
  const ScenePlan plan = plan_scene(cfg);
  Image img;
  render_scene_rows(cfg, plan, 0, cfg.height, img);
  const double med = median(img.magnitude);
  std::vector<float> target_peaks, distractor_peaks;
  for (const auto& t : plan.targets) target_peaks.push_back(peak_in(img, t.footprint));
  for (const auto& d : plan.distractors) {
    const float peak = peak_in(img, d.footprint);
    distractor_peaks.push_back(peak);
    // Every one is what a plain threshold takes for a target: far above the clutter.
    EXPECT_GT(peak / med, 8.0) << distractor_kind_name(d.kind) << " " << d.index;
  }
  // Comparable to the vehicles: the medians within 8 dB, and some brighter, some weaker than
  // the median vehicle.
  const double tm = median(target_peaks), dm = median(distractor_peaks);
  std::printf("median peak: vehicles %.2f, distractors %.2f; clutter median %.3f\n", tm, dm, med);
  EXPECT_LT(std::abs(20 * std::log10(dm / tm)), 8.0) << tm << " " << dm;
  EXPECT_GT(*std::max_element(distractor_peaks.begin(), distractor_peaks.end()), tm);
  EXPECT_LT(*std::min_element(distractor_peaks.begin(), distractor_peaks.end()), tm);
  // Shapes: points are a few pixels bright; corners and edges lines of tens of pixels; tree
  // lines a rough strip brighter than the clutter around it.
  for (const auto& d : plan.distractors) {
    const float peak = peak_in(img, d.footprint);
    int bright = 0;  // pixels within 10 dB of the peak
    for (int r = d.footprint.row0; r < d.footprint.row0 + d.footprint.rows; ++r)
      for (int c = d.footprint.col0; c < d.footprint.col0 + d.footprint.cols; ++c)
        bright += img.magnitude[static_cast<std::size_t>(r) * cfg.width + c] > 0.316f * peak;
    std::printf("%-8s amplitude %.2f peak %.2f (%.1f x the median clutter), %d pixels within 10 dB of it\n",
                distractor_kind_name(d.kind).c_str(), d.amplitude, peak, peak / med, bright);
    if (d.kind == DistractorKind::point) {
      EXPECT_LE(bright, 40) << "point " << d.index;
    } else if (d.kind == DistractorKind::treeline) {
      EXPECT_GE(bright, 10) << "treeline " << d.index;
    } else {
      EXPECT_GE(bright, 10) << distractor_kind_name(d.kind) << " " << d.index;
      EXPECT_GE(std::max(d.footprint.rows, d.footprint.cols), 20) << distractor_kind_name(d.kind);
    }
  }
}
