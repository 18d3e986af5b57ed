// Ingest spreads the rows of tiles of a large scene over every rank (dist/ingest_plan.hpp): a
// synthetic 2048 x 2048 complex scene beside a few Phoenix chips is ingested at this run's rank
// count and, by rank 0 alone, at one rank; the two archives hold the same chips, metadata,
// labels, validity, sources and rejects, every scene tile equals the scene's own pixels, and at
// two ranks or more each rank read only part of the scene. A compressed scene with one damaged
// block in its middle is one reject as a whole (every slot invalid) at any rank count.
#include <gdal.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "mpi_test_support.hpp"
#include "sarscale/dist/ingest.hpp"
#include "sarscale/dist/synth_stage.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace fs = std::filesystem;
using sarscale::dist::Comm;

namespace {

constexpr int kScene = 2048, kChip = 128, kChips = 5;

sarscale::dist::IngestConfig ingest_config(const fs::path& in, const fs::path& out) {
  sarscale::dist::IngestConfig c;
  c.inputs = {in.string()};
  c.output = out;
  c.batch_bytes = std::size_t{24} * kChip * kChip * 8;  // 24 chips with phase: rows of 16 tiles cut by batches
  c.checkpoint_seconds = 0;
  return c;
}

// A fresh scratch directory holding kChips synthetic Phoenix chips of two classes under in/chips.
fs::path scratch_with_chips(const Comm& comm, const std::string& name) {
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, name);
  sarscale::synth::ChipSynthConfig chips;
  chips.num_classes = 2;
  sarscale::dist::synth_chips(comm, dir / "in" / "chips", kChips, chips);
  return dir;
}

// The same ingest by rank 0 alone (the one-rank archive); the other ranks wait.
void ingest_on_rank0(const Comm& comm, const sarscale::dist::IngestConfig& config) {
  if (comm.is_root()) sarscale::dist::run_ingest(Comm(MPI_COMM_SELF), config);
  comm.barrier();
}

std::string meta_text(const sarscale::ChipMeta& m) {
  auto num = [](float v) { return std::isnan(v) ? std::string("nan") : std::to_string(v); };
  return std::to_string(m.source_index) + "|" + std::to_string(m.tile_row) + "|" + std::to_string(m.tile_col) + "|" +
         std::to_string(m.orig_rows) + "|" + std::to_string(m.orig_cols) + "|" + num(m.azimuth_deg) + "|" +
         num(m.depression_deg) + "|" + m.target_type + "|" + m.serial + "|" + m.polarisation;
}

// Compares everything two archives hold (rank 0, independent reads). Returns the first difference.
// With `valid_only`, the pixels of invalid slots and the rejects' reasons are not compared.
std::string difference(const fs::path& a_path, const fs::path& b_path, bool valid_only = false) {
  const auto a = sarscale::io::ArchiveReader::open(a_path, MPI_COMM_SELF);
  const auto b = sarscale::io::ArchiveReader::open(b_path, MPI_COMM_SELF);
  const auto& la = a.layout();
  if (la.chips != b.layout().chips || la.class_names != b.layout().class_names ||
      la.has_phase != b.layout().has_phase)
    return "layouts differ";
  const auto n = la.chips;
  const std::size_t px = static_cast<std::size_t>(n) * la.rows * la.cols;
  std::vector<float> ma(px), mb(px), pa(px), pb(px);
  a.read_chips(0, n, ma.data(), la.has_phase ? pa.data() : nullptr, sarscale::io::Transfer::independent);
  b.read_chips(0, n, mb.data(), la.has_phase ? pb.data() : nullptr, sarscale::io::Transfer::independent);
  using sarscale::io::Transfer;
  const auto valid = a.valid(0, n, Transfer::independent);
  if (valid != b.valid(0, n, Transfer::independent)) return "valid flags differ";
  const std::size_t plane = static_cast<std::size_t>(la.rows) * la.cols;
  for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
    if (valid_only && valid[k] == 0) continue;
    if (!std::equal(ma.begin() + k * plane, ma.begin() + (k + 1) * plane, mb.begin() + k * plane))
      return "magnitudes of chip " + std::to_string(k) + " differ";
    if (!std::equal(pa.begin() + k * plane, pa.begin() + (k + 1) * plane, pb.begin() + k * plane))
      return "phases of chip " + std::to_string(k) + " differ";
  }
  if (a.labels(0, n, Transfer::independent) != b.labels(0, n, Transfer::independent)) return "labels differ";
  const auto meta_a = a.meta(0, n, Transfer::independent), meta_b = b.meta(0, n, Transfer::independent);
  for (std::int64_t k = 0; k < n; ++k)
    if (meta_text(meta_a[k]) != meta_text(meta_b[k])) return "meta of chip " + std::to_string(k) + " differ";
  if (a.sources() != b.sources()) return "sources differ";
  auto ra = a.rejects(), rb = b.rejects();
  if (valid_only)
    for (auto* list : {&ra, &rb})
      for (auto& rec : *list) rec.reason.clear();
  if (ra != rb) {
    std::string text = "rejects differ:";
    for (const auto* r : {&a, &b})
      for (const auto& rec : r->rejects()) text += "\n  " + rec.path + ": " + rec.reason;
    return text;
  }
  for (const char* attr : {"tile_size", "tile_stride", "labels", "tiling"})
    if (a.attribute(attr) != b.attribute(attr)) return std::string("attribute ") + attr + " differs";
  return "";
}

