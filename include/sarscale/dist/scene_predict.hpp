#pragma once
// `predict --scene`: sliding-window classification of a whole scene (anything GDAL reads) into
// a GeoTIFF class map, read and classified block-wise: no rank ever holds the whole scene, and
// rank 0 never holds the whole map.
//
// The grid. One map pixel ("cell") per stride x stride block of scene pixels: cell (r, c) covers
// scene rows [r*s, r*s+s) and columns [c*s, c*s+s); the map has ceil(rows/s) x ceil(cols/s)
// cells. The class of a cell comes from the window of window_rows x window_cols pixels centred
// on the cell's centre (top row r*s + floor((s - window_rows) / 2); with s equal to the window,
// the windows inside the scene are exactly ingest's tiles). A window cut from the scene is centre-cropped or
// zero-padded to the chip size of the model's chain, as ingest does with --tile-size; by default
// the window is that chip size (the size the model was trained on: the chain records it).
//
// No-data cells (class 255, confidence 255), counted apart: the window leaves the scene
// ("outside"), the window holds a pixel that is NaN, infinite or the band's GDAL no-data value
// ("missing_pixels"; found in O(1) per window from a summed-area table of the strip), or the
// chain finds the window unusable, e.g. constant ("unusable").
//
// The map (GeoTIFF, 2 Byte bands, tiled, DEFLATE):
//   band 1 "class": the class index (the model's class names), a colour table with a distinct
//     colour per class, metadata CLASS_<k>=<name>; 255 is both bands' NoData value (QGIS draws
//     it transparent; a TIFF palette itself has no alpha);
//   band 2 "confidence": 0..100 percent; with a probability model (train --probability) the
//     probability of the chosen class, else the share of the chosen class's k-1 one-vs-one
//     machines that voted for it;
//   georeferencing: the scene's geotransform with its pixel size scaled by the stride (same
//     origin), its projection; so the map overlays the scene in QGIS. A scene without a
//     geotransform (GCP-only products) gives a map without one (warned);
//   dataset metadata: scene, band, calibration, model path and fingerprint, chain, window,
//     stride, confidence kind, command line, CLASS_<k>=<name>.
//
// Work split, identical output for any rank and thread count:
//   * strips of block_rows map rows (window_rows + (block_rows-1)*stride scene rows each) are
//     dealt round-robin: strip j to rank j mod P. Round-robin rather than
//     contiguous ranges so that the strips of one round are consecutive: rank 0 gathers one
//     round (P small strips of bytes) and writes them in map order, as the scene synthesiser
//     does; it also spreads costly regions (land) and cheap ones (no-data borders) over ranks;
//   * in a strip, the classifiable cells are classified in batches of a fixed number of
//     windows in cell order: chain (FeatureChain::compute_batch, OpenMP over windows), PCA,
//     svm::predict (OpenMP over row blocks). The batches depend on the scene, the strip height
//     and the model only, never on the rank count, so the map is byte-identical at any P.
//   * threads per rank: `threads` for the chain and the SVM, else omp_get_max_threads()
//     (OMP_NUM_THREADS, or the cores per rank set by app/commands.cpp; the PCA projection
//     always uses that default). Exceptions never leave a parallel region (the library
//     calls carry them out); a rank's failure is agreed on each round, so all ranks throw.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::dist {

struct ScenePredictConfig {
  std::filesystem::path scene;   // anything GdalRaster::open accepts
  std::filesystem::path model;   // a model trained on a feature file (it carries the chain)
  std::filesystem::path output;  // the GeoTIFF map
  bool overwrite = false;        // the output policy (io/output_policy.hpp): replace another kind of file
  int window_rows = 0;           // 0: the chain's chip size
  int window_cols = 0;
  int stride = 0;  // 0: a quarter of the window's smaller side (at least 1)
  int band = 1;
  io::Calibration calibration = io::Calibration::none;
  int threads = 0;  // OpenMP threads per rank (0: omp_get_max_threads())
  // Map rows per strip. 0: about 64 strips, each at least window/stride map rows and at most
  // ~32 MiB of scene pixels (a strip reads window_rows + (block_rows - 1) * stride scene rows).
  int block_rows = 0;
  std::string command_line;
};

// Map geometry (pure): see the header comment.
struct SceneGrid {
  int scene_rows = 0, scene_cols = 0;
  int window_rows = 0, window_cols = 0;
  int stride = 1;

  int map_rows() const { return (scene_rows + stride - 1) / stride; }
  int map_cols() const { return (scene_cols + stride - 1) / stride; }
  int window_row0(int cell_row) const;  // scene row of the window's top (may be < 0)
  int window_col0(int cell_col) const;
  bool window_inside(int cell_row, int cell_col) const;
};

inline constexpr std::uint8_t kMapNoData = 255;

struct ScenePredictSummary {
  std::filesystem::path output;
  int scene_rows = 0, scene_cols = 0, map_rows = 0, map_cols = 0;
  int window_rows = 0, window_cols = 0, stride = 0;
  std::int64_t cells = 0;                                       // map_rows * map_cols
  std::int64_t classified = 0;                                  // cells with a class
  std::int64_t outside = 0;                                     // no-data: window leaves the scene
  std::int64_t missing_pixels = 0;                              // no-data: NaN/Inf/no-data value in the window
  std::int64_t unusable = 0;                                    // no-data: the chain refused the window
  std::vector<std::pair<std::string, std::int64_t>> per_class;  // every model class, in index order
  bool probabilities = false;                                   // confidence is a probability (else a vote share)
  int strips = 0;
  int threads = 0;
  double seconds = 0;

  std::int64_t nodata() const { return outside + missing_pixels + unusable; }
  json::Value to_json() const;
};

// Collective. ConfigError for bad options (window larger than the scene, a model without a
// feature chain or class names, output = scene), InputError for an unreadable scene or model,
// IoError when the map cannot be written (no partial map is left behind).
ScenePredictSummary run_predict_scene(const Comm& comm, const ScenePredictConfig& config);

}  // namespace sarscale::dist
