// The pieces of `detect` that need no MPI: its plan (tiles, quick-look factors), quick-look
// rendering, detection files written and read through OGR, and pixel -> lon/lat through GDAL.
#include <gdal.h>
#include <gtest/gtest.h>
#include <ogr_api.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "sarscale/core/error.hpp"
#include "sarscale/detect/quicklook.hpp"
#include "sarscale/dist/detect_stage.hpp"
#include "sarscale/io/detection_file.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale;

TEST(DetectPlan, TilesEveryScenePowerOfTwoQuickLookFactorsThatDivideTheTile) {
  const dist::DetectPlan plan = dist::make_detect_plan({{5000, 3000}, {100, 100}, {32768, 32768}}, 1024, 2048);
  EXPECT_EQ(plan.tiles.size(), 5u * 3u + 1u + 32u * 32u);
  ASSERT_EQ(plan.quicklook_factor.size(), 3u);
  EXPECT_EQ(plan.quicklook_factor[0], 4);   // 5000 / 4 = 1250 <= 2048 < 5000 / 2
  EXPECT_EQ(plan.quicklook_factor[1], 1);
  EXPECT_EQ(plan.quicklook_factor[2], 16);  // 32768 / 16 = 2048
  // A tile of 192 = 64 x 3: no factor above 64, whatever the scene.
  EXPECT_EQ(dist::make_detect_plan({{1 << 20, 64}}, 192, 2048).quicklook_factor[0], 64);
  EXPECT_TRUE(dist::make_detect_plan({}, 1024, 2048).tiles.empty());
  EXPECT_EQ(dist::make_detect_plan({{5000, 3000}}, 1024, 0).quicklook_factor[0], 0) << "no quick-looks, no blocks";
  EXPECT_EQ(dist::parse_pixel_quantity("db"), dist::PixelQuantity::db);
  EXPECT_THROW(dist::parse_pixel_quantity("dB "), ConfigError);
}

TEST(QuickLook, BlockMeansSkipInvalidPixelsAndRenderingDrawsBoxesAndLabels) {
  // 4 x 6 pixels, blocks of 2: the last column of blocks is whole, one NaN and one no-data pixel.
  std::vector<float> px = {1, 3, 10, 10, 0, 0,  //
                           5, 7, 10, 10, 0, 0,  //
                           2, 2, NAN, 4, -1, 8,  //
                           2, 2, 4, 4, 9, 8};
  const detect::SceneWindow w{px.data(), 0, 0, 4, 6, 6, 4, 6};
  const std::vector<float> m = detect::block_means(w, {0, 0, 4, 6}, 2, 9.0f);
  ASSERT_EQ(m.size(), 6u);
  EXPECT_FLOAT_EQ(m[0], 4);
  EXPECT_FLOAT_EQ(m[1], 10);
  EXPECT_FLOAT_EQ(m[2], 0);
  EXPECT_FLOAT_EQ(m[3], 2);
  EXPECT_FLOAT_EQ(m[4], 4);  // NaN left out
  EXPECT_FLOAT_EQ(m[5], 8);  // -1 and the no-data 9 left out
  EXPECT_THROW(detect::block_means(w, {1, 0, 3, 6}, 2, 9.0f), ConfigError);

  std::vector<float> flat(40 * 60, 1.0f);
  const auto rgb = detect::render_quicklook(flat, 40, 60, 1, {{10, 10, 20, 30, "T72 99%", 255, 0, 0}});
  ASSERT_EQ(rgb.size(), 40u * 60u * 3u);
  const auto at = [&](int r, int c, int ch) { return rgb[3 * (static_cast<std::size_t>(r) * 60 + c) + ch]; };
  EXPECT_EQ(at(10, 15, 0), 255);  // the box's top edge, red
  EXPECT_EQ(at(10, 15, 1), 0);
  EXPECT_EQ(at(15, 15, 0), at(15, 15, 1)) << "inside the box: the grey scene";
  int label = 0;  // red pixels of the label's glyphs, above the box
  for (int r = 1; r < 10; ++r)
    for (int c = 10; c < 60; ++c) label += at(r, c, 0) == 255 && at(r, c, 1) == 0 ? 1 : 0;
  EXPECT_GT(label, 40);
}

