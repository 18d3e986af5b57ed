// `sarscale detect` across ranks: the prescreen of a tiled scene equals the CFAR and components
// of the whole scene computed here in one piece; discrimination and classification with a model
// that knows clutter find the planned targets; every output is byte-identical to a one-process
// run; a re-run resumes from the tile logs, also after one was cut short.
#include <gdal.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

#include "mpi_test_support.hpp"
#include "scene_model_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/detect/cfar.hpp"
#include "sarscale/detect/components.hpp"
#include "sarscale/dist/detect_stage.hpp"
#include "sarscale/dist/synth_stage.hpp"
#include "sarscale/io/detection_file.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using dist::Comm;
using namespace sarscale::test;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs detect at this run's rank count, then on rank 0 alone (MPI_COMM_SELF) into `single`:
// detections.csv must be byte-identical.
dist::DetectSummary detect_everywhere(const Comm& comm, dist::DetectConfig cfg, const fs::path& single) {
  const dist::DetectSummary s = dist::run_detect(comm, cfg);
  if (comm.is_root()) {
    cfg.output = single;
    const dist::DetectSummary one = dist::run_detect(Comm(MPI_COMM_SELF), cfg);
    EXPECT_EQ(one.detections, s.detections);
    EXPECT_EQ(slurp(s.output / "detections.csv"), slurp(single / "detections.csv"))
        << "detections differ between " << comm.size() << " rank(s) and one";
  }
  comm.barrier();
  return s;
}

// The reference: the whole scene's intensity in one window, the CFAR and its components.
std::vector<detect::Candidate> untiled_candidates(const fs::path& scene, const detect::CfarParams& params) {
  const io::GdalRaster raster = io::GdalRaster::open(scene);
  Image img;
  raster.read_window(0, 0, raster.rows(), raster.cols(), img);
  for (float& v : img.magnitude) v = v * v;  // synth float32 scenes hold amplitude
  const detect::SceneWindow w{img.magnitude.data(), 0, 0, raster.rows(), raster.cols(), raster.cols(),
                              raster.rows(),        raster.cols()};
  const detect::Cfar cfar(params);
  return detect::cluster_candidates(detect::candidates(cfar.run(w, {0, 0, raster.rows(), raster.cols()}, 1)),
                                    dist::DetectConfig{}.cluster_gap);
}

}  // namespace

