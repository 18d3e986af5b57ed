#pragma once
// One input file seen as a sequence of chips, whatever its format: an MSTAR Phoenix file
// or a GDAL raster is one chip (centre-cropped/padded to the chip size); a large GDAL
// raster (a scene) is a grid of tiles read block-wise, never whole.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

// Which raster bands of an input become the bands of its chips (ingest --band, --bands,
// --band-names). Band names are lowercase identifiers (letters, digits, '_').
struct BandSelection {
  enum class Mode {
    single,   // band `number` alone, unnamed unless `namings` name it (every ingest before --bands)
    all,      // every band of the input
    numbers,  // bands `numbers` (from 1), in that order
    names     // the bands named `names`, in that order, looked up in each input
  };
  Mode mode = Mode::single;
  int number = 1;
  std::vector<int> numbers;
  std::vector<std::string> names;
  // --band-names: one naming per band count ("vh,vv|vv": the bands of a 2-band input are vh and
  // vv, the band of a 1-band input is vv). An input whose band count has no naming takes each
  // band's polarisation, else its description (made an identifier), else b1, b2, ...
  std::vector<std::vector<std::string>> namings;

  // `bands`: "" (band `band` alone), "all", "1,2" or "vh,vv"; `band_names` as above.
  // ConfigError naming the option for anything else.
  static BandSelection parse(const std::string& bands, int band, const std::string& band_names);
  // Whether the archive records band names: every selection but a plain --band N.
  bool named() const { return mode != Mode::single || !namings.empty(); }
  // Canonical text ("band=2", "bands=vh,vv; names=vh,vv|vv"), for resume keys and provenance.
  std::string to_string() const;
};

// The most a raster read whole as one chip may take in memory (every plane and band it is read
// with, as float32): MSTAR Phoenix files are always one chip, other rasters under --tiling never
// or when small enough not to be cut. Above it the input is a reject naming its size; without
// it a header declaring 65536 x 65536 (a sparse file) would ask for 32 GiB per rank. Real
// chips are far below (MSTAR: 128 x 128 to 200 x 200, 0.3 MiB with phase).
inline constexpr std::int64_t kMaxWholeChipBytes = std::int64_t{256} << 20;

struct ChipSourceOptions {
  int chip_rows = 128;
  int chip_cols = 128;
  int tile_size = 0;    // scene window edge; 0 = the chip size
  int tile_stride = 0;  // scene window step; 0 = the tile size
  enum class Tiling { automatic, always, never } tiling = Tiling::automatic;
  Calibration calibration = Calibration::none;
  BandSelection bands;

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
  ChipMeta meta;                        // per-source facts (label from header, serial, angles, polarisation)
  int raster_bands = 1;                 // bands the input has
  std::vector<int> bands{1};            // the bands its chips hold, in order (from 1)
  std::vector<std::string> band_names;  // their names (lowercase); empty when the selection is unnamed
};

// Opens and checks an input without reading its pixels (headers, declared vs actual sizes,
// a first/last row read for GDAL). Throws InputError with the reason when it is unusable.
SourceInfo probe_source(const std::filesystem::path& path, const ChipSourceOptions& options);

struct ReadStats {
  std::uint64_t nonfinite_zeroed = 0;   // NaN/Inf pixels in scene tiles replaced by 0
  std::uint64_t scene_pixels_read = 0;  // pixels of scene strips read (every band)
};

// Reads chips [first, first+count) of the source into caller buffers of count*B*chip pixels,
// B = info.bands.size() planes per chip, chip by chip (phase may be null when the archive has
// no phase; chips of a source without phase get phase 0). Fills meta for each chip. A chip (not a scene) with NaN/Inf
// pixels is an InputError; in scenes non-finite pixels are no-data and become 0 (counted in stats).
// A scene is read one strip per row of tiles (the columns asked for). A strip that fails leaves
// its chips at 0, the rest of the request is still read (through a freshly opened raster), and
// then the first failure is thrown.
void read_source_chips(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& options,
                       std::int64_t first, std::int64_t count, float* magnitude, float* phase, ChipMeta* meta,
                       ReadStats& stats);

}  // namespace sarscale::io
