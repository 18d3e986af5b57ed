// train's acquisition-shift validation across ranks: the shifted feature rows are the chain run
// here on the perturbed chips, bitwise, at any rank count; every grid point's shifted accuracy
// (and the clean CV accuracy beside it) equals a one-process cross-validation that scores the
// fold models on those rows; the point chosen by --select-by shifted is that table's best; and
// the validation is skipped, or refused when asked for, where it cannot be computed faithfully.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "mpi_test_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/features/acquisition_shift.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/pca.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "sarscale/svm/predict.hpp"
#include "sarscale/svm/train.hpp"
#include "sarscale/synth/chip_synth.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using io::FeatureReader;

namespace {

constexpr int kSize = 32;
constexpr std::int64_t kChips = 45;  // 3 classes; not a multiple of the rank counts
constexpr const char* kShift = "speckle; clutter(db=3); gain(db=3); shift(2)";
constexpr std::uint64_t kShiftSeed = 5;
constexpr int kFolds = 3;

std::vector<synth::SynthChip> make_chips() {
  synth::ChipSynthConfig cfg;
  cfg.seed = 8;
  cfg.num_classes = 3;
  cfg.chip_size = kSize;
  std::vector<synth::SynthChip> chips;
  for (std::int64_t i = 0; i < kChips; ++i) chips.push_back(synth::synthesize_chip(cfg, i));
  return chips;
}

void write_archive(const dist::Comm& comm, const fs::path& path, const std::vector<synth::SynthChip>& chips) {
  io::ArchiveLayout layout;
  layout.chips = kChips;
  layout.rows = layout.cols = kSize;
  layout.has_phase = true;
  layout.class_names = synth::synth_class_names(3);
  auto w = io::ArchiveWriter::create(path, comm.raw(), layout);
  const auto r = dist::block_range(kChips, comm.size(), comm.rank());
  std::vector<float> magnitude, phase;
  std::vector<std::int32_t> labels;
  for (std::size_t i = r.begin; i < r.end; ++i) {
    const Image& img = chips[i].image;
    magnitude.insert(magnitude.end(), img.magnitude.begin(), img.magnitude.end());
    phase.insert(phase.end(), img.phase.begin(), img.phase.end());
    labels.push_back(chips[i].class_index);
  }
  const std::vector<ChipMeta> meta(r.size());
  const std::vector<std::uint8_t> valid(r.size(), 1);
  w.write_chips(static_cast<std::int64_t>(r.begin), static_cast<std::int64_t>(r.size()), magnitude.data(),
                phase.data(), labels.data(), meta.data(), valid.data());
  w.close();
}

std::vector<float> read_rows(const FeatureReader& r, bool raw) {
  const std::int64_t n = r.layout().rows;
  std::vector<float> out(static_cast<std::size_t>(n * (raw ? r.layout().raw_dim : r.layout().dim)));
  if (raw)
    r.read_raw(0, n, out.data(), io::Transfer::independent);
  else
    r.read_features(0, n, out.data(), io::Transfer::independent);
  return out;
}

// The training and shifted features of the test's archive.
struct Inputs {
  fs::path dir, archive, features;
};

Inputs make_inputs(const dist::Comm& comm, const std::string& name) {
  Inputs s;
  s.dir = test::shared_scratch_dir(comm, name);
  s.archive = s.dir / "train.h5";
  s.features = s.dir / "train.features.h5";
  write_archive(comm, s.archive, make_chips());
  dist::FeaturesConfig fc;
  fc.archive = s.archive;
  fc.output = s.features;
  fc.preprocess = "db(floor=-50); crop(24)";
  fc.blocks = "pixels(size=6); stats";
  fc.fit_pca = true;
  fc.pca.components = 12;
  fc.threads = 2;
  dist::run_features(comm, fc);
  return s;
}

dist::TrainConfig train_config(const Inputs& s, const std::string& model) {
  dist::TrainConfig cfg;
  cfg.features = s.features;
  cfg.model = s.dir / model;
  cfg.grid = dist::Grid::parse("C=0.5,4,32 gamma=auto,0.3");
  cfg.folds = kFolds;
  cfg.seed = 3;
  cfg.params.solver.threads = 1;
  cfg.shift_validation = kShift;
  cfg.shift_seed = kShiftSeed;
  return cfg;
}

}  // namespace

