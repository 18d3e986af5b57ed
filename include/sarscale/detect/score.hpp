#pragma once
// Scoring detections against ground truth (`sarscale evaluate --detections`): a pure library, no
// MPI, no files. docs/detection.md, "Scoring", has the definitions with a worked example.
//
// Matching. A detection (io::Detection, centre row/col with pixel r centred on r + 0.5) may
// match a truth object (io::TruthObject, located in the same pixel convention) when it lies in
// its gate: within `match_radius_px` of the object's centre, or (match_footprint) inside the
// object's footprint box when the truth has one. Detections and truth *targets* are paired one
// to one, greedily by distance: every gated pair sorted by (distance, detection order, truth
// order), a pair taken when neither side is taken yet (deterministic, ties included). Greedy is
// optimal whenever gates do not overlap, which holds for targets further apart than two radii.
//
// Counts, for a set of detections (the *declared* targets: io::Detection::target true; or the
// *prescreen*: every detection, before discrimination):
//   matched      detections paired with a truth target (= truth targets detected)
//   false alarms detections not paired with a target; among them
//     duplicates   in the gate of a target another detection was paired with (a split target)
//     on clutter   otherwise in the gate of a known clutter object (truth kind clutter)
//   pd = matched / truth targets, precision = matched / detections, false alarms per km^2 =
//   false alarms / scene area (null when the area is unknown), and per scene.
// Classification (declared, matched): accuracy and the confusion of truth class x detected class.
// Localisation: distance in pixels between a matched declared detection and its target.
//
// ROC from one run. A detection's log10_pfa is that of its most significant pixel: the pixel is
// still detected at any threshold log10(Pfa) >= log10_pfa. The ROC point of threshold t keeps
// the detections with log10_pfa <= t and matches them afresh. This approximates a run at
// Pfa = 10^t: at a stricter Pfa, a candidate keeps only its pixels above that threshold, so it
// may be smaller (its centre moves), split into several candidates, or be discriminated
// differently; here it is counted as the one object it is at the run's Pfa, with that centre and
// verdict.
//
// Many scenes: counts are summed over scenes, then the ratios are taken (not averaged per scene).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/io/detection_file.hpp"
#include "sarscale/io/truth_file.hpp"

namespace sarscale::detect {

struct ScoreParams {
  // 10 pixels: the criterion for OpenSARShip (a detection within 10 pixels of the ship's
  // centre). Large vehicles at fine resolution (synth: 0.2 m pixels, 30-50 pixel hulls) are
  // matched through their footprint instead, when the truth has one.
  double match_radius_px = 10;
  bool match_footprint = true;
  std::vector<double> roc_log10_pfa;  // ROC thresholds (sorted ascending in the report)
  void validate() const;              // ConfigError: radius not positive and finite, a NaN threshold
};

// One scene's detections and truth (truth already in pixels: io::locate_truth).
struct SceneInput {
  std::string scene;
  std::vector<io::Detection> detections;
  std::vector<io::TruthObject> truth;
  std::optional<double> area_km2;  // scene area; unknown: no per-km^2 figures
};

struct MatchCounts {
  std::int64_t detections = 0;
  std::int64_t matched = 0;
  std::int64_t false_alarms = 0;
  std::int64_t duplicates = 0;
  std::int64_t on_clutter = 0;
  MatchCounts& operator+=(const MatchCounts& o);
};

struct RocPoint {
  double log10_pfa = 0;
  MatchCounts declared;
  MatchCounts prescreen;
};

// The score of one scene, or of many summed (scenes > 1).
struct SceneScore {
  std::string scene;  // "" for a total
  std::int64_t scenes = 1;
  std::int64_t truth_targets = 0;
  std::int64_t truth_clutter = 0;
  std::optional<double> area_km2;  // total: known only when every scene's is
  MatchCounts declared;
  MatchCounts prescreen;
  std::vector<double> distances;  // matched declared detections, pixels (the total: all scenes')
  std::map<std::pair<std::string, std::string>, std::int64_t> confusion;  // (truth, detected) -> count
  std::vector<RocPoint> roc;

  json::Value to_json() const;
};

struct ScoreReport {
  ScoreParams params;
  std::vector<SceneScore> scenes;
  SceneScore total;

  json::Value to_json() const;  // {"params", "total", "scenes"}
  // One line per threshold: log10_pfa, then pd, far_per_km2, false_alarms_per_scene,
  // false_alarms, detections of the declared targets, then the same with prefix prescreen_.
  std::string roc_csv() const;
};

// Throws InputError for a truth object without pixel position or a detection whose centre is
// not finite (naming the scene and the line or id).
SceneScore score_scene(const SceneInput& input, const ScoreParams& params);
SceneScore sum_scores(const std::vector<SceneScore>& scenes);
ScoreReport score_scenes(const std::vector<SceneInput>& inputs, const ScoreParams& params);

// Ratios of counts (nullopt for 0 / 0, or without an area).
std::optional<double> ratio(std::int64_t numerator, std::int64_t denominator);

}  // namespace sarscale::detect
