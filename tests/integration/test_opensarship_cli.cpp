// The real OpenSARShip patches (../shared/data/opensarship; skipped when absent): one scene's
// patches ingested with both bands (the dual-pol configuration), the classes kept and the others
// rejected with their label, pixels as GDAL reads them; a single-pol scene refused by it with its
// reason, and read by the shipped (VV) configuration; that configuration through `sarscale
// pipeline` on a small subset.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "sarscale/io/archive.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;

namespace {

// 13 patches: Cargo 10, Other Type 1, Passenger 1, Tanker 1; two bands (VH, VV), GRD, 10 m.
constexpr const char* kSmallScene =
    "data/opensarship/S1A_IW_GRDH_1SDV_20150902T102505_20150902T102534_007535_00A699_2D00";
// 25 patches: Cargo 15, Passenger 1, Tanker 9.
constexpr const char* kSecondScene =
    "data/opensarship/S1A_IW_GRDH_1SDV_20160518T084127_20160518T084152_011311_011260_84AB";
// 9 patches, all Cargo, two bands (an SLC product).
constexpr const char* kSlcScene =
    "data/opensarship/S1A_IW_SLC__1SDV_20160606T221231_20160606T221258_011596_011B8A_3FF3";
// 56 patches of one band (VV): a single-pol product.
constexpr const char* kSinglePolScene =
    "data/opensarship/S1A_IW_SLC__1SSV_20150217T204257_20150217T204324_004668_005C34_2DC9";

fs::path configs() { return fs::path(SARSCALE_SOURCE_DIR) / "configs"; }
// The shipped configuration (VV), and the dual-pol one of the study (VH and VV).
std::string config() { return (configs() / "opensarship.ini").string(); }
std::string dual_config() { return (configs() / "opensarship" / "dual-ship.ini").string(); }

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(OpenSarShipCli, OneSceneIngestsBothBandsAndTheChosenClasses) {
  SARSCALE_REQUIRE_SHARED(scene, kSmallScene);
  const fs::path dir = sarscale::test::scratch_dir("opensarship_ingest_" + std::to_string(getpid()));
  const fs::path archive = dir / "scene.h5";
  const std::string out = run_expect(sarscale::test::sarscale_mpi(2) + " ingest --config " + dual_config() +
                                     " --input " + scene.string() + " --output " + archive.string());
  const std::string summary = last_json_line(out);
  EXPECT_EQ(json_int(summary, "discovered"), 13) << summary;  // Ship.xml is skipped as metadata
  EXPECT_EQ(json_int(summary, "chips"), 12) << summary;
  EXPECT_EQ(json_int(summary, "rejected"), 1) << summary;
  EXPECT_NE(out.find("Passenger_x"), std::string::npos) << out;
  EXPECT_NE(out.find("label 'Passenger' not among --classes (Cargo, Tanker, Other Type)"), std::string::npos) << out;

  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + archive.string());
  EXPECT_NE(info.find("\"bands\": [\"vh\", \"vv\"]"), std::string::npos) << info.substr(0, 400);
  for (const char* c : {"\"Cargo\": 10", "\"Other Type\": 1", "\"Tanker\": 1"})
    EXPECT_NE(info.find(c), std::string::npos) << c << "\n" << info.substr(0, 400);
  const std::string text = run_expect(sarscale::test::sarscale_binary() + " info " + archive.string());
  EXPECT_NE(text.find("bands       2: vh vv"), std::string::npos) << text.substr(0, 400);