// Every slot of the scene against the scene's own pixels read whole through GDAL (rank 0).
// Returns the number of tiles compared, -1 at the first that differs.
std::int64_t check_scene_tiles(const fs::path& archive, const fs::path& scene) {
  const auto ar = sarscale::io::ArchiveReader::open(archive, MPI_COMM_SELF);
  const auto sources = ar.sources();
  const auto at = std::find_if(sources.begin(), sources.end(), [&](const auto& s) { return s.path == scene.string(); });
  if (at == sources.end()) return -1;
  sarscale::Image img;
  sarscale::io::GdalRaster::open(scene).read_window(0, 0, kScene, kScene, img);
  std::vector<float> mag(kChip * kChip), pha(kChip * kChip);
  const int grid = kScene / kChip;
  for (std::int64_t t = 0; t < at->chip_count; ++t) {
    ar.read_chips(at->first_chip + t, 1, mag.data(), pha.data(), sarscale::io::Transfer::independent);
    const int r0 = static_cast<int>(t / grid) * kChip, c0 = static_cast<int>(t % grid) * kChip;
    for (int i = 0; i < kChip; ++i)
      for (int j = 0; j < kChip; ++j) {
        const std::size_t s = static_cast<std::size_t>(r0 + i) * kScene + c0 + j, d = i * kChip + j;
        if (mag[d] != img.magnitude[s] || pha[d] != img.phase[s]) {
          ADD_FAILURE() << "tile " << t << " pixel (" << i << ", " << j << ")";
          return -1;
        }
      }
  }
  return at->chip_count;
}

}  // namespace

TEST(SceneIngest, TheRowsOfOneSceneAreSpreadOverEveryRankAndTheArchiveIsTheSame) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = scratch_with_chips(comm, "scene_ingest");
  sarscale::synth::SceneSynthConfig scene;
  scene.width = scene.height = kScene;
  scene.targets = 6;
  scene.seed = 3;
  const fs::path tif = dir / "in" / "scene" / "scene.tif";
  sarscale::dist::synth_scene(comm, tif, scene);

  const auto summary = sarscale::dist::run_ingest(comm, ingest_config(dir / "in", dir / "world.h5"));
  const std::int64_t tiles = (kScene / kChip) * (kScene / kChip);
  EXPECT_EQ(summary.chips, kChips + tiles);
  ASSERT_EQ(summary.scene_pixels_read.size(), static_cast<std::size_t>(comm.size()));
  ASSERT_EQ(summary.peak_rss_mb.size(), static_cast<std::size_t>(comm.size()));
  const std::int64_t total = std::int64_t{kScene} * kScene;
  std::int64_t sum = 0, most = 0;
  for (int r = 0; r < comm.size(); ++r) {
    const std::int64_t px = summary.scene_pixels_read[static_cast<std::size_t>(r)];
    EXPECT_GT(px, 0) << "rank " << r << " read none of the scene";
    EXPECT_GT(summary.peak_rss_mb[static_cast<std::size_t>(r)], 0);
    sum += px;
    most = std::max(most, px);
  }
  // Every pixel of the scene is read once, and the ranks share it within a row of tiles.
  EXPECT_EQ(sum, total);
  EXPECT_LE(most, total / comm.size() + std::int64_t{kChip} * kScene);
  if (comm.size() >= 2) EXPECT_LT(most, total);

  ingest_on_rank0(comm, ingest_config(dir / "in", dir / "one.h5"));
  if (comm.is_root()) {
    EXPECT_EQ(difference(dir / "one.h5", dir / "world.h5"), "");
    EXPECT_EQ(check_scene_tiles(dir / "world.h5", tif), tiles);
  }
  comm.barrier();
}

