#include "sarscale/io/crs.hpp"

#include <cpl_conv.h>
#include <ogr_srs_api.h>

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
