#include "sarscale/io/detection_file.hpp"

#include <cpl_string.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include <cmath>
#include <functional>
#include <system_error>

#include "sarscale/core/error.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::io {

namespace fs = std::filesystem;

namespace {

// One column of the files: its name, OGR type, and how it is read from / written to a record.
struct Column {
  const char* name;
  OGRFieldType type;
  std::function<void(OGRFeatureH, int, const Detection&)> put;
  std::function<void(OGRFeatureH, int, Detection&)> get;
};

Column int_column(const char* name, std::int64_t Detection::*field) {
  return {name, OFTInteger64, [field](OGRFeatureH f, int i, const Detection& d) { OGR_F_SetFieldInteger64(f, i, d.*field); },
          [field](OGRFeatureH f, int i, Detection& d) { d.*field = OGR_F_GetFieldAsInteger64(f, i); }};
}

// NaN is written as an empty (null) field and read back as NaN.
Column real_column(const char* name, double Detection::*field) {
  return {name, OFTReal,
          [field](OGRFeatureH f, int i, const Detection& d) {
            if (std::isfinite(d.*field)) OGR_F_SetFieldDouble(f, i, d.*field);
            else if (std::isinf(d.*field)) OGR_F_SetFieldDouble(f, i, d.*field < 0 ? -1e308 : 1e308);
          },
          [field](OGRFeatureH f, int i, Detection& d) {
            d.*field = OGR_F_IsFieldSetAndNotNull(f, i) ? OGR_F_GetFieldAsDouble(f, i)
                                                        : std::numeric_limits<double>::quiet_NaN();
          }};
}

Column text_column(const char* name, std::string Detection::*field) {
  return {name, OFTString, [field](OGRFeatureH f, int i, const Detection& d) { OGR_F_SetFieldString(f, i, (d.*field).c_str()); },
          [field](OGRFeatureH f, int i, Detection& d) {
            d.*field = OGR_F_IsFieldSetAndNotNull(f, i) ? OGR_F_GetFieldAsString(f, i) : "";
          }};
}

const std::vector<Column>& columns() {
  static const std::vector<Column> all = {
      text_column("scene", &Detection::scene),
      int_column("id", &Detection::id),
      int_column("row_min", &Detection::row_min),
      int_column("col_min", &Detection::col_min),
      int_column("row_max", &Detection::row_max),
      int_column("col_max", &Detection::col_max),
      real_column("row", &Detection::row),
      real_column("col", &Detection::col),
      int_column("area", &Detection::area),
      real_column("map_x", &Detection::map_x),
      real_column("map_y", &Detection::map_y),
      real_column("lon", &Detection::lon),
      real_column("lat", &Detection::lat),
      real_column("peak", &Detection::peak),
      real_column("contrast_db", &Detection::contrast_db),
      real_column("score_db", &Detection::score_db),
      real_column("log10_pfa", &Detection::log10_pfa),
      text_column("class", &Detection::class_name),
      real_column("probability", &Detection::probability),
      real_column("clutter_probability", &Detection::clutter_probability),
      {"target", OFTInteger, [](OGRFeatureH f, int i, const Detection& d) { OGR_F_SetFieldInteger(f, i, d.target ? 1 : 0); },
       [](OGRFeatureH f, int i, Detection& d) { d.target = OGR_F_GetFieldAsInteger(f, i) != 0; }},
      text_column("reason", &Detection::reason),
  };
  return all;
}

// Writes one OGR dataset at `temp` (driver, layer options), then renames it to `final_path`.
void write_layer(const fs::path& temp, const fs::path& final_path, const char* driver_name, char** layer_options,
                 const std::vector<const Detection*>& rows, bool lonlat_points) {
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  std::error_code ec;
  fs::remove(temp, ec);
  GDALDriverH driver = GDALGetDriverByName(driver_name);
  if (driver == nullptr) throw IoError("GDAL has no " + std::string(driver_name) + " driver");
  GDALDatasetH ds = GDALCreate(driver, temp.c_str(), 0, 0, 0, GDT_Unknown, nullptr);
  if (ds == nullptr) throw IoError("cannot create " + temp.string() + ": " + capture.errors());
  OGRSpatialReferenceH wgs84 = nullptr;
  if (lonlat_points) {
    wgs84 = OSRNewSpatialReference(nullptr);
    OSRImportFromEPSG(wgs84, 4326);
    OSRSetAxisMappingStrategy(wgs84, OAMS_TRADITIONAL_GIS_ORDER);
  }
  OGRLayerH layer = GDALDatasetCreateLayer(ds, "detections", wgs84, lonlat_points ? wkbPoint : wkbNone, layer_options);
  bool ok = layer != nullptr;
  for (const Column& c : columns()) {
    if (!ok) break;
    OGRFieldDefnH def = OGR_Fld_Create(c.name, c.type);
    ok = OGR_L_CreateField(layer, def, TRUE) == OGRERR_NONE;
    OGR_Fld_Destroy(def);
  }
  for (const Detection* d : rows) {
    if (!ok) break;
    OGRFeatureH f = OGR_F_Create(OGR_L_GetLayerDefn(layer));
    for (std::size_t i = 0; i < columns().size(); ++i) columns()[i].put(f, static_cast<int>(i), *d);
    if (lonlat_points) {
      OGRGeometryH point = OGR_G_CreateGeometry(wkbPoint);
      OGR_G_SetPoint_2D(point, 0, d->lon, d->lat);
      OGR_F_SetGeometryDirectly(f, point);
    }
    ok = OGR_L_CreateFeature(layer, f) == OGRERR_NONE;
    OGR_F_Destroy(f);
  }
  if (wgs84 != nullptr) OSRDestroySpatialReference(wgs84);
  GDALClose(ds);  // returns nothing in GDAL 3.6: write errors surface through the capture
  ok = ok && !capture.has_errors();
  if (!ok) {
    fs::remove(temp, ec);
    throw IoError("writing " + final_path.string() + " failed: " + capture.errors());
  }
  commit_output(temp, final_path);
}

}  // namespace

