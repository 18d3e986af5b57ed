#include "sarscale/io/raster_writer.hpp"

#include <cpl_conv.h>
#include <cpl_string.h>
#include <gdal.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::io {

namespace fs = std::filesystem;
using detail::GdalErrorCapture;

namespace {

GDALDatasetH as_dataset(void* h) { return static_cast<GDALDatasetH>(h); }

GDALDataType gdal_type(PixelType type) {
  switch (type) {
    case PixelType::float32:
      return GDT_Float32;
    case PixelType::cint16:
      return GDT_CInt16;
    case PixelType::cfloat32:
      return GDT_CFloat32;
    case PixelType::byte:
      return GDT_Byte;
  }
  return GDT_Float32;
}

bool is_complex(PixelType type) { return type == PixelType::cint16 || type == PixelType::cfloat32; }

// Sets a GDAL configuration option for this thread only, restoring the previous value on
// scope exit. Used to keep PAM (.aux.xml side files) off while creating outputs: everything
// we write is stored inside the file itself.
class ThreadLocalOption {
 public:
  ThreadLocalOption(const char* key, const char* value) : key_(key) {
    if (const char* old = CPLGetThreadLocalConfigOption(key, nullptr)) old_ = old;
    CPLSetThreadLocalConfigOption(key, value);
  }
  ~ThreadLocalOption() { CPLSetThreadLocalConfigOption(key_, old_ ? old_->c_str() : nullptr); }
  ThreadLocalOption(const ThreadLocalOption&) = delete;
  ThreadLocalOption& operator=(const ThreadLocalOption&) = delete;

 private:
  const char* key_;
  std::optional<std::string> old_;
};

// RAII over a list of "KEY=VALUE" options for GDAL.
class OptionList {
 public:
  OptionList() = default;
  ~OptionList() { CSLDestroy(list_); }
  OptionList(const OptionList&) = delete;
  OptionList& operator=(const OptionList&) = delete;
  void set(const std::string& key, const std::string& value) {
    list_ = CSLSetNameValue(list_, key.c_str(), value.c_str());
  }
  char** get() const { return list_; }

 private:
  char** list_ = nullptr;
};

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

void publish(const fs::path& part, const fs::path& final_path) {
  std::error_code ec;
  fs::rename(part, final_path, ec);
  if (ec) {
    remove_quietly(part);
    throw IoError(final_path.string() + ": cannot move the finished output into place: " + ec.message());
  }
}

// Linear interpolation between order statistics (numpy's default), p in [0, 100].
// Reorders `values`.
double percentile(std::vector<float>& values, double p) {
  const double pos = p / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(below);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(below), values.end());
  const double v0 = values[below];
  if (frac == 0.0 || below + 1 >= values.size()) return v0;
  const double v1 = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(below) + 1, values.end());
  return v0 + frac * (v1 - v0);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// RasterWriter

RasterWriter::RasterWriter(const fs::path& path, int rows, int cols, const RasterWriterOptions& options)
    : path_(path), rows_(rows), cols_(cols), bands_(options.bands), type_(options.type) {
  if (rows <= 0 || cols <= 0 || options.bands <= 0)
    throw ConfigError(path.string() + ": cannot create a " + std::to_string(cols) + "x" + std::to_string(rows) +
                      " raster with " + std::to_string(options.bands) + " bands");
  detail::ensure_gdal();
  part_path_ = path;
  part_path_ += ".part";

  OptionList co;
  co.set("BIGTIFF", "IF_SAFER");
  if (options.tiled) {
    co.set("TILED", "YES");
    co.set("BLOCKXSIZE", "256");
    co.set("BLOCKYSIZE", "256");
  }
  if (options.bands > 1) co.set("INTERLEAVE", "BAND");  // bands are written one at a time
  if (!options.compression.empty()) {
    co.set("COMPRESS", options.compression);
    const std::string c = options.compression;
    if (!is_complex(options.type) && (c == "DEFLATE" || c == "LZW" || c == "ZSTD"))
      co.set("PREDICTOR", options.type == PixelType::float32 ? "3" : "2");
  }

  GdalErrorCapture capture;
  GDALDriverH driver = GDALGetDriverByName("GTiff");
  if (!driver) throw IoError(path.string() + ": GDAL has no GTiff driver");
  ThreadLocalOption no_pam("GDAL_PAM_ENABLED", "NO");
  handle_ = GDALCreate(driver, part_path_.c_str(), cols, rows, options.bands, gdal_type(options.type), co.get());
  if (!handle_) throw IoError(path.string() + ": cannot create GeoTIFF: " + capture.errors());
}

