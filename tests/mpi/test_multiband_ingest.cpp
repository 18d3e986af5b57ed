// Multi-band ingest at any rank count: synthetic 1- and 2-band GeoTIFFs (written here with GDAL)
// into archives of every band (--bands all), of one band chosen by name (--bands vv) and of band 1
// (the plain ingest of before); every band's pixels come back exactly where they belong; inputs
// with other bands or other classes are rejected with their reason; the features stage reads the
// planes a multi-band chain names, and its augmented copies move every plane alike.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>

#include "mpi_test_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/ingest.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace fs = std::filesystem;
using sarscale::dist::Comm;

namespace {

constexpr int kChip = 24;

// One input: its file name, size, bands (with descriptions) and an id that makes its pixels unique.
struct Input {
  std::string name;
  int rows, cols;
  std::vector<std::string> descriptions;
  int id;
};

const std::vector<Input>& inputs() {
  static const std::vector<Input> all = {
      {"Cargo_x1_y1.tif", 20, 20, {"VH", "VV"}, 1},       // padded to 24x24
      {"Tanker_x2_y2.tif", 24, 24, {"VH", "VV"}, 2},      // as is
      {"Cargo_x3_y3.tif", 31, 27, {"VH", "VV"}, 3},       // cropped, odd differences
      {"Other Type_x4_y4.tif", 40, 40, {"VH", "VV"}, 4},  // cropped
      {"Tug_x5_y5.tif", 24, 24, {"VH", "VV"}, 5},         // a class not kept
      {"Tanker_x6_y6.tif", 22, 22, {"VV"}, 6},            // single-pol
      {"Cargo_x7_y7.tif", 24, 24, {"HH", "HV"}, 7},       // other polarisations
      {"Cargo_x8_y8.tif", 60, 50, {"VH", "VV"}, 8},       // a scene: 3 x 3 tiles of 24
  };
  return all;
}

// Pixel (r, c) of band b (from 1) of input `id`: distinct integers, exact in float32.
float value(int id, int band, int r, int c) { return static_cast<float>(id * 10000 + band * 2000 + r * 50 + c + 1); }

void write_inputs(const Comm& comm, const fs::path& dir) {
  if (comm.is_root()) {
    fs::create_directories(dir);
    for (const Input& in : inputs()) {
      sarscale::io::RasterWriterOptions o;
      o.bands = static_cast<int>(in.descriptions.size());
      o.tiled = false;
      sarscale::io::RasterWriter w(dir / in.name, in.rows, in.cols, o);
      for (int b = 1; b <= o.bands; ++b) {
        std::vector<float> px;
        for (int r = 0; r < in.rows; ++r)
          for (int c = 0; c < in.cols; ++c) px.push_back(value(in.id, b, r, c));
        w.write_rows(0, in.rows, px.data(), b);
        w.set_band_description(b, in.descriptions[static_cast<std::size_t>(b - 1)]);
      }
      w.close();
    }
  }
  comm.barrier();
}

// What chip `k` of input `in` must hold in band `b`: centre crop/pad (extra row or column at the
// bottom/right) of a chip, or tile k of a scene (zero beyond the scene).
float expected(const Input& in, int band, std::int64_t k, int i, int j, bool tiled) {
  int r = i, c = j;
  if (tiled) {
    const int grid_cols = (in.cols + kChip - 1) / kChip;
    r += static_cast<int>(k / grid_cols) * kChip;
    c += static_cast<int>(k % grid_cols) * kChip;
  } else {
    r += in.rows >= kChip ? (in.rows - kChip) / 2 : -((kChip - in.rows) / 2);
    c += in.cols >= kChip ? (in.cols - kChip) / 2 : -((kChip - in.cols) / 2);
  }
  if (r < 0 || r >= in.rows || c < 0 || c >= in.cols) return 0.0f;
  return value(in.id, band, r, c);
}

const Input& input_named(const std::string& path) {
  for (const Input& in : inputs())
    if (fs::path(path).filename() == in.name) return in;
  throw std::runtime_error("no input " + path);
}

sarscale::dist::IngestConfig ingest_config(const fs::path& dir, const fs::path& out, const std::string& bands) {
  sarscale::dist::IngestConfig c;
  c.inputs = {(dir / "in").string()};
  c.output = out;
  c.labels = sarscale::dist::LabelRule::parse("regex:^(.*)_x\\d+_y\\d+");
  c.chip_rows = c.chip_cols = kChip;
  c.bands = sarscale::io::BandSelection::parse(bands, 1, "");
  c.classes = {"Cargo", "Tanker", "Other Type"};
  c.batch_bytes = 3 * kChip * kChip * 4 * 2;  // a few chips per batch: several collective rounds
  c.checkpoint_seconds = 0;
  return c;
}

// Every slot of the archive, band by band (`bands`: 1-based raster band of each archive band, by
// input: for single-pol inputs the one band), checked against `expected`. Each rank reads its own
// share collectively. Returns the number of pixels compared (-1 when any differed on any rank).
std::int64_t check_pixels(const Comm& comm, const sarscale::io::ArchiveReader& ar,
                          const std::function<int(const Input&, int)>& raster_band) {
  const auto& l = ar.layout();
  const auto mine = sarscale::dist::block_range(static_cast<std::size_t>(l.chips), comm.size(), comm.rank());
  const auto first = static_cast<std::int64_t>(mine.begin), count = static_cast<std::int64_t>(mine.size());
  const std::size_t plane = kChip * kChip, nb = static_cast<std::size_t>(l.bands());
  std::vector<int> all_bands, reversed;
  for (int b = 0; b < l.bands(); ++b) all_bands.push_back(b);
  reversed.assign(all_bands.rbegin(), all_bands.rend());
  std::vector<float> px(static_cast<std::size_t>(count) * nb * plane), back(px.size()), first_band(count * plane);
  ar.read_bands(first, count, all_bands, px.data());
  ar.read_bands(first, count, reversed, back.data());
  ar.read_chips(first, count, first_band.data(), nullptr);
  const auto meta = ar.meta(first, count);
  const auto sources = ar.sources(sarscale::io::Transfer::independent);
  std::int64_t compared = 0, wrong = 0;
  for (std::int64_t s = 0; s < count; ++s) {
    const auto& src = sources[static_cast<std::size_t>(meta[static_cast<std::size_t>(s)].source_index)];
    const Input& in = input_named(src.path);
    const std::int64_t k = first + s - src.first_chip;
    for (std::size_t b = 0; b < nb; ++b)
      for (int i = 0; i < kChip; ++i)
        for (int j = 0; j < kChip; ++j) {
          const std::size_t at = (static_cast<std::size_t>(s) * nb + b) * plane + i * kChip + j;
          const float want = expected(in, raster_band(in, static_cast<int>(b)), k, i, j, in.rows > 2 * kChip);
          const bool ok = px[at] == want &&
                          back[(static_cast<std::size_t>(s) * nb + (nb - 1 - b)) * plane + i * kChip + j] == want &&
                          (b > 0 || first_band[static_cast<std::size_t>(s) * plane + i * kChip + j] == want);
          if (!ok && wrong++ == 0)
            ADD_FAILURE() << in.name << " chip " << k << " band " << b << " (" << i << ", " << j << "): " << px[at]
                          << " instead of " << want;
          ++compared;
        }
  }
  return comm.sum(wrong) == 0 ? comm.sum(compared) : -1;
}

bool has_reject(const sarscale::dist::IngestSummary& s, const std::string& file, const std::string& words) {
  for (const auto& [path, why] : s.rejects)
    if (fs::path(path).filename() == file && why.find(words) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(MultibandIngest, EveryBandOfEveryChipComesBack) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "multiband_all");
  write_inputs(comm, dir / "in");
  const auto summary = sarscale::dist::run_ingest(comm, ingest_config(dir, dir / "all.h5", "all"));
  EXPECT_EQ(summary.discovered, 8);
  EXPECT_EQ(summary.rejected_inputs, 3);
  EXPECT_EQ(summary.chips, 4 + 9);
  EXPECT_TRUE(has_reject(summary, "Tug_x5_y5.tif", "label 'Tug' not among --classes (Cargo, Tanker, Other Type)"));
  EXPECT_TRUE(has_reject(summary, "Tanker_x6_y6.tif", "has 1 band(s); --bands all stores 2"));
  EXPECT_TRUE(has_reject(summary, "Cargo_x7_y7.tif", "its bands are named (hh,hv), the archive's (vh,vv)"));

  const auto ar = sarscale::io::ArchiveReader::open(dir / "all.h5", comm.raw());
  EXPECT_EQ(ar.layout().band_names, (std::vector<std::string>{"vh", "vv"}));
  EXPECT_EQ(ar.attribute("format_version"), "2");
  EXPECT_EQ(ar.layout().class_names, (std::vector<std::string>{"Cargo", "Other Type", "Tanker"}));
  EXPECT_EQ(ar.band_index("VV"), 1);
  EXPECT_EQ(ar.band_index("hh"), -1);
  EXPECT_EQ(check_pixels(comm, ar, [](const Input&, int b) { return b + 1; }), 13 * 2 * kChip * kChip);
  EXPECT_THROW(ar.read_bands(0, 1, {2}, nullptr), sarscale::ConfigError);  // collective: every rank throws
}

TEST(MultibandIngest, OneBandByNameAndThePlainIngestOfBefore) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "multiband_one");
  write_inputs(comm, dir / "in");
  // --bands vv: band 2 of dual-pol inputs, band 1 of the single-pol one; hh/hv has none.
  const auto vv = sarscale::dist::run_ingest(comm, ingest_config(dir, dir / "vv.h5", "vv"));
  EXPECT_EQ(vv.chips, 5 + 9);
  EXPECT_TRUE(has_reject(vv, "Cargo_x7_y7.tif", "no band named 'vv' (its bands: hh, hv"));
  const auto ar = sarscale::io::ArchiveReader::open(dir / "vv.h5", comm.raw());
  EXPECT_EQ(ar.layout().band_names, (std::vector<std::string>{"vv"}));
  EXPECT_EQ(ar.attribute("format_version"), "1");  // one band: the layout of version 1
  EXPECT_EQ(check_pixels(comm, ar, [](const Input& in, int) { return static_cast<int>(in.descriptions.size()); }),
            14 * kChip * kChip);

  // No --bands: band 1 of everything, unnamed, exactly as before multi-band ingest.
  auto plain_cfg = ingest_config(dir, dir / "plain.h5", "");
  plain_cfg.classes.clear();
  const auto plain = sarscale::dist::run_ingest(comm, plain_cfg);
  EXPECT_EQ(plain.rejected_inputs, 0);
  const auto pr = sarscale::io::ArchiveReader::open(dir / "plain.h5", comm.raw());
  EXPECT_TRUE(pr.layout().band_names.empty());
  EXPECT_EQ(pr.attribute("format_version"), "1");
  EXPECT_FALSE(pr.has_attribute("bands"));
  EXPECT_EQ(check_pixels(comm, pr, [](const Input&, int) { return 1; }), (7 + 9) * kChip * kChip);
}

