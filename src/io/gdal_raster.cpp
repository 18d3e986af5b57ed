#include "sarscale/io/gdal_raster.hpp"

#include <cpl_conv.h>
#include <cpl_error.h>
#include <cpl_string.h>
#include <cpl_vsi.h>
#include <gdal.h>
#include <gdal_alg.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <mutex>
#include <numbers>
#include <set>
#include <sstream>
#include <stdexcept>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::io {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// GDAL set-up and error capture

namespace detail {

namespace {

constexpr GIntBig kDefaultCacheBytes = 256LL * 1024 * 1024;
constexpr std::size_t kMaxStoredMessages = 16;  // a failing read can repeat one error per block
constexpr std::size_t kMaxReportedMessages = 3;

// GDAL calls the handlers from C code: no exception may escape them.
void CPL_STDCALL capture_handler(CPLErr error_class, CPLErrorNum, const char* message) {
  try {
    auto* capture = static_cast<GdalErrorCapture*>(CPLGetErrorHandlerUserData());
    if (capture) capture->add(static_cast<int>(error_class), message);
  } catch (...) {
  }
}

// Messages raised where no GdalErrorCapture is active (GDAL's worker threads, GDAL calls
// made elsewhere in the program) go to our log instead of GDAL's default stderr printer.
void CPL_STDCALL log_handler(CPLErr error_class, CPLErrorNum, const char* message) {
  try {
    if (error_class >= CE_Failure)
      log::warn("GDAL: ", message ? message : "");
    else
      log::debug("GDAL: ", message ? message : "");
  } catch (...) {
  }
}

// Warnings known to be harmless on a read: they describe how a file is laid out, not damage
// to its pixels, so a read that raises them still returned the file's data. Keep this list
// short and say why each entry is safe; anything else a read warns about rejects the input.
constexpr const char* kHarmlessWarnings[] = {
    // libtiff, on files whose ExtraSamples tag does not account for every sample (OpenSARShip's
    // 2-band float32 VH/VV patches): it only re-labels the extra samples as non-colour
    // channels; GDAL reads every band's values as stored.
    "Sum of Photometric type-related color channels and ExtraSamples doesn't match SamplesPerPixel",
};

bool is_harmless_warning(const std::string& text) {
  for (const char* harmless : kHarmlessWarnings)
    if (text.find(harmless) != std::string::npos) return true;
  return false;
}

std::string trimmed(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

void ensure_gdal() {
  static std::once_flag once;
  std::call_once(once, [] {
    GdalErrorCapture capture;  // plugin loading may complain; keep it off the terminal
    CPLSetErrorHandler(log_handler);
    GDALAllRegister();
    if (CPLGetConfigOption("GDAL_CACHEMAX", nullptr) == nullptr) GDALSetCacheMax64(kDefaultCacheBytes);
  });
}

GdalErrorCapture::GdalErrorCapture() {
  CPLErrorReset();
  CPLPushErrorHandlerEx(capture_handler, this);
}

GdalErrorCapture::~GdalErrorCapture() {
  CPLPopErrorHandler();
  for (const auto& w : warnings_) log::debug("GDAL warning: ", w);
}

void GdalErrorCapture::add(int error_class, const char* message) {
  const std::string text = trimmed(message ? message : "");
  if (text.empty()) return;
  if (error_class < CE_Warning) return;  // CE_None / CE_Debug
  auto& list = (error_class >= CE_Failure) ? errors_ : warnings_;
  if (list.size() < kMaxStoredMessages && std::find(list.begin(), list.end(), text) == list.end()) list.push_back(text);
}

void GdalErrorCapture::clear() {
  errors_.clear();
  CPLErrorReset();
}

std::string GdalErrorCapture::damage_warnings() const {
  std::string out;
  for (const auto& w : warnings_)
    if (!is_harmless_warning(w)) out += (out.empty() ? "" : "; ") + w;
  return out;
}

std::string GdalErrorCapture::errors(const std::string& fallback) const {
  if (errors_.empty()) return fallback;
  std::string out;
  for (std::size_t i = 0; i < errors_.size() && i < kMaxReportedMessages; ++i) {
    if (i) out += "; ";
    out += errors_[i];
  }
  if (errors_.size() > kMaxReportedMessages)
    out += " (+" + std::to_string(errors_.size() - kMaxReportedMessages) + " more)";
  return out;
}

}  // namespace detail

using detail::GdalErrorCapture;

namespace {

GDALDatasetH as_dataset(void* h) { return static_cast<GDALDatasetH>(h); }

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

Metadata parse_name_value_list(char** list) {
  Metadata out;
  for (char** it = list; it && *it; ++it) {
    const std::string item = *it;
    const auto eq = item.find('=');
    if (eq == std::string::npos) continue;
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

const std::set<std::string> kPolarisations = {"HH", "HV", "VH", "VV", "RH", "RV"};

// "V/V", " vv ", "HH" -> canonical code, or "" when not a polarisation.
std::string normalise_polarisation(const std::string& value) {
  std::string code;
  for (char c : value)
    if (std::isalpha(static_cast<unsigned char>(c)))
      code += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return kPolarisations.count(code) ? code : std::string();
}

// Polarisation codes appearing as separate tokens of a string, in order of appearance.
std::vector<std::string> polarisation_tokens(const std::string& text) {
  std::vector<std::string> found;
  std::string token;
  auto flush = [&] {
    const std::string t = upper(token);
    if (kPolarisations.count(t)) found.push_back(t);
    token.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      token += c;
    else
      flush();
  }
  flush();
  return found;
}

// Raw formats whose pixels sit uncompressed in the files GDAL lists: the declared pixel
// bytes cannot exceed the files' size.
const std::set<std::string> kRawDrivers = {"SAR_CEOS", "CEOS",   "ESAT", "ENVI", "EHdr",       "ISCE",
                                           "ROI_PAC",  "GenBin", "PAux", "MFF",  "JAXAPALSAR", "COSAR"};

std::string window_text(int row0, int col0, int nrows, int ncols) {
  std::ostringstream os;
  os << "rows " << row0 << ".." << (static_cast<long long>(row0) + nrows - 1) << ", cols " << col0 << ".."
     << (static_cast<long long>(col0) + ncols - 1);
  return os.str();
}

// arg(z) mapped to [0, 2pi): atan2 gives (-pi, pi]; adding 2pi to a tiny negative angle can
// round up to exactly 2pi in float, which belongs to 0.
inline float phase_0_2pi(double re, double im) {
  constexpr float two_pi = static_cast<float>(2.0 * std::numbers::pi);
  float p = static_cast<float>(std::atan2(im, re));
  if (p < 0.0f) p += two_pi;
  if (p >= two_pi) p = 0.0f;
  return p;
}

inline float modulus(double re, double im) { return static_cast<float>(std::sqrt(re * re + im * im)); }

}  // namespace

// ---------------------------------------------------------------------------------------
// Calibration names

Calibration parse_calibration(const std::string& name) {
  const std::string n = upper(name);
  if (n == "NONE") return Calibration::none;
  if (n == "SIGMA0") return Calibration::sigma0;
  if (n == "BETA0") return Calibration::beta0;
  if (n == "GAMMA0") return Calibration::gamma0;
  throw ConfigError("unknown calibration '" + name + "' (expected none, sigma0, beta0 or gamma0)");
}

std::string to_string(Calibration calibration) {
  switch (calibration) {
    case Calibration::none:
      return "none";
    case Calibration::sigma0:
      return "sigma0";
    case Calibration::beta0:
      return "beta0";
    case Calibration::gamma0:
      return "gamma0";
  }
  return "none";
}

// ---------------------------------------------------------------------------------------
// Opening

namespace {

std::vector<std::string> subdataset_names(GDALDatasetH h) {
  std::vector<std::pair<int, std::string>> numbered;
  for (const auto& [key, value] : parse_name_value_list(GDALGetMetadata(h, "SUBDATASETS"))) {
    // SUBDATASET_<n>_NAME
    if (key.rfind("SUBDATASET_", 0) != 0 || key.size() < 17 || key.substr(key.size() - 5) != "_NAME") continue;
    try {
      numbered.emplace_back(std::stoi(key.substr(11, key.size() - 16)), value);
    } catch (const std::exception&) {
      continue;
    }
  }
  std::sort(numbered.begin(), numbered.end());
  std::vector<std::string> names;
  for (auto& [n, name] : numbered) names.push_back(std::move(name));
  return names;
}

// GDAL's name for a calibrated view of the product open in `h`, or "" when it has none.
std::string calibrated_subdataset(GDALDatasetH h, const std::string& driver, Calibration calibration) {
  const std::string key = calibration == Calibration::sigma0  ? "SIGMA0"
                          : calibration == Calibration::beta0 ? "BETA0"
                                                              : "GAMMA";
  std::string prefix;
  if (driver == "SAFE")
    prefix = "SENTINEL1_CALIB:" + key + ":";
  else if (driver == "RS2")
    prefix = "RADARSAT_2_CALIB:" + key + ":";
  else
    return {};

  std::string first, all_polarisations;
  for (const auto& name : subdataset_names(h)) {
    if (name.rfind(prefix, 0) != 0) continue;
    if (first.empty()) first = name;
    // SENTINEL1_CALIB:<CAL>:<manifest>:<SWATH>[_<POL>]:<UNIT>: no "_<POL>" = every polarisation
    if (driver == "SAFE" && all_polarisations.empty()) {
      const auto last = name.rfind(':');
      const auto before = last == std::string::npos ? std::string::npos : name.rfind(':', last - 1);
      if (before != std::string::npos && name.substr(before + 1, last - before - 1).find('_') == std::string::npos)
        all_polarisations = name;
    }
  }
  return all_polarisations.empty() ? first : all_polarisations;
}

}  // namespace

GdalRaster GdalRaster::open(const fs::path& source, Calibration calibration) {
  detail::ensure_gdal();
  GdalRaster raster;
  raster.path_ = source;

  std::string name = source.string();
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    if (fs::exists(source / "manifest.safe", ec))
      name = (source / "manifest.safe").string();
    else if (fs::exists(source / "product.xml", ec))
      name = (source / "product.xml").string();
    else
      throw InputError(source.string() + ": is a directory, not a SAFE or RADARSAT-2 product");
  }

  GdalErrorCapture capture;
  GDALDatasetH h =
      GDALOpenEx(name.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, nullptr, nullptr, nullptr);
  if (!h)
    throw InputError(source.string() +
                     ": GDAL cannot open it: " + capture.errors("not a raster format GDAL recognises"));
  raster.handle_ = h;  // owned from here: the destructor closes it on any throw below

  if (calibration != Calibration::none) {
    const std::string driver = GDALGetDriverShortName(GDALGetDatasetDriver(h));
    const std::string calibrated = calibrated_subdataset(h, driver, calibration);
    if (calibrated.empty())
      throw InputError(source.string() + ": product carries no calibration for " + to_string(calibration) +
                       " (GDAL driver " + driver + " offers no calibrated view of it)");
    GDALClose(h);
    raster.handle_ = nullptr;
    capture.clear();
    h = GDALOpenEx(calibrated.c_str(), GDAL_OF_RASTER | GDAL_OF_READONLY | GDAL_OF_VERBOSE_ERROR, nullptr, nullptr,
                   nullptr);
    if (!h)
      throw InputError(source.string() + ": GDAL cannot open its " + to_string(calibration) + " view " + calibrated +
                       ": " + capture.errors());
    raster.handle_ = h;
    raster.calibration_applied_ = to_string(calibration);
    name = calibrated;
  }

  raster.gdal_name_ = name;
  raster.rows_ = GDALGetRasterYSize(h);
  raster.cols_ = GDALGetRasterXSize(h);
  raster.raw_bands_ = GDALGetRasterCount(h);

  // SICD in NITF: complex pixels stored as band pairs tagged I then Q.
  if (raster.driver() == "NITF" && raster.raw_bands_ >= 2 && raster.raw_bands_ % 2 == 0) {
    bool pairs = true;
    for (int b = 1; b + 1 <= raster.raw_bands_ && pairs; b += 2) {
      const char* i = GDALGetMetadataItem(GDALGetRasterBand(h, b), "NITF_ISUBCAT", nullptr);
      const char* q = GDALGetMetadataItem(GDALGetRasterBand(h, b + 1), "NITF_ISUBCAT", nullptr);
      pairs = i && q && upper(i) == "I" && upper(q) == "Q";
    }
    raster.iq_pairs_ = pairs;
  }
  return raster;
}

GdalRaster::GdalRaster(GdalRaster&& other) noexcept { *this = std::move(other); }

GdalRaster& GdalRaster::operator=(GdalRaster&& other) noexcept {
  if (this != &other) {
    if (handle_) {
      GdalErrorCapture capture;
      GDALClose(as_dataset(handle_));
    }
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    gdal_name_ = std::move(other.gdal_name_);
    calibration_applied_ = std::move(other.calibration_applied_);
    rows_ = other.rows_;
    cols_ = other.cols_;
    raw_bands_ = other.raw_bands_;
    iq_pairs_ = other.iq_pairs_;
  }
  return *this;
}

GdalRaster::~GdalRaster() {
  if (!handle_) return;
  GdalErrorCapture capture;
  GDALClose(as_dataset(handle_));
}

// ---------------------------------------------------------------------------------------
// Properties

int GdalRaster::bands() const { return iq_pairs_ ? raw_bands_ / 2 : raw_bands_; }

bool GdalRaster::is_complex() const {
  if (iq_pairs_) return true;
  if (raw_bands_ == 0) return false;
  return GDALDataTypeIsComplex(GDALGetRasterDataType(GDALGetRasterBand(as_dataset(handle_), 1))) != 0;
}

std::string GdalRaster::driver() const {
  GDALDriverH d = GDALGetDatasetDriver(as_dataset(handle_));
  return d ? GDALGetDriverShortName(d) : "";
}

std::string GdalRaster::data_type() const {
  if (raw_bands_ == 0) return "";
  return GDALGetDataTypeName(GDALGetRasterDataType(GDALGetRasterBand(as_dataset(handle_), 1)));
}

int GdalRaster::raw_band_of(int band) const {
  if (band < 1 || band > bands())
    throw std::out_of_range(path_.string() + ": band " + std::to_string(band) + " does not exist (the raster has " +
                            std::to_string(bands()) + ")");
  return iq_pairs_ ? 2 * band - 1 : band;
}

std::pair<int, int> GdalRaster::block_size(int band) const {
  int bx = 0, by = 0;
  GDALGetBlockSize(GDALGetRasterBand(as_dataset(handle_), raw_band_of(band)), &bx, &by);
  return {by, bx};
}

bool GdalRaster::has_geotransform() const {
  GdalErrorCapture capture;
  double gt[6];
  return GDALGetGeoTransform(as_dataset(handle_), gt) == CE_None;
}

std::array<double, 6> GdalRaster::geotransform() const {
  GdalErrorCapture capture;
  std::array<double, 6> gt{0, 1, 0, 0, 0, 1};
  if (GDALGetGeoTransform(as_dataset(handle_), gt.data()) != CE_None) gt = {0, 1, 0, 0, 0, 1};
  return gt;
}

std::string GdalRaster::projection_wkt() const {
  GdalErrorCapture capture;
  const char* wkt = GDALGetProjectionRef(as_dataset(handle_));
  return wkt ? wkt : "";
}

std::optional<Georef> GdalRaster::georef() const {
  if (!has_geotransform()) return std::nullopt;
  return Georef{geotransform(), projection_wkt()};
}

std::vector<std::array<double, 2>> GdalRaster::pixel_to_lonlat(const std::vector<std::array<double, 2>>& rows_cols) const {
  detail::GdalErrorCapture capture;
  const bool gcps = GDALGetGCPCount(as_dataset(handle_)) > 0 && GDALGetGCPProjection(as_dataset(handle_)) != nullptr &&
                    *GDALGetGCPProjection(as_dataset(handle_)) != '\0';
  if ((!has_geotransform() || projection_wkt().empty()) && !gcps) return {};
  // GDAL's generic transformer: the geotransform and CRS, or the GCPs (a first-order polynomial
  // fit, as gdalwarp uses), to WGS 84 longitude/latitude.
  char** options = CSLSetNameValue(nullptr, "DST_SRS", "EPSG:4326");
  void* transformer = GDALCreateGenImgProjTransformer2(as_dataset(handle_), nullptr, options);
  CSLDestroy(options);
  if (transformer == nullptr) {
    log::warn(path_.string(), ": no transformation to longitude/latitude: ", capture.errors());
    return {};
  }
  const std::size_t n = rows_cols.size();
  std::vector<double> x(n), y(n), z(n, 0.0);
  std::vector<int> ok(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = rows_cols[i][1];  // GDAL's pixel/line: column first
    y[i] = rows_cols[i][0];
  }
  if (n > 0) GDALGenImgProjTransform(transformer, FALSE, static_cast<int>(n), x.data(), y.data(), z.data(), ok.data());
  GDALDestroyGenImgProjTransformer(transformer);
  std::vector<std::array<double, 2>> out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = ok[i] ? std::array<double, 2>{x[i], y[i]}
                   : std::array<double, 2>{std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  return out;
}

std::optional<double> GdalRaster::nodata(int band) const {
  int has = 0;
  const double value = GDALGetRasterNoDataValue(GDALGetRasterBand(as_dataset(handle_), raw_band_of(band)), &has);
  return has ? std::optional<double>(value) : std::nullopt;
}

Metadata GdalRaster::metadata(const std::string& domain) const {
  GdalErrorCapture capture;
  return parse_name_value_list(GDALGetMetadata(as_dataset(handle_), domain.empty() ? nullptr : domain.c_str()));
}

Metadata GdalRaster::band_metadata(int band) const {
  GdalErrorCapture capture;
  return parse_name_value_list(GDALGetMetadata(GDALGetRasterBand(as_dataset(handle_), raw_band_of(band)), nullptr));
}

std::vector<std::string> GdalRaster::subdatasets() const {
  GdalErrorCapture capture;
  return subdataset_names(as_dataset(handle_));
}

Metadata GdalRaster::sar_facts() const {
  const Metadata md = metadata();
  // Normalised key -> the drivers' keys, in order of preference (SAFE/RS2, CEOS, ENVISAT, NITF).
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kSources = {
      {"mission", {"MISSION_ID", "SATELLITE_IDENTIFIER", "CEOS_MISSION_ID", "NITF_ISORCE"}},
      {"product_type", {"PRODUCT_TYPE", "SPH_SPH_DESCRIPTOR"}},
      {"acquisition_start", {"ACQUISITION_START_TIME", "CEOS_ACQUISITION_TIME", "MPH_SENSING_START", "NITF_IDATIM"}},
      {"acquisition_stop", {"ACQUISITION_STOP_TIME", "MPH_SENSING_STOP"}},
      {"orbit_direction", {"ORBIT_DIRECTION", "SPH_PASS"}},
      {"pixel_spacing_m", {"PIXEL_SPACING", "CEOS_PIXEL_SPACING_METERS", "SPH_RANGE_SPACING"}},
      {"line_spacing_m", {"LINE_SPACING", "CEOS_LINE_SPACING_METERS", "SPH_AZIMUTH_SPACING"}},
      {"incidence_near_deg", {"NEAR_RANGE_INCIDENCE_ANGLE"}},
      {"incidence_far_deg", {"FAR_RANGE_INCIDENCE_ANGLE"}},
      {"incidence_centre_deg", {"CEOS_INC_ANGLE"}},
      {"beam_mode", {"BEAM_MODE", "MODE", "SPH_SWATH"}},
  };
  Metadata facts;
  for (const auto& [fact, keys] : kSources) {
    for (const auto& key : keys) {
      const auto it = md.find(key);
      if (it == md.end()) continue;
      const std::string value = detail::trimmed(it->second);
      if (value.empty()) continue;
      facts[fact] = value;
      break;
    }
  }
  if (bands() > 0) {
    const std::string pol = polarisation(1);
    if (!pol.empty()) facts["polarisation"] = pol;
  }
  return facts;
}

std::string GdalRaster::polarisation(int band) const {
  GdalErrorCapture capture;
  GDALDatasetH h = as_dataset(handle_);
  GDALRasterBandH b = GDALGetRasterBand(h, raw_band_of(band));
  for (const char* key : {"POLARISATION", "POLARIZATION", "POLARIMETRIC_INTERP"}) {
    const char* v = GDALGetMetadataItem(b, key, nullptr);
    if (v && !normalise_polarisation(v).empty()) return normalise_polarisation(v);
  }
  if (const char* desc = GDALGetDescription(b); desc && !normalise_polarisation(desc).empty())
    return normalise_polarisation(desc);

  // ENVISAT: one SPH entry per measurement data set (MDS n = band n).
  const std::string esat_key = "SPH_MDS" + std::to_string(band) + "_TX_RX_POLAR";
  if (const char* v = GDALGetMetadataItem(h, esat_key.c_str(), nullptr); v && !normalise_polarisation(v).empty())
    return normalise_polarisation(v);

  // Free text that names the polarisations in band order (CEOS sensor id, NITF titles,
  // the file name): trusted only when it names exactly one per band.
  std::vector<std::string> texts;
  for (const char* key : {"CEOS_SENSOR_ID", "NITF_IID2", "NITF_FTITLE"})
    if (const char* v = GDALGetMetadataItem(h, key, nullptr)) texts.emplace_back(v);
  texts.push_back(path_.filename().string());
  for (const auto& text : texts) {
    const auto tokens = polarisation_tokens(text);
    if (!tokens.empty() && static_cast<int>(tokens.size()) == bands())
      return tokens[static_cast<std::size_t>(band - 1)];
  }
  return "";
}

std::string GdalRaster::band_description(int band) const {
  GdalErrorCapture capture;
  const char* desc = GDALGetDescription(GDALGetRasterBand(as_dataset(handle_), raw_band_of(band)));
  return desc ? desc : "";
}

// ---------------------------------------------------------------------------------------
// Pixels

void GdalRaster::read_window(int row0, int col0, int nrows, int ncols, Image& out, int band) const {
  const int raw = raw_band_of(band);
  if (row0 < 0 || col0 < 0 || nrows <= 0 || ncols <= 0 || static_cast<long long>(row0) + nrows > rows_ ||
      static_cast<long long>(col0) + ncols > cols_)
    throw std::out_of_range(path_.string() + ": window " + window_text(row0, col0, nrows, ncols) +
                            " is not inside the " + std::to_string(rows_) + "x" + std::to_string(cols_) + " raster");

  GDALDatasetH h = as_dataset(handle_);
  const std::size_t n = static_cast<std::size_t>(nrows) * static_cast<std::size_t>(ncols);
  out.rows = nrows;
  out.cols = ncols;
  out.magnitude.resize(n);

  GdalErrorCapture capture;
  auto read_into = [&](int gdal_band, GDALDataType type, void* buffer) {
    if (GDALRasterIO(GDALGetRasterBand(h, gdal_band), GF_Read, col0, row0, ncols, nrows, buffer, ncols, nrows, type, 0,
                     0) != CE_None)
      throw InputError(path_.string() + ": cannot read " + window_text(row0, col0, nrows, ncols) + " of band " +
                       std::to_string(band) + ": " + capture.errors());
  };

  if (iq_pairs_) {
    std::vector<float> in_phase(n), quadrature(n);
    read_into(raw, GDT_Float32, in_phase.data());
    read_into(raw + 1, GDT_Float32, quadrature.data());
    out.phase.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      out.magnitude[k] = modulus(in_phase[k], quadrature[k]);
      out.phase[k] = phase_0_2pi(in_phase[k], quadrature[k]);
    }
  } else if (GDALDataTypeIsComplex(GDALGetRasterDataType(GDALGetRasterBand(h, raw)))) {
    std::vector<std::complex<float>> z(n);
    read_into(raw, GDT_CFloat32, z.data());
    out.phase.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      out.magnitude[k] = modulus(z[k].real(), z[k].imag());
      out.phase[k] = phase_0_2pi(z[k].real(), z[k].imag());
    }
  } else {
    read_into(raw, GDT_Float32, out.magnitude.data());
    out.phase.clear();
  }
  // Decoders report some damage only as a warning and fill the rest with zeros or garbage
  // (libjpeg: "Premature end of JPEG file" on a JPEG cut in half): such a read is a failure.
  if (const std::string damage = capture.damage_warnings(); !damage.empty())
    throw InputError(path_.string() + ": reading " + window_text(row0, col0, nrows, ncols) + " of band " +
                     std::to_string(band) + " gave GDAL warnings that the data are damaged: " + damage);
}

void GdalRaster::read_rows_probe(int raw_band, int row, std::string* error) const {
  std::vector<float> line(static_cast<std::size_t>(cols_));
  GdalErrorCapture capture;
  const CPLErr err = GDALRasterIO(GDALGetRasterBand(as_dataset(handle_), raw_band), GF_Read, 0, row, cols_, 1,
                                  line.data(), cols_, 1, GDT_Float32, 0, 0);
  if (err != CE_None || capture.has_errors())
    *error = capture.errors();
  else
    *error = capture.damage_warnings();  // a warning of damage: the row was not read as stored
}

void GdalRaster::validate() const {
  const std::string where = path_.string() + ": ";
  if (raw_bands_ == 0) {
    const auto subs = subdatasets();
    if (subs.empty()) throw InputError(where + driver() + " product holds no raster bands");
    throw InputError(where + driver() + " product holds no raster of its own but " + std::to_string(subs.size()) +
                     " subdatasets (open one of them, e.g. " + subs.front() + ")");
  }
  if (rows_ <= 0 || cols_ <= 0)
    throw InputError(where + driver() + " declares an empty raster (" + std::to_string(cols_) + "x" +
                     std::to_string(rows_) + ")");

  const std::string declares =
      driver() + " declares " + std::to_string(cols_) + "x" + std::to_string(rows_) + " " + data_type();
  std::string error;
  for (int b = 1; b <= raw_bands_; ++b) {
    const std::string band_note = raw_bands_ > 1 ? " in band " + std::to_string(b) : "";
    read_rows_probe(b, 0, &error);
    if (!error.empty())
      throw InputError(where + declares + " but holds no image data" + band_note +
                       " (the first row cannot be read: header-only or empty product; GDAL: " + error + ")");
    if (rows_ == 1) continue;
    read_rows_probe(b, rows_ - 1, &error);
    if (error.empty()) continue;
    // Bisect for the first unreadable row: rows [0, good] read, row `bad` does not.
    int good = 0, bad = rows_ - 1;
    std::string bad_error = error;
    while (bad - good > 1) {
      const int mid = good + (bad - good) / 2;
      read_rows_probe(b, mid, &error);
      if (error.empty())
        good = mid;
      else {
        bad = mid;
        bad_error = error;
      }
    }
    throw InputError(where + declares + " but the data end at row " + std::to_string(bad) + band_note + " (only " +
                     std::to_string(bad) + " of " + std::to_string(rows_) +
                     " rows readable: truncated product; GDAL: " + bad_error + ")");
  }

  // Raw formats: a file shorter than the declared pixels is truncated even when the driver
  // pads missing rows instead of failing.
  if (kRawDrivers.count(driver())) {
    GdalErrorCapture capture;
    char** files = GDALGetFileList(as_dataset(handle_));
    unsigned long long on_disk = 0;
    for (char** f = files; f && *f; ++f) {
      VSIStatBufL st;
      if (VSIStatL(*f, &st) == 0) on_disk += static_cast<unsigned long long>(st.st_size);
    }
    const bool listed = files && *files;
    CSLDestroy(files);
    const unsigned long long declared =
        static_cast<unsigned long long>(rows_) * static_cast<unsigned long long>(cols_) *
        static_cast<unsigned long long>(raw_bands_) *
        static_cast<unsigned long long>(
            GDALGetDataTypeSizeBytes(GDALGetRasterDataType(GDALGetRasterBand(as_dataset(handle_), 1))));
    if (listed && on_disk < declared)
      throw InputError(where + declares + " (" + std::to_string(declared) + " bytes of pixels) but its files hold " +
                       std::to_string(on_disk) + " bytes (truncated product)");
  }
}

}  // namespace sarscale::io
