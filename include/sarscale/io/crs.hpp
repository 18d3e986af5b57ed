#pragma once
// Coordinate reference systems by name, for outputs that carry georeferencing, and the ground
// size of a georeferenced raster's pixels (for figures per km^2 and sizes given in metres).
#include <array>
#include <optional>
#include <string>

#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

// WKT of a CRS given as GDAL accepts it from users ("EPSG:32631", a PROJ string, WKT).
// Throws ConfigError when GDAL does not know it.
std::string crs_wkt(const std::string& user_input);

// Ground size in metres of one step along a row (to the next column) and one step along a column
// (to the next row) at pixel position (row, col): through the CRS's linear unit for a projected
// (or local) CRS, on a sphere of the Earth's mean radius at that latitude for a geographic one
// (within a few tenths of a percent of the ellipsoid). Map-plane sizes: a projection's scale
// factor (UTM: 0.9996) is not undone. nullopt when the georef has no CRS GDAL reads.
std::optional<std::array<double, 2>> pixel_size_m(const Georef& georef, double row, double col);

// Ground area of one pixel in m^2 at (row, col), shear included (same conventions).
std::optional<double> pixel_area_m2(const Georef& georef, double row, double col);

}  // namespace sarscale::io
