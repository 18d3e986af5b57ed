#pragma once
// Detections of `sarscale detect`, one record per candidate that survived prescreening, written
// through OGR (docs/detection.md, "Outputs"):
//  * detections.csv: every record, every field below (OGR's CSV driver), the file the scoring of
//    `evaluate --detections` reads back;
//  * detections.geojson: RFC 7946 points in lon/lat (WGS 84) with the same properties, for the
//    records of georeferenced scenes (QGIS shows it over the scene; `ogrinfo` reads it).
// Rows are in scene order, then by id.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace sarscale::io {

struct Detection {
  std::string scene;     // the scene's path as given to detect
  std::int64_t id = 0;   // 1, 2, ... within its scene, in candidate order (peak position, row-major)
  // Where: the candidate's pixel box (inclusive), intensity-weighted centroid (pixel centres at
  // r + 0.5), pixel count, and its position on the map (scene CRS) and in lon/lat when the scene
  // is georeferenced (NaN otherwise).
  std::int64_t row_min = 0, col_min = 0, row_max = 0, col_max = 0;
  double row = 0, col = 0;
  std::int64_t area = 0;
  double map_x = std::numeric_limits<double>::quiet_NaN();
  double map_y = std::numeric_limits<double>::quiet_NaN();
  double lon = std::numeric_limits<double>::quiet_NaN();
  double lat = std::numeric_limits<double>::quiet_NaN();
  // Prescreen: peak intensity, contrast over the background in dB, largest CFAR margin in dB,
  // and the log10 false-alarm probability of its most significant pixel (a stricter Pfa than
  // 10^log10_pfa would have missed it: ROC points from one run).
  double peak = 0, contrast_db = 0, score_db = 0, log10_pfa = 0;
  // Discrimination and classification: the class the model gives the chip around it (its
  // probability, or with a model without probabilities the share of one-vs-one votes), the
  // probability of the clutter class (NaN when the model has none), and the verdict.
  std::string class_name;
  double probability = std::numeric_limits<double>::quiet_NaN();
  double clutter_probability = std::numeric_limits<double>::quiet_NaN();
  bool target = true;    // false: discriminated as clutter
  std::string reason;    // why it was not classified, when it was not ("chip leaves the scene", ...)
};

// Writes OUTPUT_DIR/detections.csv and, when any record has lon/lat, detections.geojson, each to
// a temporary name renamed into place. IoError naming the file on failure.
void write_detections(const std::filesystem::path& folder, const std::vector<Detection>& detections);

// Reads detections.csv (a file, or the folder detect wrote). InputError naming the file and line.
std::vector<Detection> read_detections(const std::filesystem::path& path);

}  // namespace sarscale::io
