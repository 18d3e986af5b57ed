// End-to-end tests of the sarscale binary: synth -> ingest (at 1..4 ranks) -> info/convert,
// with bad inputs mixed in. Cross-checks use h5diff (HDF5's own tool) and the Phoenix reader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "sarscale/io/archive.hpp"
#include "sarscale/io/phoenix.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;

namespace {

fs::path g_dir;               // scratch root shared by the suite
std::vector<fs::path> g_phx;  // the synthetic Phoenix files, sorted

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

class IngestCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("ingest_cli_" + std::to_string(getpid()));
    run_expect(sarscale::test::sarscale_mpi(2) + " synth --kind chips --out " + (g_dir / "chips").string() +
               " --count 36 --classes 4 --seed 11");
    run_expect(sarscale::test::sarscale_mpi(2) + " synth --kind scene --out " +
               (g_dir / "scene" / "scene.tif").string() + " --width 700 --height 500 --targets 3 --seed 5");
    for (const auto& e : fs::recursive_directory_iterator(g_dir / "chips"))
      if (e.is_regular_file()) g_phx.push_back(e.path());
    std::sort(g_phx.begin(), g_phx.end());

    // Bad inputs, one of each kind the issue names.
    const std::string good = read_file(g_phx.front());
    const fs::path bad = g_dir / "bad";
    write_file(bad / "truncated.phx", good.substr(0, good.size() * 6 / 10));
    std::string lying = good;
    const auto at = lying.find("NumberOfRows= ");
    lying.replace(at, 17, "NumberOfRows= 127");  // same length, sizes now disagree
    write_file(bad / "lying_header.phx", lying);
    std::string nan = good;
    const io::PhoenixHeader h = io::read_phoenix_header(g_phx.front());
    const unsigned char quiet_nan_be[4] = {0x7f, 0xc0, 0x00, 0x00};
    std::memcpy(nan.data() + h.data_offset() + 4 * 100, quiet_nan_be, 4);
    write_file(bad / "nan_pixels.phx", nan);
    write_file(bad / "garbage.dat", "these are not SAR data\n");
    fs::create_directories(g_dir / "empty_dir");
  }

  static std::string ingest(int ranks, const fs::path& out, const std::string& extra = "") {
    return run_expect(sarscale::test::sarscale_mpi(ranks) + " ingest --input " + (g_dir / "chips").string() + " " +
                      (g_dir / "scene").string() + " " + (g_dir / "bad").string() + " " +
                      (g_dir / "missing.phx").string() + " " + (g_dir / "empty_dir").string() + " --output " +
                      out.string() + " --batch-mb 1 " + extra);
  }
};

TEST_F(IngestCli, EveryInputIsIngestedOrRejectedWithItsReason) {
  const std::string out = ingest(2, g_dir / "accounting.h5");
  const std::string summary = last_json_line(out);
  ASSERT_FALSE(summary.empty()) << out;
  // 36 chips + 1 scene ingested; truncated, lying header, NaN pixels, unknown format,
  // empty directory and a missing path rejected; the scene's ground-truth CSV is skipped.
  EXPECT_EQ(json_int(summary, "ingested"), 37) << summary;
  EXPECT_EQ(json_int(summary, "rejected"), 6) << summary;
  EXPECT_EQ(json_int(summary, "discovered"), 43) << summary;
  EXPECT_EQ(json_int(summary, "skipped"), 1) << summary;
  EXPECT_EQ(json_int(summary, "chips"), 36 + 6 * 4) << summary;      // 700x500 scene in 128-pixel tiles: 6 x 4
  EXPECT_EQ(json_int(summary, "slots"), 36 + 6 * 4 + 1) << summary;  // the NaN chip keeps an invalid slot

  const std::string info =
      run_expect(sarscale::test::sarscale_binary() + " info --json " + (g_dir / "accounting.h5").string());
  for (const char* expected : {"truncated.phx", "lying_header.phx", "nan_pixels.phx", "garbage.dat", "empty_dir",
                               "missing.phx", "NaN", "empty directory", "truncated", "does not fit"})
    EXPECT_NE(info.find(expected), std::string::npos) << expected << " not in\n" << info;
  EXPECT_EQ(json_int(info, "chips"), 60) << info;
}

