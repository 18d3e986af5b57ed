// Truth files: CSV in pixels (synth's <scene>_targets.csv and plain ones), GeoJSON in lon/lat
// placed on a georeferenced scene, and the messages of files that do not parse.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <numbers>
#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/io/crs.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/raster_writer.hpp"
#include "sarscale/io/truth_file.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::InputError;
using namespace sarscale::io;

namespace {

fs::path write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

// Web Mercator (EPSG:3857) in closed form, independent of PROJ.
constexpr double kEarthRadius = 6378137.0;
double mercator_x(double lon_deg) { return kEarthRadius * lon_deg * std::numbers::pi / 180.0; }
double mercator_y(double lat_deg) {
  return kEarthRadius * std::log(std::tan(std::numbers::pi / 4.0 + lat_deg * std::numbers::pi / 360.0));
}

}  // namespace

TEST(TruthFile, SynthTargetsCsvIsShiftedToPixelCentresAndKeepsClutter) {
  const fs::path dir = sarscale::test::scratch_dir("truth_synth");
  const fs::path csv = write_text(dir / "scene_0001_targets.csv",
                                  "index,class_index,class,serial,row,col,azimuth_deg,box_row0,box_col0,box_rows,"
                                  "box_cols,kind\n"
                                  "0,3,tank_a,A-2,100.25,200.75,45,60,150,80,100,target\n"
                                  "1,-1,clutter,corner,300,400,0,290,390,20,20,clutter\n");
  const auto truth = read_truth(csv);
  ASSERT_EQ(truth.size(), 2u);
  // synth draws pixel r centred on r; the truth convention centres it on r + 0.5.
  EXPECT_DOUBLE_EQ(truth[0].row, 100.75);
  EXPECT_DOUBLE_EQ(truth[0].col, 201.25);
  EXPECT_EQ(truth[0].line, 2u);
  EXPECT_TRUE(truth[0].target);
  EXPECT_EQ(truth[0].class_name, "tank_a");
  EXPECT_EQ(truth[0].detail, "A-2");
  EXPECT_EQ(truth[0].box_row0, 60);
  EXPECT_EQ(truth[0].box_col0, 150);
  EXPECT_EQ(truth[0].box_rows, 80);
  EXPECT_EQ(truth[0].box_cols, 100);
  EXPECT_FALSE(truth[1].target);
  EXPECT_EQ(truth[1].class_name, "clutter");
  EXPECT_EQ(truth[1].detail, "corner");
  EXPECT_DOUBLE_EQ(truth[1].row, 300.5);
  EXPECT_EQ(truth[1].line, 3u);
}

TEST(TruthFile, PlainCsvKeepsPositionsAndReadsQuotesScenesAndKinds) {
  const fs::path dir = sarscale::test::scratch_dir("truth_plain");
  const fs::path csv = write_text(dir / "truth.txt",
                                  "Scene,Row,Col,Class,Kind\r\n"
                                  "\"a, b.tif\",10.5,20.5,truck,\r\n"
                                  "\r\n"
                                  "c.tif,1,2,building,clutter\r\n"
                                  "c,3,4,,\r\n");
  const auto truth = read_truth(csv);  // no .csv suffix: recognised by its row/col header
  ASSERT_EQ(truth.size(), 3u);
  EXPECT_EQ(truth[0].scene, "a, b.tif");
  EXPECT_DOUBLE_EQ(truth[0].row, 10.5);
  EXPECT_DOUBLE_EQ(truth[0].col, 20.5);
  EXPECT_EQ(truth[0].class_name, "truck");
  EXPECT_TRUE(truth[0].target);
  EXPECT_EQ(truth[1].line, 4u);  // the blank line 3 is counted
  EXPECT_FALSE(truth[1].target);
  EXPECT_EQ(truth[1].class_name, "clutter");
  EXPECT_EQ(truth[1].detail, "building");
  EXPECT_EQ(truth[2].class_name, "target");
  EXPECT_EQ(truth[2].box_rows, 0);

  const auto c = truth_for_scene(truth, "/data/c.tif");
  ASSERT_EQ(c.size(), 2u);  // "c.tif" by name and "c" by stem
  EXPECT_EQ(c[0].line, 4u);
  EXPECT_EQ(c[1].line, 5u);
  const std::vector<TruthObject> everywhere(1);
  EXPECT_EQ(truth_for_scene(everywhere, "x.tif").size(), 1u);  // no scene: every scene's
  EXPECT_TRUE(truth_for_scene(truth, "d.tif").empty());
}

TEST(TruthFile, BadLinesAreNamed) {
  const fs::path dir = sarscale::test::scratch_dir("truth_bad");
  const auto error_of = [&](const std::string& name, const std::string& text) {
    const fs::path p = write_text(dir / name, text);
    return input_error_of([&] { read_truth(p); });
  };
  EXPECT_EQ(error_of("n.csv", "row,col\n1,2\n3,x12\n"), (dir / "n.csv").string() + ":3: column 'col': 'x12' is not a finite number");
  EXPECT_EQ(error_of("w.csv", "row,col,class\n1,2,a\n3,4\n"), (dir / "w.csv").string() + ":3: 2 fields where the header has 3");
  EXPECT_EQ(error_of("m.csv", "row,class\n1,a\n"), (dir / "m.csv").string() + ":1: missing column 'col'");
  EXPECT_EQ(error_of("k.csv", "row,col,kind\n1,2,target\n1,2,vehicle\n"),
            (dir / "k.csv").string() + ":3: kind 'vehicle' is neither target nor clutter");
  EXPECT_EQ(error_of("q.csv", "row,col,class\n1,2,\"tank\n"), (dir / "q.csv").string() + ":2: a quoted field is not closed on its line");
  EXPECT_EQ(error_of("b.csv", "row,col,box_row0,box_col0,box_rows,box_cols\n1,2,0,0,4,4\n1,2,0,0,4.5,4\n"),
            (dir / "b.csv").string() + ":3: column 'box_rows': '4.5' is not an integer");
  EXPECT_EQ(error_of("nan.csv", "row,col\nnan,2\n"), (dir / "nan.csv").string() + ":2: column 'row': 'nan' is not a finite number");
  EXPECT_NE(error_of("junk.dat", "this is not a truth file\n").find("neither a truth CSV"), std::string::npos);
  EXPECT_NE(input_error_of([&] { read_truth(dir / "absent.csv"); }).find("not found"), std::string::npos);
}

