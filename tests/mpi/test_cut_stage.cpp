// `sarscale cut` across ranks: chips cut from two small synthetic scenes (one float32, one
// complex) form the same archive - chip order, labels, metadata, pixels - at every rank count as
// on one rank alone, and the chips are where the truth says.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "mpi_test_support.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/dist/cut_stage.hpp"
#include "sarscale/dist/synth_stage.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/truth_file.hpp"
#include "sarscale/synth/scene_synth.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using dist::Comm;

namespace {

constexpr int kChip = 64;

struct Archive {
  io::ArchiveLayout layout;
  std::vector<float> pixels;
  std::vector<std::int32_t> labels;
  std::vector<ChipMeta> meta;
  std::vector<std::uint8_t> valid;
};

Archive read_archive(const fs::path& path) {
  const auto reader = io::ArchiveReader::open(path, MPI_COMM_SELF);
  Archive a;
  a.layout = reader.layout();
  const std::int64_t n = a.layout.chips;
  a.pixels.resize(static_cast<std::size_t>(n) * a.layout.rows * a.layout.cols);
  reader.read_chips(0, n, a.pixels.data(), nullptr, io::Transfer::independent);
  a.labels = reader.labels(0, n, io::Transfer::independent);
  a.meta = reader.meta(0, n, io::Transfer::independent);
  a.valid = reader.valid(0, n, io::Transfer::independent);
  return a;
}

synth::SceneSynthConfig scene_config(std::uint64_t seed, synth::ScenePixels pixels) {
  synth::SceneSynthConfig c;
  c.width = c.height = 512;
  c.targets = 2;
  c.distractors = 2;
  c.seed = seed;
  c.num_classes = 3;
  c.pixels = pixels;
  return c;
}

// Cuts the folder DIR/scenes (a.tif and b.tif with their synth truth tables, which the folder's
// discovery skips) into DIR/chips.h5.
dist::CutConfig two_scene_config(const fs::path& dir, int clutter_per_scene, int max_false_alarms, double pfa) {
  dist::CutConfig cfg;
  cfg.scenes = {(dir / "scenes").string()};
  cfg.truth = {dir / "scenes" / "a_targets.csv", dir / "scenes" / "b_targets.csv"};
  cfg.output = dir / "chips.h5";
  cfg.chip = kChip;
  cfg.clutter_per_scene = clutter_per_scene;
  cfg.max_false_alarms = max_false_alarms;
  cfg.cfar.pfa = pfa;
  cfg.threads = 2;
  return cfg;
}

// The same cut by this rank alone (MPI_COMM_SELF), into chips.single.h5 beside the archive.
fs::path alone_output(const dist::CutConfig& cfg) { return cfg.output.parent_path() / "chips.single.h5"; }
dist::CutSummary cut_alone(dist::CutConfig cfg) {
  cfg.output = alone_output(cfg);
  return dist::run_cut(Comm(MPI_COMM_SELF), cfg);
}

}  // namespace