TEST(DetectionFile, RoundTripsEveryFieldAndWritesRfc7946GeoJson) {
  const fs::path dir = test::scratch_dir("detection_file");
  io::Detection a;
  a.scene = "/data/s1.tif";
  a.id = 1;
  a.row_min = 10, a.col_min = 20, a.row_max = 14, a.col_max = 27, a.area = 23;
  a.row = 12.25, a.col = 23.125, a.map_x = 500123.5, a.map_y = 4999876.25, a.lon = 3.0001234, a.lat = 45.1234567;
  a.peak = 1234.5, a.contrast_db = 17.25, a.score_db = 3.5, a.log10_pfa = -12.75;
  a.class_name = "t72", a.probability = 0.875, a.clutter_probability = 0.0625, a.target = true;
  io::Detection b;  // not georeferenced, not classified
  b.scene = "/data/no, georef \"quoted\".tif";
  b.id = 7;
  b.log10_pfa = -std::numeric_limits<double>::infinity();
  b.target = false;
  b.reason = "the scene is smaller than one chip of the model";
  io::write_detections(dir, {a, b});
  const std::vector<io::Detection> back = io::read_detections(dir);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].scene, a.scene);
  EXPECT_EQ(back[0].area, 23);
  EXPECT_EQ(back[0].col_max, 27);
  EXPECT_DOUBLE_EQ(back[0].col, 23.125);
  EXPECT_DOUBLE_EQ(back[0].map_y, 4999876.25);
  EXPECT_DOUBLE_EQ(back[0].lat, 45.1234567);
  EXPECT_DOUBLE_EQ(back[0].log10_pfa, -12.75);
  EXPECT_EQ(back[0].class_name, "t72");
  EXPECT_DOUBLE_EQ(back[0].clutter_probability, 0.0625);
  EXPECT_TRUE(back[0].target);
  EXPECT_EQ(back[1].scene, b.scene);
  EXPECT_TRUE(std::isnan(back[1].lon));
  EXPECT_TRUE(std::isnan(back[1].probability));
  EXPECT_LE(back[1].log10_pfa, -1e300);
  EXPECT_FALSE(back[1].target);
  EXPECT_EQ(back[1].reason, b.reason);

  // The GeoJSON holds the located record only, as a lon/lat point.
  GDALAllRegister();
  GDALDatasetH ds = GDALOpenEx((dir / "detections.geojson").c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr);
  ASSERT_NE(ds, nullptr);
  OGRLayerH layer = GDALDatasetGetLayer(ds, 0);
  ASSERT_EQ(OGR_L_GetFeatureCount(layer, TRUE), 1);
  OGRFeatureH f = OGR_L_GetNextFeature(layer);
  OGRGeometryH g = OGR_F_GetGeometryRef(f);
  EXPECT_NEAR(OGR_G_GetX(g, 0), 3.0001234, 1e-7);
  EXPECT_NEAR(OGR_G_GetY(g, 0), 45.1234567, 1e-7);
  EXPECT_STREQ(OGR_F_GetFieldAsString(f, OGR_F_GetFieldIndex(f, "class")), "t72");
  OGR_F_Destroy(f);
  GDALClose(ds);

  std::ofstream(dir / "other.csv") << "a,b\n1,2\n";
  EXPECT_THROW(io::read_detections(dir / "other.csv"), InputError);
}

TEST(PixelToLonLat, MatchesGdalinfoCornersOfTheSentinel1GeoTiff) {
  SARSCALE_REQUIRE_SHARED(tif, "data/scenes/sentinel1-geotiff/S1A__IW___A_20150309T173017_VV_grd_mli_geo_norm_db.tif");
  const io::GdalRaster r = io::GdalRaster::open(tif);
  // gdalinfo: Upper Left (4d29'15.84"E, 43d36'51.61"N), Lower Right (4d33'11.27"E, 43d34'27.80"N).
  const auto ll = r.pixel_to_lonlat({{0, 0}, {217, 268}});
  ASSERT_EQ(ll.size(), 2u);
  EXPECT_NEAR(ll[0][0], 4 + 29 / 60.0 + 15.84 / 3600, 0.01 / 3600);
  EXPECT_NEAR(ll[0][1], 43 + 36 / 60.0 + 51.61 / 3600, 0.01 / 3600);
  EXPECT_NEAR(ll[1][0], 4 + 33 / 60.0 + 11.27 / 3600, 0.01 / 3600);
  EXPECT_NEAR(ll[1][1], 43 + 34 / 60.0 + 27.80 / 3600, 0.01 / 3600);
}

// Scene merges: largest first, each to the least loaded rank; one rank takes all.
TEST(DetectPlan, SceneMergesGoLargestFirstToTheLeastLoadedRank) {
  // Tiles per scene at 1024: 1, 16, 4, 4, 2.
  const dist::DetectPlan plan =
      dist::make_detect_plan({{1000, 1000}, {4096, 4096}, {2048, 2048}, {2000, 2048}, {1024, 2048}}, 1024, 0);
  EXPECT_EQ(dist::assign_scene_merges(plan, 1), (std::vector<int>{0, 0, 0, 0, 0}));
  // 16 -> rank 0; 4 -> 1; 4 -> 2; 2 -> 1 (load 4 vs 4: the lower); 1 -> 2.
  EXPECT_EQ(dist::assign_scene_merges(plan, 3), (std::vector<int>{2, 0, 1, 2, 1}));
  EXPECT_EQ(dist::assign_scene_merges(plan, 8), (std::vector<int>{4, 0, 1, 2, 3}));
  EXPECT_TRUE(dist::assign_scene_merges(dist::make_detect_plan({}, 1024, 0), 4).empty());
}
