#include "sarscale/core/image.hpp"

#include <algorithm>
#include <cmath>

#include "sarscale/core/error.hpp"

namespace sarscale {

namespace {
void fit_plane(const std::vector<float>& src, int sr, int sc, std::vector<float>& dst, int dr, int dc) {
  dst.assign(static_cast<std::size_t>(dr) * dc, 0.0f);
  // Offsets of the overlap in source and destination: centre alignment.
  const int src_r0 = std::max(0, (sr - dr) / 2), dst_r0 = std::max(0, (dr - sr) / 2);
  const int src_c0 = std::max(0, (sc - dc) / 2), dst_c0 = std::max(0, (dc - sc) / 2);
  const int nr = std::min(sr, dr), nc = std::min(sc, dc);
  for (int r = 0; r < nr; ++r)
    std::copy_n(src.data() + static_cast<std::size_t>(src_r0 + r) * sc + src_c0, nc,
                dst.data() + static_cast<std::size_t>(dst_r0 + r) * dc + dst_c0);
}
}  // namespace

Image fit_to_size(const Image& in, int rows, int cols) {
  if (rows <= 0 || cols <= 0) throw ConfigError("chip size must be positive");
  if (in.magnitude.size() != in.pixels()) throw Error("fit_to_size: magnitude size does not match rows x cols");
  Image out;
  out.rows = rows;
  out.cols = cols;
  fit_plane(in.magnitude, in.rows, in.cols, out.magnitude, rows, cols);
  if (in.has_phase()) fit_plane(in.phase, in.rows, in.cols, out.phase, rows, cols);
  return out;
}

std::size_t count_nonfinite(const Image& img) {
  auto bad = [](float v) { return !std::isfinite(v); };
  return static_cast<std::size_t>(std::count_if(img.magnitude.begin(), img.magnitude.end(), bad) +
                                  std::count_if(img.phase.begin(), img.phase.end(), bad));
}

}  // namespace sarscale