TEST_F(IngestCli, ArchivesAreIdenticalForOneToFourRanks) {
  // Same output name in different folders, so even the command-line attribute matches.
  auto archive = [](int np) { return g_dir / ("np" + std::to_string(np)) / "archive.h5"; };
  for (int np = 1; np <= 4; ++np) {
    fs::create_directories(archive(np).parent_path());
    const std::string cwd = "cd " + archive(np).parent_path().string() + " && ";
    run_expect(cwd + sarscale::test::sarscale_mpi(np) + " ingest --input " + (g_dir / "chips").string() + " " +
               (g_dir / "scene").string() + " " + (g_dir / "bad").string() + " --output archive.h5 --batch-mb 1");
  }
  for (int np = 2; np <= 4; ++np) {
    // h5diff exits 0 only when every dataset and attribute matches.
    std::string out;
    const int rc = run_command("h5diff -r " + archive(1).string() + " " + archive(np).string(), &out);
    EXPECT_EQ(rc, 0) << "np1 vs np" << np << ":\n" << out.substr(0, 4000);
  }
}

TEST_F(IngestCli, SynthChipsComeBackExactly) {
  const fs::path archive = g_dir / "roundtrip.h5";
  run_expect(sarscale::test::sarscale_mpi(3) + " ingest --input " + (g_dir / "chips").string() + " --output " +
             archive.string());
  const io::ArchiveReader r = io::ArchiveReader::open(archive, MPI_COMM_SELF);
  const auto& layout = r.layout();
  ASSERT_EQ(layout.chips, static_cast<std::int64_t>(g_phx.size()));
  ASSERT_TRUE(layout.has_phase);
  const auto sources = r.sources();
  const auto labels = r.labels(0, layout.chips, io::Transfer::independent);
  const auto meta = r.meta(0, layout.chips, io::Transfer::independent);
  const std::size_t px = static_cast<std::size_t>(layout.rows) * layout.cols;
  std::vector<float> mag(px), phase(px);
  for (std::int64_t i = 0; i < layout.chips; ++i) {
    const io::PhoenixChip chip = io::read_phoenix(g_phx[static_cast<std::size_t>(i)]);
    ASSERT_EQ(fs::path(sources[static_cast<std::size_t>(i)].path), fs::canonical(g_phx[static_cast<std::size_t>(i)]));
    r.read_chips(i, 1, mag.data(), phase.data(), io::Transfer::independent);
    ASSERT_EQ(mag, chip.image.magnitude) << "chip " << i;
    ASSERT_EQ(phase, chip.image.phase) << "chip " << i;
    const ChipMeta& m = meta[static_cast<std::size_t>(i)];
    EXPECT_EQ(m.target_type, chip.header.get("TargetType"));
    EXPECT_EQ(m.serial, chip.header.get("TargetSerNum"));
    EXPECT_FLOAT_EQ(m.azimuth_deg, static_cast<float>(*chip.header.number("TargetAz")));
    EXPECT_FLOAT_EQ(m.depression_deg, static_cast<float>(*chip.header.number("DesiredDepression")));
    EXPECT_EQ(m.polarisation, chip.header.get("Polarization"));
    EXPECT_EQ(m.orig_rows, chip.header.rows);
    EXPECT_EQ(layout.class_names.at(static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])),
              chip.header.get("TargetType"));
  }
}

TEST_F(IngestCli, StrictFailsOnAnyRejectAndWritesNothing) {
  const fs::path archive = g_dir / "strict.h5";
  const std::string out = run_expect(sarscale::test::sarscale_mpi(2) + " ingest --strict --input " +
                                         (g_dir / "bad").string() + " --output " + archive.string(),
                                     1);
  EXPECT_NE(out.find("--strict"), std::string::npos) << out;
  EXPECT_NE(out.find("truncated.phx"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(archive));
}

TEST_F(IngestCli, AllInputsRejectedGivesAnEmptyArchive) {
  const fs::path archive = g_dir / "all_rejected.h5";
  const std::string summary =
      last_json_line(run_expect(sarscale::test::sarscale_mpi(2) + " ingest --input " +
                                (g_dir / "bad" / "truncated.phx").string() + " --output " + archive.string()));
  EXPECT_EQ(json_int(summary, "rejected"), 1) << summary;
  EXPECT_EQ(json_int(summary, "chips"), 0) << summary;
  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + archive.string());
  EXPECT_NE(info.find("\"chips\": 0"), std::string::npos) << info;
  EXPECT_NE(info.find("truncated.phx"), std::string::npos) << info;
}

