// Ship detection, principal axes, ship statistics and axis-aligned thumbnails (definitions in
// ship.hpp). Arithmetic in double; each chip is computed by one thread with its own scratch.
#include "sarscale/features/ship.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "sarscale/core/error.hpp"
#include "sarscale/features/preprocess.hpp"

namespace sarscale::features {

namespace {

bool has_data(float v) { return std::isfinite(v) && v > 0.0f; }

// log10 of a pixel with data, rounded to float: the threshold is computed from these very values,
// so a pixel equal to it compares equal whatever the rounding.
float log_value(float v) { return static_cast<float>(std::log10(static_cast<double>(v))); }

double to_db(double v, double scale, double floor) { return v > 0 ? std::max(scale * std::log10(v), floor) : floor; }

// Square dilation by `radius` pixels (separable: rows, then columns).
void dilate(const std::vector<std::uint8_t>& in, int rows, int cols, int radius, std::vector<std::uint8_t>& out,
            std::vector<std::uint8_t>& tmp) {
  out = in;
  if (radius <= 0) return;
  tmp.assign(in.size(), 0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * cols + c;
      for (int d = std::max(0, c - radius); d <= std::min(cols - 1, c + radius) && !tmp[i]; ++d)
        tmp[i] = in[static_cast<std::size_t>(r) * cols + d];
    }
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * cols + c;
      out[i] = 0;
      for (int d = std::max(0, r - radius); d <= std::min(rows - 1, r + radius) && !out[i]; ++d)
        out[i] = tmp[static_cast<std::size_t>(d) * cols + c];
    }
}

// The log10 threshold of the pixels with data (step 1 of ship.hpp).
double ship_threshold(const std::vector<float>& logs, const ShipDetectParams& p, std::vector<double>& sorted) {
  if (p.method == ShipDetectParams::Method::otsu) return otsu_threshold(logs.data(), logs.size(), 256);
  const auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  sorted.assign(logs.begin(), logs.end());
  const double med = median(sorted);
  for (double& v : sorted) v = std::abs(v - med);
  return med + p.k * 1.4826 * median(sorted);
}

// 8-connected components of `mask`, labelled 0, 1, ... in row-major order of their first pixel
// (-1 outside the mask). Returns the number of components.
int label_components(const std::vector<std::uint8_t>& mask, int rows, int cols, std::vector<std::int32_t>& label,
                     std::vector<std::uint32_t>& queue) {
  label.assign(mask.size(), -1);
  int n = 0;
  for (std::size_t seed = 0; seed < mask.size(); ++seed) {
    if (!mask[seed] || label[seed] >= 0) continue;
    queue.assign(1, static_cast<std::uint32_t>(seed));
    label[seed] = n;
    for (std::size_t q = 0; q < queue.size(); ++q) {
      const int r = static_cast<int>(queue[q] / static_cast<std::uint32_t>(cols));
      const int c = static_cast<int>(queue[q] % static_cast<std::uint32_t>(cols));
      for (int dr = -1; dr <= 1; ++dr)
        for (int dc = -1; dc <= 1; ++dc) {
          const int rr = r + dr, cc = c + dc;
          if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
          const std::size_t j = static_cast<std::size_t>(rr) * cols + cc;
          if (mask[j] && label[j] < 0) {
            label[j] = n;
            queue.push_back(static_cast<std::uint32_t>(j));
          }
        }
    }
    ++n;
  }
  return n;
}

// The candidate whose bright pixel nearest the chip centre is nearest (ties: more bright pixels,
// then the lower label).
int nearest_component(const ShipScratch& s, int rows, int cols, int components) {
  const double cr = 0.5 * (rows - 1), cc = 0.5 * (cols - 1);
  std::vector<double> best(static_cast<std::size_t>(components), std::numeric_limits<double>::infinity());
  std::vector<std::size_t> size(static_cast<std::size_t>(components), 0);
  for (std::size_t i = 0; i < s.bright.size(); ++i) {
    if (!s.bright[i]) continue;
    const auto k = static_cast<std::size_t>(s.component[i]);
    const double dr = static_cast<double>(i / static_cast<std::size_t>(cols)) - cr;
    const double dc = static_cast<double>(i % static_cast<std::size_t>(cols)) - cc;
    best[k] = std::min(best[k], dr * dr + dc * dc);
    ++size[k];
  }
  int chosen = -1;
  for (int k = 0; k < components; ++k) {
    const auto u = static_cast<std::size_t>(k);
    if (size[u] == 0) continue;
    const auto c = static_cast<std::size_t>(chosen);
    if (chosen < 0 || best[u] < best[c] || (best[u] == best[c] && size[u] > size[c])) chosen = k;
  }
  return chosen;
}

// The mean of the plane's values with data outside the ship's neighbourhood (0 when none).
double background_mean(const float* plane, const ShipRegion& region, std::size_t pixels) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < pixels; ++i)
    if (!region.near[i] && has_data(plane[i])) {
      sum += plane[i];
      ++n;
    }
  return n ? sum / static_cast<double>(n) : 0.0;
}

}  // namespace

