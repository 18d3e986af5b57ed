#include "sarscale/io/chip_source.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sarscale/core/error.hpp"
#include "sarscale/io/phoenix.hpp"

namespace sarscale::io {

namespace {

constexpr const char* kPhoenixFormat = "MSTAR-Phoenix";

std::size_t plane(const ChipSourceOptions& o) {
  return static_cast<std::size_t>(o.chip_rows) * static_cast<std::size_t>(o.chip_cols);
}

bool should_tile(const ChipSourceOptions& o, int rows, int cols) {
  switch (o.tiling) {
    case ChipSourceOptions::Tiling::always:
      return true;
    case ChipSourceOptions::Tiling::never:
      return false;
    default:
      return rows > 2 * o.chip_rows || cols > 2 * o.chip_cols;
  }
}

// Tile origins 0, s, 2s, ... while inside the raster: every pixel lands in some tile.
int grid_count(int extent, int stride) { return std::max(1, (extent + stride - 1) / stride); }

// Copies `img` (already chip-sized) into the caller's slot; phase 0 when the image has none.
void store_chip(const Image& img, float* magnitude, float* phase) {
  std::copy(img.magnitude.begin(), img.magnitude.end(), magnitude);
  if (!phase) return;
  if (img.has_phase())
    std::copy(img.phase.begin(), img.phase.end(), phase);
  else
    std::fill_n(phase, img.magnitude.size(), 0.0f);
}

void reject_nonfinite(const std::filesystem::path& path, int rows, int cols, std::size_t bad) {
  if (bad)
    throw InputError(path.string() + ": " + std::to_string(bad) + " NaN/Inf pixel value(s) in a " +
                     std::to_string(rows) + "x" + std::to_string(cols) + " chip");
}

std::size_t count_nonfinite(const float* v, std::size_t n) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += !std::isfinite(v[i]);
  return bad;
}

std::uint64_t zero_nonfinite(std::vector<float>& v) {
  std::uint64_t n = 0;
  for (auto& x : v)
    if (!std::isfinite(x)) {
      x = 0.0f;
      ++n;
    }
  return n;
}

void read_scene_tiles(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& o,
                      std::int64_t first, std::int64_t count, float* magnitude, float* phase, ChipMeta* meta,
                      ReadStats& stats) {
  GdalRaster raster = GdalRaster::open(path, o.calibration);
  const int tr = o.tile_rows(), tc = o.tile_cols(), sr = o.stride_rows(), sc = o.stride_cols();
  const std::size_t chip_px = plane(o);
  std::int64_t t = first;
  const std::int64_t end = first + count;
  Image strip;
  while (t < end) {
    // One strip read per tile row: all the tiles of this row that the request covers.
    const int grid_row = static_cast<int>(t / info.grid_cols);
    const int c_first = static_cast<int>(t % info.grid_cols);
    const int c_last =
        static_cast<int>(std::min<std::int64_t>(end - 1, (grid_row + 1LL) * info.grid_cols - 1) % info.grid_cols);
    const int row0 = grid_row * sr, nrows = std::min(tr, info.rows - row0);
    const int col0 = c_first * sc, col_end = std::min(info.cols, c_last * sc + tc);
    raster.read_window(row0, col0, nrows, col_end - col0, strip, o.band);
    stats.nonfinite_zeroed += zero_nonfinite(strip.magnitude) + zero_nonfinite(strip.phase);

    for (int c = c_first; c <= c_last; ++c, ++t) {
      // Cut the tile; edge tiles are clipped by the raster and zero-padded at bottom/right so
      // pixel (i, j) of every tile is scene pixel (tile_row + i, tile_col + j).
      Image tile;
      tile.rows = tr;
      tile.cols = tc;
      tile.magnitude.assign(static_cast<std::size_t>(tr) * tc, 0.0f);
      if (strip.has_phase()) tile.phase.assign(tile.magnitude.size(), 0.0f);
      const int tcol0 = c * sc - col0, ncols = std::min(tc, info.cols - c * sc);
      for (int r = 0; r < nrows; ++r) {
        const std::size_t src = static_cast<std::size_t>(r) * strip.cols + tcol0,
                          dst = static_cast<std::size_t>(r) * tc;
        std::copy_n(strip.magnitude.data() + src, ncols, tile.magnitude.data() + dst);
        if (strip.has_phase()) std::copy_n(strip.phase.data() + src, ncols, tile.phase.data() + dst);
      }
      const Image chip =
          (tr == o.chip_rows && tc == o.chip_cols) ? std::move(tile) : fit_to_size(tile, o.chip_rows, o.chip_cols);
      const std::size_t k = static_cast<std::size_t>(t - first);
      store_chip(chip, magnitude + k * chip_px, phase ? phase + k * chip_px : nullptr);
      ChipMeta& m = meta[k];
      m = info.meta;
      m.tile_row = row0;
      m.tile_col = c * sc;
      m.orig_rows = nrows;
      m.orig_cols = ncols;
    }
  }
}

}  // namespace