RasterWriter::RasterWriter(RasterWriter&& other) noexcept { *this = std::move(other); }

RasterWriter& RasterWriter::operator=(RasterWriter&& other) noexcept {
  if (this != &other) {
    discard();
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    part_path_ = std::move(other.part_path_);
    rows_ = other.rows_;
    cols_ = other.cols_;
    bands_ = other.bands_;
    type_ = other.type_;
  }
  return *this;
}

RasterWriter::~RasterWriter() { discard(); }

void RasterWriter::discard() noexcept {
  if (!handle_) return;
  {
    GdalErrorCapture capture;
    GDALClose(as_dataset(handle_));
  }
  handle_ = nullptr;
  remove_quietly(part_path_);
  try {
    log::warn(path_.string(), ": raster writer destroyed before close(); the partial output was discarded");
  } catch (...) {  // logging must not throw out of a destructor
  }
}

void RasterWriter::require_open() const {
  if (!handle_) throw std::logic_error(path_.string() + ": raster writer is already closed");
}

void RasterWriter::set_georef(const Georef& georef) {
  require_open();
  GdalErrorCapture capture;
  std::array<double, 6> gt = georef.geotransform;
  if (GDALSetGeoTransform(as_dataset(handle_), gt.data()) != CE_None)
    throw IoError(path_.string() + ": cannot set the geotransform: " + capture.errors());
  if (!georef.projection_wkt.empty() &&
      GDALSetProjection(as_dataset(handle_), georef.projection_wkt.c_str()) != CE_None)
    throw IoError(path_.string() + ": cannot set the projection: " + capture.errors());
}

void RasterWriter::copy_georef(const GdalRaster& source) {
  if (auto g = source.georef()) set_georef(*g);
}

void RasterWriter::set_metadata_item(const std::string& key, const std::string& value, int band) {
  require_open();
  if (band < 0 || band > bands_) throw std::out_of_range(path_.string() + ": no band " + std::to_string(band));
  GdalErrorCapture capture;
  GDALMajorObjectH target = band == 0 ? static_cast<GDALMajorObjectH>(handle_)
                                      : static_cast<GDALMajorObjectH>(GDALGetRasterBand(as_dataset(handle_), band));
  if (GDALSetMetadataItem(target, key.c_str(), value.c_str(), nullptr) != CE_None)
    throw IoError(path_.string() + ": cannot set metadata " + key + ": " + capture.errors());
}

void RasterWriter::set_metadata(const Metadata& items, int band) {
  for (const auto& [key, value] : items) set_metadata_item(key, value, band);
}

void RasterWriter::set_band_description(int band, const std::string& description) {
  require_open();
  if (band < 1 || band > bands_) throw std::out_of_range(path_.string() + ": no band " + std::to_string(band));
  GdalErrorCapture capture;
  GDALSetDescription(GDALGetRasterBand(as_dataset(handle_), band), description.c_str());
  if (capture.has_errors()) throw IoError(path_.string() + ": cannot set a band description: " + capture.errors());
}

void RasterWriter::set_nodata(int band, double value) {
  require_open();
  if (band < 1 || band > bands_) throw std::out_of_range(path_.string() + ": no band " + std::to_string(band));
  GdalErrorCapture capture;
  if (GDALSetRasterNoDataValue(GDALGetRasterBand(as_dataset(handle_), band), value) != CE_None)
    throw IoError(path_.string() + ": cannot set the nodata value: " + capture.errors());
}

void RasterWriter::set_colour_table(int band, const std::vector<Rgba>& entries) {
  require_open();
  if (band < 1 || band > bands_) throw std::out_of_range(path_.string() + ": no band " + std::to_string(band));
  if (type_ != PixelType::byte) throw std::logic_error(path_.string() + ": colour tables need a byte raster");
  if (entries.empty() || entries.size() > 256)
    throw std::invalid_argument(path_.string() + ": a colour table holds 1 to 256 entries");
  GdalErrorCapture capture;
  GDALColorTableH table = GDALCreateColorTable(GPI_RGB);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const GDALColorEntry e{entries[i].r, entries[i].g, entries[i].b, entries[i].a};
    GDALSetColorEntry(table, static_cast<int>(i), &e);
  }
  const CPLErr err = GDALSetRasterColorTable(GDALGetRasterBand(as_dataset(handle_), band), table);
  GDALDestroyColorTable(table);
  if (err != CE_None) throw IoError(path_.string() + ": cannot set the colour table: " + capture.errors());
}

