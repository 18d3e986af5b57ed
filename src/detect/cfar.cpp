#include "sarscale/detect/cfar.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>

#include "cfar_kernels.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/detect/cfar_stats.hpp"

namespace sarscale::detect {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw ConfigError("CFAR: " + what);
}

void check_params(const CfarParams& p) {
  require(p.guard >= 0, "guard must be >= 0 pixels");
  require(p.background >= 1, "the background ring must be at least 1 pixel wide");
  require(p.guard + p.background <= 1000, "guard + background must be at most 1000 pixels (the exact sums' bound)");
  require(p.pfa > 0 && p.pfa < 0.5, "the false-alarm probability must lie in (0, 0.5)");
  require(std::isfinite(p.looks) && p.looks >= 0.5 && p.looks <= 1000, "the number of looks must lie in [0.5, 1000]");
  require(p.os_rank > 0 && p.os_rank <= 1, "the order-statistic rank must lie in (0, 1]");
  require(p.db_floor > 0, "the dB floor must be positive");
  if (p.method == CfarMethod::order_statistic) {
    require(p.model == ClutterModel::gamma && p.looks == 1,
            "order-statistic CFAR has an exact false-alarm formula for single-look (exponential) intensity "
            "only (Rohling 1983): use looks = 1, or cell averaging for multi-look or Gaussian-in-dB clutter");
  }
}

bool inside(const Rect& inner, const Rect& outer) {
  return inner.row0 >= outer.row0 && inner.col0 >= outer.col0 && inner.row0 + inner.rows <= outer.row0 + outer.rows &&
         inner.col0 + inner.cols <= outer.col0 + outer.cols;
}

void check_geometry(const SceneWindow& w, const Rect& core, int halo) {
  require(w.scene_rows > 0 && w.scene_cols > 0, "the scene is empty");
  require(w.data != nullptr && w.rows > 0 && w.cols > 0 && w.stride >= w.cols, "the window holds no pixels");
  const Rect scene{0, 0, w.scene_rows, w.scene_cols}, window{w.origin_row, w.origin_col, w.rows, w.cols};
  require(inside(window, scene), "the window reaches outside the scene");
  require(core.rows >= 0 && core.cols >= 0 && inside(core, scene), "the core reaches outside the scene");
  require(inside(tile_window(core, halo, w.scene_rows, w.scene_cols), window),
          "the window does not hold the core's halo of " + std::to_string(halo) + " pixels");
}

}  // namespace

Cfar::Cfar(const CfarParams& params) : params_(params) {
  check_params(params_);
  const int side = 2 * halo() + 1, guard_side = 2 * params_.guard + 1;
  full_ring_ = side * side - guard_side * guard_side;
  min_cells_ = params_.min_cells < 0 ? std::max(2, full_ring_ / 8) : params_.min_cells;
  require(min_cells_ >= 1 && min_cells_ <= full_ring_, "min_cells must lie in 1..the ring's " + std::to_string(full_ring_) + " cells");
  require(params_.model != ClutterModel::gaussian_db || min_cells_ >= 2, "Gaussian-in-dB CFAR needs min_cells >= 2");
  factors_.assign(static_cast<std::size_t>(full_ring_) + 1, std::numeric_limits<double>::quiet_NaN());
  for (int n = min_cells_; n <= full_ring_; ++n) {
    double& f = factors_[static_cast<std::size_t>(n)];
    if (params_.model == ClutterModel::gaussian_db) f = gaussian_db_factor(params_.pfa, n);
    else if (params_.method == CfarMethod::cell_averaging) f = ca_gamma_factor(params_.pfa, n, params_.looks);
    else f = os_exponential_factor(params_.pfa, n, std::clamp(static_cast<int>(std::ceil(params_.os_rank * n)), 1, n));
  }
}