TEST(ShiftValidation, ShiftedRowsAndAccuraciesEqualOneProcessAtAnyRankCount) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const Inputs s = make_inputs(comm, "shift_validation");
  dist::TrainConfig cfg = train_config(s, "model.h5");
  cfg.select_by = dist::TrainConfig::SelectBy::shifted;
  const dist::TrainSummary summary = dist::run_train(comm, cfg);
  ASSERT_EQ(summary.shift_validation, features::describe(features::parse_acquisition_shift(kShift)));
  const fs::path shifted_path = s.dir / "model.shifted.features.h5";
  EXPECT_EQ(summary.shift_features, shifted_path.string());

  // The shifted rows: the chain and the training file's PCA on the perturbed chips, bitwise.
  const FeatureReader clean = FeatureReader::open(s.features, comm.raw());
  const FeatureReader shifted = FeatureReader::open(shifted_path, comm.raw());
  EXPECT_EQ(shifted.attribute("fingerprint"), clean.attribute("fingerprint"));
  EXPECT_EQ(shifted.attribute("acquisition_shift"), summary.shift_validation);
  features::FeatureChain chain(features::parse_chain_spec(clean.attribute("chain")));
  const features::AcquisitionShift shift(features::parse_acquisition_shift(kShift), kShiftSeed, kSize, kSize);
  const std::vector<synth::SynthChip> chips = make_chips();
  const std::vector<float> raw = read_rows(shifted, true);
  std::vector<float> expected(chain.length());
  std::int64_t redrawn = 0;
  for (std::int64_t i = 0; i < kChips; ++i) {
    Image chip = chips[static_cast<std::size_t>(i)].image;
    const features::ShiftOutcome o = shift.apply(chip, static_cast<std::uint64_t>(i));
    ASSERT_EQ(o.reason, "");
    redrawn += o.speckle == features::ShiftOutcome::Speckle::redrawn ? 1 : 0;
    ASSERT_EQ(chain.compute(chip.magnitude.data(), expected.data()), "");
    EXPECT_EQ(std::memcmp(raw.data() + i * chain.length(), expected.data(), expected.size() * sizeof(float)), 0)
        << "chip " << i << " at " << comm.size() << " ranks";
  }
  // Synthetic clutter is white (it fills the band) but the targets are band-limited: the chips
  // whose target dominates the spectrum get new speckle, the others are left as they are.
  EXPECT_GT(redrawn, 0);
  EXPECT_EQ(summary.speckle_redrawn, redrawn);

  // One process: every (point, fold) model scores the fold's clean and shifted rows.
  const std::vector<float> x = read_rows(clean, false), xs = read_rows(shifted, false);
  const std::int64_t dim = clean.layout().dim;
  svm::Dataset d;
  d.dim = static_cast<int>(dim);
  d.x.assign(x.begin(), x.end());
  d.labels = clean.labels(0, kChips, io::Transfer::independent);
  d.rows = kChips;
  ASSERT_EQ(clean.flags(0, kChips, io::Transfer::independent), std::vector<std::uint8_t>(kChips, 0));
  const std::vector<int> folds = svm::stratified_folds(d.labels, kFolds, cfg.seed);
  ASSERT_EQ(summary.grid.size(), 6u);
  const dist::GridPoint* best = nullptr;
  for (const dist::GridPoint& g : summary.grid) {
    svm::TrainParams p = cfg.params;
    p.C = g.C;
    p.kernel.gamma = g.gamma;
    std::int64_t correct = 0, correct_shifted = 0;
    for (int f = 0; f < kFolds; ++f) {
      std::vector<std::int64_t> train, test;
      for (std::int64_t i = 0; i < kChips; ++i) (folds[static_cast<std::size_t>(i)] == f ? test : train).push_back(i);
      const svm::SvmModel m = svm::train(d.subset(train), p);
      const svm::Dataset t = d.subset(test);
      std::vector<double> ts;
      for (const auto i : test) ts.insert(ts.end(), xs.begin() + i * dim, xs.begin() + (i + 1) * dim);
      const auto a = svm::predict(m, t.x.data(), t.rows).labels, b = svm::predict(m, ts.data(), t.rows).labels;
      for (std::size_t k = 0; k < test.size(); ++k) {
        correct += a[k] == t.labels[k] ? 1 : 0;
        correct_shifted += b[k] == t.labels[k] ? 1 : 0;
      }
    }
    EXPECT_DOUBLE_EQ(g.cv_accuracy, static_cast<double>(correct) / kChips) << g.C << " " << g.gamma;
    EXPECT_DOUBLE_EQ(g.shifted_accuracy, static_cast<double>(correct_shifted) / kChips) << g.C << " " << g.gamma;
    if (!best || std::pair{g.shifted_accuracy, g.cv_accuracy} > std::pair{best->shifted_accuracy, best->cv_accuracy})
      best = &g;
  }
  // Chosen by the shifted accuracy; reported and recorded in the model.
  EXPECT_EQ(summary.best_C, best->C);
  EXPECT_EQ(summary.best_gamma, best->gamma);
  EXPECT_EQ(summary.best_shifted_accuracy, best->shifted_accuracy);
  EXPECT_EQ(summary.select_by, "shifted");
  EXPECT_EQ(summary.shift_unusable, 0);
  if (comm.is_root()) {
    const io::ModelFile m = io::read_model_file(cfg.model);
    EXPECT_EQ(std::stod(m.provenance.at("shifted_accuracy")), best->shifted_accuracy);
    EXPECT_EQ(m.provenance.at("select_by"), "shifted");
    EXPECT_NE(m.provenance.at("cv").find("\"shift_validation\""), std::string::npos);
  }
}

