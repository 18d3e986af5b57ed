#pragma once
// Reading SAR rasters through GDAL: GeoTIFF, Sentinel-1 SAFE, RADARSAT-2, CEOS, ENVISAT,
// NITF/SICD, JPEG chips and everything else GDAL opens.
//
// GDAL stays behind this header (no gdal.h here: the io layer links it privately).
//
// Conventions of read_window():
//  * Real-valued bands are returned unchanged as float32 in Image::magnitude (a GeoTIFF in
//    dB stays in dB, a JPEG chip stays 0..255, a calibrated product holds sigma0/beta0/gamma0);
//    Image::phase stays empty.
//  * Complex bands (GDAL complex types such as CInt16/CFloat32, and SICD-style NITF products
//    that store I and Q as two bands tagged ISUBCAT=I/Q) are one *logical* band: magnitude
//    = |z|, phase = arg(z) in [0, 2pi).
//  * Bands are numbered from 1 and count logical bands (an I/Q pair is one band).
//
// Process-wide GDAL settings, made once on first use: every driver registered, and the
// block cache capped at 256 MiB per process unless GDAL_CACHEMAX is set in the environment
// (GDAL's default, 5% of RAM, multiplies by the number of MPI ranks on a node).
//
// Thread safety: a GdalRaster is used by one thread at a time; distinct objects may be used
// concurrently. GDAL messages never reach stderr: they are captured per thread and become
// the text of the exceptions thrown here. Warnings raised while reading pixels are errors of
// the read (see GdalErrorCapture::damage_warnings), except a short allow-list of harmless ones;
// other warnings are logged at debug level.
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/image.hpp"

namespace sarscale::io {

using Metadata = std::map<std::string, std::string>;

// Radiometric calibration requested when opening a product.
enum class Calibration { none, sigma0, beta0, gamma0 };

Calibration parse_calibration(const std::string& name);  // "none|sigma0|beta0|gamma0"; ConfigError
std::string to_string(Calibration calibration);

// Georeferencing: GDAL's affine geotransform and the CRS as WKT.
struct Georef {
  std::array<double, 6> geotransform{0, 1, 0, 0, 0, 1};
  std::string projection_wkt;
};

class GdalRaster {
 public:
  // Opens `source` read-only. `source` is a file, a *.SAFE directory (opened through its
  // manifest.safe), a directory holding a RADARSAT-2 product.xml, or a GDAL subdataset name.
  // With a calibration other than none, opens GDAL's calibrated view of the product:
  //   Sentinel-1 SAFE: SENTINEL1_CALIB:SIGMA0|BETA0|GAMMA:<manifest>:<swath>:<unit>, the
  //     first listed subdataset of that calibration, preferring one that carries every
  //     polarisation as bands (GDAL lists these only when the calibration LUTs parse);
  //   RADARSAT-2: RADARSAT_2_CALIB:SIGMA0|BETA0|GAMMA:<product.xml>.
  // Throws InputError when GDAL cannot open the source, and when a calibration is requested
  // that the product does not carry ("product carries no calibration").
  static GdalRaster open(const std::filesystem::path& source, Calibration calibration = Calibration::none);

  GdalRaster(GdalRaster&& other) noexcept;
  GdalRaster& operator=(GdalRaster&& other) noexcept;
  GdalRaster(const GdalRaster&) = delete;
  GdalRaster& operator=(const GdalRaster&) = delete;
  ~GdalRaster();

  const std::filesystem::path& path() const { return path_; }  // as given to open()
  const std::string& gdal_name() const { return gdal_name_; }  // what GDAL actually opened
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int bands() const;  // logical bands (an I/Q pair counts once); 0 for a container of subdatasets
  bool is_complex() const;
  std::string driver() const;                          // GDAL short name: GTiff, SAFE, RS2, SAR_CEOS, ESAT, NITF, ...
  std::string data_type() const;                       // GDAL name of band 1's type: Float32, CInt16, UInt16, Byte, ...
  std::pair<int, int> block_size(int band = 1) const;  // natural (rows, cols) block of a band

  bool has_geotransform() const;
  std::array<double, 6> geotransform() const;  // identity-like {0,1,0,0,0,1} when absent
  std::string projection_wkt() const;          // empty when absent (GCP-only products too)
  std::optional<Georef> georef() const;        // both, when the raster has a geotransform
  std::optional<double> nodata(int band = 1) const;
  // Longitude and latitude (WGS 84, degrees) of positions given as (row, col) in pixel units
  // (pixel (r, c) covers [r, r+1) x [c, c+1)), through the geotransform and CRS or, for products
  // georeferenced by ground control points only (Sentinel-1 GRD), a polynomial fit of the GCPs.
  // Empty when the raster has neither; NaN for a position the transformation fails on.
  std::vector<std::array<double, 2>> pixel_to_lonlat(const std::vector<std::array<double, 2>>& rows_cols) const;