void ShipDetectParams::validate() const {
  if (!(k >= 0 && k <= 100)) throw ConfigError("ship detection: k must be in [0, 100]");
  if (!(drop > 0 && drop <= 60)) throw ConfigError("ship detection: drop must be in (0, 60] dB");
  if (grow < 0 || grow > 16) throw ConfigError("ship detection: grow must be in [0, 16]");
}

ShipRegion detect_ship(const float* plane, int rows, int cols, const ShipDetectParams& p, ShipScratch& s) {
  const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  s.logs.clear();
  for (std::size_t i = 0; i < n; ++i)
    if (has_data(plane[i])) s.logs.push_back(log_value(plane[i]));
  if (s.logs.size() < 4)
    throw InputError("ship detection: " + std::to_string(s.logs.size()) + " pixel(s) with data (> 0), 4 needed");
  ShipRegion region;
  region.threshold = ship_threshold(s.logs, p, s.sorted);
  // Never above `drop` dB below the brightest pixel of the centre half: a patch centred on a faint
  // ship (a few dB above rough sea) still gives that ship.
  float centre_peak = -std::numeric_limits<float>::infinity();
  for (int r = rows / 4; r < rows - rows / 4; ++r)
    for (int c = cols / 4; c < cols - cols / 4; ++c)
      if (has_data(plane[static_cast<std::size_t>(r) * cols + c]))
        centre_peak = std::max(centre_peak, log_value(plane[static_cast<std::size_t>(r) * cols + c]));
  if (std::isfinite(centre_peak))  // a centre without data (all padding) sets no cap
    region.threshold = std::min(region.threshold, static_cast<double>(centre_peak) - p.drop / 10);
  s.bright.assign(n, 0);
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) {
    s.bright[i] = has_data(plane[i]) && log_value(plane[i]) > region.threshold;
    any = any || s.bright[i];
  }
  if (!any) throw InputError("ship detection: no pixel above the ship threshold");
  dilate(s.bright, rows, cols, p.grow, s.grown, s.near);
  const int components = label_components(s.grown, rows, cols, s.component, s.queue);
  const int ship = nearest_component(s, rows, cols, components);
  std::vector<std::uint8_t> mine(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    if (s.bright[i] && s.component[i] == ship) {
      region.pixels.push_back(static_cast<std::uint32_t>(i));
      mine[i] = 1;
    }
  dilate(mine, rows, cols, p.grow + 1, s.near, s.grown);
  region.near = s.near.data();
  return region;
}

ShipAxes ship_axes(const std::vector<std::uint32_t>& pixels, int cols, double sr, double sc) {
  ShipAxes a;
  const double n = static_cast<double>(pixels.size());
  for (const std::uint32_t i : pixels) {
    a.y += sr * static_cast<double>(i / static_cast<std::uint32_t>(cols));
    a.x += sc * static_cast<double>(i % static_cast<std::uint32_t>(cols));
  }
  a.y /= n;
  a.x /= n;
  double yy = 0, xx = 0, xy = 0;
  for (const std::uint32_t i : pixels) {
    const double dy = sr * static_cast<double>(i / static_cast<std::uint32_t>(cols)) - a.y;
    const double dx = sc * static_cast<double>(i % static_cast<std::uint32_t>(cols)) - a.x;
    yy += dy * dy;
    xx += dx * dx;
    xy += dy * dx;
  }
  yy /= n;
  xx /= n;
  xy /= n;
  const double mid = 0.5 * (yy + xx), half = std::sqrt(0.25 * (yy - xx) * (yy - xx) + xy * xy);
  a.l1 = mid + half;
  a.l2 = std::max(0.0, mid - half);
  if (xy != 0) {  // (l1 - xx, xy) is the eigenvector of l1 for the matrix [[yy, xy], [xy, xx]]
    const double ey = a.l1 - xx, ex = xy, norm = std::hypot(ey, ex);
    a.uy = ey / norm;
    a.ux = ex / norm;
  } else {  // axis-aligned; a round region takes the column direction
    a.uy = yy > xx ? 1 : 0;
    a.ux = yy > xx ? 0 : 1;
  }
  a.vy = a.ux;  // u turned by +90 degrees in (row, col) coordinates
  a.vx = -a.uy;
  return a;
}