TEST_F(IngestCli, StrictRemovesTheArchiveWhenAnInputFailsWhileBeingRead) {
  // The NaN chip passes the probe (its header is fine) and fails only when its pixels are read.
  const fs::path archive = g_dir / "strict_late.h5";
  const std::string out = run_expect(sarscale::test::sarscale_mpi(2) + " ingest --strict --input " +
                                         (g_dir / "bad" / "nan_pixels.phx").string() + " " + g_phx.front().string() +
                                         " --output " + archive.string(),
                                     1);
  EXPECT_NE(out.find("failed while being read"), std::string::npos) << out;
  EXPECT_NE(out.find("nan_pixels.phx"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(archive));
}

TEST_F(IngestCli, InputListGlobsAndProgress) {
  // Half the classes through a list file (with a comment and a blank line), the rest through a
  // quoted glob; the union is every chip exactly once.
  const fs::path list = g_dir / "inputs.txt";
  std::ofstream(list) << "# training inputs\n\n"
                      << (g_dir / "chips" / "tank_a").string() << "\n"
                      << (g_dir / "chips" / "ifv_b").string() << "\n";
  const fs::path archive = g_dir / "list_glob.h5";
  const std::string out =
      run_expect(sarscale::test::sarscale_mpi(2) + " ingest --progress --input-list " + list.string() + " --input '" +
                 (g_dir / "chips").string() + "/{apc_c,scout_d}/*.phx' --output " + archive.string());
  const std::string summary = last_json_line(out);
  EXPECT_EQ(json_int(summary, "ingested"), 36) << summary;
  EXPECT_EQ(json_int(summary, "rejected"), 0) << summary;
  EXPECT_NE(out.find("100.0%"), std::string::npos) << out;  // the progress bar reached the end
  EXPECT_NE(out.find("chips/s"), std::string::npos) << out;
}

TEST_F(IngestCli, ChipSizeCropsAndPadsKeepingTheOriginalSize) {
  const fs::path archive = g_dir / "new" / "folder" / "crop.h5";  // missing folders are created
  run_expect(sarscale::test::sarscale_binary() + " ingest --input " + g_phx.front().string() +
             " --chip-size 64x200 --output " + archive.string());
  const io::ArchiveReader r = io::ArchiveReader::open(archive, MPI_COMM_SELF);
  ASSERT_EQ(r.layout().rows, 64);
  ASSERT_EQ(r.layout().cols, 200);
  const io::PhoenixChip chip = io::read_phoenix(g_phx.front());
  std::vector<float> mag(64 * 200), phase(64 * 200);
  r.read_chips(0, 1, mag.data(), phase.data(), io::Transfer::independent);
  const int H = chip.header.rows, W = chip.header.cols;
  const int r0 = (H - 64) / 2, c0 = (200 - W) / 2;  // rows cropped, columns padded
  EXPECT_EQ(mag[0], 0.0f);
  EXPECT_EQ(mag[static_cast<std::size_t>(10 * 200 + c0 + 5)],
            chip.image.magnitude[static_cast<std::size_t>((r0 + 10) * W + 5)]);
  const auto meta = r.meta(0, 1, io::Transfer::independent);
  EXPECT_EQ(meta[0].orig_rows, H);
  EXPECT_EQ(meta[0].orig_cols, W);
}

TEST_F(IngestCli, SynthIsByteIdenticalForAnyRankCount) {
  // Chips and a complex scene at 1 and 3 ranks: the same seed gives the same bytes.
  for (int np : {1, 3}) {
    const fs::path out = g_dir / ("synth_np" + std::to_string(np));
    run_expect(sarscale::test::sarscale_mpi(np) + " synth --kind chips --out " + (out / "chips").string() +
               " --count 14 --classes 3 --seed 99 --chip-size 64");
    run_expect(sarscale::test::sarscale_mpi(np) + " synth --kind scene --out " + (out / "scene.tif").string() +
               " --width 300 --height 1100 --targets 2 --pixel-type cint16 --seed 99");
  }
  // diff -r compares every file, including each scene's ground-truth CSV.
  run_expect("diff -r " + (g_dir / "synth_np1").string() + " " + (g_dir / "synth_np3").string());
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(g_dir / "synth_np1")) files += e.is_regular_file();
  EXPECT_EQ(files, 14u + 2u);  // 14 chips, scene.tif, scene_targets.csv
}