  Metadata metadata(const std::string& domain = "") const;  // the dataset's items of a domain
  Metadata band_metadata(int band) const;                   // band's default domain
  // Normalised SAR facts found in the driver's metadata, for provenance: any of mission,
  // product_type, acquisition_start, acquisition_stop, orbit_direction, pixel_spacing_m,
  // line_spacing_m, incidence_near_deg, incidence_far_deg, beam_mode, polarisation.
  Metadata sar_facts() const;
  // GDAL subdataset names (SUBDATASET_n_NAME), in GDAL's numbering order.
  std::vector<std::string> subdatasets() const;

  // HH, HV, VH, VV, RH or RV for a band, or "" when unknown. Looked up in order: the band's
  // POLARISATION / POLARIZATION / POLARIMETRIC_INTERP metadata, its description, the
  // driver's dataset metadata (ENVISAT SPH_MDSn_TX_RX_POLAR, CEOS_SENSOR_ID, NITF titles),
  // then a token of the file name (..._VV_..., s1a-iw-grd-vh-...).
  std::string polarisation(int band = 1) const;
  // GDAL's description of a band ("" when it has none).
  std::string band_description(int band = 1) const;
  // The calibration actually applied: "sigma0", "beta0", "gamma0", or "none".
  std::string calibration_applied() const { return calibration_applied_; }

  // Reads rows [row0, row0+nrows) x cols [col0, col0+ncols) of a logical band into `out`
  // (resized; phase filled for complex bands, cleared otherwise). Only the blocks that
  // intersect the window are read. Throws std::out_of_range when the window leaves the
  // raster or the band does not exist, InputError when GDAL cannot read the pixels.
  void read_window(int row0, int col0, int nrows, int ncols, Image& out, int band = 1) const;

  // Cheap integrity probe, without reading the scene: reads the first and last row of every
  // band; when the last row fails, bisects for where the data end (log2(rows) one-row reads);
  // for raw formats compares the declared pixel bytes with the size of GDAL's file list.
  // Throws InputError naming the file and the finding, e.g. "R1_26161_FN1_F164.D: SAR_CEOS
  // declares 8192x8192 Byte but the data end at row 3 (truncated product)".
  void validate() const;

 private:
  GdalRaster() = default;
  void read_rows_probe(int raw_band, int row, std::string* error) const;
  int raw_band_of(int band) const;  // first GDAL band of a logical band (range-checked)

  void* handle_ = nullptr;  // GDALDatasetH
  std::filesystem::path path_;
  std::string gdal_name_;
  std::string calibration_applied_ = "none";
  int rows_ = 0;
  int cols_ = 0;
  int raw_bands_ = 0;
  bool iq_pairs_ = false;  // NITF SICD: bands (2k-1, 2k) are I and Q
};

namespace detail {

// Registers GDAL's drivers and sets the block cache, once per process (thread-safe).
void ensure_gdal();

// Captures GDAL's messages on this thread for the scope's lifetime (GDAL error handlers are
// per thread), so nothing leaks to stderr and the text can go into exceptions.
class GdalErrorCapture {
 public:
  GdalErrorCapture();
  ~GdalErrorCapture();
  GdalErrorCapture(const GdalErrorCapture&) = delete;
  GdalErrorCapture& operator=(const GdalErrorCapture&) = delete;

  bool has_errors() const { return !errors_.empty(); }
  // The warnings captured so far that say the pixels may be wrong (libjpeg's "Premature end of
  // JPEG file", a TIFF strip that fails to decode...): every warning but the known-harmless
  // ones of gdal_raster.cpp's allow-list, joined by "; "; "" when there is none. A read that
  // warns so did not return the file's data and is a reject of that input.
  std::string damage_warnings() const;
  // Distinct error messages joined by "; " (at most a few, the rest counted), or `fallback`.
  std::string errors(const std::string& fallback = "unknown GDAL error") const;
  void clear();
  void add(int error_class, const char* message);  // called by the handler

 private:
  std::vector<std::string> errors_;
  std::vector<std::string> warnings_;
};

}  // namespace detail

}  // namespace sarscale::io