TEST(TruthFile, GeoJsonInLonLatIsLocatedOnAGeoreferencedScene) {
  const fs::path dir = sarscale::test::scratch_dir("truth_geojson");
  // A Web Mercator scene, 10 m pixels, placed so that (3 E, 42 N) falls at row 100.25, col 95.85.
  const double x0 = mercator_x(3.0) - 95.85 * 10.0, y0 = mercator_y(42.0) + 100.25 * 10.0;
  {
    RasterWriter w(dir / "scene.tif", 200, 200);
    w.set_georef(Georef{{x0, 10.0, 0.0, y0, 0.0, -10.0}, crs_wkt("EPSG:3857")});
    const std::vector<float> zeros(200 * 200, 0.0f);
    w.write_rows(0, 200, zeros.data());
    w.close();
  }
  const auto georef = GdalRaster::open(dir / "scene.tif").georef();
  ASSERT_TRUE(georef.has_value());

  const fs::path geojson = write_text(dir / "truth.geojson", R"({"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"class": "tank_a", "serial": "S1"},
  "geometry": {"type": "Point", "coordinates": [3.0, 42.0]}},
 {"type": "Feature", "properties": {"kind": "clutter", "detail": "corner", "scene": "scene.tif"},
  "geometry": {"type": "Polygon", "coordinates": [[[3.001, 41.999], [3.002, 41.999], [3.002, 42.0005],
                                                    [3.001, 42.0005], [3.001, 41.999]]]}}]})");
  auto truth = read_truth(geojson);
  ASSERT_EQ(truth.size(), 2u);
  EXPECT_TRUE(std::isnan(truth[0].row));
  EXPECT_DOUBLE_EQ(truth[0].x, 3.0);  // lon first
  EXPECT_DOUBLE_EQ(truth[0].y, 42.0);
  EXPECT_EQ(truth[0].class_name, "tank_a");
  EXPECT_EQ(truth[0].detail, "S1");
  EXPECT_FALSE(truth[1].target);
  EXPECT_EQ(truth[1].detail, "corner");
  EXPECT_EQ(truth[1].scene, "scene.tif");
  EXPECT_EQ(truth[1].line, 2u);

  locate_truth(truth, georef);
  EXPECT_NEAR(truth[0].row, 100.25, 1e-6);
  EXPECT_NEAR(truth[0].col, 95.85, 1e-6);
  // The polygon: its envelope's corners give the footprint, its centroid the position.
  const auto col_of = [&](double lon) { return (mercator_x(lon) - x0) / 10.0; };
  const auto row_of = [&](double lat) { return (y0 - mercator_y(lat)) / 10.0; };
  EXPECT_EQ(truth[1].box_row0, static_cast<std::int64_t>(std::floor(row_of(42.0005))));
  EXPECT_EQ(truth[1].box_col0, static_cast<std::int64_t>(std::floor(col_of(3.001))));
  EXPECT_EQ(truth[1].box_row0 + truth[1].box_rows, static_cast<std::int64_t>(std::ceil(row_of(41.999))));
  EXPECT_EQ(truth[1].box_col0 + truth[1].box_cols, static_cast<std::int64_t>(std::ceil(col_of(3.002))));
  EXPECT_NEAR(truth[1].col, col_of(3.0015), 1e-6);
  EXPECT_NEAR(truth[1].row, row_of(41.99975), 0.02);  // centroid in lon/lat, Mercator stretches rows

  // Pixel truth is left alone; map truth needs a georeferenced scene.
  auto again = read_truth(geojson);
  EXPECT_NE(input_error_of([&] { locate_truth(again, std::nullopt); }).find("feature 1 is in map coordinates but the scene has no georeferencing"),
            std::string::npos);
  std::vector<TruthObject> pixels(1);
  pixels[0].row = 5, pixels[0].col = 6;
  locate_truth(pixels, std::nullopt);
  EXPECT_EQ(pixels[0].row, 5);
}

TEST(TruthFile, VectorFeaturesThatAreNotPointsOrPolygonsAreNamed) {
  const fs::path dir = sarscale::test::scratch_dir("truth_line");
  const fs::path geojson = write_text(dir / "t.geojson", R"({"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
 {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}]})");
  EXPECT_EQ(input_error_of([&] { read_truth(geojson); }),
            geojson.string() + ": feature 2: geometry Line String is neither a point nor a polygon");
  const fs::path bad_kind = write_text(dir / "k.geojson", R"({"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"kind": "target", "class": "clutter"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]})");
  EXPECT_EQ(input_error_of([&] { read_truth(bad_kind); }), bad_kind.string() + ": feature 1: kind target with class clutter");
}
