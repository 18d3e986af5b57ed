// Training-set augmentation across ranks: the features stage appends the copies of every chip
// after the slots' rows, bitwise equal to the chain run in one process on the copies (so the
// same file at any rank and thread count), leaves the slots' rows exactly as without
// augmentation, fits the PCA on them alone; train's cross-validation draws folds over the
// slots' rows only, copies follow their source and are never scored.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "mpi_test_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/json.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/features/augment.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/predict.hpp"
#include "sarscale/svm/train.hpp"
#include "sarscale/synth/chip_synth.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using io::FeatureReader;

namespace {

constexpr int kSize = 32;
constexpr std::int64_t kChips = 19;  // not a multiple of the rank counts or the batch
constexpr const char* kPreprocess = "db(floor=-50); crop(24)";
constexpr const char* kBlocks = "pixels(size=6); stats";
constexpr const char* kAugment = "shift(2); crop(28, count=2, seed=5)";
constexpr std::int64_t kCopies = 6;
constexpr std::int64_t kConstant = 4, kInvalid = 11;  // an unusable chip and an invalid slot

struct Chips {
  std::vector<float> pixels;
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> valid;
};

Chips make_chips() {
  synth::ChipSynthConfig cfg;
  cfg.seed = 3;
  cfg.num_classes = 3;
  cfg.chip_size = kSize;
  Chips a;
  for (std::int64_t i = 0; i < kChips; ++i) {
    const auto chip = synth::synthesize_chip(cfg, i);
    a.pixels.insert(a.pixels.end(), chip.image.magnitude.begin(), chip.image.magnitude.end());
    a.labels.push_back(chip.class_index);
    a.valid.push_back(i == kInvalid ? 0 : 1);
  }
  std::fill_n(a.pixels.begin() + kConstant * kSize * kSize, kSize * kSize, 0.5f);
  return a;
}

void write_archive(const dist::Comm& comm, const fs::path& path, const Chips& a) {
  io::ArchiveLayout layout;
  layout.chips = kChips;
  layout.rows = layout.cols = kSize;
  layout.class_names = synth::synth_class_names(3);
  auto w = io::ArchiveWriter::create(path, comm.raw(), layout);
  const auto r = dist::block_range(kChips, comm.size(), comm.rank());
  const std::vector<ChipMeta> meta(r.size());
  w.write_chips(static_cast<std::int64_t>(r.begin), static_cast<std::int64_t>(r.size()),
                a.pixels.data() + r.begin * kSize * kSize, nullptr, a.labels.data() + r.begin, meta.data(),
                a.valid.data() + r.begin);
  w.close();
}

dist::FeaturesConfig config(const fs::path& archive, const fs::path& output, const std::string& augment) {
  dist::FeaturesConfig cfg;
  cfg.archive = archive;
  cfg.output = output;
  cfg.preprocess = kPreprocess;
  cfg.blocks = kBlocks;
  cfg.augment = augment;
  cfg.batch_chips = 4;
  cfg.threads = 2;
  return cfg;
}

std::vector<float> read_rows(const FeatureReader& r, bool raw, std::int64_t first, std::int64_t count) {
  std::vector<float> out(static_cast<std::size_t>(count * (raw ? r.layout().raw_dim : r.layout().dim)));
  if (raw)
    r.read_raw(first, count, out.data());
  else
    r.read_features(first, count, out.data());
  return out;
}

}  // namespace

