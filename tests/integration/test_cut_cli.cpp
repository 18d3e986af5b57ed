// `sarscale cut` end to end with bad input: a scene GDAL cannot read and one that ends early are
// rejected with their reasons while the good scene is cut; a truth object outside its scene is
// counted and reported; a truth file that does not parse stops the run naming it; usage errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "sarscale/io/archive.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;

class CutCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("cut_cli_" + std::to_string(getpid()));
    const fs::path scenes = g_dir / "scenes";
    fs::create_directories(scenes);
    run_expect(sarscale_mpi(2) + " synth --kind scene --out " + (scenes / "good.tif").string() +
               " --width 512 --height 512 --targets 2 --distractors 2 --classes 2 --seed 5");
    std::ofstream(scenes / "bad.tif") << "this is not a GeoTIFF\n";
    // The first 40% of a real scene: GDAL opens it, the data end early.
    const auto size = fs::file_size(scenes / "good.tif");
    fs::copy_file(scenes / "good.tif", scenes / "short.tif");
    fs::resize_file(scenes / "short.tif", size * 2 / 5);
    // A second truth table for good.tif: one object inside the scene, one far outside it.
    std::ofstream(g_dir / "extra.csv") << "row,col,class,scene\n300.5,40.5,tank_a,good.tif\n9000,50,tank_a,good.tif\n";
    // synth's table of a scene the run is not given: its objects go to no scene.
    fs::copy_file(scenes / "good_targets.csv", g_dir / "other_targets.csv");
    std::ofstream(g_dir / "broken.csv") << "row,col,class\n10,20,tank_a\nten,20,tank_a\n";
  }
};

}  // namespace

TEST_F(CutCli, BadScenesAreRejectedAndTruthOutsideIsCounted) {
  const fs::path out = g_dir / "chips.h5";
  const std::string cmd = sarscale_mpi(2) + " cut --scene " + (g_dir / "scenes").string() + " --truth " +
                          (g_dir / "scenes" / "good_targets.csv").string() + " " + (g_dir / "extra.csv").string() + " " +
                          (g_dir / "other_targets.csv").string() +
                          " --output " + out.string() + " --chip 64 --clutter-per-scene 2 --false-alarms false";
  const std::string output = run_expect(cmd);
  const std::string j = last_json_line(output);
  EXPECT_EQ(json_int(j, "scenes"), 3) << j;
  EXPECT_EQ(json_int(j, "cut_scenes"), 1) << j;
  EXPECT_EQ(json_int(j, "rejected_scenes"), 2) << j;
  EXPECT_EQ(json_int(j, "target_chips"), 3) << j;  // the synth table's two and extra.csv's one inside
  EXPECT_EQ(json_int(j, "truth_clutter_chips"), 2) << j;
  EXPECT_EQ(json_int(j, "background_chips"), 2) << j;
  EXPECT_EQ(json_int(j, "false_alarm_chips"), 0) << j;
  EXPECT_EQ(json_int(j, "truth_outside"), 1) << j;
  EXPECT_EQ(json_int(j, "chips"), 7) << j;
  EXPECT_NE(output.find("bad.tif"), std::string::npos) << output;
  EXPECT_NE(output.find("short.tif"), std::string::npos) << output;
  EXPECT_NE(output.find("outside their scene"), std::string::npos) << output;
  EXPECT_NE(output.find("other_targets.csv belongs to none of the scenes"), std::string::npos) << output;

  // The archive lists every scene and both rejects with their reasons.
  const auto reader = sarscale::io::ArchiveReader::open(out, MPI_COMM_SELF);
  EXPECT_EQ(reader.layout().chips, 7);
  EXPECT_EQ(reader.layout().rows, 64);
  const auto rejects = reader.rejects();
  ASSERT_EQ(rejects.size(), 2u);
  EXPECT_NE(rejects[0].path.find("bad.tif"), std::string::npos);
  EXPECT_FALSE(rejects[0].reason.empty());
  EXPECT_NE(rejects[1].path.find("short.tif"), std::string::npos);
  EXPECT_FALSE(rejects[1].reason.empty());
  EXPECT_EQ(reader.sources().size(), 3u);
  const auto names = reader.layout().class_names;
  EXPECT_NE(std::find(names.begin(), names.end(), "clutter"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "tank_a"), names.end());
}

TEST_F(CutCli, BrokenTruthAndUsageErrors) {
  const std::string scene = " --scene " + (g_dir / "scenes" / "good.tif").string();
  // A truth file that does not parse stops the run and names the file.
  std::string out = run_expect(sarscale_mpi(2) + " cut" + scene + " --truth " + (g_dir / "broken.csv").string() +
                                   " --output " + (g_dir / "x.h5").string(),
                               1);
  EXPECT_NE(out.find("broken.csv"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(g_dir / "x.h5"));
  out = run_expect(sarscale_binary() + " cut" + scene + " --output " + (g_dir / "y.h5").string(), 2);
  EXPECT_NE(out.find("--truth"), std::string::npos) << out;
  out = run_expect(sarscale_binary() + " cut" + scene + " --truth " + (g_dir / "extra.csv").string() +
                       " --output " + (g_dir / "y.h5").string() + " --chip 4",
                   2);
  EXPECT_NE(out.find("--chip"), std::string::npos) << out;
  // The output policy: a file of another kind is not replaced.
  out = run_expect(sarscale_binary() + " cut" + scene + " --truth " + (g_dir / "extra.csv").string() + " --output " +
                       (g_dir / "extra.csv").string(),
                   2);
  EXPECT_NE(out.find("extra.csv"), std::string::npos) << out;
  out = run_expect(sarscale_binary() + " cut --help");
  EXPECT_NE(out.find("--clutter-per-scene"), std::string::npos) << out;
}