TEST(Detect, TiledPrescreenEqualsTheWholeSceneAtAnyRankCount) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "detect_prescreen");
  synth::SceneSynthConfig sc = scene_config(5, 8);
  sc.width = 1000;  // not a multiple of the tile: partial tiles on two sides
  sc.height = 900;
  dist::synth_scene(comm, dir / "scene.tif", sc);
  dist::DetectConfig cfg;
  cfg.inputs = {(dir / "scene.tif").string()};
  cfg.output = dir / "out";
  cfg.prescreen_only = true;
  cfg.tile = 256;
  cfg.cfar.pfa = 1e-5;
  const dist::DetectSummary s = detect_everywhere(comm, cfg, dir / "out.single");
  EXPECT_EQ(s.tiles, 4 * 4);
  if (!comm.is_root()) return;
  ASSERT_EQ(s.scenes.size(), 1u);
  EXPECT_EQ(s.scenes[0].tested, 1000 * 900) << "every pixel has enough ring cells (min_cells: 1/8 of the ring)";
  EXPECT_EQ(s.mode, "prescreen only");

  const std::vector<detect::Candidate> want = untiled_candidates(dir / "scene.tif", cfg.cfar);
  const std::vector<io::Detection> got = io::read_detections(dir / "out");
  ASSERT_EQ(got.size(), want.size());
  ASSERT_GT(got.size(), 8u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    const io::Detection& d = got[i];
    const detect::Candidate& c = want[i];
    EXPECT_EQ(d.id, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(d.area, c.area) << i;
    EXPECT_EQ(d.row_min, c.row_min) << i;
    EXPECT_EQ(d.col_max, c.col_max) << i;
    // The CSV holds 15 significant digits (OGR's); the library's tiled == untiled is bit-exact
    // (test_cfar_components).
    EXPECT_NEAR(d.row, c.weighted_row + 0.5, 1e-11) << i;
    EXPECT_NEAR(d.col, c.weighted_col + 0.5, 1e-11) << i;
    EXPECT_NEAR(d.log10_pfa, c.min_log10_pfa, 1e-12 * std::fabs(c.min_log10_pfa)) << i;
    EXPECT_FLOAT_EQ(static_cast<float>(d.peak), c.peak) << i;
    EXPECT_TRUE(d.target);
    EXPECT_EQ(d.class_name, "");
    EXPECT_TRUE(std::isfinite(d.lon) && std::isfinite(d.lat)) << "synth scenes are georeferenced (UTM 31N)";
  }
  // Every planned vehicle is found by the prescreen: a candidate's box overlaps its footprint.
  for (const auto& t : synth::plan_scene_targets(sc)) {
    bool found = false;
    for (const io::Detection& d : got)
      found = found || (d.row_max >= t.footprint.row0 && d.row_min < t.footprint.row0 + t.footprint.rows &&
                        d.col_max >= t.footprint.col0 && d.col_min < t.footprint.col0 + t.footprint.cols);
    EXPECT_TRUE(found) << "target " << t.index << " at " << t.row << ", " << t.col;
  }
  // The quick-look and the GeoJSON are there, readable by GDAL/OGR.
  GDALAllRegister();
  GDALDatasetH png = GDALOpen(s.scenes[0].quicklook.c_str(), GA_ReadOnly);
  ASSERT_NE(png, nullptr);
  EXPECT_EQ(GDALGetRasterXSize(png), 1000);
  EXPECT_EQ(GDALGetRasterCount(png), 3);
  GDALClose(png);
  GDALDatasetH geojson = GDALOpenEx((dir / "out" / "detections.geojson").c_str(), GDAL_OF_VECTOR, nullptr, nullptr, nullptr);
  ASSERT_NE(geojson, nullptr);
  EXPECT_EQ(OGR_L_GetFeatureCount(GDALDatasetGetLayer(geojson, 0), TRUE), static_cast<GIntBig>(got.size()));
  GDALClose(geojson);
}

TEST(Detect, ResumesFromTileLogsAndARecordCutShort) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "detect_resume");
  synth::SceneSynthConfig sc = scene_config(9, 2);
  sc.width = sc.height = 512;
  dist::synth_scene(comm, dir / "scene.tif", sc);
  dist::DetectConfig cfg;
  cfg.inputs = {(dir / "scene.tif").string()};
  cfg.output = dir / "out";
  cfg.prescreen_only = true;
  cfg.tile = 128;
  const dist::DetectSummary first = dist::run_detect(comm, cfg);
  EXPECT_EQ(first.tiles_resumed, 0);
  std::string before;
  if (comm.is_root()) {
    before = slurp(dir / "out" / "detections.csv");
    // A kill in the middle of a record: the last record of one log is cut short.
    fs::path log;
    for (const auto& e : fs::directory_iterator(dir / "out" / "tiles"))
      if (e.path().extension() == ".log") log = e.path();
    fs::resize_file(log, fs::file_size(log) - 5);
  }
  comm.barrier();
  const dist::DetectSummary second = dist::run_detect(comm, cfg);
  EXPECT_EQ(second.tiles, 16);
  EXPECT_EQ(second.tiles_resumed, 15) << "every tile but the one cut short is reused";
  const dist::DetectSummary third = dist::run_detect(comm, cfg);
  EXPECT_EQ(third.tiles_resumed, 16);
  if (comm.is_root()) EXPECT_EQ(slurp(dir / "out" / "detections.csv"), before);
  cfg.fresh = true;
  EXPECT_EQ(dist::run_detect(comm, cfg).tiles_resumed, 0);
}