TEST(MultibandIngest, FeaturesReadThePlanesTheChainNames) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "multiband_features");
  write_inputs(comm, dir / "in");
  sarscale::dist::run_ingest(comm, ingest_config(dir, dir / "all.h5", "all"));
  sarscale::dist::FeaturesConfig fc;
  fc.archive = dir / "all.h5";
  fc.output = dir / "all.features.h5";
  fc.planes = "vv, ratio=vh/vv";  // reads vv, then vh (for the ratio): the archive's bands reversed
  fc.preprocess = "crop(16)";
  fc.blocks = "pixels(size=4); stats(on=ratio)";
  fc.batch_chips = 2;
  const auto summary = sarscale::dist::run_features(comm, fc);
  EXPECT_EQ(summary.usable, 13);

  // The chain run here on the archive's chips, both bands in chain order (vv, vh).
  const sarscale::features::FeatureChain chain(sarscale::features::make_chain_spec(
      "crop(16)", "pixels(size=4); stats(on=ratio)", kChip, kChip, "vv, ratio=vh/vv"));
  ASSERT_EQ(chain.bands(), (std::vector<std::string>{"vv", "vh"}));
  const auto ar = sarscale::io::ArchiveReader::open(dir / "all.h5", comm.raw());
  std::vector<float> chips(13 * 2 * kChip * kChip);
  ar.read_bands(0, 13, {1, 0}, chips.data());
  const auto fr = sarscale::io::FeatureReader::open(dir / "all.features.h5", comm.raw());
  ASSERT_EQ(fr.layout().dim, static_cast<std::int64_t>(chain.length()));
  EXPECT_EQ(fr.layout().blocks[0].name, "pixels[vv]");
  EXPECT_EQ(fr.layout().blocks[2].name, "stats[ratio]");
  std::vector<float> stored(13 * chain.length()), mine(chain.length());
  fr.read_features(0, 13, stored.data());
  auto ws = chain.workspace();
  for (std::size_t k = 0; k < 13; ++k) {
    ASSERT_EQ(chain.compute(chips.data() + k * 2 * kChip * kChip, mine.data(), ws), "");
    EXPECT_EQ(std::vector<float>(stored.begin() + k * chain.length(), stored.begin() + (k + 1) * chain.length()), mine)
        << k;
  }

  // A chain naming a band the archive lacks is refused on every rank, naming what it has.
  fc.output = dir / "hh.features.h5";
  fc.planes = "hh";
  fc.blocks = "pixels(size=4)";
  try {
    sarscale::dist::run_features(comm, fc);
    ADD_FAILURE() << "no error";
  } catch (const sarscale::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("reads band 'hh' but the archive"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("has the bands (vh, vv)"), std::string::npos) << e.what();
  }
}

