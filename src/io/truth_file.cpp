#include "sarscale/io/truth_file.hpp"

#include <cpl_conv.h>
#include <gdal.h>
#include <ogr_api.h>
#include <ogr_srs_api.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <string_view>

#include "sarscale/core/error.hpp"

namespace sarscale::io {
namespace fs = std::filesystem;

namespace {

// ---- CSV ------------------------------------------------------------------------------------
// CSV truth is parsed here rather than through OGR's CSV driver: OGR numbers records, not lines
// (a blank line or a quoted line break shifts them), fills a short record with nulls and reads
// "12abc" in a numeric column as 12 when it guesses types. A truth file that does not parse must
// name its line, so every record is checked here, field by field.

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// One record of RFC 4180 CSV on one line (quoted fields may hold commas and "" for a quote).
// Returns false for a quote left open (a line break inside a field is refused).
bool split_csv_line(std::string_view line, std::vector<std::string>& fields) {
  fields.assign(1, std::string());
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') fields.back() += c;
      else if (i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  for (auto& f : fields) f = std::string(trim(f));
  return !quoted;
}

class CsvTruthReader {
 public:
  explicit CsvTruthReader(fs::path path) : path_(std::move(path)) {}

  std::vector<TruthObject> read() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw InputError(path_.string() + ": cannot open the truth file");
    std::string text;
    std::vector<std::string> fields;
    std::vector<TruthObject> out;
    std::size_t line_no = 0;
    while (std::getline(in, text)) {
      ++line_no;
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (line_no == 1 && text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);  // UTF-8 byte order mark
      if (trim(text).empty()) {
        if (line_no == 1) fail(1, "the header line is empty");
        continue;
      }
      if (!split_csv_line(text, fields)) fail(line_no, "a quoted field is not closed on its line");
      if (line_no == 1) read_header(fields);
      else out.push_back(parse_record(fields, line_no));
    }
    if (in.bad()) throw InputError(path_.string() + ": read error");
    if (line_no == 0) throw InputError(path_.string() + ": empty truth file (no header line)");
    return out;
  }

 private:
  [[noreturn]] void fail(std::size_t line, const std::string& why) const {
    throw InputError(path_.string() + ":" + std::to_string(line) + ": " + why);
  }

  void read_header(const std::vector<std::string>& names) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string name = lower(names[i]);
      if (name.empty()) fail(1, "column " + std::to_string(i + 1) + " has no name");
      if (!columns_.emplace(name, i).second) fail(1, "column '" + name + "' appears twice");
    }
    width_ = names.size();
    for (const char* required : {"row", "col"})
      if (!columns_.count(required)) fail(1, std::string("missing column '") + required + "'");
    const int box = static_cast<int>(columns_.count("box_row0") + columns_.count("box_col0") +
                                     columns_.count("box_rows") + columns_.count("box_cols"));
    if (box != 0 && box != 4) fail(1, "a footprint needs all four columns box_row0, box_col0, box_rows, box_cols");
    has_box_ = box == 4;
    // synth's <scene>_targets.csv: its row/col are the target origin with pixel r centred on r
    // (synth's point-spread functions peak at integer coordinates), half a pixel before this
    // format's convention (pixel r covers [r, r+1)).
    static const std::vector<std::string> kSynth = {"index", "class_index", "class", "serial", "row", "col",
                                                     "azimuth_deg"};
    synth_ = names.size() >= kSynth.size() &&
             std::equal(kSynth.begin(), kSynth.end(), names.begin(), [](const std::string& a, const std::string& b) {
               return a == lower(b);
             });
  }

  const std::string* field(const std::vector<std::string>& f, const char* name) const {
    const auto it = columns_.find(name);
    return it == columns_.end() ? nullptr : &f[it->second];
  }