TEST(Detect, DiscriminatesClutterAndClassifiesTheTargets) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "detect_classify");
  const fs::path model = dir / "model.h5";
  if (comm.is_root()) train_scene_model(model);
  const synth::SceneSynthConfig sc = scene_config(5, 8);
  dist::synth_scene(comm, dir / "scene.tif", sc);  // collective: a barrier for the model too
  dist::DetectConfig cfg;
  cfg.inputs = {(dir / "scene.tif").string()};
  cfg.model = model;
  cfg.output = dir / "out";
  cfg.tile = 256;
  cfg.cfar.pfa = 1e-6;
  // The test model learnt truth-centred chips (within a few pixels): the case --search is for.
  cfg.chip_on_box = true;
  cfg.search = 8;
  const dist::DetectSummary s = detect_everywhere(comm, cfg, dir / "out.single");
  if (!comm.is_root()) return;
  EXPECT_EQ(s.mode, "discriminate+classify");
  const std::vector<io::Detection> got = io::read_detections(dir / "out");
  const auto targets = synth::plan_scene_targets(sc);
  int found = 0, right = 0, false_alarms = 0, clutter = 0;
  // Found: a declared target within 16 pixels of the vehicle's centre or on its footprint (as
  // evaluate --detections matches them).
  const auto on = [](const synth::SceneTarget& t, const io::Detection& d) {
    const synth::PixelBox& b = t.footprint;
    return std::hypot(d.row - t.row, d.col - t.col) < 16 ||
           (d.row >= b.row0 && d.row < b.row0 + b.rows && d.col >= b.col0 && d.col < b.col0 + b.cols);
  };
  for (const auto& t : targets) {
    const io::Detection* best = nullptr;
    for (const io::Detection& d : got)
      if (d.target && on(t, d) &&
          (!best || std::hypot(d.row - t.row, d.col - t.col) < std::hypot(best->row - t.row, best->col - t.col)))
        best = &d;
    found += best ? 1 : 0;
    right += best && best->class_name == t.class_name ? 1 : 0;
  }
  int duplicates = 0;
  for (const io::Detection& d : got) {
    // Not a target: clutter, or the duplicate of a declared target of this scene within the
    // suppression radius that is at least as target-like.
    if (!d.target && d.reason.rfind("duplicate of detection ", 0) == 0) {
      ++duplicates;
      const long keeper = std::stol(d.reason.substr(23));
      const auto k = std::find_if(got.begin(), got.end(), [&](const io::Detection& e) { return e.id == keeper; });
      ASSERT_NE(k, got.end()) << d.reason;
      EXPECT_TRUE(k->target);
      EXPECT_LE(std::hypot(k->row - d.row, k->col - d.col), cfg.suppress_radius);
      EXPECT_LE(k->clutter_probability, d.clutter_probability);
    } else {
      clutter += d.target ? 0 : 1;
      if (!d.target) EXPECT_EQ(d.class_name, "clutter");
    }
    EXPECT_TRUE(std::isfinite(d.clutter_probability) && d.clutter_probability >= 0 && d.clutter_probability <= 1);
    if (d.target && !near_a_target(targets, static_cast<int>(d.row) - 8, static_cast<int>(d.col) - 8, 16, 8))
      ++false_alarms;
  }
  std::printf("detect on synth: %zu candidates, %d found of %zu targets, %d right class, %d false alarms, %d clutter, "
              "%d duplicates\n", got.size(), found, targets.size(), right, false_alarms, clutter, duplicates);
  EXPECT_GE(found, 7) << "of 8 planned targets";
  EXPECT_LE(false_alarms, 2);
  EXPECT_GT(clutter, 0) << "the prescreen at 1e-6 takes some speckle for targets: the model must reject them";
}