TEST(AugmentStage, CopiesFollowTheSlotsBitwiseAndTheSlotsAreUnchanged) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "augment_stage");
  const Chips chips = make_chips();
  write_archive(comm, dir / "a.h5", chips);
  const auto plain = dist::run_features(comm, config(dir / "a.h5", dir / "plain.h5", ""));
  const auto aug = dist::run_features(comm, config(dir / "a.h5", dir / "aug.h5", kAugment));
  EXPECT_EQ(aug.rows, kChips);
  EXPECT_EQ(aug.usable, kChips - 2);
  EXPECT_EQ(aug.augmented_rows, kChips * kCopies);
  EXPECT_EQ(aug.augmented_usable, (kChips - 2) * kCopies);
  EXPECT_EQ(aug.augmented_flagged, 0);
  EXPECT_EQ(aug.fingerprint, plain.fingerprint);  // the same vectors for the same chip

  const FeatureReader p = FeatureReader::open(dir / "plain.h5", comm.raw());
  const FeatureReader r = FeatureReader::open(dir / "aug.h5", comm.raw());
  EXPECT_EQ(p.layout().augmented_rows, 0);
  EXPECT_EQ(p.attribute("format_version"), "1");  // nothing of version 2 in it
  ASSERT_EQ(r.layout().rows, kChips);
  ASSERT_EQ(r.layout().augmented_rows, kChips * kCopies);
  EXPECT_EQ(r.attribute("format_version"), "2");
  EXPECT_EQ(r.attribute("augment"), "shift(pixels=2, directions=4); crop(size=28, count=2, seed=5)");
  EXPECT_EQ(r.attribute("augment_copies"), "6");
  const std::int64_t total = r.layout().total_rows(), dim = r.layout().dim;

  // Slots' rows: exactly those of the run without augmentation.
  EXPECT_EQ(read_rows(r, false, 0, kChips), read_rows(p, false, 0, kChips));
  EXPECT_EQ(r.flags(0, kChips), p.flags(0, kChips));
  EXPECT_EQ(r.labels(0, kChips), p.labels(0, kChips));

  // Copies: the chain run here on augment()'s copies, bitwise; labels, flags and sources.
  const std::vector<float> got = read_rows(r, false, kChips, total - kChips);
  const auto flags = r.flags(kChips, total - kChips);
  const auto labels = r.labels(kChips, total - kChips);
  const auto source = r.source_rows(0, total);
  const features::AugmentSpec spec = features::parse_augment(kAugment);
  features::FeatureChain chain(features::make_chain_spec(kPreprocess, kBlocks, kSize, kSize));
  features::FeatureChain crops = features::chain_for_copies(chain, 28, 28, "test");
  std::vector<float> expected(static_cast<std::size_t>(dim));
  for (std::int64_t s = 0; s < kChips; ++s) {
    Image chip;
    chip.rows = chip.cols = kSize;
    chip.magnitude.assign(chips.pixels.begin() + s * kSize * kSize, chips.pixels.begin() + (s + 1) * kSize * kSize);
    const std::vector<Image> copies = features::augment(chip, spec, static_cast<std::uint64_t>(s));
    ASSERT_EQ(static_cast<std::int64_t>(copies.size()), kCopies);
    EXPECT_EQ(source[static_cast<std::size_t>(s)], s);
    for (std::int64_t k = 0; k < kCopies; ++k) {
      const auto row = static_cast<std::size_t>(s * kCopies + k);
      EXPECT_EQ(source[kChips + row], s) << "row " << kChips + row;
      EXPECT_EQ(labels[row], chips.labels[static_cast<std::size_t>(s)]);
      const float* stored = got.data() + row * static_cast<std::size_t>(dim);
      if (s == kInvalid || s == kConstant) {
        EXPECT_EQ(flags[row], s == kInvalid ? 1 : 2) << "copies are flagged like their source";
        for (std::int64_t j = 0; j < dim; ++j) ASSERT_EQ(stored[j], 0.0f);
        continue;
      }
      ASSERT_EQ(flags[row], 0) << "row " << kChips + row;
      const Image& c = copies[static_cast<std::size_t>(k)];
      ASSERT_EQ((c.rows == kSize ? chain : crops).compute(c.magnitude.data(), expected.data()), "");
      EXPECT_EQ(std::memcmp(stored, expected.data(), expected.size() * sizeof(float)), 0)
          << "copy " << k << " of chip " << s << " at " << comm.size() << " ranks";
    }
  }
  // /flagged: the unusable chip, then its copies.
  const auto flagged = r.flagged();
  ASSERT_EQ(flagged.size(), static_cast<std::size_t>(1 + kCopies));
  EXPECT_EQ(flagged[0].row, kConstant);
  for (std::int64_t k = 0; k < kCopies; ++k) {
    EXPECT_EQ(flagged[static_cast<std::size_t>(1 + k)].row, kChips + kConstant * kCopies + k);
    EXPECT_NE(flagged[static_cast<std::size_t>(1 + k)].reason.find("copy of row 4"), std::string::npos);
  }

  // A crop smaller than the chain's own crop(24) is refused before any work.
  EXPECT_THROW(dist::run_features(comm, config(dir / "a.h5", dir / "bad.h5", "crop(20)")), ConfigError);
  EXPECT_THROW(dist::run_features(comm, config(dir / "a.h5", dir / "bad.h5", "shift(40)")), ConfigError);
}

