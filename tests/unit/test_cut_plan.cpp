// Where `sarscale cut` puts the chips of one scene: truth targets then truth clutter, random
// background clear of the targets (deterministic from the seed and the scene's name), the
// prescreener's false alarms away from targets, windows kept inside the scene.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/cut_stage.hpp"

using namespace sarscale;
using dist::ChipCut;
using dist::ChipOrigin;

namespace {

io::TruthObject object(double row, double col, const std::string& cls, bool target, const std::string& detail = "") {
  io::TruthObject o;
  o.row = row;
  o.col = col;
  o.class_name = cls;
  o.target = target;
  o.detail = detail;
  return o;
}

// A flat scene (intensity 1) with bright squares at the given pixels.
struct FlatScene {
  std::int64_t rows, cols;
  std::vector<std::pair<std::int64_t, std::int64_t>> bright;
  void operator()(std::int64_t row0, std::int64_t nrows, std::vector<float>& out) const {
    out.assign(static_cast<std::size_t>(nrows * cols), 1.0f);
    for (auto [r, c] : bright)
      for (std::int64_t dr = 0; dr < 2; ++dr)
        for (std::int64_t dc = 0; dc < 2; ++dc)
          if (r + dr >= row0 && r + dr < row0 + nrows) out[static_cast<std::size_t>((r + dr - row0) * cols + c + dc)] = 1e4f;
  }
};

dist::CutConfig config() {
  dist::CutConfig c;
  c.scenes = {"x"};
  c.truth = {"t.csv"};
  c.chip = 64;
  c.clutter_per_scene = 20;
  c.max_false_alarms = 10;
  c.cfar.pfa = 1e-6;
  c.target_chips = dist::TargetChips::truth;
  return c;
}

}  // namespace