TEST_F(IngestCli, UsageErrorsNameTheOption) {
  std::string out;
  EXPECT_EQ(run_command(sarscale::test::sarscale_binary() + " ingest --input x --output y.h5 --chip-size 0", &out), 2);
  EXPECT_NE(out.find("--chip-size"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_command(sarscale::test::sarscale_binary() + " ingest --bogus", &out), 2);
  EXPECT_NE(out.find("bogus"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_command(sarscale::test::sarscale_binary() + " info " + (g_dir / "nothing.h5").string(), &out), 1);
  EXPECT_NE(out.find("nothing.h5"), std::string::npos) << out;
}

TEST_F(IngestCli, OutputInsideAnInputDirectoryIsNotReadBack) {
  const fs::path dir = g_dir / "rerun";
  fs::create_directories(dir);
  for (std::size_t i = 0; i < 3; ++i) fs::copy_file(g_phx[i], dir / g_phx[i].filename());
  const std::string cmd = sarscale::test::sarscale_binary() + " ingest --input " + dir.string() + " --output " +
                          (dir / "archive.h5").string();
  const std::string first = last_json_line(run_expect(cmd)), second = last_json_line(run_expect(cmd));
  EXPECT_EQ(json_int(first, "skipped"), 0) << first;
  EXPECT_EQ(json_int(second, "skipped"), 1) << second;  // the first run's archive
  EXPECT_EQ(json_int(second, "ingested"), 3) << second;
  EXPECT_EQ(json_int(second, "rejected"), 0) << second;
}

TEST_F(IngestCli, ConvertKeepsMetadataAndGeoreferencing) {
  // Scene tiles as float32 GeoTIFF: tile 7 of the 6-wide grid sits at row 128, column 128, so
  // its origin is the scene's (500000, 5000000) moved by 128 pixels of 0.2 m.
  const fs::path archive = g_dir / "scene_tiles.h5";
  run_expect(sarscale::test::sarscale_binary() + " ingest --input " + (g_dir / "scene" / "scene.tif").string() +
             " --labels none --output " + archive.string());
  run_expect(sarscale::test::sarscale_mpi(2) + " convert --input " + archive.string() + " --output " +
             (g_dir / "tif").string() + " --format gtiff --limit 8");
  const std::string tile = run_expect("gdalinfo " + (g_dir / "tif" / "scene_tiles_0000007_unlabelled.tif").string());
  double x = 0, y = 0;
  const auto origin = tile.find("Origin = (");
  ASSERT_NE(origin, std::string::npos) << tile;
  ASSERT_EQ(std::sscanf(tile.c_str() + origin, "Origin = (%lf,%lf)", &x, &y), 2) << tile;
  EXPECT_NEAR(x, 500000.0 + 128 * 0.2, 1e-6);
  EXPECT_NEAR(y, 5000000.0 - 128 * 0.2, 1e-6);
  EXPECT_NE(tile.find("UTM zone 31N"), std::string::npos) << tile;
  EXPECT_NE(tile.find("TILE_OFFSET=128,128"), std::string::npos) << tile;
  EXPECT_FALSE(fs::exists(g_dir / "tif" / "scene_tiles_0000008_unlabelled.tif"));  // --limit 8

  // A Phoenix file as an 8-bit PNG preview, its header fields carried as metadata.
  run_expect(sarscale::test::sarscale_binary() + " convert --input " + g_phx.front().string() + " --output " +
             (g_dir / "png").string());
  const std::string png =
      run_expect("gdalinfo " + (g_dir / "png" / (g_phx.front().filename().string() + ".png")).string());
  EXPECT_NE(png.find("Type=Byte"), std::string::npos) << png;
  EXPECT_NE(png.find("PHOENIX_TargetType=" + io::read_phoenix_header(g_phx.front()).get("TargetType")),
            std::string::npos)
      << png;
}

TEST_F(IngestCli, ConfigFileSectionsAndVersion) {
  const fs::path ini = g_dir / "ingest.ini";
  std::ofstream(ini) << "log-level = warn\n[ingest]\nchip-size = 64\nlabels = dirname\n";
  const fs::path archive = g_dir / "from_config.h5";
  run_expect(sarscale::test::sarscale_binary() + " ingest --config " + ini.string() + " --input " +
             (g_dir / "chips").string() + " --output " + archive.string());
  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + archive.string());
  EXPECT_NE(info.find("\"chip_size\": [64, 64]"), std::string::npos) << info;
  EXPECT_NE(info.find("labels=dirname"), std::string::npos) << info;

  const std::string version = run_expect(sarscale::test::sarscale_binary() + " --version");
  for (const char* part : {"sarscale 0.", "MPI: Open MPI", "HDF5: 1.", "(parallel)", "GDAL: 3."})
    EXPECT_NE(version.find(part), std::string::npos) << part << "\n" << version;
}

TEST_F(IngestCli, ShippedConfigsWork) {
  const fs::path configs = fs::path(SARSCALE_SOURCE_DIR) / "configs";
  // Scenes: half-overlapping 128-pixel tiles of the 700-column, 500-row scene start every 64
  // pixels inside it: 11 across (0..640) x 8 down (0..448).
  const fs::path scenes = g_dir / "cfg_scenes.h5";
  const std::string summary = last_json_line(
      run_expect(sarscale::test::sarscale_binary() + " ingest --config " + (configs / "ingest-scenes.ini").string() +
                 " --input " + (g_dir / "scene" / "scene.tif").string() + " --output " + scenes.string()));
  EXPECT_EQ(json_int(summary, "chips"), 11 * 8) << summary;
  // MSTAR: the synthetic Phoenix chips, all usable (strict).
  const fs::path mstar = g_dir / "cfg_mstar.h5";
  const std::string chips = last_json_line(run_expect(sarscale::test::sarscale_binary() + " ingest --config " +
                                                      (configs / "ingest-mstar.ini").string() + " --input " +
                                                      (g_dir / "chips").string() + " --output " + mstar.string()));
  EXPECT_EQ(json_int(chips, "chips"), 36) << chips;
}

TEST_F(IngestCli, RealMstarJpegChipsWithTheShippedConfig) {
  SARSCALE_REQUIRE_SHARED(train, "data/mstar10-train");
  const fs::path archive = g_dir / "mstar10.h5";
  const std::string summary =
      last_json_line(run_expect(sarscale::test::sarscale_mpi(2) + " ingest --config " +
                                (fs::path(SARSCALE_SOURCE_DIR) / "configs" / "ingest-mstar.ini").string() +
                                " --input " + train.string() + " --output " + archive.string()));
  EXPECT_EQ(json_int(summary, "chips"), 2746) << summary;
  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + archive.string());
  // The class counts ../shared/README.md lists.
  for (const char* c : {"\"2S1\": 299", "\"BMP2\": 233", "\"BRDM_2\": 298", "\"BTR60\": 256", "\"BTR70\": 233",
                        "\"D7\": 299", "\"T62\": 298", "\"T72\": 232", "\"ZIL131\": 299", "\"ZSU_23_4\": 299"})
    EXPECT_NE(info.find(c), std::string::npos) << c << "\n" << info.substr(0, 600);
}