  double number(const std::vector<std::string>& f, const char* name, std::size_t line) const {
    const std::string& s = *field(f, name);
    double v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v))
      fail(line, std::string("column '") + name + "': '" + s + "' is not a finite number");
    return v;
  }

  std::int64_t integer(const std::vector<std::string>& f, const char* name, std::size_t line) const {
    const std::string& s = *field(f, name);
    std::int64_t v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size())
      fail(line, std::string("column '") + name + "': '" + s + "' is not an integer");
    return v;
  }

  TruthObject parse_record(const std::vector<std::string>& f, std::size_t line) const {
    if (f.size() != width_)
      fail(line, std::to_string(f.size()) + " fields where the header has " + std::to_string(width_));
    TruthObject t;
    t.line = line;
    const double shift = synth_ ? 0.5 : 0.0;
    t.row = number(f, "row", line) + shift;
    t.col = number(f, "col", line) + shift;
    if (const auto* s = field(f, "scene")) t.scene = *s;
    const std::string* cls = field(f, "class");
    const std::string* kind = field(f, "kind");
    const std::string* detail = field(f, "detail");
    if (!detail || detail->empty()) detail = field(f, "serial");
    if (detail) t.detail = *detail;
    try {
      set_kind(t, cls ? *cls : "", kind ? lower(*kind) : "");
    } catch (const InputError& e) {
      fail(line, e.what());
    }
    if (has_box_) {
      t.box_row0 = integer(f, "box_row0", line);
      t.box_col0 = integer(f, "box_col0", line);
      t.box_rows = integer(f, "box_rows", line);
      t.box_cols = integer(f, "box_cols", line);
      if (t.box_rows < 0 || t.box_cols < 0) fail(line, "a footprint with a negative size");
    }
    return t;
  }

 public:
  // class/kind rules shared with vector truth (docs/detection.md, "Ground truth").
  static void set_kind(TruthObject& t, const std::string& cls, const std::string& kind) {
    if (!kind.empty() && kind != "target" && kind != "clutter")
      throw InputError("kind '" + kind + "' is neither target nor clutter");
    const bool clutter_class = lower(cls) == "clutter";
    if (kind == "target" && clutter_class) throw InputError("kind target with class clutter");
    t.target = !(kind == "clutter" || clutter_class);
    if (t.target) {
      t.class_name = cls.empty() ? "target" : cls;
    } else {
      t.class_name = "clutter";
      if (t.detail.empty() && !cls.empty() && !clutter_class) t.detail = cls;  // e.g. class "building"
    }
  }

 private:
  fs::path path_;
  std::map<std::string, std::size_t> columns_;
  std::size_t width_ = 0;
  bool has_box_ = false;
  bool synth_ = false;
};

// ---- vector layers through OGR ----------------------------------------------------------------

struct DatasetCloser {
  void operator()(void* ds) const { GDALClose(ds); }
};
struct SrsDestroyer {
  void operator()(void* srs) const { OSRDestroySpatialReference(static_cast<OGRSpatialReferenceH>(srs)); }
};
struct TransformDestroyer {
  void operator()(void* ct) const { OCTDestroyCoordinateTransformation(static_cast<OGRCoordinateTransformationH>(ct)); }
};
struct FeatureDestroyer {
  void operator()(void* f) const { OGR_F_Destroy(static_cast<OGRFeatureH>(f)); }
};

std::string string_property(OGRFeatureH feature, const char* name) {
  const int i = OGR_F_GetFieldIndex(feature, name);
  if (i < 0 || !OGR_F_IsFieldSetAndNotNull(feature, i)) return "";
  return std::string(trim(OGR_F_GetFieldAsString(feature, i)));
}

// A feature's point, or a polygon's centroid and envelope.
void read_geometry(OGRFeatureH feature, TruthObject& t) {
  OGRGeometryH g = OGR_F_GetGeometryRef(feature);
  if (!g || OGR_G_IsEmpty(g)) throw InputError("no geometry");
  const OGRwkbGeometryType type = wkbFlatten(OGR_G_GetGeometryType(g));
  if (type == wkbPoint) {
    t.x = OGR_G_GetX(g, 0);
    t.y = OGR_G_GetY(g, 0);
  } else if (type == wkbPolygon || type == wkbMultiPolygon) {
    std::unique_ptr<void, void (*)(void*)> centroid(OGR_G_CreateGeometry(wkbPoint),
                                                     [](void* p) { OGR_G_DestroyGeometry(static_cast<OGRGeometryH>(p)); });
    if (OGR_G_Centroid(g, static_cast<OGRGeometryH>(centroid.get())) != OGRERR_NONE)
      throw InputError("the polygon has no centroid");
    t.x = OGR_G_GetX(static_cast<OGRGeometryH>(centroid.get()), 0);
    t.y = OGR_G_GetY(static_cast<OGRGeometryH>(centroid.get()), 0);
    OGREnvelope env;
    OGR_G_GetEnvelope(g, &env);
    t.map_envelope = {env.MinX, env.MinY, env.MaxX, env.MaxY};
  } else {
    throw InputError(std::string("geometry ") + OGRGeometryTypeToName(type) + " is neither a point nor a polygon");
  }
  if (!std::isfinite(t.x) || !std::isfinite(t.y)) throw InputError("a coordinate is not finite");
}

