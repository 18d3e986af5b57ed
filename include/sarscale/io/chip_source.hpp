#pragma once
// One input file seen as a sequence of chips, whatever its format: an MSTAR Phoenix file
// or a GDAL raster is one chip (centre-cropped/padded to the chip size); a large GDAL
// raster (a scene) is a grid of tiles read block-wise, never whole.
#include <cstdint>
#include <filesystem>
#include <string>

#include "sarscale/core/image.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

struct ChipSourceOptions {
  int chip_rows = 128;
  int chip_cols = 128;
  int tile_size = 0;    // scene window edge; 0 = the chip size
  int tile_stride = 0;  // scene window step; 0 = the tile size
  enum class Tiling { automatic, always, never } tiling = Tiling::automatic;
  Calibration calibration = Calibration::none;
  int band = 1;

  int tile_rows() const { return tile_size > 0 ? tile_size : chip_rows; }
  int tile_cols() const { return tile_size > 0 ? tile_size : chip_cols; }
  int stride_rows() const { return tile_stride > 0 ? tile_stride : tile_rows(); }
  int stride_cols() const { return tile_stride > 0 ? tile_stride : tile_cols(); }
};

// What probing an input found out; enough to plan its slots in the archive.
struct SourceInfo {
  std::string format;       // "MSTAR-Phoenix" or the GDAL driver's short name
  std::string calibration;  // calibration actually applied ("none" if none)
  int rows = 0;             // raster size
  int cols = 0;
  bool has_phase = false;
  bool tiled = false;  // a scene cut into tiles
  int grid_rows = 1;   // tiles down and across (1 x 1 for a chip)
  int grid_cols = 1;
  std::int64_t chips = 1;
  ChipMeta meta;  // per-source facts (label from header, serial, angles, polarisation)
};

// Opens and checks an input without reading its pixels (headers, declared vs actual sizes,
// a first/last row read for GDAL). Throws InputError with the reason when it is unusable.
SourceInfo probe_source(const std::filesystem::path& path, const ChipSourceOptions& options);

struct ReadStats {
  std::uint64_t nonfinite_zeroed = 0;  // NaN/Inf pixels in scene tiles replaced by 0
};

// Reads chips [first, first+count) of the source into caller buffers of count*chip pixels
// (phase may be null when the archive has no phase; chips of a source without phase get
// phase 0). Fills meta for each chip. A chip (not a scene) with NaN/Inf pixels is an
// InputError; in scenes non-finite pixels are no-data and become 0 (counted in stats).
void read_source_chips(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& options,
                       std::int64_t first, std::int64_t count, float* magnitude, float* phase, ChipMeta* meta,
                       ReadStats& stats);

}  // namespace sarscale::io
