// Scoring detections against truth: hand-made scenes where every figure is worked out by hand
// (the comments give the arithmetic).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "sarscale/core/error.hpp"
#include "sarscale/detect/score.hpp"

using namespace sarscale;
using detect::MatchCounts;
using detect::ScoreParams;
using detect::SceneInput;

namespace {

io::TruthObject truth(double row, double col, const std::string& cls, bool target = true) {
  io::TruthObject t;
  t.row = row, t.col = col, t.class_name = cls, t.target = target;
  return t;
}

io::Detection detection(std::int64_t id, double row, double col, bool target, const std::string& cls,
                        double log10_pfa) {
  io::Detection d;
  d.scene = "a.tif", d.id = id, d.row = row, d.col = col, d.target = target, d.class_name = cls;
  d.log10_pfa = log10_pfa;
  return d;
}

void expect_counts(const MatchCounts& c, std::int64_t detections, std::int64_t matched, std::int64_t false_alarms,
                   std::int64_t duplicates, std::int64_t on_clutter) {
  EXPECT_EQ(c.detections, detections);
  EXPECT_EQ(c.matched, matched);
  EXPECT_EQ(c.false_alarms, false_alarms);
  EXPECT_EQ(c.duplicates, duplicates);
  EXPECT_EQ(c.on_clutter, on_clutter);
}

// Scene a.tif, 2 km^2: targets T1 tank (100.5, 100.5), T2 truck (200.5, 300.5) with footprint
// rows 180..229 x cols 280..329, T3 tank (500.5, 500.5) never detected; clutter C1 (50.5, 400.5).
SceneInput scene_a() {
  SceneInput in;
  in.scene = "a.tif";
  in.area_km2 = 2.0;
  in.truth = {truth(100.5, 100.5, "tank"), truth(200.5, 300.5, "truck"), truth(500.5, 500.5, "tank"),
              truth(50.5, 400.5, "clutter", false)};
  in.truth[1].box_row0 = 180, in.truth[1].box_rows = 50, in.truth[1].box_col0 = 280, in.truth[1].box_cols = 50;
  in.detections = {
      detection(1, 103.5, 104.5, true, "tank", -9),      // T1 at 5 px
      detection(2, 101.5, 100.5, false, "clutter", -4),  // T1 at 1 px, discriminated as clutter
      detection(3, 220.5, 320.5, true, "tank", -7),      // T2 at 28.28 px, inside its footprint
      detection(4, 52.5, 400.5, true, "truck", -6),      // C1 at 2 px
      detection(5, 900.5, 900.5, true, "tank", -3),      // nothing near
      detection(6, 104.5, 97.5, true, "tank", -5),       // T1 at 5 px too: the tie goes to detection 1
  };
  return in;
}

}  // namespace