TEST(ShiftValidation, SkippedOrRefusedWhereItCannotBeComputed) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const Inputs s = make_inputs(comm, "shift_validation_skip");
  // "none": the grid search as without it, and nothing reported.
  dist::TrainConfig with = train_config(s, "with.h5"), none = train_config(s, "none.h5");
  none.shift_validation = "none";
  const dist::TrainSummary a = dist::run_train(comm, with), b = dist::run_train(comm, none);
  ASSERT_EQ(a.grid.size(), b.grid.size());
  for (std::size_t q = 0; q < a.grid.size(); ++q) {
    EXPECT_EQ(a.grid[q].cv_accuracy, b.grid[q].cv_accuracy);
    EXPECT_GE(a.grid[q].shifted_accuracy, 0.0);
    EXPECT_EQ(b.grid[q].shifted_accuracy, -1.0);
  }
  EXPECT_EQ(b.shift_validation, "");
  for (const char* key : {"\"shifted_accuracy\"", "\"shift_validation\"", "\"select_by\"", "\"shift_gap\""})
    EXPECT_EQ(b.to_json().dump().find(key), std::string::npos) << key;
  EXPECT_FALSE(fs::exists(s.dir / "none.shifted.features.h5"));
  none.select_by = dist::TrainConfig::SelectBy::shifted;
  none.fresh = true;
  EXPECT_THROW(dist::run_train(comm, none), ConfigError);

  // No grid search: nothing to validate; asked for explicitly, an error.
  dist::TrainConfig single = train_config(s, "single.h5");
  single.grid = {};
  EXPECT_EQ(dist::run_train(comm, single).shift_validation, "");
  single.shift_validation_required = true;
  single.fresh = true;
  EXPECT_THROW(dist::run_train(comm, single), ConfigError);

  // LIBSVM text data have no chips: nothing to validate; asked for explicitly, an error.
  if (comm.is_root()) {
    const FeatureReader r = FeatureReader::open(s.features, MPI_COMM_SELF);
    svm::Dataset d;
    d.dim = static_cast<int>(r.layout().dim);
    const std::vector<float> x = read_rows(r, false);
    d.x.assign(x.begin(), x.end());
    d.labels = r.labels(0, kChips, io::Transfer::independent);
    d.rows = kChips;
    std::ofstream out(s.dir / "train.txt");
    svm::write_libsvm_data(out, d);
  }
  comm.barrier();
  dist::TrainConfig text = train_config(s, "text.h5");
  text.features.clear();
  text.data = s.dir / "train.txt";
  const dist::TrainSummary t = dist::run_train(comm, text);
  EXPECT_EQ(t.shift_validation, "");
  EXPECT_EQ(t.grid.size(), a.grid.size());
  text.shift_validation_required = true;
  text.fresh = true;
  EXPECT_THROW(dist::run_train(comm, text), ConfigError);

  // The archive changed since the features were computed: skipped, or refused when required.
  if (comm.is_root()) fs::last_write_time(s.archive, fs::last_write_time(s.archive) + std::chrono::seconds(5));
  comm.barrier();
  dist::TrainConfig changed = train_config(s, "changed.h5");
  const dist::TrainSummary c = dist::run_train(comm, changed);
  EXPECT_EQ(c.shift_validation, "");
  EXPECT_EQ(c.grid.size(), a.grid.size());
  changed.shift_validation_required = true;
  changed.fresh = true;
  try {
    dist::run_train(comm, changed);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
}