TEST(Detect, RefusesAModelWithoutClutterUnlessAsked) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "detect_no_clutter");
  const fs::path model = dir / "model.h5";
  if (comm.is_root()) {
    // Two vehicle classes only.
    ModelSpec spec;
    spec.chip = 16;
    spec.preprocess = "db(floor=-50)";
    spec.blocks = "stats(bins=8)";
    spec.class_names = {"a", "b"};
    std::vector<float> chips;
    std::vector<std::int32_t> labels;
    std::mt19937 rng(3);
    for (int i = 0; i < 40; ++i) {
      for (int p = 0; p < 256; ++p) chips.push_back(static_cast<float>(rng() % 1000) / 1000.0f + (i % 2 ? 1.0f : 0.1f));
      labels.push_back(i % 2);
    }
    write_model(model, spec, chips, labels);
  }
  synth::SceneSynthConfig sc = scene_config(3, 1);
  sc.width = sc.height = 320;
  dist::synth_scene(comm, dir / "scene.tif", sc);
  dist::DetectConfig cfg;
  cfg.inputs = {(dir / "scene.tif").string()};
  cfg.model = model;
  cfg.output = dir / "out";
  try {
    dist::run_detect(comm, cfg);
    ADD_FAILURE() << "a model without a clutter class was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no 'clutter' class"), std::string::npos) << e.what();
  }
  cfg.no_discrimination = true;
  const dist::DetectSummary s = dist::run_detect(comm, cfg);
  EXPECT_EQ(s.mode, "classify (no discrimination)");
  if (comm.is_root()) {
    for (const io::Detection& d : io::read_detections(cfg.output)) {
      EXPECT_TRUE(d.target);
      EXPECT_TRUE(d.class_name == "a" || d.class_name == "b") << d.class_name;
      EXPECT_TRUE(std::isnan(d.clutter_probability));
    }
  }
}

// A folder of scenes of different sizes: each rank merges the scenes assigned to it and rank 0
// gathers them; detections and quick-looks are byte-identical to one rank's, and every scene is
// merged by exactly one rank (assign_scene_merges, largest first to the least loaded).
TEST(Detect, ScenesMergedOnTheirRanksGiveOneRanksOutputs) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "detect_folder");
  const int sides[] = {300, 700, 500, 260};
  for (int k = 0; k < 4; ++k) {
    synth::SceneSynthConfig sc = scene_config(40 + static_cast<std::uint64_t>(k), 0);  // clutter alone
    sc.width = sides[k];
    sc.height = sides[(k + 1) % 4];
    dist::synth_scene(comm, dir / "scenes" / ("s" + std::to_string(k) + ".tif"), sc);
  }
  dist::DetectConfig cfg;
  cfg.inputs = {(dir / "scenes").string()};
  cfg.output = dir / "out";
  cfg.prescreen_only = true;
  cfg.tile = 128;
  cfg.quicklook_size = 128;
  cfg.cfar.pfa = 1e-4;
  const dist::DetectSummary s = detect_everywhere(comm, cfg, dir / "out.single");
  EXPECT_EQ(s.tiles, 18 + 24 + 12 + 9) << "128-pixel tiles of 300x700, 700x500, 500x260 and 260x300 scenes";
  if (comm.is_root()) {
    ASSERT_EQ(s.scenes.size(), 4u);
    for (const auto& sc : s.scenes) {
      ASSERT_FALSE(sc.quicklook.empty()) << sc.scene;
      const fs::path png = sc.quicklook;
      EXPECT_EQ(slurp(png), slurp(dir / "out.single" / "quicklook" / png.filename())) << png;
    }
    EXPECT_GT(s.detections, 0);
  }
  const dist::DetectPlan plan = dist::make_detect_plan({{700, 300}, {500, 700}, {260, 500}, {300, 260}}, 128, 128);
  const std::vector<int> owner = dist::assign_scene_merges(plan, comm.size());
  ASSERT_EQ(owner.size(), 4u);
  for (const int o : owner) EXPECT_TRUE(o >= 0 && o < comm.size());
  EXPECT_EQ(owner[1], 0) << "the largest scene goes first, to rank 0";
  comm.barrier();
}