TEST(AugmentStage, PcaIsFittedOnTheSlotsAndAppliedToTheCopies) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "augment_stage_pca");
  write_archive(comm, dir / "a.h5", make_chips());
  auto plain_cfg = config(dir / "a.h5", dir / "plain.h5", "");
  plain_cfg.fit_pca = true;
  plain_cfg.pca.components = 4;
  auto aug_cfg = plain_cfg;
  aug_cfg.output = dir / "aug.h5";
  aug_cfg.augment = kAugment;
  dist::run_features(comm, plain_cfg);
  const auto s = dist::run_features(comm, aug_cfg);
  const FeatureReader p = FeatureReader::open(plain_cfg.output, comm.raw());
  const FeatureReader r = FeatureReader::open(aug_cfg.output, comm.raw());
  EXPECT_EQ(r.arrays("pca"), p.arrays("pca"));  // the same fit: the copies took no part
  EXPECT_EQ(read_rows(r, false, 0, kChips), read_rows(p, false, 0, kChips));
  const auto model = features::pca_from_arrays(r.arrays("pca"));
  EXPECT_EQ(model.n_samples, static_cast<std::uint64_t>(kChips - 2));
  const std::int64_t n = r.layout().augmented_rows;
  ASSERT_EQ(n, kChips * kCopies);
  const std::vector<float> raw = read_rows(r, true, kChips, n), projected = read_rows(r, false, kChips, n);
  const auto flags = r.flags(kChips, n);
  std::vector<float> expected(4);
  for (std::int64_t i = 0; i < n; ++i) {
    if (flags[static_cast<std::size_t>(i)] != 0) continue;
    model.apply(raw.data() + i * s.raw_dim, expected.data());
    for (int k = 0; k < 4; ++k) EXPECT_EQ(projected[static_cast<std::size_t>(i * 4 + k)], expected[k]) << i;
  }
}