double Cfar::log10_pfa(double factor, int cells) const {
  const double ln10 = std::log(10.0);
  if (params_.model == ClutterModel::gaussian_db) return std::log10(gaussian_db_pfa(factor, cells));
  if (params_.method == CfarMethod::cell_averaging) {
    if (params_.looks == 1) return -cells * std::log1p(factor) / ln10;  // (1 + T)^-N, in logs
    return std::log10(ca_gamma_pfa(factor, cells, params_.looks));
  }
  const int rank = std::clamp(static_cast<int>(std::ceil(params_.os_rank * cells)), 1, cells);
  double log_pfa = 0;  // Rohling's product, in logs
  for (int i = 0; i < rank; ++i) log_pfa -= std::log1p(factor / (cells - i));
  return log_pfa / ln10;
}

CfarTile Cfar::run(const SceneWindow& window, const Rect& core, int threads, CfarOutputs outputs) const {
  check_geometry(window, core, halo());
  CfarTile tile;
  tile.core = core;
  tile.scene_rows = window.scene_rows;
  tile.scene_cols = window.scene_cols;
  const auto pixels = static_cast<std::size_t>(core.rows * core.cols);
  if (outputs.flags) tile.flags.assign(pixels, 0);
  if (outputs.scores) tile.scores.assign(pixels, std::numeric_limits<double>::quiet_NaN());
  // Blocks of contiguous rows, one per thread; exact sums make the split invisible in the result.
  const int blocks = static_cast<int>(std::clamp<std::int64_t>(threads, 1, std::max<std::int64_t>(1, core.rows)));
  std::vector<detail::BlockOutput> out(static_cast<std::size_t>(blocks));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(blocks));
  // threads: the caller's count (the detect stage passes its per-rank share of the node's cores).
#pragma omp parallel for schedule(static, 1) num_threads(blocks)
  for (int b = 0; b < blocks; ++b) {
    try {
      detail::BlockOutput& o = out[static_cast<std::size_t>(b)];
      o.flags = outputs.flags ? tile.flags.data() : nullptr;
      o.scores = outputs.scores ? tile.scores.data() : nullptr;
      const std::int64_t r0 = core.row0 + core.rows * b / blocks, r1 = core.row0 + core.rows * (b + 1) / blocks;
      if (params_.method == CfarMethod::cell_averaging) detail::ca_block(*this, window, core, r0, r1, o);
      else detail::os_block(*this, window, core, r0, r1, o);
    } catch (...) {
      errors[static_cast<std::size_t>(b)] = std::current_exception();
    }
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  std::size_t total = 0;
  for (const auto& o : out) total += o.detections.size();
  tile.detections.reserve(total);
  for (auto& o : out) {
    tile.detections.insert(tile.detections.end(), o.detections.begin(), o.detections.end());
    tile.tested += o.tested;
  }
  return tile;
}

Rect tile_window(const Rect& core, int halo, std::int64_t scene_rows, std::int64_t scene_cols) {
  const std::int64_t r0 = std::max<std::int64_t>(0, core.row0 - halo), c0 = std::max<std::int64_t>(0, core.col0 - halo);
  const std::int64_t r1 = std::min(scene_rows, core.row0 + core.rows + halo);
  const std::int64_t c1 = std::min(scene_cols, core.col0 + core.cols + halo);
  return {r0, c0, std::max<std::int64_t>(0, r1 - r0), std::max<std::int64_t>(0, c1 - c0)};
}

int metres_to_pixels(double metres, const std::array<double, 6>& gt, double metres_per_unit) {
  if (!(metres >= 0) || !(metres_per_unit > 0)) throw ConfigError("CFAR: a window size in metres must be >= 0");
  const double along_x = std::hypot(gt[1], gt[4]) * metres_per_unit;
  const double along_y = std::hypot(gt[2], gt[5]) * metres_per_unit;
  if (!(along_x > 0) || !(along_y > 0))
    throw InputError("CFAR: the geotransform has a zero pixel size; give window sizes in pixels");
  return static_cast<int>(std::ceil(metres / std::min(along_x, along_y) - 1e-9));
}

}  // namespace sarscale::detect
