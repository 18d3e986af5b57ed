#pragma once
// In-memory SAR chips: a magnitude raster, an optional phase raster, and the per-chip
// metadata the archive stores. Rasters are row-major float32, as in the archive.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace sarscale {

struct Image {
  int rows = 0;
  int cols = 0;
  std::vector<float> magnitude;  // rows*cols, linear amplitude (not dB) unless the source is dB
  std::vector<float> phase;      // rows*cols in radians [0, 2pi), or empty when the source has none

  bool has_phase() const { return !phase.empty(); }
  std::size_t pixels() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols); }
};

// Everything the archive records about one chip besides its pixels.
struct ChipMeta {
  static constexpr float kUnknown = std::numeric_limits<float>::quiet_NaN();
  std::int64_t source_index = -1;  // row of the archive's sources table
  std::int32_t tile_row = 0;       // offset of the chip's window in its source
  std::int32_t tile_col = 0;
  std::int32_t orig_rows = 0;  // size of the window before centre crop/pad
  std::int32_t orig_cols = 0;
  float azimuth_deg = kUnknown;
  float depression_deg = kUnknown;
  std::string target_type;   // label as the source states it (Phoenix TargetType), may be empty
  std::string serial;        // target serial number
  std::string polarisation;  // HH, VV, ... where known
};

// Centre-crops or zero-pads `in` to rows x cols (phase too, when present). When the size
// difference is odd, the extra row/column is taken from (or added at) the bottom/right.
Image fit_to_size(const Image& in, int rows, int cols);

// Number of pixels that are NaN or infinite in magnitude or phase.
std::size_t count_nonfinite(const Image& img);

}  // namespace sarscale