// A feature file whose labels are noise and whose copies are exact duplicates of their source:
// a memorising SVM scores about chance when no copy of a test row is trained on, and near 100%
// when copies leak across folds. The stage must give the first, with the exact per-fold models.
TEST(AugmentStage, CrossValidationScoresOnlyTheSlotsAndKeepsCopiesInTheirSourcesFold) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "augment_stage_train");
  constexpr std::int64_t kSlots = 60, kK = 3, kDim = 3, kFlagged = 7;
  std::mt19937_64 rng(12);
  std::normal_distribution<float> normal;
  std::vector<float> x;
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> flags;
  std::vector<std::int64_t> source;
  for (std::int64_t i = 0; i < kSlots; ++i) {
    for (int j = 0; j < kDim; ++j) x.push_back(normal(rng));
    labels.push_back(static_cast<std::int32_t>(rng() % 2));
    flags.push_back(i == kFlagged ? 2 : 0);
  }
  for (std::int64_t i = 0; i < kSlots; ++i)
    for (std::int64_t k = 0; k < kK; ++k) {
      x.insert(x.end(), x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
      labels.push_back(labels[static_cast<std::size_t>(i)]);
      flags.push_back(flags[static_cast<std::size_t>(i)]);
      source.push_back(i);
    }
  io::FeatureLayout layout;
  layout.rows = kSlots;
  layout.augmented_rows = kSlots * kK;
  layout.dim = kDim;
  layout.blocks = {{"pixels", 0, kDim, "test"}};
  layout.class_names = {"a", "b"};
  {
    auto w = io::FeatureWriter::create(dir / "f.h5", comm.raw(), layout);
    const std::int64_t n = comm.is_root() ? layout.total_rows() : 0;
    w.write_rows(0, n, x.data(), nullptr, labels.data(), flags.data());
    w.write_source_rows(kSlots, comm.is_root() ? kSlots * kK : 0, source.data());
    w.set_attribute("augment", "shift(pixels=1, directions=4)");
    w.close();
  }
  dist::TrainConfig cfg;
  cfg.features = dir / "f.h5";
  cfg.model = dir / "model.h5";
  cfg.grid = dist::Grid::parse("C=1000 gamma=30");
  cfg.folds = 5;
  cfg.seed = 4;
  cfg.params.solver.threads = 1;
  const dist::TrainSummary s = dist::run_train(comm, cfg);
  EXPECT_EQ(s.cv_rows, kSlots - 1);
  EXPECT_EQ(s.augmented_rows, (kSlots - 1) * kK);
  EXPECT_EQ(s.rows, kSlots * (1 + kK) - (1 + kK));
  const std::string js = s.to_json().dump();
  EXPECT_NE(js.find("\"cv_rows\": 59"), std::string::npos) << js;

  // The reference: folds over the usable slots' rows, copies in their source's fold.
  svm::Dataset all;
  all.dim = kDim;
  std::vector<std::int64_t> slot_of;
  std::vector<bool> copy;
  for (std::int64_t r = 0; r < layout.total_rows(); ++r) {
    if (flags[static_cast<std::size_t>(r)] != 0) continue;
    all.x.insert(all.x.end(), x.begin() + r * kDim, x.begin() + (r + 1) * kDim);
    all.labels.push_back(labels[static_cast<std::size_t>(r)]);
    ++all.rows;
    slot_of.push_back(r < kSlots ? r : source[static_cast<std::size_t>(r - kSlots)]);
    copy.push_back(r >= kSlots);
  }
  std::vector<std::int32_t> slot_labels;
  std::vector<std::int64_t> slot_rows;
  for (std::int64_t i = 0; i < all.rows; ++i)
    if (!copy[static_cast<std::size_t>(i)]) {
      slot_labels.push_back(all.labels[static_cast<std::size_t>(i)]);
      slot_rows.push_back(i);
    }
  const auto slot_fold = svm::stratified_folds(slot_labels, 5, 4);
  std::map<std::int64_t, int> fold_of_slot;
  for (std::size_t k = 0; k < slot_rows.size(); ++k)
    fold_of_slot[slot_of[static_cast<std::size_t>(slot_rows[k])]] = slot_fold[k];
  svm::TrainParams p = cfg.params;
  p.C = 1000;
  p.kernel.gamma = 30;
  const auto cv = [&](bool leak) {
    // leak: folds drawn over every row, as if the copies were independent chips.
    const auto naive = svm::stratified_folds(all.labels, 5, 4);
    double correct = 0, scored = 0;
    for (int f = 0; f < 5; ++f) {
      std::vector<std::int64_t> train, test;
      for (std::int64_t i = 0; i < all.rows; ++i) {
        const auto u = static_cast<std::size_t>(i);
        const int fold = leak ? naive[u] : fold_of_slot.at(slot_of[u]);
        if (fold != f)
          train.push_back(i);
        else if (!copy[u])
          test.push_back(i);
      }
      const auto m = svm::train(all.subset(train), p);
      const auto t = all.subset(test);
      const auto pred = svm::predict(m, t.x.data(), t.rows).labels;
      for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == t.labels[i] ? 1 : 0;
      scored += static_cast<double>(pred.size());
    }
    return correct / scored;
  };
  const double honest = cv(false), leaky = cv(true);
  ASSERT_EQ(s.grid.size(), 1u);
  EXPECT_DOUBLE_EQ(s.grid[0].cv_accuracy, honest);
  EXPECT_LT(honest, 0.75);  // noise labels: about chance
  EXPECT_GT(leaky, 0.9);    // what a leak would have reported
  if (comm.is_root())
    std::printf("[ INFO     ] CV on noise labels: %.3f with copies in their source's fold, %.3f leaking\n", honest,
                leaky);

  // The model records the augmentation.
  const io::ModelFile m = io::read_model_file(cfg.model);
  ASSERT_TRUE(m.provenance.count("augmentation"));
  const std::string a = m.provenance.at("augmentation");
  EXPECT_NE(a.find("shift(pixels=1, directions=4)"), std::string::npos) << a;
  EXPECT_NE(a.find("\"augmented_rows\": 177"), std::string::npos) << a;
  EXPECT_EQ(m.provenance.at("training_rows"), "236");
}