TEST(Score, OneSceneByHand) {
  ScoreParams p;
  p.roc_log10_pfa = {-4, -8, -6};
  const auto s = detect::score_scene(scene_a(), p);
  EXPECT_EQ(s.truth_targets, 3);
  EXPECT_EQ(s.truth_clutter, 1);
  // Declared 1, 3, 4, 5, 6: 1 -> T1, 3 -> T2 (footprint); 6 duplicates T1, 4 on clutter, 5 alone.
  expect_counts(s.declared, 5, 2, 3, 1, 1);
  // Every detection: 2 -> T1 first (1 px), so 1 and 6 are duplicates.
  expect_counts(s.prescreen, 6, 2, 4, 2, 1);
  ASSERT_EQ(s.distances.size(), 2u);
  EXPECT_DOUBLE_EQ(s.distances[0], 5.0);
  EXPECT_DOUBLE_EQ(s.distances[1], std::sqrt(800.0));
  ASSERT_EQ(s.confusion.size(), 2u);
  EXPECT_EQ(s.confusion.at({"tank", "tank"}), 1);
  EXPECT_EQ(s.confusion.at({"truck", "tank"}), 1);

  // ROC, thresholds sorted: at -8 only detection 1; at -6 also 3 and 4 (-6 <= -6); at -4 also 6
  // (declared) and 2 (prescreen, which takes T1 from 1: two duplicates).
  ASSERT_EQ(s.roc.size(), 3u);
  EXPECT_EQ(s.roc[0].log10_pfa, -8);
  expect_counts(s.roc[0].declared, 1, 1, 0, 0, 0);
  expect_counts(s.roc[0].prescreen, 1, 1, 0, 0, 0);
  expect_counts(s.roc[1].declared, 3, 2, 1, 0, 1);
  expect_counts(s.roc[1].prescreen, 3, 2, 1, 0, 1);
  expect_counts(s.roc[2].declared, 4, 2, 2, 1, 1);
  expect_counts(s.roc[2].prescreen, 5, 2, 3, 2, 1);

  const std::string json = s.to_json().dump();
  // pd 2/3, precision 2/5, 3 false alarms on 2 km^2; accuracy 1/2; distances 5 and 28.28.
  EXPECT_NE(json.find(R"("declared": {"detections": 5, "matched": 2, "false_alarms": 3, "duplicates": 1, "on_clutter": 1, )"
                      R"("pd": 0.6666666666666666, "precision": 0.4, "far_per_km2": 1.5, "false_alarms_per_scene": 3})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("classification": {"matched": 2, "correct": 1, "accuracy": 0.5, "classes": ["tank", "truck"], )"
                      R"("confusion": [[1, 0], [1, 0]]})"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("localisation_px": {"count": 2, "mean": 16.64213562373095, "median": 16.64213562373095, )"
                      R"("max": 28.284271247461902})"),
            std::string::npos)
      << json;
}

TEST(Score, RadiusOnlyIgnoresFootprints) {
  ScoreParams p;
  p.match_footprint = false;
  const auto s = detect::score_scene(scene_a(), p);
  expect_counts(s.declared, 5, 1, 4, 1, 1);  // detection 3 is 28 px from T2: a false alarm
  p.match_radius_px = 30;                    // T2 within 30 px; T1 still first to detection 1
  expect_counts(detect::score_scene(scene_a(), p).declared, 5, 2, 3, 1, 1);
}

TEST(Score, ScenesAreSummedBeforeRatios) {
  SceneInput b;
  b.scene = "b.tif";  // area unknown: no per-km^2 figure for the total either
  b.truth = {truth(10.5, 10.5, "truck")};
  ScoreParams p;
  p.roc_log10_pfa = {-8};
  const auto report = detect::score_scenes({scene_a(), b}, p);
  ASSERT_EQ(report.scenes.size(), 2u);
  const auto& t = report.total;
  EXPECT_EQ(t.scenes, 2);
  EXPECT_EQ(t.truth_targets, 4);
  EXPECT_FALSE(t.area_km2.has_value());
  expect_counts(t.declared, 5, 2, 3, 1, 1);
  const std::string json = report.to_json().dump();
  // pd 2/4 (not the mean of 2/3 and 0/1), 1.5 false alarms per scene, no area.
  EXPECT_NE(json.find(R"("total": {"scenes": 2, "truth_targets": 4, "truth_clutter": 1, "area_km2": null, )"
                      R"("declared": {"detections": 5, "matched": 2, "false_alarms": 3, "duplicates": 1, "on_clutter": 1, )"
                      R"("pd": 0.5, "precision": 0.4, "far_per_km2": null, "false_alarms_per_scene": 1.5})"),
            std::string::npos)
      << json;
  EXPECT_EQ(report.roc_csv(),
            "log10_pfa,pd,far_per_km2,false_alarms_per_scene,false_alarms,detections,prescreen_pd,"
            "prescreen_far_per_km2,prescreen_false_alarms_per_scene,prescreen_false_alarms,prescreen_detections\n"
            "-8,0.25,,0,0,1,0.25,,0,0,1\n");

  auto known = b;
  known.area_km2 = 3.0;
  const auto with_area = detect::score_scenes({scene_a(), known}, p);
  EXPECT_DOUBLE_EQ(*with_area.total.area_km2, 5.0);
  EXPECT_EQ(with_area.roc_csv().substr(with_area.roc_csv().find('\n') + 1), "-8,0.25,0,0,0,1,0.25,0,0,0,1\n");
}

TEST(Score, EmptyInputsGiveNullRatios) {
  const auto s = detect::score_scene(SceneInput{}, ScoreParams{});
  const std::string json = s.to_json().dump();
  EXPECT_NE(json.find(R"("pd": null, "precision": null, "far_per_km2": null, "false_alarms_per_scene": 0)"), std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("localisation_px": {"count": 0, "mean": null, "median": null, "max": null})"), std::string::npos);
}

TEST(Score, RefusesUnlocatedTruthAndBadParameters) {
  SceneInput in = scene_a();
  in.truth[2].row = std::numeric_limits<double>::quiet_NaN();
  in.truth[2].line = 7;
  try {
    detect::score_scene(in, ScoreParams{});
    ADD_FAILURE() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "a.tif: truth line 7 has no pixel position on the scene (map truth must be located first)");
  }
  ScoreParams p;
  p.match_radius_px = 0;
  EXPECT_THROW(detect::score_scene(scene_a(), p), ConfigError);
  p.match_radius_px = 10;
  p.roc_log10_pfa = {std::nan("")};
  EXPECT_THROW(detect::score_scene(scene_a(), p), ConfigError);
}
