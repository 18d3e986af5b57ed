#pragma once
// Writing rasters through GDAL: GeoTIFF scenes and class maps written in row blocks, and
// single-chip previews (8-bit PNG) and exports (float32 GeoTIFF).
//
// Outputs appear atomically: a RasterWriter writes to "<path>.part" and renames it to
// <path> in close(); destroying a writer that was not closed discards the partial file.
// GDAL messages never reach stderr: failures become IoError naming the path.
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

// Pixel type of a written raster. cint16/cfloat32 are complex (I/Q) bands.
enum class PixelType { float32, cint16, cfloat32, byte };

struct RasterWriterOptions {
  PixelType type = PixelType::float32;
  int bands = 1;
  bool tiled = true;  // 256x256 tiles; false: strips (GDAL's default rows per strip)
  // GTiff COMPRESS value ("", "DEFLATE", "LZW", "ZSTD", ...); empty = uncompressed. A
  // floating-point or horizontal predictor is added for DEFLATE/LZW/ZSTD.
  std::string compression;
};

struct Rgba {
  std::uint8_t r = 0, g = 0, b = 0, a = 255;
};

class RasterWriter {
 public:
  // Creates a rows x cols GeoTIFF (BIGTIFF=IF_SAFER). Throws IoError when GDAL cannot
  // create it, ConfigError on impossible options (non-positive sizes or bands).
  RasterWriter(const std::filesystem::path& path, int rows, int cols, const RasterWriterOptions& options = {});
  RasterWriter(RasterWriter&& other) noexcept;
  RasterWriter& operator=(RasterWriter&& other) noexcept;
  RasterWriter(const RasterWriter&) = delete;
  RasterWriter& operator=(const RasterWriter&) = delete;
  ~RasterWriter();  // without close(): closes and deletes the partial output, logs a warning

  const std::filesystem::path& path() const { return path_; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }

  void set_georef(const Georef& georef);
  void copy_georef(const GdalRaster& source);  // no-op when the source has no geotransform
  void set_metadata_item(const std::string& key, const std::string& value, int band = 0);  // band 0: dataset
  void set_metadata(const Metadata& items, int band = 0);
  void set_band_description(int band, const std::string& description);
  void set_nodata(int band, double value);
  void set_colour_table(int band, const std::vector<Rgba>& entries);  // byte rasters only; <= 256 entries

  // Rows [row0, row0+nrows) of a band, row-major, cols values per row. Tiled outputs are
  // written most efficiently in multiples of 256 rows. Throws IoError when GDAL fails,
  // std::out_of_range for rows or bands outside the raster, std::logic_error when the
  // variant does not fit the pixel type.
  void write_rows(int row0, int nrows, const float* data, int band = 1);         // float32 or byte (rounded, clamped)
  void write_rows(int row0, int nrows, const std::uint8_t* data, int band = 1);  // byte or float32
  // Complex outputs from magnitude and phase (radians): I = m cos p, Q = m sin p; for cint16
  // rounded to nearest and saturated to [-32768, 32767].
  void write_rows_polar(int row0, int nrows, const float* magnitude, const float* phase, int band = 1);
  // Complex outputs from interleaved I/Q int16 pairs (2*cols values per row).
  void write_rows_iq(int row0, int nrows, const std::int16_t* iq, int band = 1);

  // Flushes, closes and publishes the file. Throws IoError (with the path and GDAL's message)
  // when any write failed. Idempotent.
  void close();

 private:
  void write_block(int row0, int nrows, int band, const void* data, int buffer_type);
  void require_open() const;
  void discard() noexcept;  // closes without publishing; removes the partial file

  void* handle_ = nullptr;  // GDALDatasetH
  std::filesystem::path path_;
  std::filesystem::path part_path_;
  int rows_ = 0;
  int cols_ = 0;
  int bands_ = 0;
  PixelType type_ = PixelType::float32;
};

enum class PngScale { db, linear };

// An 8-bit PNG preview of a chip's magnitude: dB (20*log10 m, over pixels with m > 0) or
// linear values, clipped to the [lo, hi] percentiles of the finite values and mapped to
// 0..255 (pixels with m <= 0 in dB, NaN or infinite map to 0; a constant image maps to 0).
// `metadata` is written as PNG text chunks (gdalinfo shows them as metadata). Throws
// ConfigError for percentiles outside 0 <= lo < hi <= 100, IoError when writing fails.
void write_png8(const std::filesystem::path& path, const Image& image, PngScale scale = PngScale::db,
                std::pair<double, double> percentiles = {1.0, 99.0}, const Metadata& metadata = {});

// An 8-bit PNG of `bands` (1 grey, 3 RGB, 4 RGBA) pixel-interleaved bytes, rows x cols,
// written to PATH.part and renamed. Throws IoError when writing fails.
void write_png_bytes(const std::filesystem::path& path, int rows, int cols, int bands, const std::uint8_t* pixels,
                     const Metadata& metadata = {});

// A single chip as a float32 GeoTIFF: band 1 magnitude ("magnitude"), band 2 phase ("phase")
// when the image has phase. Throws IoError when writing fails.
void write_gtiff_float(const std::filesystem::path& path, const Image& image, const Metadata& metadata = {},
                       const std::optional<Georef>& georef = std::nullopt);

}  // namespace sarscale::io
