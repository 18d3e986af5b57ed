#include "sarscale/io/crs.hpp"

#include <cpl_conv.h>
#include <ogr_srs_api.h>

#include <cmath>

#include "sarscale/core/error.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

std::string crs_wkt(const std::string& user_input) {
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  OGRSpatialReferenceH srs = OSRNewSpatialReference(nullptr);
  char* wkt = nullptr;
  const bool ok =
      OSRSetFromUserInput(srs, user_input.c_str()) == OGRERR_NONE && OSRExportToWkt(srs, &wkt) == OGRERR_NONE;
  std::string out = ok && wkt ? wkt : "";
  CPLFree(wkt);
  OSRDestroySpatialReference(srs);
  if (!ok)
    throw ConfigError("unknown coordinate reference system '" + user_input + "': " + capture.errors("not recognised"));
  return out;
}

}  // namespace sarscale::io

namespace sarscale::io {

namespace {

// The geotransform's two pixel steps (column step, row step) as ground vectors in metres.
std::optional<std::array<std::array<double, 2>, 2>> pixel_steps_m(const Georef& georef, double row, double col) {
  if (georef.projection_wkt.empty()) return std::nullopt;
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  OGRSpatialReferenceH srs = OSRNewSpatialReference(georef.projection_wkt.c_str());
  if (!srs) return std::nullopt;
  const auto& g = georef.geotransform;
  double sx = 1, sy = 1;  // metres per map unit along x and y
  if (OSRIsGeographic(srs)) {
    // GDAL geotransforms of geographic rasters are in (lon, lat) order whatever the CRS's axes.
    constexpr double kMeanEarthRadius = 6371008.8;
    const double radians_per_unit = OSRGetAngularUnits(srs, nullptr);  // degrees: pi / 180
    const double lat = (g[3] + col * g[4] + row * g[5]) * radians_per_unit;
    sx = kMeanEarthRadius * radians_per_unit * std::cos(lat);
    sy = kMeanEarthRadius * radians_per_unit;
  } else {
    sx = sy = OSRGetLinearUnits(srs, nullptr);
  }
  OSRDestroySpatialReference(srs);
  if (!(sx >= 0) || !(sy > 0)) return std::nullopt;
  return std::array<std::array<double, 2>, 2>{{{g[1] * sx, g[4] * sy}, {g[2] * sx, g[5] * sy}}};
}

}  // namespace

std::optional<std::array<double, 2>> pixel_size_m(const Georef& georef, double row, double col) {
  const auto steps = pixel_steps_m(georef, row, col);
  if (!steps) return std::nullopt;
  return std::array<double, 2>{std::hypot((*steps)[0][0], (*steps)[0][1]), std::hypot((*steps)[1][0], (*steps)[1][1])};
}

std::optional<double> pixel_area_m2(const Georef& georef, double row, double col) {
  const auto s = pixel_steps_m(georef, row, col);
  if (!s) return std::nullopt;
  return std::abs((*s)[0][0] * (*s)[1][1] - (*s)[0][1] * (*s)[1][0]);
}

}  // namespace sarscale::io