TEST(CutPlan, TruthFirstThenBackgroundThenFalseAlarms) {
  const dist::CutConfig cfg = config();
  // Targets at (100, 100) and near the top-left corner; a distractor; an object outside.
  const std::vector<io::TruthObject> truth = {object(100.7, 100.2, "tank_a", true, "4127"),
                                              object(620, 40, "clutter", false, "corner"),
                                              object(5.5, 3.5, "ifv_b", true), object(700, 90, "tank_a", true)};
  // Bright spots: one on the first target (not a false alarm), two in open clutter.
  const FlatScene scene{640, 480, {{100, 101}, {300, 300}, {500, 200}}};
  dist::ScenePlanCounts counts;
  const auto chips = dist::plan_scene_chips(cfg, "s.tif", scene.rows, scene.cols, truth, scene, counts);
  EXPECT_EQ(counts.targets, 2);
  EXPECT_EQ(counts.truth_clutter, 1);
  EXPECT_EQ(counts.truth_outside, 1);  // row 700 of 640
  EXPECT_EQ(counts.background, 20);
  EXPECT_EQ(counts.background_short, 0);
  EXPECT_EQ(counts.candidates, 3);
  EXPECT_EQ(counts.candidates_near_target, 1);
  EXPECT_EQ(counts.false_alarms, 2);
  ASSERT_EQ(chips.size(), 2u + 1u + 20u + 2u);

  // Targets in truth order, centred on their pixel; the corner one moved inside the scene.
  EXPECT_EQ(chips[0].origin, ChipOrigin::target);
  EXPECT_EQ(chips[0].class_name, "tank_a");
  EXPECT_EQ(chips[0].detail, "4127");
  EXPECT_EQ(chips[0].row0, 100 - 32);
  EXPECT_EQ(chips[0].col0, 100 - 32);
  EXPECT_EQ(chips[1].class_name, "ifv_b");
  EXPECT_EQ(chips[1].row0, 0);
  EXPECT_EQ(chips[1].col0, 0);
  EXPECT_EQ(chips[1].centre_row, 5);
  EXPECT_EQ(chips[2].origin, ChipOrigin::truth_clutter);
  EXPECT_EQ(chips[2].class_name, "clutter");
  EXPECT_EQ(chips[2].detail, "corner");
  EXPECT_EQ(chips[2].row0, 640 - 64);  // centre 620: the window ends at the last row
  for (std::size_t k = 3; k < 23; ++k) {
    const ChipCut& c = chips[k];
    EXPECT_EQ(c.origin, ChipOrigin::background);
    EXPECT_EQ(c.class_name, "clutter");
    EXPECT_GE(c.row0, 0);
    EXPECT_LE(c.row0 + 64, 640);
    EXPECT_GE(c.col0, 0);
    EXPECT_LE(c.col0 + 64, 480);
    for (const auto& t : {chips[0], chips[1]})
      EXPECT_GE(std::hypot(static_cast<double>(c.centre_row - t.centre_row),
                           static_cast<double>(c.centre_col - t.centre_col)),
                32.0);
  }
  // False alarms: the two open-clutter spots, at their chip centres (2 x 2 boxes [r, r + 1]:
  // centre r + 0.5, rounded away from zero).
  EXPECT_EQ(chips[23].origin, ChipOrigin::false_alarm);
  EXPECT_EQ(chips[23].detail, "cfar");
  std::vector<std::pair<std::int64_t, std::int64_t>> peaks = {{chips[23].centre_row, chips[23].centre_col},
                                                              {chips[24].centre_row, chips[24].centre_col}};
  std::sort(peaks.begin(), peaks.end());
  EXPECT_EQ(peaks[0], std::make_pair(std::int64_t{301}, std::int64_t{301}));
  EXPECT_EQ(peaks[1], std::make_pair(std::int64_t{501}, std::int64_t{201}));

  // Deterministic; another seed or scene name moves the background, not the truth chips.
  dist::ScenePlanCounts again_counts;
  const auto again = dist::plan_scene_chips(cfg, "s.tif", scene.rows, scene.cols, truth, scene, again_counts);
  ASSERT_EQ(again.size(), chips.size());
  for (std::size_t k = 0; k < chips.size(); ++k) {
    EXPECT_EQ(again[k].row0, chips[k].row0);
    EXPECT_EQ(again[k].col0, chips[k].col0);
  }
  dist::ScenePlanCounts other_counts;
  const auto other = dist::plan_scene_chips(cfg, "other.tif", scene.rows, scene.cols, truth, scene, other_counts);
  EXPECT_EQ(other[0].row0, chips[0].row0);
  EXPECT_NE(other[3].row0 * 1000 + other[3].col0, chips[3].row0 * 1000 + chips[3].col0);

  // A cap of one keeps the strongest (picks spread over the significance ranking start there).
  dist::CutConfig capped = cfg;
  capped.max_false_alarms = 1;
  dist::ScenePlanCounts capped_counts;
  dist::plan_scene_chips(capped, "s.tif", scene.rows, scene.cols, truth, scene, capped_counts);
  EXPECT_EQ(capped_counts.false_alarms, 1);
}

TEST(CutPlan, SmallScenesAndCrowdedBackground) {
  dist::CutConfig cfg = config();
  cfg.false_alarms = false;
  // A scene smaller than a chip: the window is centred on it (zero padding around).
  const FlatScene tiny{40, 50, {}};
  dist::ScenePlanCounts counts;
  auto chips = dist::plan_scene_chips(cfg, "t.tif", tiny.rows, tiny.cols, {object(20, 25, "tank_a", true)}, tiny, counts);
  ASSERT_FALSE(chips.empty());
  EXPECT_EQ(chips[0].row0, (40 - 64) / 2);
  EXPECT_EQ(chips[0].col0, (50 - 64) / 2);
  // No background position lies half a chip from the target: none cut, the shortfall counted.
  EXPECT_EQ(counts.background, 0);
  EXPECT_EQ(counts.background_short, 20);
  EXPECT_EQ(chips.size(), 1u);

  dist::CutConfig bad = cfg;
  bad.chip = 4;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = cfg;
  bad.cfar.pfa = 2;
  EXPECT_THROW(bad.validate(), ConfigError);
  bad = cfg;
  bad.truth.clear();
  EXPECT_THROW(bad.validate(), ConfigError);
  EXPECT_NO_THROW(cfg.validate());
}

