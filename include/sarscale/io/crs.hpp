#pragma once
// Coordinate reference systems by name, for outputs that carry georeferencing.
#include <string>

namespace sarscale::io {

// WKT of a CRS given as GDAL accepts it from users ("EPSG:32631", a PROJ string, WKT).
// Throws ConfigError when GDAL does not know it.
std::string crs_wkt(const std::string& user_input);

}  // namespace sarscale::io
