// Train's acquisition-shift validation: the shifted rows (see shift_validation.hpp).
#include "shift_validation.hpp"

#include <chrono>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist::detail {

namespace fs = std::filesystem;

namespace {

// The archive the training features were computed from, when it can be shown to be the same
// archive still; otherwise why not.
struct ArchiveCheck {
  fs::path archive;
  std::string problem;
};

ArchiveCheck check_archive(const Comm& comm, const fs::path& features) {
  ArchiveCheck c;
  if (comm.is_root()) {
    const io::FeatureReader r = io::FeatureReader::open(features, MPI_COMM_SELF);
    std::error_code ec;
    if (!r.has_attribute("archive")) {
      c.problem = features.string() + " does not name the archive it was computed from";
    } else if (c.archive = r.attribute("archive"); !r.has_attribute("archive_key")) {
      c.problem = features.string() + " does not record its archive's key (written by an older sarscale); " +
                  "recompute it (sarscale features ... --fresh) to check its archive";
    } else if (!fs::exists(c.archive, ec)) {
      c.problem = "the archive " + c.archive.string() + " that " + features.string() + " was computed from is gone";
    } else if (archive_key(c.archive) != r.attribute("archive_key")) {
      c.problem = "the archive " + c.archive.string() + " changed (size or modification time) since " +
                  features.string() + " was computed from it";
    }
  }
  std::string archive = c.archive.string();
  comm.broadcast(archive);
  comm.broadcast(c.problem);
  c.archive = archive;
  return c;
}

}  // namespace

fs::path shifted_features_path(const fs::path& model) {
  return model.parent_path() / (model.stem().string() + ".shifted.features.h5");
}

ShiftedRows shifted_rows(const Comm& comm, const TrainConfig& cfg, const TrainingSource& source) {
  const features::AcquisitionShiftSpec spec = features::parse_acquisition_shift(cfg.shift_validation);
  const bool required = cfg.shift_validation_required || cfg.select_by == TrainConfig::SelectBy::shifted;
  if (spec.empty()) {
    if (cfg.select_by == TrainConfig::SelectBy::shifted)
      throw ConfigError("--select-by shifted needs a shifted validation (--shift-validation is none)");
    return {};
  }
  if (cfg.grid.empty()) {
    if (required)
      throw ConfigError("--shift-validation scores the grid search's validation folds: give --grid (and --folds)");
    return {};
  }
  if (source.features.empty()) {  // never had chips: nothing to warn about unless asked for
    if (required) throw ConfigError("--shift-validation: LIBSVM text data carry no chips to perturb");
    if (comm.is_root()) log::info("no shifted validation: LIBSVM text data carry no chips to perturb");
    return {};
  }
  const ArchiveCheck archive = check_archive(comm, source.features);
  if (!archive.problem.empty()) {
    if (required) throw ConfigError("--shift-validation: " + archive.problem);
    if (comm.is_root()) log::warn("no shifted validation: ", archive.problem);
    return {};
  }

  const auto t0 = std::chrono::steady_clock::now();
  ShiftedRows s;
  s.spec = features::describe(spec);
  s.seed = cfg.shift_seed;
  s.features = shifted_features_path(cfg.model);
  FeaturesConfig fc;
  fc.archive = archive.archive;
  fc.output = s.features;
  fc.stored_chain = source.chain;
  fc.stored_pca = source.pca;
  fc.stored_source = "feature file " + source.features.string();
  fc.acquisition_shift = s.spec;
  fc.acquisition_shift_seed = s.seed;
  fc.threads = cfg.params.solver.threads;
  fc.fresh = cfg.fresh;
  fc.command_line = cfg.command_line;
  if (comm.is_root()) log::info("shift validation: ", s.spec, " (seed ", s.seed, ") on ", fc.archive.string());
  s.computed = run_features(comm, fc);

  // Every rank reads every slot's row: the grid's jobs on any rank may validate any fold.
  const io::FeatureReader r = io::FeatureReader::open(s.features, comm.raw());
  const std::string fingerprint = r.has_attribute("fingerprint") ? r.attribute("fingerprint") : "";
  if (r.layout().rows != source.slots || r.layout().dim != source.dim || fingerprint != source.fingerprint)
    throw InputError(s.features.string() + " does not line up with " + source.features.string() + ": " +
                     std::to_string(r.layout().rows) + " vs " + std::to_string(source.slots) + " slots, " +
                     std::to_string(r.layout().dim) + " vs " + std::to_string(source.dim) +
                     " features, fingerprint " + fingerprint + " vs " + source.fingerprint);
  s.dim = source.dim;
  s.x.resize(static_cast<std::size_t>(source.slots * source.dim));
  r.read_features(0, source.slots, s.x.data(), io::Transfer::independent);
  const std::vector<std::uint8_t> flags = r.flags(0, source.slots, io::Transfer::independent);
  for (const auto f : flags) s.usable.push_back(f == 0 ? 1 : 0);
  s.seconds = comm.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return s;
}

std::int64_t shifted_correct(const svm::SvmModel& model, const ShiftedRows& shifted,
                             const std::vector<std::int64_t>& slots, const std::vector<std::int32_t>& labels,
                             int threads) {
  std::vector<double> x;
  std::vector<std::int32_t> truth;
  for (std::size_t k = 0; k < slots.size(); ++k) {
    if (!shifted.usable[static_cast<std::size_t>(slots[k])]) continue;
    const float* row = shifted.row(slots[k]);
    x.insert(x.end(), row, row + shifted.dim);
    truth.push_back(labels[k]);
  }
  const auto predicted =
      svm::predict(model, x.data(), static_cast<std::int64_t>(truth.size()), false, threads).labels;
  std::int64_t correct = 0;
  for (std::size_t k = 0; k < truth.size(); ++k) correct += predicted[k] == truth[k] ? 1 : 0;
  return correct;
}

}  // namespace sarscale::dist::detail
