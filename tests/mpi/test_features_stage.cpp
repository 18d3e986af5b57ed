// The features stage across ranks: per-chip features bitwise equal to a single-process run of
// the chain (so identical for any rank and thread count), bad chips flagged and excluded, the
// PCA fitted across ranks within 1e-9 of a single-process fit, and --pca-from.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "mpi_test_support.hpp"
#include "pca_compare.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/synth/chip_synth.hpp"

namespace fs = std::filesystem;
using sarscale::dist::Comm;
using sarscale::dist::FeaturesConfig;
using sarscale::io::FeatureReader;

namespace {

constexpr int kSize = 64;
constexpr std::int64_t kChips = 61;  // not a multiple of any rank count or batch
constexpr const char* kPreprocess = "db(floor=-50)";
constexpr const char* kBlocks =
    "hog(cell=16, block=2); gabor(frequencies=0.15/0.3, orientations=2, grid=2); pixels(size=8); stats";
// Bad chips: constant, all zero, NaN, and a slot the archive marks invalid.
constexpr std::int64_t kConstant = 5, kZero = 17, kNan = 23, kInvalid = 40;

struct Archive {
  std::vector<float> pixels;  // kChips chips, as written
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> valid;
};

Archive make_chips(std::uint64_t seed) {
  sarscale::synth::ChipSynthConfig cfg;
  cfg.seed = seed;
  cfg.num_classes = 4;
  cfg.chip_size = kSize;
  Archive a;
  for (std::int64_t i = 0; i < kChips; ++i) {
    const auto chip = sarscale::synth::synthesize_chip(cfg, i);
    a.pixels.insert(a.pixels.end(), chip.image.magnitude.begin(), chip.image.magnitude.end());
    a.labels.push_back(chip.class_index);
    a.valid.push_back(1);
  }
  const auto chip_at = [&](std::int64_t i) { return a.pixels.begin() + i * kSize * kSize; };
  std::fill(chip_at(kConstant), chip_at(kConstant + 1), 0.25f);
  std::fill(chip_at(kZero), chip_at(kZero + 1), 0.0f);
  *(chip_at(kNan) + 100) = std::numeric_limits<float>::quiet_NaN();
  a.valid[kInvalid] = 0;
  return a;
}

// Written collectively, each rank its block of slots.
void write_archive(const Comm& comm, const fs::path& path, const Archive& a) {
  sarscale::io::ArchiveLayout layout;
  layout.chips = kChips;
  layout.rows = layout.cols = kSize;
  layout.class_names = sarscale::synth::synth_class_names(4);
  auto w = sarscale::io::ArchiveWriter::create(path, comm.raw(), layout);
  const auto r = sarscale::dist::block_range(kChips, comm.size(), comm.rank());
  const std::vector<sarscale::ChipMeta> meta(r.size());
  w.write_chips(static_cast<std::int64_t>(r.begin), static_cast<std::int64_t>(r.size()),
                a.pixels.data() + r.begin * kSize * kSize, nullptr, a.labels.data() + r.begin, meta.data(),
                a.valid.data() + r.begin);
  w.close();
}

// The chain run chip by chip in this process: what every rank count must reproduce.
struct Reference {
  std::vector<float> rows;
  std::vector<std::string> reasons;
  std::size_t dim = 0;
};
Reference reference_features(const Archive& a) {
  sarscale::features::FeatureChain chain(sarscale::features::make_chain_spec(kPreprocess, kBlocks, kSize, kSize));
  Reference ref;
  ref.dim = chain.length();
  ref.rows.resize(kChips * ref.dim);
  for (std::int64_t i = 0; i < kChips; ++i)
    ref.reasons.push_back(chain.compute(a.pixels.data() + i * kSize * kSize, ref.rows.data() + i * ref.dim));
  return ref;
}

FeaturesConfig config(const fs::path& archive, const fs::path& output) {
  FeaturesConfig cfg;
  cfg.archive = archive;
  cfg.output = output;
  cfg.preprocess = kPreprocess;
  cfg.blocks = kBlocks;
  cfg.batch_chips = 7;  // several collective rounds, uneven between ranks
  return cfg;
}

std::vector<float> read_all(const FeatureReader& r, bool raw) {
  const std::int64_t dim = raw ? r.layout().raw_dim : r.layout().dim;
  std::vector<float> out(static_cast<std::size_t>(r.layout().rows * dim));
  if (raw)
    r.read_raw(0, r.layout().rows, out.data());
  else
    r.read_features(0, r.layout().rows, out.data());
  return out;
}

std::uint8_t expected_flag(std::int64_t i) {
  if (i == kInvalid) return 1;
  return i == kConstant || i == kZero || i == kNan ? 2 : 0;
}

}  // namespace

