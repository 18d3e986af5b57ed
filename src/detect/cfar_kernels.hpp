#pragma once
// The CFAR kernels behind Cfar::run (private to the detect layer). Each computes a contiguous
// block of the core's rows, so that the caller can hand blocks to threads.
#include <cstdint>
#include <limits>
#include <vector>

#include "sarscale/detect/cfar.hpp"

namespace sarscale::detect::detail {

// Where one block of rows writes: its own detection list; the tile's dense arrays (optional).
struct BlockOutput {
  std::vector<CfarDetection> detections;
  std::int64_t tested = 0;
  std::uint8_t* flags = nullptr;  // core-sized, or null
  double* scores = nullptr;       // core-sized, or null
};

// Core rows [row_begin, row_end) (scene coordinates) of `core`.
void ca_block(const Cfar& cfar, const SceneWindow& w, const Rect& core, std::int64_t row_begin,
              std::int64_t row_end, BlockOutput& out);
void os_block(const Cfar& cfar, const SceneWindow& w, const Rect& core, std::int64_t row_begin,
              std::int64_t row_end, BlockOutput& out);

// A pixel is valid when finite, >= 0 and not the nodata value.
inline bool valid_pixel(float x, float nodata) {
  return x >= 0 && x <= std::numeric_limits<float>::max() && x != nodata;
}

// Records the verdict on one tested pixel: `threshold` and `background` in intensity, `score`
// the dB margin over the threshold, `own_factor` the threshold factor that would put the
// threshold exactly at the pixel (for its false-alarm probability).
inline void record(const Cfar& cfar, BlockOutput& out, std::int64_t core_index, std::int64_t row, std::int64_t col,
                   float x, int cells, double background, double threshold, double score, double own_factor,
                   bool detected) {
  ++out.tested;
  if (out.scores) out.scores[core_index] = score;
  if (!detected) return;
  if (out.flags) out.flags[core_index] = 1;
  out.detections.push_back({row, col, x, cells, background, threshold, score, cfar.log10_pfa(own_factor, cells)});
}

}  // namespace sarscale::detect::detail