// ---- ship: statistics ------------------------------------------------------------------------

void ShipParams::validate() const {
  detect.validate();
  if (!(spacing_rows > 0 && spacing_rows <= 1e4 && spacing_cols > 0 && spacing_cols <= 1e4))
    throw ConfigError("ship block: spacing must be in (0, 10000] metres");
  if (!(scale > 0 && scale <= 100)) throw ConfigError("ship block: scale must be in (0, 100]");
  if (!std::isfinite(floor)) throw ConfigError("ship block: floor must be a finite number of dB");
  if (topk < 1) throw ConfigError("ship block: topk must be at least 1");
}

const std::array<std::string_view, kShipGeometryLength>& ship_geometry_names() {
  static const std::array<std::string_view, kShipGeometryLength> names = {"area_m2", "length_m", "width_m",
                                                                          "extent_length_m", "extent_width_m"};
  return names;
}

const std::array<std::string_view, kShipPlaneLength>& ship_plane_names() {
  static const std::array<std::string_view, kShipPlaneLength> names = {"peak_db", "mean_db", "topk_db", "total_db",
                                                                       "background_db"};
  return names;
}

ShipBlock::ShipBlock(const ShipParams& params, int rows, int cols, int planes)
    : params_(params), rows_(rows), cols_(cols), planes_(planes) {
  params_.validate();
  if (rows < 2 || cols < 2 || planes < 1) throw ConfigError("ship block: needs chips of at least 2x2 and a plane");
}

void ShipBlock::compute(const float* detect, const std::vector<const float*>& planes, float* out,
                        ShipScratch& s) const {
  const ShipParams& p = params_;
  const ShipRegion region = detect_ship(detect, rows_, cols_, p.detect, s);
  const ShipAxes a = ship_axes(region.pixels, cols_, p.spacing_rows, p.spacing_cols);
  double t_lo = 1e300, t_hi = -1e300, s_lo = 1e300, s_hi = -1e300;
  for (const std::uint32_t i : region.pixels) {
    const double dy = p.spacing_rows * static_cast<double>(i / static_cast<std::uint32_t>(cols_)) - a.y;
    const double dx = p.spacing_cols * static_cast<double>(i % static_cast<std::uint32_t>(cols_)) - a.x;
    const double t = dy * a.uy + dx * a.ux, w = dy * a.vy + dx * a.vx;
    t_lo = std::min(t_lo, t);
    t_hi = std::max(t_hi, t);
    s_lo = std::min(s_lo, w);
    s_hi = std::max(s_hi, w);
  }
  // A pixel's own extent along a unit direction (d_y, d_x): its variance is that extent^2 / 12.
  const auto pixel_extent2 = [&](double dy, double dx) {
    return p.spacing_rows * p.spacing_rows * dy * dy + p.spacing_cols * p.spacing_cols * dx * dx;
  };
  const auto pixel_extent = [&](double dy, double dx) {
    return std::abs(p.spacing_rows * dy) + std::abs(p.spacing_cols * dx);
  };
  const double pixel_area = p.spacing_rows * p.spacing_cols;
  out[0] = static_cast<float>(static_cast<double>(region.pixels.size()) * pixel_area);
  out[1] = static_cast<float>(std::sqrt(12 * a.l1 + pixel_extent2(a.uy, a.ux)));
  out[2] = static_cast<float>(std::sqrt(12 * a.l2 + pixel_extent2(a.vy, a.vx)));
  out[3] = static_cast<float>(t_hi - t_lo + pixel_extent(a.uy, a.ux));
  out[4] = static_cast<float>(s_hi - s_lo + pixel_extent(a.vy, a.vx));

  const std::size_t n = region.pixels.size(), pixels = static_cast<std::size_t>(rows_) * cols_;
  const std::size_t k = std::min(n, static_cast<std::size_t>(p.topk));
  for (std::size_t j = 0; j < planes.size(); ++j) {
    s.values.clear();
    double sum = 0;
    for (const std::uint32_t i : region.pixels) {
      s.values.push_back(planes[j][i]);
      sum += planes[j][i];
    }
    std::partial_sort(s.values.begin(), s.values.begin() + static_cast<std::ptrdiff_t>(k), s.values.end(),
                      std::greater<float>());
    double top = 0;
    for (std::size_t q = 0; q < k; ++q) top += s.values[q];
    float* o = out + kShipGeometryLength + j * kShipPlaneLength;
    o[0] = static_cast<float>(to_db(s.values.front(), p.scale, p.floor));
    o[1] = static_cast<float>(to_db(sum / static_cast<double>(n), p.scale, p.floor));
    o[2] = static_cast<float>(to_db(top / static_cast<double>(k), p.scale, p.floor));
    o[3] = static_cast<float>(to_db(sum * pixel_area, p.scale, p.floor));
    o[4] = static_cast<float>(to_db(background_mean(planes[j], region, pixels), p.scale, p.floor));
  }
}