namespace {

// A float32 DEFLATE GeoTIFF of 1024 x 1024 pixels in 256 x 256 blocks whose block (column 1,
// row 2) is damaged from a quarter of its bytes on: the first and last rows read (the probe
// passes), rows in 512-767 do not (GDAL may decode the block's first rows before the damage).
void write_damaged_scene(const fs::path& tif) {
  constexpr int kSide = 1024;
  sarscale::io::RasterWriterOptions o;
  o.compression = "DEFLATE";
  sarscale::io::RasterWriter w(tif, kSide, kSide, o);
  std::vector<float> px(static_cast<std::size_t>(kSide) * kSide);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<float>((i * 7919) % 1000) / 10.0f;
  w.write_rows(0, kSide, px.data(), 1);
  w.close();
  GDALAllRegister();
  GDALDatasetH ds = GDALOpen(tif.c_str(), GA_ReadOnly);
  ASSERT_NE(ds, nullptr);
  GDALRasterBandH band = GDALGetRasterBand(ds, 1);
  const char* offset = GDALGetMetadataItem(band, "BLOCK_OFFSET_1_2", "TIFF");
  const char* size = GDALGetMetadataItem(band, "BLOCK_SIZE_1_2", "TIFF");
  ASSERT_NE(offset, nullptr);
  ASSERT_NE(size, nullptr);
  const long long at = std::stoll(offset), bytes = std::stoll(size);
  GDALClose(ds);
  std::fstream f(tif, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(at + bytes / 4);
  const std::string garbage(static_cast<std::size_t>(bytes / 2), '\x5a');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
}

}  // namespace

TEST(SceneIngest, ASceneThatFailsPartWayIsOneRejectWhateverTheRankCount) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = scratch_with_chips(comm, "scene_ingest_damaged");
  const fs::path tif = dir / "in" / "damaged" / "scene.tif";
  if (comm.is_root()) {
    fs::create_directories(tif.parent_path());
    write_damaged_scene(tif);
  }
  comm.barrier();

  auto config = ingest_config(dir / "in", dir / "world.h5");
  config.batch_bytes = std::size_t{10} * kChip * kChip * 8;
  const auto summary = sarscale::dist::run_ingest(comm, config);
  EXPECT_EQ(summary.chips, kChips);  // the scene's 64 tiles are all invalid
  EXPECT_EQ(summary.slots, kChips + 64);
  ASSERT_EQ(summary.rejects.size(), 1u);
  EXPECT_EQ(summary.rejects[0].first, tif.string());
  // The first failing read: rows of tiles inside the damaged block's rows 512-767. Which window
  // GDAL fails on depends on how the rows were cut, so only the rows are pinned.
  const std::string& why = summary.rejects[0].second;
  EXPECT_TRUE(why.rfind("cannot read rows 512..639, cols ", 0) == 0 || why.rfind("cannot read rows 640..767, cols ", 0) == 0)
      << why;
  EXPECT_NE(why.find("TIFFReadEncodedTile() failed"), std::string::npos) << why;

  ingest_on_rank0(comm, [&] {
    auto one = config;
    one.output = dir / "one.h5";
    return one;
  }());
  // The same decision at any rank count: the same slots invalid, the same valid chips, one reject.
  if (comm.is_root()) EXPECT_EQ(difference(dir / "one.h5", dir / "world.h5", true), "");
  comm.barrier();
}