std::vector<TruthObject> read_vector_truth(const fs::path& path) {
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  std::unique_ptr<void, DatasetCloser> ds(
      GDALOpenEx(path.c_str(), GDAL_OF_VECTOR | GDAL_OF_READONLY, nullptr, nullptr, nullptr));
  if (!ds)
    throw InputError(path.string() + ": neither a truth CSV (a header with row and col columns) nor a vector file " +
                     "GDAL opens (" + capture.errors("not recognised") + ")");
  if (GDALDatasetGetLayerCount(ds.get()) != 1)
    throw InputError(path.string() + ": a truth file must hold one vector layer, it has " +
                     std::to_string(GDALDatasetGetLayerCount(ds.get())));
  OGRLayerH layer = GDALDatasetGetLayer(ds.get(), 0);
  OGRSpatialReferenceH srs = OGR_L_GetSpatialRef(layer);
  if (!srs) throw InputError(path.string() + ": the layer has no coordinate reference system");
  char* wkt = nullptr;
  OSRExportToWkt(srs, &wkt);
  const std::string crs = wkt ? wkt : "";
  CPLFree(wkt);

  std::vector<TruthObject> out;
  OGR_L_ResetReading(layer);
  std::size_t number = 0;
  while (OGRFeatureH raw = OGR_L_GetNextFeature(layer)) {
    std::unique_ptr<void, FeatureDestroyer> feature(raw);
    TruthObject t;
    t.line = ++number;
    try {
      read_geometry(raw, t);
      t.scene = string_property(raw, "scene");
      t.detail = string_property(raw, "detail");
      if (t.detail.empty()) t.detail = string_property(raw, "serial");
      CsvTruthReader::set_kind(t, string_property(raw, "class"), lower(string_property(raw, "kind")));
    } catch (const InputError& e) {
      throw InputError(path.string() + ": feature " + std::to_string(number) + ": " + e.what());
    }
    t.crs_wkt = crs;
    out.push_back(std::move(t));
  }
  if (capture.has_errors()) throw InputError(path.string() + ": " + capture.errors());
  return out;
}

// A CSV truth file: named .csv, or its first line is a CSV header with row and col columns.
bool is_pixel_csv(const fs::path& path) {
  if (lower(path.extension().string()) == ".csv") return true;
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first)) return false;
  std::vector<std::string> names;
  if (!split_csv_line(first, names)) return false;
  for (auto& n : names) n = lower(n);
  return std::count(names.begin(), names.end(), "row") == 1 && std::count(names.begin(), names.end(), "col") == 1;
}

}  // namespace

std::vector<TruthObject> read_truth(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw InputError(path.string() + ": truth file not found");
  if (is_pixel_csv(path)) return CsvTruthReader(path).read();
  return read_vector_truth(path);
}

std::vector<TruthObject> truth_for_scene(const std::vector<TruthObject>& truth, const fs::path& scene) {
  const std::string name = scene.filename().string(), stem = scene.stem().string();
  std::vector<TruthObject> out;
  for (const auto& t : truth) {
    const std::string own = fs::path(t.scene).filename().string();
    if (t.scene.empty() || own == name || own == stem) out.push_back(t);
  }
  return out;
}