// ---- ship_pixels: thumbnails along the principal axis -----------------------------------------

void ShipPixelsParams::validate() const {
  detect.validate();
  for (const int v : {out_rows, out_cols, window_rows, window_cols})
    if (v < 1 || v > 4096) throw ConfigError("ship_pixels block: sizes must be in 1..4096");
  if (!(scale > 0 && scale <= 100)) throw ConfigError("ship_pixels block: scale must be in (0, 100]");
  if (!std::isfinite(floor)) throw ConfigError("ship_pixels block: floor must be a finite number of dB");
}

ShipPixelsBlock::ShipPixelsBlock(const ShipPixelsParams& params, int rows, int cols, int planes)
    : params_(params), rows_(rows), cols_(cols), planes_(planes) {
  params_.validate();
  if (rows < 2 || cols < 2 || planes < 1)
    throw ConfigError("ship_pixels block: needs chips of at least 2x2 and a plane");
}

void ShipPixelsBlock::compute(const float* detect, const std::vector<const float*>& planes, float* out,
                              ShipScratch& s) const {
  const ShipPixelsParams& p = params_;
  const ShipRegion region = detect_ship(detect, rows_, cols_, p.detect, s);
  ShipAxes a = ship_axes(region.pixels, cols_, 1.0, 1.0);
  // Canonical directions: the brighter end along +u, the brighter side along +v.
  double along = 0, across = 0;
  for (const std::uint32_t i : region.pixels) {
    const double dy = static_cast<double>(i / static_cast<std::uint32_t>(cols_)) - a.y;
    const double dx = static_cast<double>(i % static_cast<std::uint32_t>(cols_)) - a.x;
    along += detect[i] * (dy * a.uy + dx * a.ux);
    across += detect[i] * (dy * a.vy + dx * a.vx);
  }
  if (along < 0) {
    a.uy = -a.uy;
    a.ux = -a.ux;
  }
  if (across < 0) {
    a.vy = -a.vy;
    a.vx = -a.vx;
  }
  const int sub_r = (p.window_rows + p.out_rows - 1) / p.out_rows;
  const int sub_c = (p.window_cols + p.out_cols - 1) / p.out_cols;
  const double cell_r = static_cast<double>(p.window_rows) / p.out_rows;
  const double cell_c = static_cast<double>(p.window_cols) / p.out_cols;
  const std::size_t pixels = static_cast<std::size_t>(rows_) * cols_;
  for (std::size_t j = 0; j < planes.size(); ++j) {
    const float* plane = planes[j];
    const double fill = background_mean(plane, region, pixels);
    const auto value = [&](int r, int c) {
      if (r < 0 || r >= rows_ || c < 0 || c >= cols_) return fill;
      const float v = plane[static_cast<std::size_t>(r) * cols_ + c];
      return has_data(v) ? static_cast<double>(v) : fill;
    };
    float* o = out + j * per_plane();
    for (int i = 0; i < p.out_rows; ++i)
      for (int q = 0; q < p.out_cols; ++q) {
        double sum = 0;
        for (int si = 0; si < sub_r; ++si)
          for (int sq = 0; sq < sub_c; ++sq) {
            const double w = -0.5 * p.window_rows + cell_r * (i + (si + 0.5) / sub_r);  // across (v)
            const double t = -0.5 * p.window_cols + cell_c * (q + (sq + 0.5) / sub_c);  // along (u)
            const double r = a.y + t * a.uy + w * a.vy, c = a.x + t * a.ux + w * a.vx;
            const int r0 = static_cast<int>(std::floor(r)), c0 = static_cast<int>(std::floor(c));
            const double fr = r - r0, fc = c - c0;
            sum += (1 - fr) * ((1 - fc) * value(r0, c0) + fc * value(r0, c0 + 1)) +
                   fr * ((1 - fc) * value(r0 + 1, c0) + fc * value(r0 + 1, c0 + 1));
          }
        const double mean = sum / (sub_r * sub_c);
        o[static_cast<std::size_t>(i) * p.out_cols + q] =
            static_cast<float>(p.db ? to_db(mean, p.scale, p.floor) : mean);
      }
  }
}

}  // namespace sarscale::features