TEST(FeaturesStage, EqualsSingleProcessChainForAnyRankAndThreadCount) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "features_stage_equal");
  const Archive a = make_chips(11);
  write_archive(comm, dir / "a.h5", a);
  const Reference ref = reference_features(a);

  for (const int threads : {1, 3}) {
    FeaturesConfig cfg = config(dir / "a.h5", dir / ("f" + std::to_string(threads) + ".h5"));
    cfg.threads = threads;
    const auto summary = sarscale::dist::run_features(comm, cfg);
    EXPECT_EQ(summary.rows, kChips);
    EXPECT_EQ(summary.invalid_slots, 1);
    EXPECT_EQ(summary.flagged, 3);
    EXPECT_EQ(summary.usable, kChips - 4);
    EXPECT_EQ(summary.dim, static_cast<std::int64_t>(ref.dim));

    const FeatureReader r = FeatureReader::open(cfg.output, comm.raw());
    ASSERT_EQ(r.layout().dim, static_cast<std::int64_t>(ref.dim));
    EXPECT_EQ(r.layout().raw_dim, 0);
    EXPECT_EQ(r.attribute("chain"), summary.chain);
    EXPECT_EQ(r.attribute("fingerprint"), summary.fingerprint);
    EXPECT_EQ(r.layout().blocks.size(), 4u);
    EXPECT_EQ(r.layout().blocks[1].name, "gabor");
    const std::vector<float> got = read_all(r, false);
    const auto flags = r.flags(0, kChips);
    const auto labels = r.labels(0, kChips);
    for (std::int64_t i = 0; i < kChips; ++i) {
      const auto row = static_cast<std::size_t>(i) * ref.dim;
      EXPECT_EQ(flags[i], expected_flag(i)) << "chip " << i;
      EXPECT_EQ(labels[i], a.labels[i]);
      if (flags[i] == 0)
        EXPECT_EQ(std::memcmp(got.data() + row, ref.rows.data() + row, ref.dim * sizeof(float)), 0)
            << "chip " << i << " differs from the single-process chain at " << comm.size() << " ranks, " << threads
            << " threads";
      else
        for (std::size_t j = 0; j < ref.dim; ++j) ASSERT_EQ(got[row + j], 0.0f) << "flagged chip " << i;
    }
    const auto flagged = r.flagged();
    ASSERT_EQ(flagged.size(), 3u);
    EXPECT_EQ(flagged[0].row, kConstant);
    EXPECT_EQ(flagged[1].row, kZero);
    EXPECT_EQ(flagged[2].row, kNan);
    for (const auto& f : flagged) EXPECT_EQ(f.reason, ref.reasons[static_cast<std::size_t>(f.row)]);
    EXPECT_NE(flagged[2].reason.find("NaN"), std::string::npos) << flagged[2].reason;
  }
}