TEST(CutStage, SameArchiveAtEveryRankCountAndChipsWhereTheTruthSays) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "cut_stage");
  const fs::path scenes = dir / "scenes";
  const auto float_cfg = scene_config(31, synth::ScenePixels::float32);
  const auto complex_cfg = scene_config(32, synth::ScenePixels::complex_int16);
  dist::synth_scene(comm, scenes / "a.tif", float_cfg);  // collective
  dist::synth_scene(comm, scenes / "b.tif", complex_cfg);

  dist::CutConfig cfg = two_scene_config(dir, 3, 4, 1e-4);
  cfg.target_chips = dist::TargetChips::truth;  // chips where the truth says (objects: the next test)
  const dist::CutSummary s = dist::run_cut(comm, cfg);
  EXPECT_EQ(s.scenes, 2);
  EXPECT_EQ(s.cut_scenes, 2);
  EXPECT_TRUE(s.rejects.empty());
  EXPECT_EQ(s.counts.targets, 4);
  EXPECT_EQ(s.counts.truth_clutter, 4);
  EXPECT_EQ(s.counts.background, 6);
  EXPECT_EQ(s.counts.truth_outside, 0);
  EXPECT_GT(s.counts.candidates, s.counts.candidates_near_target);  // distractors at least
  EXPECT_GE(s.counts.false_alarms, 2);
  EXPECT_LE(s.counts.false_alarms, 8);
  EXPECT_EQ(s.chips, s.counts.targets + s.counts.truth_clutter + s.counts.background + s.counts.false_alarms);
  if (!comm.is_root()) {
    comm.barrier();
    return;
  }

  // One rank alone writes the same archive.
  const dist::CutSummary one = cut_alone(cfg);
  EXPECT_EQ(one.chips, s.chips);
  const Archive a = read_archive(cfg.output), b = read_archive(alone_output(cfg));
  ASSERT_EQ(a.layout.chips, s.chips);
  EXPECT_EQ(a.layout.class_names, b.layout.class_names);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_TRUE(a.pixels == b.pixels) << "pixels differ between " << comm.size() << " rank(s) and one";
  ASSERT_EQ(a.meta.size(), b.meta.size());
  for (std::size_t k = 0; k < a.meta.size(); ++k) {
    EXPECT_EQ(a.meta[k].source_index, b.meta[k].source_index) << k;
    EXPECT_EQ(a.meta[k].tile_row, b.meta[k].tile_row) << k;
    EXPECT_EQ(a.meta[k].tile_col, b.meta[k].tile_col) << k;
    EXPECT_EQ(a.meta[k].serial, b.meta[k].serial) << k;
  }

  // Classes: the truth's target classes and clutter, sorted; the first chips of each scene are
  // its targets (truth order), then its distractors, then background, then false alarms.
  const auto& names = a.layout.class_names;
  ASSERT_NE(std::find(names.begin(), names.end(), "clutter"), names.end());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  const std::size_t chip_px = static_cast<std::size_t>(kChip) * kChip;
  std::size_t k = 0;
  for (const auto& [name, sc] : {std::pair{"a.tif", float_cfg}, std::pair{"b.tif", complex_cfg}}) {
    const synth::ScenePlan plan = synth::plan_scene(sc);
    const io::GdalRaster raster = io::GdalRaster::open(scenes / name);
    for (const auto& t : plan.targets) {
      ASSERT_LT(k, a.meta.size());
      EXPECT_EQ(names[static_cast<std::size_t>(a.labels[k])], t.class_name) << k;
      EXPECT_EQ(a.meta[k].serial, t.serial) << k;
      // Centred on the target's pixel (synth centres pixel r on r: the nearest one), moved only
      // where the scene's border requires ...
      const int want_row = std::clamp(static_cast<int>(std::floor(t.row + 0.5)) - kChip / 2, 0, sc.height - kChip);
      const int want_col = std::clamp(static_cast<int>(std::floor(t.col + 0.5)) - kChip / 2, 0, sc.width - kChip);
      EXPECT_EQ(a.meta[k].tile_row, want_row) << k;
      EXPECT_EQ(a.meta[k].tile_col, want_col) << k;
      // ... and holding the scene's magnitudes there (complex: |z|), the target's bright peak inside.
      Image window;
      raster.read_window(want_row, want_col, kChip, kChip, window);
      const std::vector<float> chip(a.pixels.begin() + static_cast<std::ptrdiff_t>(k * chip_px),
                                    a.pixels.begin() + static_cast<std::ptrdiff_t>((k + 1) * chip_px));
      EXPECT_TRUE(chip == window.magnitude) << k;
      std::vector<float> sorted = chip;
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(sorted.size() / 2), sorted.end());
      EXPECT_GT(*std::max_element(chip.begin(), chip.end()), 8 * sorted[sorted.size() / 2]) << k;
      ++k;
    }
    for (const auto& d : plan.distractors) {
      ASSERT_LT(k, a.meta.size());
      EXPECT_EQ(names[static_cast<std::size_t>(a.labels[k])], "clutter") << k;
      EXPECT_EQ(a.meta[k].serial, synth::distractor_kind_name(d.kind)) << k;
      ++k;
    }
    // Then background and false alarms, clutter too.
    while (k < a.meta.size() && a.meta[k].source_index == a.meta[k - 1].source_index) {
      EXPECT_EQ(names[static_cast<std::size_t>(a.labels[k])], "clutter") << k;
      EXPECT_TRUE(a.meta[k].serial == "background" || a.meta[k].serial == "cfar") << a.meta[k].serial;
      ++k;
    }
  }
  EXPECT_EQ(k, a.meta.size());
  for (std::uint8_t v : a.valid) EXPECT_EQ(v, 1);
  comm.barrier();
}

// Chips on the prescreener's objects (cut's default, where detect looks): the same archive at
// every rank count; every truth object inside gets one chip, on its main object when the
// prescreener found it (the window then lies around that object, not the truth position).
TEST(CutStage, ObjectChipsAreTheSameAtEveryRankCount) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "cut_objects");
  const fs::path scenes = dir / "scenes";
  const auto float_cfg = scene_config(33, synth::ScenePixels::float32);
  dist::synth_scene(comm, scenes / "a.tif", float_cfg);
  dist::synth_scene(comm, scenes / "b.tif", scene_config(34, synth::ScenePixels::complex_int16));
  const dist::CutConfig cfg = two_scene_config(dir, 2, 3, 1e-5);
  ASSERT_EQ(cfg.target_chips, dist::TargetChips::objects);
  const dist::CutSummary s = dist::run_cut(comm, cfg);
  EXPECT_EQ(s.counts.targets, 4);  // one chip per truth object, on its object or at its position
  EXPECT_EQ(s.counts.truth_clutter, 4);
  EXPECT_GE(s.counts.object_chips, 6) << "the prescreener finds most vehicles and distractors of these scenes";
  EXPECT_LE(s.counts.targets_missed, 1);
  if (!comm.is_root()) {
    comm.barrier();
    return;
  }
  const dist::CutSummary one = cut_alone(cfg);
  EXPECT_EQ(one.counts.object_chips, s.counts.object_chips);
  const Archive a = read_archive(cfg.output), b = read_archive(alone_output(cfg));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_TRUE(a.pixels == b.pixels) << "pixels differ between " << comm.size() << " rank(s) and one";
  ASSERT_EQ(a.meta.size(), b.meta.size());
  // Vehicle chips lie near their truth (within its footprint's reach), rarely exactly on it.
  const synth::ScenePlan plan = synth::plan_scene(float_cfg);
  int moved = 0;
  for (std::size_t k = 0; k < plan.targets.size(); ++k) {
    const auto& t = plan.targets[k];
    EXPECT_EQ(a.meta[k].tile_row, b.meta[k].tile_row) << k;
    const double dr = a.meta[k].tile_row + kChip / 2 - t.row, dc = a.meta[k].tile_col + kChip / 2 - t.col;
    EXPECT_LT(std::hypot(dr, dc), 48.0) << k;
    moved += std::hypot(dr, dc) > 1.5 ? 1 : 0;
  }
  EXPECT_GT(moved, 0) << "chips on objects, not on the truth";
  comm.barrier();
}
