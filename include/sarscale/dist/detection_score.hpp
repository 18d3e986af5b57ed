#pragma once
// `sarscale evaluate --detections`: the detections of `sarscale detect` scored against ground
// truth (detect/score.hpp has the definitions), scene by scene and in total. Small work done by
// rank 0 (the other ranks wait for its verdict); writes REPORT/scene_report.json and
// REPORT/roc.csv (docs/detection.md, "Scoring").
//
// Scenes: those of the detections file, in its order, then the --scene files no detection
// names, then the scenes the truth names that are neither (all their targets missed). Truth
// objects without a scene belong to every scene, except in a file named <stem>_targets.csv
// (synth's), whose objects belong to the scene of that stem.
// Each scene file is opened (GDAL) for its size and georeferencing: the area behind the per-km^2
// figures (from the geotransform and CRS, else rows x cols x --pixel-area-m2, else unknown and
// said so), a match radius given in metres, and the placement of vector truth (lon/lat). A scene
// whose vector truth cannot be placed, or whose radius in metres cannot be converted, is
// rejected with its reason and left out of the totals; the report lists it.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/detect/score.hpp"
#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

struct DetectionScoreConfig {
  std::filesystem::path detections;         // detections.csv, or the folder detect wrote it in
  std::vector<std::filesystem::path> truth;  // truth files (io/truth_file.hpp)
  std::vector<std::filesystem::path> scenes;  // scenes to score besides those of the detections
  std::filesystem::path report_dir;
  detect::ScoreParams params;            // roc_log10_pfa empty: every integer over the detections' range
  std::optional<double> match_radius_m;  // instead of params.match_radius_px, per scene
  std::optional<double> pixel_area_m2;   // for scenes without georeferencing
  bool overwrite = false;
  std::string command_line;
};

struct RejectedScene {
  std::string scene;
  std::string reason;
};

struct DetectionScoreSummary {
  detect::ScoreReport report;
  std::vector<RejectedScene> rejected;
  std::vector<std::string> warnings;
  std::filesystem::path report_json;
  std::filesystem::path roc_csv;

  // The last stdout line: the total's headline figures, counts and the files written.
  json::Value to_json() const;
};

// Collective. ConfigError for bad options; InputError for a detections or truth file that does
// not parse (naming its line). The summary is complete on rank 0.
DetectionScoreSummary run_detection_score(const Comm& comm, const DetectionScoreConfig& config);

}  // namespace sarscale::dist