void RasterWriter::write_block(int row0, int nrows, int band, const void* data, int buffer_type) {
  require_open();
  if (band < 1 || band > bands_) throw std::out_of_range(path_.string() + ": no band " + std::to_string(band));
  if (row0 < 0 || nrows <= 0 || static_cast<long long>(row0) + nrows > rows_)
    throw std::out_of_range(path_.string() + ": rows " + std::to_string(row0) + "+" + std::to_string(nrows) +
                            " are outside the " + std::to_string(rows_) + "-row raster");
  GdalErrorCapture capture;
  if (GDALRasterIO(GDALGetRasterBand(as_dataset(handle_), band), GF_Write, 0, row0, cols_, nrows,
                   const_cast<void*>(data), cols_, nrows, static_cast<GDALDataType>(buffer_type), 0, 0) != CE_None)
    throw IoError(path_.string() + ": writing rows " + std::to_string(row0) + ".." + std::to_string(row0 + nrows - 1) +
                  " of band " + std::to_string(band) + " failed: " + capture.errors());
}

void RasterWriter::write_rows(int row0, int nrows, const float* data, int band) {
  if (is_complex(type_))
    throw std::logic_error(path_.string() + ": complex raster: use write_rows_polar or write_rows_iq");
  write_block(row0, nrows, band, data, GDT_Float32);
}

void RasterWriter::write_rows(int row0, int nrows, const std::uint8_t* data, int band) {
  if (is_complex(type_))
    throw std::logic_error(path_.string() + ": complex raster: use write_rows_polar or write_rows_iq");
  write_block(row0, nrows, band, data, GDT_Byte);
}

void RasterWriter::write_rows_polar(int row0, int nrows, const float* magnitude, const float* phase, int band) {
  if (!is_complex(type_)) throw std::logic_error(path_.string() + ": write_rows_polar needs a complex raster");
  if (nrows <= 0) throw std::out_of_range(path_.string() + ": no rows to write");
  const std::size_t n = static_cast<std::size_t>(nrows) * static_cast<std::size_t>(cols_);
  if (type_ == PixelType::cfloat32) {
    std::vector<float> iq(2 * n);
    for (std::size_t k = 0; k < n; ++k) {
      iq[2 * k] = magnitude[k] * std::cos(phase[k]);
      iq[2 * k + 1] = magnitude[k] * std::sin(phase[k]);
    }
    write_block(row0, nrows, band, iq.data(), GDT_CFloat32);
    return;
  }
  auto to_int16 = [](double v) {
    if (!(v == v)) return std::int16_t{0};  // NaN
    const double r = std::nearbyint(v);
    return static_cast<std::int16_t>(std::clamp(r, -32768.0, 32767.0));
  };
  std::vector<std::int16_t> iq(2 * n);
  for (std::size_t k = 0; k < n; ++k) {
    iq[2 * k] = to_int16(static_cast<double>(magnitude[k]) * std::cos(static_cast<double>(phase[k])));
    iq[2 * k + 1] = to_int16(static_cast<double>(magnitude[k]) * std::sin(static_cast<double>(phase[k])));
  }
  write_block(row0, nrows, band, iq.data(), GDT_CInt16);
}

void RasterWriter::write_rows_iq(int row0, int nrows, const std::int16_t* iq, int band) {
  if (!is_complex(type_)) throw std::logic_error(path_.string() + ": write_rows_iq needs a complex raster");
  write_block(row0, nrows, band, iq, GDT_CInt16);
}

void RasterWriter::close() {
  if (!handle_) return;
  std::string errors;
  {
    GdalErrorCapture capture;
    GDALFlushCache(as_dataset(handle_));
    GDALClose(as_dataset(handle_));
    if (capture.has_errors()) errors = capture.errors();
  }
  handle_ = nullptr;
  if (!errors.empty()) {
    remove_quietly(part_path_);
    throw IoError(path_.string() + ": writing the GeoTIFF failed: " + errors);
  }
  publish(part_path_, path_);
}

// ---------------------------------------------------------------------------------------
// Single-chip outputs