TEST(FeaturesStage, PcaFittedAcrossRanksAndAppliedToAnotherArchive) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "features_stage_pca");
  const Archive train = make_chips(21), test = make_chips(22);
  write_archive(comm, dir / "train.h5", train);
  write_archive(comm, dir / "test.h5", test);
  const Reference ref = reference_features(train);

  FeaturesConfig cfg = config(dir / "train.h5", dir / "train.features.h5");
  cfg.fit_pca = true;
  cfg.pca.components = 5;
  cfg.pca.whiten = true;
  const auto summary = sarscale::dist::run_features(comm, cfg);
  EXPECT_EQ(summary.pca_components, 5);

  // Single-process fit on the usable reference rows.
  sarscale::features::Moments m(static_cast<int>(ref.dim));
  for (std::int64_t i = 0; i < kChips; ++i)
    if (expected_flag(i) == 0) m.add(ref.rows.data() + i * ref.dim, static_cast<int>(ref.dim));
  const auto expected = sarscale::features::fit_pca(m, cfg.pca);

  const FeatureReader r = FeatureReader::open(cfg.output, comm.raw());
  const auto model = sarscale::features::pca_from_arrays(r.arrays("pca"));
  const double worst = sarscale::test::max_difference(model, expected);
  EXPECT_LT(worst, 1e-9);
  if (comm.is_root()) std::printf("[ INFO     ] %d ranks: PCA max relative difference %.3g\n", comm.size(), worst);
  EXPECT_EQ(model.n_samples, static_cast<std::uint64_t>(kChips - 4));

  // Raw rows are the chain's, bitwise; /features are the model applied to them.
  const std::vector<float> raw = read_all(r, true), projected = read_all(r, false);
  ASSERT_EQ(r.layout().dim, 5);
  std::vector<float> expected_row(5);
  for (std::int64_t i = 0; i < kChips; ++i) {
    if (expected_flag(i) != 0) continue;
    EXPECT_EQ(std::memcmp(raw.data() + i * ref.dim, ref.rows.data() + i * ref.dim, ref.dim * sizeof(float)), 0);
    model.apply(raw.data() + i * ref.dim, expected_row.data());
    for (int k = 0; k < 5; ++k) EXPECT_EQ(projected[static_cast<std::size_t>(i * 5 + k)], expected_row[k]);
  }

  // --pca-from: the chain is adopted from the training file, the stored model applied as is.
  FeaturesConfig apply;
  apply.archive = dir / "test.h5";
  apply.output = dir / "test.features.h5";
  apply.pca_from = cfg.output;
  apply.batch_chips = 5;
  const auto applied = sarscale::dist::run_features(comm, apply);
  EXPECT_EQ(applied.chain, summary.chain);
  EXPECT_EQ(applied.fingerprint, summary.fingerprint);
  const FeatureReader t = FeatureReader::open(apply.output, comm.raw());
  const std::vector<float> test_raw = read_all(t, true), test_projected = read_all(t, false);
  const Reference test_ref = reference_features(test);
  for (std::int64_t i = 0; i < kChips; ++i) {
    if (expected_flag(i) != 0) continue;
    EXPECT_EQ(std::memcmp(test_raw.data() + i * ref.dim, test_ref.rows.data() + i * ref.dim, ref.dim * sizeof(float)),
              0);
    model.apply(test_raw.data() + i * ref.dim, expected_row.data());
    for (int k = 0; k < 5; ++k) EXPECT_EQ(test_projected[static_cast<std::size_t>(i * 5 + k)], expected_row[k]);
  }

  // A different chain cannot use this model.
  FeaturesConfig wrong = apply;
  wrong.output = dir / "wrong.h5";
  wrong.blocks = "stats";
  EXPECT_THROW(sarscale::dist::run_features(comm, wrong), sarscale::ConfigError);
}

TEST(FeaturesStage, RejectsBadRequestsOnEveryRank) {
  const Comm comm(MPI_COMM_WORLD);
  const fs::path dir = sarscale::test::shared_scratch_dir(comm, "features_stage_bad");
  write_archive(comm, dir / "a.h5", make_chips(31));
  FeaturesConfig cfg = config(dir / "a.h5", dir / "f.h5");
  cfg.fit_pca = true;
  cfg.blocks = "hog(cell=2, block=2)";  // 31 x 31 x 36 = 34596 columns: PCA refused up front
  EXPECT_THROW(sarscale::dist::run_features(comm, cfg), sarscale::ConfigError);
  cfg.fit_pca = false;
  cfg.blocks = "hog(cell=128)";  // does not fit a 64 x 64 chip
  EXPECT_THROW(sarscale::dist::run_features(comm, cfg), sarscale::ConfigError);
  cfg.blocks = kBlocks;
  cfg.output = dir / "a.h5";  // would overwrite the input
  EXPECT_THROW(sarscale::dist::run_features(comm, cfg), sarscale::ConfigError);
  cfg.archive = dir / "missing.h5";
  cfg.output = dir / "f.h5";
  EXPECT_THROW(sarscale::dist::run_features(comm, cfg), sarscale::InputError);
}