namespace {

// Map coordinates of one CRS to scene pixels: OSR transform to the scene CRS (both in
// traditional GIS order, x = lon/easting), then the inverse geotransform. GDAL's pixel/line
// put pixel (r, c)'s corner at integers, its centre at r + 0.5: the truth convention.
class MapToPixel {
 public:
  MapToPixel(const std::string& from_wkt, const Georef& scene) {
    if (!GDALInvGeoTransform(const_cast<double*>(scene.geotransform.data()), inverse_.data()))
      throw InputError("the scene's geotransform cannot be inverted");
    std::unique_ptr<void, SrsDestroyer> from(OSRNewSpatialReference(from_wkt.c_str()));
    std::unique_ptr<void, SrsDestroyer> to(OSRNewSpatialReference(scene.projection_wkt.c_str()));
    if (!from || !to) throw InputError("a coordinate reference system GDAL does not read");
    OSRSetAxisMappingStrategy(static_cast<OGRSpatialReferenceH>(from.get()), OAMS_TRADITIONAL_GIS_ORDER);
    OSRSetAxisMappingStrategy(static_cast<OGRSpatialReferenceH>(to.get()), OAMS_TRADITIONAL_GIS_ORDER);
    transform_.reset(OCTNewCoordinateTransformation(static_cast<OGRSpatialReferenceH>(from.get()),
                                                    static_cast<OGRSpatialReferenceH>(to.get())));
    if (!transform_) throw InputError("no transformation from the truth's CRS to the scene's");
  }

  // (row, col) of map point (x, y); false when the transform fails.
  bool operator()(double x, double y, double& row, double& col) const {
    if (!OCTTransform(static_cast<OGRCoordinateTransformationH>(transform_.get()), 1, &x, &y, nullptr)) return false;
    col = inverse_[0] + x * inverse_[1] + y * inverse_[2];
    row = inverse_[3] + x * inverse_[4] + y * inverse_[5];
    return std::isfinite(row) && std::isfinite(col);
  }

 private:
  std::array<double, 6> inverse_{};
  std::unique_ptr<void, TransformDestroyer> transform_;
};

// The pixel box holding the four corners of a map envelope.
void locate_envelope(const MapToPixel& to_pixel, TruthObject& t) {
  const auto& e = t.map_envelope;
  double r_min = INFINITY, r_max = -INFINITY, c_min = INFINITY, c_max = -INFINITY;
  for (double x : {e[0], e[2]})
    for (double y : {e[1], e[3]}) {
      double r = 0, c = 0;
      if (!to_pixel(x, y, r, c)) return;  // footprint stays unknown
      r_min = std::min(r_min, r), r_max = std::max(r_max, r);
      c_min = std::min(c_min, c), c_max = std::max(c_max, c);
    }
  t.box_row0 = static_cast<std::int64_t>(std::floor(r_min));
  t.box_col0 = static_cast<std::int64_t>(std::floor(c_min));
  t.box_rows = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(r_max)) - t.box_row0);
  t.box_cols = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(c_max)) - t.box_col0);
}

}  // namespace

void locate_truth(std::vector<TruthObject>& truth, const std::optional<Georef>& scene_georef) {
  detail::ensure_gdal();
  detail::GdalErrorCapture capture;
  std::map<std::string, std::unique_ptr<MapToPixel>> transforms;  // one per truth CRS
  for (auto& t : truth) {
    if (!std::isnan(t.row) && !std::isnan(t.col)) continue;  // already in pixels
    const std::string where = "truth " + std::string(t.crs_wkt.empty() ? "line " : "feature ") + std::to_string(t.line);
    if (t.crs_wkt.empty() || std::isnan(t.x) || std::isnan(t.y))
      throw InputError(where + " has neither a pixel position nor map coordinates");
    if (!scene_georef || scene_georef->projection_wkt.empty())
      throw InputError(where + " is in map coordinates but the scene has no georeferencing (geotransform and CRS)");
    auto& to_pixel = transforms[t.crs_wkt];
    try {
      if (!to_pixel) to_pixel = std::make_unique<MapToPixel>(t.crs_wkt, *scene_georef);
    } catch (const InputError& e) {
      throw InputError(where + ": " + e.what() + " (" + capture.errors("no detail from GDAL") + ")");
    }
    if (!(*to_pixel)(t.x, t.y, t.row, t.col))
      throw InputError(where + ": (" + std::to_string(t.x) + ", " + std::to_string(t.y) +
                       ") cannot be transformed to the scene's CRS");
    if (!std::isnan(t.map_envelope[0])) locate_envelope(*to_pixel, t);
  }
}

}  // namespace sarscale::io