TEST_F(IngestCli, RealMstarAndScenesFromShared) {
  SARSCALE_REQUIRE_SHARED(raw, "data/mstar-raw");
  SARSCALE_REQUIRE_SHARED(scenes, "data/scenes");
  const fs::path archive = g_dir / "shared.h5";
  const std::string out = run_expect("timeout 300 " + sarscale::test::sarscale_mpi(2) + " ingest --input " +
                                     raw.string() + " " + scenes.string() + " --output " + archive.string());
  const std::string summary = last_json_line(out);
  EXPECT_EQ(json_int(summary, "ingested") + json_int(summary, "rejected"), json_int(summary, "discovered")) << summary;
  const std::string info = run_expect(sarscale::test::sarscale_binary() + " info --json " + archive.string());
  // The six Phoenix chips are there under their header labels; the truncated products are not.
  for (const char* label : {"\"bmp2_tank\": 3", "\"btr70_transport\": 1", "\"t72_tank\": 1", "\"slicey\": 1"})
    EXPECT_NE(info.find(label), std::string::npos) << label << "\n" << info;
  for (const char* bad : {"ottawa_patch.img", "R1_26161_FN1_F164", ".N1"})
    EXPECT_NE(info.find(bad), std::string::npos) << bad << " not rejected:\n" << info;
}

}  // namespace