  // The first Cargo patch (73 x 73) is the archive's first chip; both bands are GDAL's pixels of
  // the chip-sized centre window (offset (73 - size) / 2).
  const auto ar = sarscale::io::ArchiveReader::open(archive, MPI_COMM_SELF);
  const auto sources = ar.sources();
  ASSERT_EQ(fs::path(sources[0].path).filename(), "Cargo_x1446_y3299.tif");
  const int size = ar.layout().rows, offset = (73 - size) / 2;
  std::vector<float> chip(2 * static_cast<std::size_t>(size) * size);
  ar.read_bands(0, 1, {0, 1}, chip.data(), sarscale::io::Transfer::independent);
  const auto raster = sarscale::io::GdalRaster::open(sources[0].path);
  for (int band = 1; band <= 2; ++band) {
    sarscale::Image window;
    raster.read_window(offset, offset, size, size, window, band);
    EXPECT_TRUE(std::equal(window.magnitude.begin(), window.magnitude.end(),
                           chip.begin() + (band - 1) * static_cast<std::ptrdiff_t>(size) * size))
        << "band " << band;
  }
}

TEST(OpenSarShipCli, SinglePolPatchesAreRejectedByTheDualPolConfigAndReadByTheShippedOne) {
  SARSCALE_REQUIRE_SHARED(scene, kSinglePolScene);
  const fs::path dir = sarscale::test::scratch_dir("opensarship_singlepol_" + std::to_string(getpid()));
  const std::string out = run_expect(sarscale::test::sarscale_mpi(2) + " ingest --config " + dual_config() +
                                     " --input " + scene.string() + " --output " + (dir / "ssv.h5").string());
  const std::string summary = last_json_line(out);
  EXPECT_EQ(json_int(summary, "chips"), 0) << summary;
  EXPECT_EQ(json_int(summary, "rejected"), 56) << summary;
  EXPECT_NE(out.find("no band named 'vh' (its bands: vv;"), std::string::npos) << out.substr(0, 2000);
  // The shipped configuration reads the VV band of every patch: Cargo 27, Other Type 3, Tanker 26.
  const std::string vv =
      last_json_line(run_expect(sarscale::test::sarscale_mpi(2) + " ingest --config " + config() + " --input " +
                                scene.string() + " --output " + (dir / "vv.h5").string()));
  EXPECT_EQ(json_int(vv, "chips"), 56) << vv;
  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + (dir / "vv.h5").string());
  EXPECT_NE(info.find("\"bands\": [\"vv\"]"), std::string::npos) << info.substr(0, 400);
  for (const char* c : {"\"Cargo\": 27", "\"Other Type\": 3", "\"Tanker\": 26"})
    EXPECT_NE(info.find(c), std::string::npos) << c << "\n" << info.substr(0, 400);
}

TEST(OpenSarShipCli, ConfigRunsThroughThePipeline) {
  SARSCALE_REQUIRE_SHARED(first, kSmallScene);
  SARSCALE_REQUIRE_SHARED(second, kSecondScene);
  SARSCALE_REQUIRE_SHARED(test, kSlcScene);
  const fs::path dir = sarscale::test::scratch_dir("opensarship_pipeline_" + std::to_string(getpid()));
  const std::string out = run_expect("timeout 600 " + sarscale::test::sarscale_mpi(2) + " pipeline --config " +
                                     config() + " --train " + first.string() + " " + second.string() + " --test " +
                                     test.string() + " --out " + (dir / "p").string());
  EXPECT_NE(out.find("\"cv_accuracy\""), std::string::npos) << out.substr(0, 3000);
  const std::string report = read_file(dir / "p" / "report" / "report.json");
  EXPECT_EQ(json_int(report, "evaluated") + json_int(report, "flagged_chips"), 9) << report.substr(0, 600);
  EXPECT_NE(report.find("\"accuracy\""), std::string::npos);
  // The model knows the training classes: Cargo, Other Type and Tanker (the Passengers left out).
  const std::string model =
      run_expect(sarscale::test::sarscale_binary() + " info --json " + (dir / "p" / "model.h5").string());
  for (const char* c : {"Cargo", "Other Type", "Tanker"}) EXPECT_NE(model.find(c), std::string::npos) << c;
  EXPECT_EQ(model.find("Passenger"), std::string::npos);
}