void write_detections(const fs::path& folder, const std::vector<Detection>& detections) {
  std::vector<const Detection*> all, located;
  for (const Detection& d : detections) {
    all.push_back(&d);
    if (std::isfinite(d.lon) && std::isfinite(d.lat)) located.push_back(&d);
  }
  // OGR's CSV driver makes a folder of a name without .csv: the temporary name keeps the suffix.
  char** csv_options = CSLSetNameValue(nullptr, "STRING_QUOTING", "IF_NEEDED");  // numbers unquoted
  try {
    write_layer(folder / ".detections.part.csv", folder / "detections.csv", "CSV", csv_options, all, false);
  } catch (...) {
    CSLDestroy(csv_options);
    throw;
  }
  CSLDestroy(csv_options);
  const fs::path geojson = folder / "detections.geojson";
  if (located.empty()) {
    std::error_code ec;
    fs::remove(geojson, ec);  // an earlier run's file would describe other detections
    return;
  }
  char** options = CSLSetNameValue(nullptr, "RFC7946", "YES");
  options = CSLSetNameValue(options, "COORDINATE_PRECISION", "7");
  try {
    write_layer(folder / ".detections.part.geojson", geojson, "GeoJSON", options, located, true);
  } catch (...) {
    CSLDestroy(options);
    throw;
  }
  CSLDestroy(options);
}

std::vector<Detection> read_detections(const fs::path& path) {
  const fs::path file = fs::is_directory(path) ? path / "detections.csv" : path;
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  const char* drivers[] = {"CSV", nullptr};
  const char* open_options[] = {"EMPTY_STRING_AS_NULL=YES", nullptr};  // empty cells: NaN, not 0
  GDALDatasetH ds = GDALOpenEx(file.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, drivers, open_options, nullptr);
  if (ds == nullptr) throw InputError(file.string() + ": not a detections CSV file: " + capture.errors("cannot open"));
  std::vector<Detection> out;
  OGRLayerH layer = GDALDatasetGetLayer(ds, 0);
  OGRFeatureDefnH def = layer ? OGR_L_GetLayerDefn(layer) : nullptr;
  std::vector<int> index;
  std::string missing;
  for (const Column& c : columns()) {
    index.push_back(def ? OGR_FD_GetFieldIndex(def, c.name) : -1);
    if (index.back() < 0) missing += (missing.empty() ? "" : ", ") + std::string(c.name);
  }
  if (!missing.empty()) {
    GDALClose(ds);
    throw InputError(file.string() + ": not a detections file of sarscale detect (no column " + missing + ")");
  }
  std::int64_t line = 1;
  while (OGRFeatureH f = OGR_L_GetNextFeature(layer)) {
    ++line;
    Detection d;
    for (std::size_t i = 0; i < columns().size(); ++i) columns()[i].get(f, index[i], d);
    OGR_F_Destroy(f);
    if (d.scene.empty() || d.id <= 0) {
      GDALClose(ds);
      throw InputError(file.string() + ", line " + std::to_string(line) + ": a detection needs a scene and an id >= 1");
    }
    out.push_back(std::move(d));
  }
  GDALClose(ds);
  return out;
}

}  // namespace sarscale::io