TEST(MultibandIngest, AugmentedCopiesShiftEveryPlaneAlike) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "multiband_augment");
  write_inputs(comm, dir / "in");
  sarscale::dist::run_ingest(comm, ingest_config(dir, dir / "all.h5", "all"));
  sarscale::dist::FeaturesConfig fc;
  fc.archive = dir / "all.h5";
  fc.output = dir / "aug.features.h5";
  fc.planes = "vh, vv";
  fc.preprocess = "crop(20)";
  fc.blocks = "pixels(size=5)";
  fc.augment = "shift(1)";  // copies moved up, down, left, right; borders replicated
  fc.batch_chips = 3;
  const auto summary = sarscale::dist::run_features(comm, fc);
  ASSERT_EQ(summary.augmented_rows, 13 * 4);

  sarscale::features::FeatureChain chain(
      sarscale::features::make_chain_spec("crop(20)", "pixels(size=5)", kChip, kChip, "vh, vv"));
  const auto ar = sarscale::io::ArchiveReader::open(dir / "all.h5", comm.raw());
  const std::size_t plane = kChip * kChip;
  std::vector<float> chips(13 * 2 * plane);
  ar.read_bands(0, 13, {0, 1}, chips.data());
  const auto fr = sarscale::io::FeatureReader::open(dir / "aug.features.h5", comm.raw());
  std::vector<float> stored(13 * 5 * chain.length()), mine(chain.length()), moved(2 * plane);
  fr.read_features(0, 13 * 5, stored.data());
  const int shifts[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
  const auto clamp = [](int v) { return std::min(std::max(v, 0), kChip - 1); };
  for (std::size_t s = 0; s < 13; ++s)
    for (std::size_t k = 0; k < 4; ++k) {
      // The pixel at (r, c) lands at (r + dr, c + dc), in both planes.
      for (std::size_t b = 0; b < 2; ++b)
        for (int r = 0; r < kChip; ++r)
          for (int c = 0; c < kChip; ++c)
            moved[b * plane + r * kChip + c] =
                chips[(s * 2 + b) * plane + clamp(r - shifts[k][0]) * kChip + clamp(c - shifts[k][1])];
      ASSERT_EQ(chain.compute(moved.data(), mine.data()), "");
      const std::size_t row = 13 + s * 4 + k;
      EXPECT_EQ(std::vector<float>(stored.begin() + row * chain.length(), stored.begin() + (row + 1) * chain.length()),
                mine)
          << "copy " << k << " of chip " << s;
    }
}
