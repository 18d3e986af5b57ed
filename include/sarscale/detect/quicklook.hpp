#pragma once
// Quick-looks of detection results: a scene down-sampled by block averaging of intensity, shown in
// dB, with each detection's box and label drawn on it (RGB bytes; io::write_png_bytes writes
// them). Block means are computed tile by tile (a tile's core is a whole number of blocks, so the
// quick-look does not depend on the tiling).
#include <cstdint>
#include <string>
#include <vector>

#include "sarscale/detect/cfar.hpp"

namespace sarscale::detect {

// Mean intensity of every factor x factor block of `core` (core.row0 and core.col0 multiples of
// factor; the last blocks of the scene may be partial), over the valid pixels (finite, >= 0,
// != nodata); NaN for a block without one. Row-major, ceil(rows / factor) x ceil(cols / factor).
std::vector<float> block_means(const SceneWindow& window, const Rect& core, int factor, float nodata);

struct QuickLookBox {
  std::int64_t row_min = 0, col_min = 0, row_max = 0, col_max = 0;  // scene pixels, inclusive
  std::string label;
  std::uint8_t r = 255, g = 0, b = 0;
};

// An RGB image (rows x cols x 3 bytes) of the block means (rows x cols) in dB, stretched between
// their 2nd and 99.5th percentiles, with the boxes (scaled by 1 / factor, at least 5 x 5 pixels)
// and their labels (a 5x7 pixel font: letters, digits, '_', '-', '.', '%', ' ').
std::vector<std::uint8_t> render_quicklook(const std::vector<float>& means, int rows, int cols, int factor,
                                           const std::vector<QuickLookBox>& boxes);

}  // namespace sarscale::detect
