#pragma once
// Constant false-alarm rate (CFAR) prescreening of a SAR intensity scene, tile by tile.
//
// Each pixel under test (PUT) is compared with the clutter of its background ring: the square of
// Chebyshev radius guard + background around it minus the square of radius guard (the guard cells
// keep the target's own pixels out of the estimate). Variants (docs/detection.md):
//   cell averaging (CA), gamma clutter:     x > T_N * S,        S = sum of the N ring cells
//   cell averaging (CA), Gaussian in dB:    y > mean + k * std  of the ring in dB (y = 10 log10 x)
//   order statistic (OS), exponential:      x > T_N * X_(k),    X_(k) the k-th smallest ring cell
// with T_N and k from the false-alarm probability (cfar_stats.hpp).
//
// Scene-border and nodata rule: the ring is clipped to the scene and only valid pixels count
// (finite, >= 0, != nodata); N is the number of valid ring cells, and the factor is that of N.
// A PUT is tested only when it is valid and N >= min_cells; otherwise it is never a detection
// and its score is NaN. The rule only looks at scene coordinates, so a tile computed from a window
// holding its core plus a halo of guard + background pixels (clipped to the scene) gives exactly,
// bit for bit, what the whole scene gives on those pixels: CA sums are kept in 128-bit fixed point
// (each intensity rounded once to a multiple of 2^-60; each dB value to 2^-40), which makes them
// exact and independent of where a window starts, whichever tile or thread computes them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sarscale::detect {

// A rectangle of scene pixels: rows [row0, row0 + rows), cols [col0, col0 + cols).
struct Rect {
  std::int64_t row0 = 0;
  std::int64_t col0 = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

// A window of a float32 intensity scene held in memory: scene pixel (r, c) for r in
// [origin_row, origin_row + rows) etc. is data[(r - origin_row) * stride + (c - origin_col)].
struct SceneWindow {
  const float* data = nullptr;
  std::int64_t origin_row = 0;
  std::int64_t origin_col = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t stride = 0;  // elements between rows (>= cols)
  std::int64_t scene_rows = 0;
  std::int64_t scene_cols = 0;
};

enum class CfarMethod { cell_averaging, order_statistic };
enum class ClutterModel { gamma, gaussian_db };

struct CfarParams {
  CfarMethod method = CfarMethod::cell_averaging;
  ClutterModel model = ClutterModel::gamma;
  int guard = 4;        // guard radius in pixels (the PUT alone: 0)
  int background = 8;   // width of the background ring outside the guard square, pixels (>= 1)
  double pfa = 1e-6;    // false-alarm probability per tested pixel under the clutter model
  double looks = 1;     // gamma: number of looks L (equivalent number of looks, may be fractional)
  double os_rank = 0.75;  // OS: k = ceil(os_rank * N)
  int min_cells = -1;   // fewest valid ring cells a PUT needs (-1: 1/8 of the full ring, at least 2)
  float nodata = std::numeric_limits<float>::quiet_NaN();  // a value meaning "no data" (NaN: none)
  float db_floor = 1e-10f;  // gaussian_db: intensities below it count as it (10 log10 0 is -inf)
};

// Largest intensity the CA sums can hold exactly (2^44, about 1.8e13); larger pixels are refused.
inline constexpr double kMaxIntensity = 17592186044416.0;

// One detected pixel, in scene coordinates.
struct CfarDetection {
  std::int64_t row = 0;
  std::int64_t col = 0;
  float value = 0;         // the PUT's intensity
  int cells = 0;           // valid background cells N
  double background = 0;   // clutter level in intensity: the ring's mean (CA gamma), its geometric
                           // mean 10^(mean dB / 10) (CA gaussian_db), X_(k) (OS)
  double threshold = 0;    // in intensity
  double score = 0;        // dB above the threshold: 10 log10(x / threshold) (>= 0 for detections)
  // log10 of the false-alarm probability whose threshold this pixel would lie exactly on: it is a
  // detection at every Pfa above that, so one run at the loosest Pfa gives the detections of any
  // stricter one (ROC points in one pass). -inf when the probability underflows a double.
  double log10_pfa = 0;
};

// Which dense per-pixel outputs to fill (the detection list is always filled).
struct CfarOutputs {
  bool flags = false;   // one byte per core pixel: 1 detected, 0 not
  bool scores = false;  // score per core pixel (NaN where untested; may be <= 0)
};

// The result for one tile's core.
struct CfarTile {
  Rect core;
  std::int64_t scene_rows = 0;
  std::int64_t scene_cols = 0;
  std::vector<CfarDetection> detections;  // row-major order
  std::vector<std::uint8_t> flags;        // core.rows x core.cols, when asked for
  std::vector<double> scores;             // core.rows x core.cols, when asked for
  std::int64_t tested = 0;                // PUTs that were tested (valid, enough ring cells)
};

// The prescreener: validated parameters and the threshold factor for every ring size, computed
// once and shared by every tile (and every thread: run() is const).
class Cfar {
 public:
  explicit Cfar(const CfarParams& params);  // throws ConfigError naming the bad parameter

  // Pixels a tile's window must extend beyond its core on every side (where the scene has them).
  int halo() const { return params_.guard + params_.background; }
  int min_cells() const { return min_cells_; }
  int full_ring() const { return full_ring_; }  // ring cells of a pixel far from borders and holes
  const CfarParams& params() const { return params_; }
  // Threshold factor for N valid ring cells, 0 <= N <= the full ring (T_N for gamma/OS, k for
  // gaussian_db); meaningful for N >= min_cells().
  double factor(int cells) const { return factors_[static_cast<std::size_t>(cells)]; }
  // log10 of the false-alarm probability of the test with threshold factor `factor` and N cells
  // (the inverse of factor(): log10_pfa(factor(N), N) = log10(pfa)).
  double log10_pfa(double factor, int cells) const;

  // Runs over `core` (scene coordinates), which must lie in the scene and in `window`, and the
  // window must hold every scene pixel within halo() of the core. `threads` OpenMP threads split
  // the core's rows; the result does not depend on their number. Throws InputError for a pixel
  // above kMaxIntensity (its position and value in the message), ConfigError for bad geometry.
  CfarTile run(const SceneWindow& window, const Rect& core, int threads, CfarOutputs outputs = {}) const;

 private:
  CfarParams params_;
  int min_cells_ = 2;
  int full_ring_ = 0;
  std::vector<double> factors_;  // index: N (0..full_ring_)
};

// The window (core grown by `halo` on every side, clipped to the scene) a tile needs.
Rect tile_window(const Rect& core, int halo, std::int64_t scene_rows, std::int64_t scene_cols);

// A ring size in metres as pixels: ceil(metres / spacing) with spacing the finer of the two pixel
// sizes of a GDAL geotransform (so the ring spans at least `metres` along both axes).
// metres_per_unit converts the geotransform's linear unit (1 for a projected CRS in metres).
// Throws InputError for a geotransform with zero pixel size.
int metres_to_pixels(double metres, const std::array<double, 6>& geotransform, double metres_per_unit = 1.0);

}  // namespace sarscale::detect
