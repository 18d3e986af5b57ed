// End-to-end `sarscale predict --scene` as the user guide runs it: synthetic vehicle chips plus
// a target-free scene tiled into "clutter" chips -> ingest -> features -> train, then a class map
// of another synthetic scene at 1 and 3 ranks (identical bands), and the usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include "sarscale/io/gdal_raster.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;

class ScenePredictCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("scene_predict_cli_" + std::to_string(getpid()));
    const std::string d = g_dir.string();
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + d + "/train --count 60 --classes 2 --chip-size 32");
    run_expect(sarscale_mpi(2) + " synth --kind scene --out " + d +
               "/train/clutter/background.tif --width 256 --height 256 --targets 0 --seed 7");
    run_expect(sarscale_mpi(2) + " ingest --input " + d + "/train --output " + d + "/train.h5 --chip-size 32");
    run_expect(sarscale_mpi(2) + " features --archive " + d + "/train.h5 --output " + d +
               "/train.features.h5 --preprocess 'db(floor=-50)' --blocks 'pixels(size=8); stats' --fit-pca "
               "--pca-variance 0.95 --whiten");
    run_expect(sarscale_mpi(2) + " train --features " + d + "/train.features.h5 --model " + d +
               "/model.h5 --probability");
    run_expect(sarscale_mpi(2) + " synth --kind scene --out " + d +
               "/scene.tif --width 480 --height 480 --targets 2 --classes 2 --seed 3");
  }
};

std::vector<float> band(const fs::path& map, int b) {
  const auto r = sarscale::io::GdalRaster::open(map);
  sarscale::Image img;
  r.read_window(0, 0, r.rows(), r.cols(), img, b);
  return img.magnitude;
}

}  // namespace

TEST_F(ScenePredictCli, ClassMapIsIdenticalAtOneAndThreeRanks) {
  std::string json[2];
  for (const int np : {1, 3}) {
    const fs::path map = g_dir / ("map." + std::to_string(np) + ".tif");
    const std::string out =
        run_expect(sarscale_mpi(np) + " predict --scene " + (g_dir / "scene.tif").string() + " --model " +
                   (g_dir / "model.h5").string() + " --output " + map.string() + " --stride 8");
    json[np == 1 ? 0 : 1] = last_json_line(out);
    const std::string& j = json[np == 1 ? 0 : 1];
    EXPECT_EQ(json_int(j, "map_rows"), 60) << j;
    EXPECT_EQ(json_int(j, "map_cols"), 60) << j;
    EXPECT_EQ(json_int(j, "cells"), 3600) << j;
    // 32x32 windows at stride 8 start at 8 r - 12: cell rows and columns 2..57 fit in 480.
    EXPECT_EQ(json_int(j, "outside"), 3600 - 56 * 56) << j;
    EXPECT_EQ(json_int(j, "classified") + json_int(j, "nodata"), 3600) << j;
    EXPECT_EQ(json_int(j, "clutter") + json_int(j, "ifv_b") + json_int(j, "tank_a"), json_int(j, "classified")) << j;
    EXPECT_TRUE(fs::exists(map));
    EXPECT_FALSE(fs::exists(map.string() + ".part"));
  }
  for (const char* key : {"classified", "clutter", "ifv_b", "tank_a"})
    EXPECT_EQ(json_int(json[0], key), json_int(json[1], key)) << key;
  for (const int b : {1, 2}) EXPECT_EQ(band(g_dir / "map.1.tif", b), band(g_dir / "map.3.tif", b)) << "band " << b;
  const auto r = sarscale::io::GdalRaster::open(g_dir / "map.3.tif");
  EXPECT_EQ(r.metadata().at("SARSCALE_CONFIDENCE"), "probability");
  EXPECT_EQ(r.metadata().at("CLASS_0"), "clutter");  // ingest sorts class names
  EXPECT_EQ(r.metadata().at("SARSCALE_STRIDE"), "8");
}

TEST_F(ScenePredictCli, UsageErrors) {
  const std::string bin = sarscale_binary() + " predict ";
  const std::string model = " --model " + (g_dir / "model.h5").string();
  const std::string scene = " --scene " + (g_dir / "scene.tif").string();
  std::string out = run_expect(bin + scene + model + " --archive " + (g_dir / "train.h5").string() + " --output x", 2);
  EXPECT_NE(out.find("exclude each other"), std::string::npos) << out;
  out = run_expect(bin + scene + model + " --output " + (g_dir / "big.tif").string() + " --window 1000", 2);
  EXPECT_NE(out.find("smaller than one window"), std::string::npos) << out;
  out = run_expect(
      bin + " --scene " + (g_dir / "missing.tif").string() + model + " --output " + (g_dir / "m.tif").string(), 1);
  EXPECT_NE(out.find("missing.tif"), std::string::npos) << out;
  out = run_expect(bin + scene + model + " --output " + (g_dir / "m.tif").string() + " --window 10x", 2);
  EXPECT_NE(out.find("--window"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(g_dir / "big.tif"));
  EXPECT_FALSE(fs::exists(g_dir / "m.tif"));
  out = run_expect(bin + " --help");
  EXPECT_NE(out.find("--scene"), std::string::npos) << out;
  EXPECT_NE(out.find("--stride"), std::string::npos) << out;
}