// Chips where detect will look: on each truth object's main prescreener object (the largest
// object whose chip centre falls in its footprint), the truth position standing in when the
// prescreener found nothing there; pieces of an object are neither chips nor false alarms.
TEST(CutPlan, ObjectChipsSitWhereDetectCentresItsChips) {
  dist::CutConfig cfg = config();
  cfg.clutter_per_scene = 0;
  cfg.target_chips = dist::TargetChips::objects;
  io::TruthObject tank = object(100.7, 100.2, "tank_a", true, "4127");
  tank.box_row0 = 80, tank.box_col0 = 90, tank.box_rows = 40, tank.box_cols = 35;
  const std::vector<io::TruthObject> truth = {tank, object(5.5, 3.5, "ifv_b", true), object(620, 40, "clutter", false, "corner")};
  // On the tank: two touching spots (one object of 8 pixels, box rows 100-101, cols 110-113) and
  // a piece 14 rows below (its own object, 4 pixels); one false alarm in open clutter.
  const FlatScene scene{640, 480, {{100, 110}, {100, 112}, {115, 100}, {400, 300}}};
  dist::ScenePlanCounts counts;
  const auto chips = dist::plan_scene_chips(cfg, "s.tif", scene.rows, scene.cols, truth, scene, counts);
  EXPECT_EQ(counts.candidates, 3);
  EXPECT_EQ(counts.object_chips, 1);
  EXPECT_EQ(counts.targets_missed, 1);  // the ifv: nothing found within a quarter chip
  EXPECT_EQ(counts.targets, 2);
  EXPECT_EQ(counts.truth_clutter, 1);
  EXPECT_EQ(counts.candidates_near_target, 2);  // the main object and its piece
  EXPECT_EQ(counts.false_alarms, 1);
  ASSERT_EQ(chips.size(), 4u);
  EXPECT_EQ(chips[0].class_name, "tank_a");
  EXPECT_EQ(chips[0].centre_row, 101);  // box centre (100.5, 111.5), rounded away from zero
  EXPECT_EQ(chips[0].centre_col, 112);
  EXPECT_EQ(chips[0].row0, 101 - 32);
  EXPECT_EQ(chips[1].class_name, "ifv_b");  // the truth position stands in
  EXPECT_EQ(chips[1].centre_row, 5);
  EXPECT_EQ(chips[2].class_name, "clutter");
  EXPECT_EQ(chips[2].detail, "corner");
  EXPECT_EQ(chips[3].origin, ChipOrigin::false_alarm);
  EXPECT_EQ(chips[3].centre_row, 401);

  // Both: the truth chip, then the object chip; centroid centres as detect --chip-centre centroid.
  cfg.target_chips = dist::TargetChips::both;
  cfg.chip_on_box = false;
  dist::ScenePlanCounts both_counts;
  const auto both = dist::plan_scene_chips(cfg, "s.tif", scene.rows, scene.cols, truth, scene, both_counts);
  ASSERT_EQ(both.size(), 5u);
  EXPECT_EQ(both[0].centre_row, 100);  // truth (100.7, 100.2)
  EXPECT_EQ(both[0].centre_col, 100);
  EXPECT_EQ(both[1].centre_row, 101);  // weighted centroid (101.0, 112.0): pixel centres at index + 0.5
  EXPECT_EQ(both[1].centre_col, 112);
  EXPECT_EQ(both_counts.targets, 3);
  EXPECT_EQ(dist::parse_target_chips("objects"), dist::TargetChips::objects);
  EXPECT_THROW(dist::parse_target_chips("nearby"), ConfigError);
}
