#pragma once
// Ground truth of scenes: where the targets (and known clutter objects) are, for scoring
// detections (`evaluate --scene`) and for cutting training chips from scenes (`sarscale cut`).
//
// Formats (docs/detection.md, "Ground truth"):
//  * CSV with a header line (a file named .csv, or whose first line has row and col columns),
//    parsed here line by line so that a bad line is named by its number (OGR's CSV driver
//    numbers records, not lines, and fills short records with nulls). Positions in scene
//    pixels: columns `row` and `col` (the object's centre); optional `class` (default
//    "target"), `kind` ("target" or "clutter"; default target, and class "clutter" means kind
//    clutter), `scene` (the scene's file name or stem the row belongs to, for a truth file
//    covering several scenes), `detail` (else `serial`), and a footprint `box_row0, box_col0,
//    box_rows, box_cols`. synth's `<scene>_targets.csv` is such a file: its vehicles are
//    targets, its distractors (bright points, corners, edges, tree lines) rows of kind clutter
//    whose `serial` column names the distractor. It is recognised by its first columns
//    (index,class_index,class,serial,row,col,azimuth_deg): synth centres pixel r on r, so its
//    row/col get + 0.5 to follow the convention below.
//  * GeoJSON (or any vector format OGR reads, one layer with a CRS) of points or polygons (a polygon stands for its
//    centroid and its envelope as footprint) in any CRS GDAL knows (GeoJSON: lon/lat), with the
//    same optional properties; their positions are placed on a scene by locate_truth().
#include <array>
#include <cstddef>
#include <filesystem>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

struct TruthObject {
  std::size_t line = 0;    // CSV line (1: the header) or vector feature number, for messages
  std::string scene;       // the scene it belongs to ("" : whichever scene the file is given with)
  std::string class_name;  // a target class, or "clutter"
  std::string detail;      // synth: the serial, or the distractor's kind ("point", "corner", ...)
  bool target = true;      // false: a known clutter object (must not be detected as a target)
  // Centre in scene pixels (row, col; pixel (r, c) covers [r, r+1) x [c, c+1), so a pixel's
  // centre is r + 0.5); NaN until known (vector truth before locate_truth()).
  double row = std::numeric_limits<double>::quiet_NaN();
  double col = std::numeric_limits<double>::quiet_NaN();
  // Position in the file's CRS when the file is a vector layer (x = lon, y = lat for GeoJSON).
  double x = std::numeric_limits<double>::quiet_NaN();
  double y = std::numeric_limits<double>::quiet_NaN();
  std::string crs_wkt;  // of x, y ("" for pixel positions)
  // A polygon's envelope in the file's CRS (x_min, y_min, x_max, y_max; NaN for points and pixel
  // truth): locate_truth() turns it into the pixel footprint.
  std::array<double, 4> map_envelope{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(),
                                     std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  // Footprint in scene pixels when known (rows = 0: unknown).
  std::int64_t box_row0 = 0, box_col0 = 0, box_rows = 0, box_cols = 0;
};

// Reads a truth file (format from its content: CSV or anything OGR opens). Throws InputError
// naming the file and the line or feature of the first problem (a missing column, a value that
// is not a number, a geometry that is neither point nor polygon).
std::vector<TruthObject> read_truth(const std::filesystem::path& path);

// Objects of `scene` (matched on `scene` by file name or stem; objects with no scene belong to
// every scene).
std::vector<TruthObject> truth_for_scene(const std::vector<TruthObject>& truth, const std::filesystem::path& scene);

// Places vector truth on a scene: row/col from x/y through the scene's CRS and inverse
// geotransform. Objects already in pixels are left as they are. Throws InputError when an
// object has map coordinates and the scene has no georeferencing.
void locate_truth(std::vector<TruthObject>& truth, const std::optional<Georef>& scene_georef);

}  // namespace sarscale::io