void write_png8(const fs::path& path, const Image& image, PngScale scale, std::pair<double, double> percentiles,
                const Metadata& metadata) {
  const auto [lo_p, hi_p] = percentiles;
  if (!(lo_p >= 0.0 && lo_p < hi_p && hi_p <= 100.0))
    throw ConfigError("PNG percentiles must satisfy 0 <= lo < hi <= 100 (got " + std::to_string(lo_p) + ", " +
                      std::to_string(hi_p) + ")");
  const std::size_t n = image.pixels();
  if (n == 0 || image.magnitude.size() != n)
    throw std::invalid_argument(path.string() + ": image is empty or its magnitude does not match its size");

  // Values to display, and which pixels take part in the percentiles.
  std::vector<float> value(n);
  std::vector<std::uint8_t> valid(n, 0);
  std::vector<float> sample;
  sample.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    const float m = image.magnitude[k];
    if (scale == PngScale::db) {
      if (!(std::isfinite(m) && m > 0.0f)) continue;
      value[k] = static_cast<float>(20.0 * std::log10(static_cast<double>(m)));
    } else {
      if (!std::isfinite(m)) continue;
      value[k] = m;
    }
    valid[k] = 1;
    sample.push_back(value[k]);
  }
  std::vector<std::uint8_t> pixels(n, 0);
  if (!sample.empty()) {
    const double lo = percentile(sample, lo_p);
    const double hi = percentile(sample, hi_p);
    if (hi > lo)
      for (std::size_t k = 0; k < n; ++k)
        if (valid[k])
          pixels[k] = static_cast<std::uint8_t>(std::clamp((value[k] - lo) / (hi - lo), 0.0, 1.0) * 255.0 + 0.5);
  }

  write_png_bytes(path, image.rows, image.cols, 1, pixels.data(), metadata);
}

void write_png_bytes(const fs::path& path, int rows, int cols, int bands, const std::uint8_t* pixels,
                     const Metadata& metadata) {
  if (rows <= 0 || cols <= 0 || (bands != 1 && bands != 3 && bands != 4) || !pixels)
    throw std::invalid_argument(path.string() + ": a PNG needs a positive size and 1, 3 or 4 bands");
  detail::ensure_gdal();
  GdalErrorCapture capture;
  GDALDriverH mem_driver = GDALGetDriverByName("MEM");
  GDALDriverH png_driver = GDALGetDriverByName("PNG");
  if (!mem_driver || !png_driver) throw IoError(path.string() + ": GDAL lacks the MEM or PNG driver");
  GDALDatasetH mem = GDALCreate(mem_driver, "", cols, rows, bands, GDT_Byte, nullptr);
  if (!mem) throw IoError(path.string() + ": cannot create an in-memory raster: " + capture.errors());
  std::string failure;
  // Pixel-interleaved input: band b of pixel k at pixels[k * bands + b].
  if (GDALDatasetRasterIO(mem, GF_Write, 0, 0, cols, rows, const_cast<std::uint8_t*>(pixels), cols, rows, GDT_Byte,
                          bands, nullptr, bands, static_cast<GSpacing>(cols) * bands, 1) != CE_None)
    failure = capture.errors();
  for (const auto& [key, val] : metadata) GDALSetMetadataItem(mem, key.c_str(), val.c_str(), nullptr);

  fs::path part = path;
  part += ".part";
  if (failure.empty()) {
    OptionList co;
    co.set("WRITE_METADATA_AS_TEXT", "YES");
    ThreadLocalOption no_pam("GDAL_PAM_ENABLED", "NO");
    GDALDatasetH png = GDALCreateCopy(png_driver, part.c_str(), mem, FALSE, co.get(), nullptr, nullptr);
    if (!png)
      failure = capture.errors();
    else
      GDALClose(png);
    if (failure.empty() && capture.has_errors()) failure = capture.errors();
  }
  GDALClose(mem);
  if (!failure.empty()) {
    remove_quietly(part);
    throw IoError(path.string() + ": writing the PNG failed: " + failure);
  }
  publish(part, path);
}

void write_gtiff_float(const fs::path& path, const Image& image, const Metadata& metadata,
                       const std::optional<Georef>& georef) {
  const std::size_t n = image.pixels();
  if (n == 0 || image.magnitude.size() != n || (image.has_phase() && image.phase.size() != n))
    throw std::invalid_argument(path.string() + ": image is empty or its rasters do not match its size");
  RasterWriterOptions options;
  options.type = PixelType::float32;
  options.bands = image.has_phase() ? 2 : 1;
  options.tiled = false;  // chips are small: 256x256 tiles would mostly hold padding
  RasterWriter writer(path, image.rows, image.cols, options);
  if (georef) writer.set_georef(*georef);
  writer.set_metadata(metadata);
  writer.set_band_description(1, "magnitude");
  writer.write_rows(0, image.rows, image.magnitude.data(), 1);
  if (image.has_phase()) {
    writer.set_band_description(2, "phase");
    writer.write_rows(0, image.rows, image.phase.data(), 2);
  }
  writer.close();
}

}  // namespace sarscale::io