SourceInfo probe_source(const std::filesystem::path& path, const ChipSourceOptions& o) {
  if (o.chip_rows <= 0 || o.chip_cols <= 0) throw ConfigError("chip size must be positive");
  SourceInfo info;
  if (looks_like_phoenix(path)) {
    const PhoenixHeader h = read_phoenix_header(path);  // validates sizes against the file
    if (o.calibration != Calibration::none)
      throw InputError(path.string() +
                       ": MSTAR Phoenix chips carry no radiometric calibration to apply (--calibration " +
                       to_string(o.calibration) + ")");
    info.format = kPhoenixFormat;
    info.calibration = "none";
    info.rows = h.rows;
    info.cols = h.cols;
    info.has_phase = h.has_phase();
    info.meta = phoenix_chip_meta(h);
    return info;
  }
  GdalRaster raster = GdalRaster::open(path, o.calibration);
  if (o.band < 1 || o.band > raster.bands())
    throw InputError(path.string() + ": band " + std::to_string(o.band) + " requested but the raster has " +
                     std::to_string(raster.bands()) + " band(s)");
  raster.validate();
  info.format = raster.driver();
  info.calibration = raster.calibration_applied();
  info.rows = raster.rows();
  info.cols = raster.cols();
  info.has_phase = raster.is_complex();
  info.meta.polarisation = raster.polarisation();
  info.meta.orig_rows = info.rows;
  info.meta.orig_cols = info.cols;
  if (should_tile(o, info.rows, info.cols)) {
    info.tiled = true;
    info.grid_rows = grid_count(info.rows, o.stride_rows());
    info.grid_cols = grid_count(info.cols, o.stride_cols());
    info.chips = static_cast<std::int64_t>(info.grid_rows) * info.grid_cols;
  }
  return info;
}

void read_source_chips(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& o,
                       std::int64_t first, std::int64_t count, float* magnitude, float* phase, ChipMeta* meta,
                       ReadStats& stats) {
  if (count <= 0) return;
  if (first < 0 || first + count > info.chips) throw Error("read_source_chips: chip range outside the source");
  if (info.tiled) {
    read_scene_tiles(path, info, o, first, count, magnitude, phase, meta, stats);
    return;
  }
  Image img;
  if (info.format == kPhoenixFormat) {
    const PhoenixFile file(path);
    const std::size_t px = file.pixels();
    if (file.header().rows == o.chip_rows && file.header().cols == o.chip_cols) {
      // Fast path: straight into the caller's slot, no intermediate copy.
      const bool got_phase =
          file.read_pixels({magnitude, px}, phase ? std::span<float>(phase, px) : std::span<float>());
      if (phase && !got_phase) std::fill_n(phase, px, 0.0f);
      reject_nonfinite(path, o.chip_rows, o.chip_cols,
                       count_nonfinite(magnitude, px) + (got_phase ? count_nonfinite(phase, px) : 0));
      meta[0] = info.meta;
      return;
    }
    img.rows = file.header().rows;
    img.cols = file.header().cols;
    img.magnitude.resize(px);
    if (info.has_phase) img.phase.resize(px);
    file.read_pixels(img.magnitude, img.phase);
  } else {
    GdalRaster raster = GdalRaster::open(path, o.calibration);
    raster.read_window(0, 0, info.rows, info.cols, img, o.band);
  }
  if (img.rows != info.rows || img.cols != info.cols)
    throw InputError(path.string() + ": changed size while being read (" + std::to_string(info.rows) + "x" +
                     std::to_string(info.cols) + " when probed)");
  reject_nonfinite(path, img.rows, img.cols, sarscale::count_nonfinite(img));
  const Image chip = (img.rows == o.chip_rows && img.cols == o.chip_cols) ? std::move(img)
                                                                          : fit_to_size(img, o.chip_rows, o.chip_cols);
  store_chip(chip, magnitude, phase);
  meta[0] = info.meta;
  meta[0].orig_rows = info.rows;
  meta[0].orig_cols = info.cols;
}

}  // namespace sarscale::io
