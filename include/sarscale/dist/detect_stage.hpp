#pragma once
// `sarscale detect`: the SAR ATR chain over whole scenes (docs/detection.md):
//   prescreen (CFAR on intensity) -> candidates (connected components) -> discriminate (the model's
//   clutter class) -> classify (the model's vehicle classes) -> detections (CSV, GeoJSON),
//   a quick-look PNG per scene and a summary JSON.
//
// Work split (identical outputs at any rank and thread count):
//  * every scene is cut into tiles of tile x tile pixels (dist::plan_scene_tiles); the tile list
//    of all scenes is shared among ranks by pixel count (dist::tile_range), so a few large scenes
//    keep every rank busy and a rank holds one tile plus its CFAR halo at a time;
//  * each tile: read its window (core + halo) of one band, convert to intensity, CFAR, the tile's
//    components (detect::find_components) and a block-averaged quick-look of its core; the result
//    is appended to the rank's tile log in OUTPUT/tiles/ (resumable: a re-run reuses every tile
//    logged under the same resume key);
//  * rank 0 merges each scene's components (detect::merge_components: a target cut by tile borders
//    is one candidate, exactly as on the untiled scene), then the candidates are shared among ranks
//    (block ranges), each rank cuts a chip around each of its candidates and classifies it
//    (SceneClassifier; OpenMP inside), and rank 0 writes the outputs.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/detect/cfar.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::dist {

// What the band's pixel values are, for the CFAR's intensity (classification always takes the
// band's values as they are, as ingest would store them).
enum class PixelQuantity {
  automatic,  // intensity when calibrated (sigma0/beta0/gamma0), dB when the band says so (unit
              // or description "dB", or a "_db" token in the file name), else amplitude
  amplitude,  // |z|: intensity = value^2 (detected products, synth scenes, complex data's magnitude)
  intensity,  // already |z|^2 (calibrated sigma0, OpenSARShip patches)
  db,         // 10 log10 intensity: intensity = 10^(value / 10)
};
PixelQuantity parse_pixel_quantity(const std::string& name);  // auto|amplitude|intensity|db; ConfigError
std::string to_string(PixelQuantity quantity);

struct DetectConfig {
  std::vector<std::string> inputs;       // scenes, folders, globs (io::discover_inputs rules)
  std::filesystem::path model;           // chip model with a "clutter" class; empty with prescreen_only
  std::filesystem::path output;          // folder
  bool overwrite = false;                // the output policy: replace another kind of folder
  bool fresh = false;                    // ignore tiles logged by an earlier run
  detect::CfarParams cfar;
  double guard_m = 0, background_m = 0;  // > 0: ring sizes in metres (from each scene's geotransform)
  int band = 1;
  io::Calibration calibration = io::Calibration::none;
  PixelQuantity pixels = PixelQuantity::automatic;
  int tile = 1024;                  // tile core size in pixels
  int cluster_gap = 8;              // components whose boxes come this close are one object (-1: none)
  bool chip_on_box = false;         // chips centred on the object's box centre (else its weighted centroid)
  int search = 0;                   // also the 3 x 3 grid of chips this far apart around it (0: none)
  double suppress_radius = 24;      // declared targets this close to a more target-like one are its duplicates (0: none)
  std::int64_t min_area = 1;        // candidates with fewer pixels are dropped (counted)
  std::int64_t max_area = 0;        // and with more (0: no limit)
  bool prescreen_only = false;      // no model: candidates are the detections
  bool no_discrimination = false;   // a model without a clutter class: classify every candidate
  int quicklook_size = 1024;        // longest side of a quick-look, pixels (0: no quick-looks)
  int threads = 0;                  // OpenMP threads per rank (0: omp_get_max_threads())
  std::string command_line;
};

// The pure plan of a run: scenes' tiles, each rank's share, quick-look geometry.
struct DetectPlan {
  std::vector<std::pair<std::int64_t, std::int64_t>> sizes;  // per scene: rows, cols
  std::vector<SceneTile> tiles;
  std::vector<int> quicklook_factor;  // per scene: scene pixels per quick-look pixel (power of 2 <= tile;
                                      // 0 when quick-looks are off)
};
DetectPlan make_detect_plan(const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes, int tile,
                            int quicklook_size);

// Which rank merges each scene's tiles into its objects (the work grows with its tiles): scenes
// taken largest first (ties: the lower index), each to the rank with the fewest tiles so far
// (ties: the lower rank). Pure; the same on every rank.
std::vector<int> assign_scene_merges(const DetectPlan& plan, int ranks);

struct DetectSceneSummary {
  std::string scene;
  std::string rejected;  // reason, when the scene could not be processed
  std::int64_t rows = 0, cols = 0;
  int tiles = 0;
  std::int64_t tested = 0;            // pixels the CFAR tested
  std::int64_t candidates = 0;        // components of the prescreen (before the size limits)
  std::int64_t size_rejected = 0;     // dropped by --min-area / --max-area
  std::int64_t targets = 0;           // detections declared targets
  std::int64_t clutter = 0;           // discriminated as clutter
  std::int64_t unclassified = 0;      // the chain refused the chip
  bool georeferenced = false;         // lon/lat available
  std::string quicklook;              // path of the PNG ("" when none)
};

// Totals, mode, timing and memory on every rank; the per-scene list and rejects on rank 0.
struct DetectSummary {
  std::filesystem::path output;
  std::vector<DetectSceneSummary> scenes;
  std::vector<std::pair<std::string, std::string>> rejected;  // inputs not processed: path, reason
  std::int64_t skipped = 0;          // files found in folders that are not scenes (sidecars, ...)
  std::int64_t tiles = 0, tiles_resumed = 0;
  std::int64_t detections = 0, targets = 0;
  std::string mode;  // "discriminate+classify", "classify (no clutter class)", "prescreen only"
  int ranks = 0, threads = 0;
  // Phases (slowest rank): discovery, probing, model and resume checks; the CFAR and components
  // of the tiles; merging scenes into objects; cutting and classifying their chips; writing.
  double seconds = 0, setup_seconds = 0, prescreen_seconds = 0, merge_seconds = 0, classify_seconds = 0,
         output_seconds = 0;
  double megapixels = 0;
  double peak_rss_mb = 0;  // largest over the ranks
  json::Value to_json() const;
};

// Collective. ConfigError for bad options, InputError for an unreadable model; unreadable scenes
// are rejected with their reason (the run goes on). Writes OUTPUT/{detections.csv,
// detections.geojson, summary.json, quicklook/*.png, tiles/}.
DetectSummary run_detect(const Comm& comm, const DetectConfig& config);

}  // namespace sarscale::dist
