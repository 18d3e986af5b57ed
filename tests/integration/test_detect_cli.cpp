// `sarscale detect` end to end with what users give it: a folder where one scene GDAL cannot
// read and one that ends early are rejected with their reasons while the others are searched; a
// scene without georeferencing gets detections in pixels (no lon/lat) and a warning; the real
// Sentinel-1 GeoTIFF of ../shared (dB, map-projected) runs through with lon/lat inside its extent.
#include <gdal.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_mpi;

namespace {

// detections.csv as rows of fields (no quoting in these files: paths without commas).
std::vector<std::vector<std::string>> read_csv(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    rows.push_back(fields);
  }
  return rows;
}

std::size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

// A 256 x 256 float32 GeoTIFF without geotransform or projection, three bright 3 x 3 spots.
void write_plain_tiff(const fs::path& path) {
  GDALAllRegister();
  GDALDatasetH ds = GDALCreate(GDALGetDriverByName("GTiff"), path.c_str(), 256, 256, 1, GDT_Float32, nullptr);
  ASSERT_NE(ds, nullptr);
  std::vector<float> px(256 * 256);
  std::uint32_t x = 12345;
  for (float& v : px) {  // Rayleigh-ish speckle around 1
    x = x * 1664525u + 1013904223u;
    v = 0.5f + static_cast<float>(x >> 8) / static_cast<float>(1u << 24);
  }
  for (const auto [r, c] : {std::pair{60, 60}, {128, 200}, {200, 90}})
    for (int dr = -1; dr <= 1; ++dr)
      for (int dc = -1; dc <= 1; ++dc) px[static_cast<std::size_t>((r + dr) * 256 + c + dc)] = 40.0f;
  ASSERT_EQ(GDALRasterIO(GDALGetRasterBand(ds, 1), GF_Write, 0, 0, 256, 256, px.data(), 256, 256, GDT_Float32, 0, 0),
            CE_None);
  GDALClose(ds);
}

}  // namespace

TEST(DetectCli, BadScenesAreRejectedAndAPlainRasterGetsPixelDetections) {
  const fs::path dir = sarscale::test::scratch_dir("detect_cli_" + std::to_string(getpid()));
  const fs::path scenes = dir / "scenes";
  fs::create_directories(scenes);
  run_expect(sarscale_mpi(2) + " synth --kind scene --out " + (scenes / "good.tif").string() +
             " --width 512 --height 512 --targets 2 --classes 2 --seed 5");
  std::ofstream(scenes / "bad.tif") << "this is not a GeoTIFF\n";
  fs::copy_file(scenes / "good.tif", scenes / "short.tif");  // GDAL opens it; the data end early
  fs::resize_file(scenes / "short.tif", fs::file_size(scenes / "good.tif") * 2 / 5);
  write_plain_tiff(scenes / "plain.tif");

  const std::string output = run_expect(sarscale_mpi(2) + " detect --input " + scenes.string() + " --output " +
                                        (dir / "out").string() + " --prescreen-only --tile 128 --pfa 1e-5");
  const std::string j = last_json_line(output);
  EXPECT_EQ(json_int(j, "scenes"), 2) << j;  // good and plain searched; bad and short rejected with reasons
  EXPECT_NE(j.find(R"("path": ")" + (scenes / "bad.tif").string() + R"(", "reason": ")"), std::string::npos) << j;
  EXPECT_NE(j.find("GDAL cannot open it"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("path": ")" + (scenes / "short.tif").string() + R"(", "reason": ")"), std::string::npos) << j;
  EXPECT_NE(j.find("short.tif: GTiff declares 512x512 Float32 but holds no image data"), std::string::npos) << j;
  EXPECT_NE(output.find("plain.tif is not georeferenced: its detections are in pixels only"), std::string::npos)
      << output;
  EXPECT_NE(output.find("in 2 scene(s), 2 input(s) rejected"), std::string::npos) << output;

  const auto rows = read_csv(dir / "out" / "detections.csv");
  ASSERT_GT(rows.size(), 1u);
  const auto& h = rows[0];
  const std::size_t scene = column(h, "scene"), row = column(h, "row"), lon = column(h, "lon"), map_x = column(h, "map_x");
  int plain = 0, good = 0, spots = 0;
  for (std::size_t k = 1; k < rows.size(); ++k) {
    const auto& r = rows[k];
    ASSERT_EQ(r.size(), h.size()) << k;
    EXPECT_EQ(r[scene].find("short.tif"), std::string::npos);
    if (r[scene].find("plain.tif") != std::string::npos) {
      ++plain;
      EXPECT_EQ(r[lon], "") << "no lon/lat without georeferencing";
      EXPECT_EQ(r[map_x], "");
      const double rr = std::stod(r[row]);
      spots += (std::abs(rr - 60.5) < 1 || std::abs(rr - 128.5) < 1 || std::abs(rr - 200.5) < 1) ? 1 : 0;
    } else {
      ++good;
      EXPECT_NE(r[lon], "") << "synth scenes are georeferenced";
    }
  }
  EXPECT_GE(spots, 3) << "the three bright spots of the plain raster";
  EXPECT_GT(good, 0);
  EXPECT_GE(plain, 3);
}

TEST(DetectCli, TheSentinel1GeoTiffRunsThroughWithLonLatInsideItsExtent) {
  SARSCALE_REQUIRE_SHARED(tif, "data/scenes/sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  const fs::path dir = sarscale::test::scratch_dir("detect_cli_s1_" + std::to_string(getpid()));
  const std::string output =
      run_expect(sarscale_mpi(2) + " detect --input " + tif.string() + " --output " + (dir / "out").string() +
                 " --prescreen-only --tile 128 --pfa 1e-4");  // a small land scene: 0 candidates at 1e-6
  const std::string j = last_json_line(output);
  EXPECT_EQ(json_int(j, "scenes"), 1) << j;
  EXPECT_NE(j.find(R"("rejected": [])"), std::string::npos) << j;
  EXPECT_GT(json_int(j, "detections"), 0) << j;
  EXPECT_TRUE(fs::exists(dir / "out" / "quicklook" / (tif.stem().string() + ".png")));
  const auto rows = read_csv(dir / "out" / "detections.csv");
  ASSERT_GT(rows.size(), 1u);
  const std::size_t lon = column(rows[0], "lon"), lat = column(rows[0], "lat");
  for (std::size_t k = 1; k < rows.size(); ++k) {
    // gdalinfo: from 4d29'15.84"E 43d36'51.61"N (upper left) to 4d33'11.27"E 43d34'27.80"N.
    EXPECT_GE(std::stod(rows[k][lon]), 4.4877);
    EXPECT_LE(std::stod(rows[k][lon]), 4.5532);
    EXPECT_GE(std::stod(rows[k][lat]), 43.5743);
    EXPECT_LE(std::stod(rows[k][lat]), 43.6144);
  }
}
