#pragma once
// Ship blocks: features of a ship patch (OpenSARShip, Sentinel-1) that do not depend on the
// ship's heading. Both blocks find the ship on one plane, then measure every plane they are given.
//
// The planes hold non-negative linear values (intensity or amplitude, not dB): run them with a
// preprocessing that keeps them so (e.g. only crop). Pixels <= 0 (or NaN/Inf) are no data: the
// zero padding ingest adds around patches smaller than the chip, or no-data borders. They never
// count as ship or as sea.
//
// Detection (detect_ship), on the `detect` plane:
//   1. L = log10(x) of the pixels with data; threshold T:
//        method=cfar  T = median(L) + k * 1.4826 * MAD(L) (a constant false-alarm rate detector
//                     with the sea's statistics estimated robustly from the whole patch: the ship
//                     is a small part of it);
//        method=otsu  T = Otsu's threshold of L (otsu_threshold, 256 bins);
//      but T is never above P - drop/10, P the largest L in the centre half of the chip (rows and
//      columns [n/4, n - n/4)): a patch centred on a faint ship (a few dB above rough sea, where
//      the CFAR threshold would pass over it) still gives that ship. `drop` is in dB of
//      10 log10 (intensity dB; 3 = half the peak).
//      Bright pixels: L > T.
//   2. The bright mask is dilated by `grow` pixels (square neighbourhood) so that the fragments
//      of one ship join; its 8-connected components are candidates, and the ship is the one whose
//      bright pixel nearest the chip centre is nearest (ties: more bright pixels, then the first
//      in row-major order). The region is that component's bright pixels.
//   3. "Near the ship": the region dilated by grow + 1 pixels. The sea ("background") is every
//      pixel with data outside it.
//   No bright pixel, or fewer than 4 pixels with data: InputError (the chip is flagged unusable).
//
// Principal axes: of the region's pixel coordinates, y = row * spacing_rows, x = col *
// spacing_cols (metres): centroid, covariance (population), eigenvalues l1 >= l2, unit
// eigenvectors u (major axis) and v. Lengths treat each pixel as a uniform rectangle of
// spacing_rows x spacing_cols: length = sqrt(12 * l1 + (spacing_rows*u_y)^2 + (spacing_cols*u_x)^2),
// width likewise with l2 and v (an axis-aligned bar of n pixels has length n * spacing); extents
// are max - min of the projections on u (v) plus the pixel's extent along it.
//
// ship block output, in this order (all dB values: scale * log10(value), at least `floor`; a
// value <= 0 gives `floor`):
//   geometry: area_m2 (pixels x spacing_rows x spacing_cols), length_m, width_m,
//             extent_length_m, extent_width_m
//   then per measured plane: peak_db (largest region value), mean_db (region mean), topk_db
//             (mean of the `topk` largest region values), total_db (sum over the region x the pixel
//             area: a radar cross-section estimate for sigma0 data), background_db (mean over the sea)
//
// ship_pixels block: per measured plane, an out_rows x out_cols thumbnail of a window of
// window_rows x window_cols pixels centred on the region's centroid, with its columns along the
// major axis and its rows across it (axes in pixel units, spacing ignored). The direction of each
// axis is fixed by the detect plane: the region's brighter end (sum of x * projection >= 0) along
// +u, its brighter side along +v, so a ship and its copy turned by any angle (or mirrored) give the
// same thumbnail up to interpolation. Each cell averages ceil(window/out) x ceil(window/out)
// bilinear samples (on a regular grid inside the cell); a sample's neighbours outside the chip or
// without data take the plane's background mean. With db, each cell mean becomes dB as above.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sarscale::features {

struct ShipDetectParams {
  enum class Method { cfar, otsu };
  Method method = Method::cfar;
  double k = 3;     // cfar: robust standard deviations above the median
  double drop = 3;  // dB (10 log10) below the brightest central pixel: the highest threshold allowed
  int grow = 1;     // dilation (pixels) that joins a ship's fragments

  void validate() const;  // ConfigError: k outside [0, 100], drop outside (0, 60], grow outside [0, 16]
};

// Working memory of the ship blocks, reused from chip to chip (one per thread).
struct ShipScratch {
  std::vector<float> logs;
  std::vector<double> sorted;
  std::vector<std::uint8_t> bright, grown, near;
  std::vector<std::int32_t> component;
  std::vector<std::uint32_t> queue;
  std::vector<float> values;
};

struct ShipRegion {
  std::vector<std::uint32_t> pixels;   // row-major indices of the ship's bright pixels, ascending
  const std::uint8_t* near = nullptr;  // rows*cols flags: 1 near the ship (points into the scratch)
  double threshold = 0;                // the log10 threshold T
};

// Steps 1-3 above on a rows x cols plane. InputError when there is no ship to find.
ShipRegion detect_ship(const float* plane, int rows, int cols, const ShipDetectParams& params, ShipScratch& scratch);

// The principal axes of a region (metric coordinates as above).
struct ShipAxes {
  double y = 0, x = 0;    // centroid
  double l1 = 0, l2 = 0;  // covariance eigenvalues, l1 >= l2
  double uy = 0, ux = 1;  // major axis (unit)
  double vy = 1, vx = 0;  // minor axis (unit), u turned by +90 degrees
};
ShipAxes ship_axes(const std::vector<std::uint32_t>& pixels, int cols, double spacing_rows, double spacing_cols);

struct ShipParams {
  ShipDetectParams detect;
  double spacing_rows = 1, spacing_cols = 1;  // metres per pixel of the plane the block sees
  double scale = 20;                          // dB = scale * log10: 10 for intensity, 20 for amplitude
  double floor = -100;                        // dB
  int topk = 8;

  void validate() const;  // ConfigError for spacing <= 0, scale <= 0, non-finite floor, topk < 1
};

inline constexpr std::size_t kShipGeometryLength = 5;
inline constexpr std::size_t kShipPlaneLength = 5;
const std::array<std::string_view, kShipGeometryLength>& ship_geometry_names();
const std::array<std::string_view, kShipPlaneLength>& ship_plane_names();

class ShipBlock {
 public:
  ShipBlock(const ShipParams& params, int rows, int cols, int planes);  // validates (ConfigError)
  const ShipParams& params() const { return params_; }
  std::size_t length() const { return kShipGeometryLength + kShipPlaneLength * static_cast<std::size_t>(planes_); }
  // `detect`: the plane the ship is found on; `planes`: the planes measured, in output order.
  void compute(const float* detect, const std::vector<const float*>& planes, float* out, ShipScratch& scratch) const;

 private:
  ShipParams params_;
  int rows_, cols_, planes_;
};

struct ShipPixelsParams {
  ShipDetectParams detect;
  int out_rows = 8, out_cols = 16;         // cells across x along the major axis
  int window_rows = 16, window_cols = 48;  // pixels covered across x along
  bool db = true;
  double scale = 20, floor = -100;

  void validate() const;  // ConfigError for sizes outside 1..4096, scale <= 0, non-finite floor
};

class ShipPixelsBlock {
 public:
  ShipPixelsBlock(const ShipPixelsParams& params, int rows, int cols, int planes);  // validates
  const ShipPixelsParams& params() const { return params_; }
  std::size_t per_plane() const { return static_cast<std::size_t>(params_.out_rows) * params_.out_cols; }
  std::size_t length() const { return per_plane() * static_cast<std::size_t>(planes_); }
  void compute(const float* detect, const std::vector<const float*>& planes, float* out, ShipScratch& scratch) const;

 private:
  ShipPixelsParams params_;
  int rows_, cols_, planes_;
};

}  // namespace sarscale::features
