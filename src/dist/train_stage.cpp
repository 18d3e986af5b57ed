#include "sarscale/dist/train_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_set>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/evaluate_stage.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/progress.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/svm/feature_width.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "sarscale/svm/predict.hpp"
#include "grid_checkpoint.hpp"
#include "shift_validation.hpp"

namespace sarscale::dist {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A grid value: a number or 2^k, whole and finite ("nan", "inf", "2^1e9" and "2^3x" are refused:
// they would reach the solver, whose C and gamma must be finite).
double parse_value(const std::string& v, const std::string& key) {
  double d = 0;
  try {
    const bool power = v.rfind("2^", 0) == 0;
    const std::string number = power ? v.substr(2) : v;
    std::size_t used = 0;
    d = std::stod(number, &used);
    if (used != number.size()) throw std::invalid_argument(v);
    if (power) d = std::pow(2.0, d);
  } catch (const std::exception&) {
    throw ConfigError("--grid: '" + v + "' is not a number (or 2^k) in " + key);
  }
  if (!std::isfinite(d)) throw ConfigError("--grid: '" + v + "' in " + key + " is not a finite number");
  return d;
}

// Usable rows of a feature file (flag 0, labelled), with everything the model must carry.
struct TrainingData {
  svm::Dataset data;
  std::vector<std::string> class_names;
  std::string chain, fingerprint;
  std::map<std::string, std::vector<double>> pca;
  // Training-set augmentation (dist/features_stage.hpp): per row, the slot it was made from and
  // whether it is an augmented copy (both empty for LIBSVM text); the file's spec.
  std::vector<std::int64_t> source;
  std::vector<std::uint8_t> copy;
  std::string augment;
  std::int64_t slots = 0;       // of the feature file (rows before its augmented rows)
  std::int64_t file_rows = 0;   // of the feature file, augmented rows included
};

// `ids` (when given) receives the global row id of each row kept; with `share`, a rank keeps
// only its share of the rows (a contiguous block of a feature file; every size-th row of text).
TrainingData load(const Comm& comm, const TrainConfig& cfg, bool share, std::vector<std::int64_t>* ids) {
  TrainingData t;
  if (!cfg.data.empty()) {
    // Text has no random access: every rank streams the file through and, with `share`, keeps
    // only its rows (every size-th), so no rank holds the whole set.
    std::vector<std::int64_t> keep;
    svm::RowFilter mine;
    if (share)
      mine = [&](std::int64_t i) {
        if (i % comm.size() != comm.rank()) return false;
        keep.push_back(i);
        return true;
      };
    t.data = svm::read_libsvm_data(cfg.data, 0, mine);
    if (!share)
      for (std::int64_t i = 0; i < t.data.rows; ++i) keep.push_back(i);
    if (ids) *ids = keep;
    return t;
  }
  if (io::file_format(cfg.features) == io::kArchiveFormatName)
    throw ConfigError("--features " + cfg.features.string() +
                      " is a chip archive: compute its features first (sarscale features --archive " +
                      cfg.features.string() + ")");
  // Every rank reads every row (independent reads: the grid's jobs need the whole set), or only
  // its contiguous share with --cascade.
  const io::FeatureReader r = io::FeatureReader::open(cfg.features, comm.raw());
  const io::FeatureLayout& l = r.layout();
  t.class_names = l.class_names;
  t.chain = r.has_attribute("chain") ? r.attribute("chain") : "";
  t.fingerprint = r.has_attribute("fingerprint") ? r.attribute("fingerprint") : "";
  if (r.has_arrays("pca")) t.pca = r.arrays("pca");
  t.augment = r.has_attribute("augment") ? r.attribute("augment") : "";
  t.slots = l.rows;
  t.file_rows = l.total_rows();
  t.data.dim = static_cast<int>(l.dim);
  constexpr std::int64_t kBlock = 4096;
  std::vector<float> buf;
  // The slots' rows and the augmented rows after them: all train.
  const Range range = share ? block_range(static_cast<std::size_t>(l.total_rows()), comm.size(), comm.rank())
                            : Range{0, static_cast<std::size_t>(l.total_rows())};
  const auto end = static_cast<std::int64_t>(range.end);
  for (auto first = static_cast<std::int64_t>(range.begin); first < end; first += kBlock) {
    const std::int64_t n = std::min(kBlock, end - first);
    buf.resize(static_cast<std::size_t>(n * l.dim));
    r.read_features(first, n, buf.data(), io::Transfer::independent);
    const auto flags = r.flags(first, n, io::Transfer::independent);
    const auto labels = r.labels(first, n, io::Transfer::independent);
    const auto source = r.source_rows(first, n, io::Transfer::independent);
    for (std::int64_t i = 0; i < n; ++i) {
      if (flags[static_cast<std::size_t>(i)] != 0 || labels[static_cast<std::size_t>(i)] < 0) continue;
      t.data.x.insert(t.data.x.end(), buf.begin() + i * l.dim, buf.begin() + (i + 1) * l.dim);
      t.data.labels.push_back(labels[static_cast<std::size_t>(i)]);
      t.source.push_back(source[static_cast<std::size_t>(i)]);
      t.copy.push_back(first + i >= l.rows ? 1 : 0);
      ++t.data.rows;
      if (ids) ids->push_back(first + i);
    }
  }
  if (comm.sum(t.data.rows) == 0)
    throw InputError(cfg.features.string() + " holds no usable labelled rows to train on");
  return t;
}

// This rank's rows for the cascade, exactly those load(share = true) keeps, taken from a load of
// every row (`ids` its row ids): a grid search needs every row on every rank, and its final
// model is then trained by the cascade on the same shares as `--cascade` without a grid.
svm::Dataset cascade_share(const Comm& comm, const TrainingData& t, bool text, const std::vector<std::int64_t>& ids,
                           std::vector<std::int64_t>& mine) {
  const Range block = block_range(static_cast<std::size_t>(t.file_rows), comm.size(), comm.rank());
  svm::Dataset share;
  share.dim = t.data.dim;
  for (std::int64_t r = 0; r < t.data.rows; ++r) {
    const std::int64_t id = ids[static_cast<std::size_t>(r)];
    const bool kept = text ? id % comm.size() == comm.rank()
                           : id >= static_cast<std::int64_t>(block.begin) && id < static_cast<std::int64_t>(block.end);
    if (!kept) continue;
    share.x.insert(share.x.end(), t.data.row(r), t.data.row(r) + t.data.dim);
    share.labels.push_back(t.data.labels[static_cast<std::size_t>(r)]);
    ++share.rows;
    mine.push_back(id);
  }
  return share;
}

// "LABEL:W,..." as stored in a model's provenance (parse_class_weights reads it back).
std::string class_weights_text(const std::map<std::int32_t, double>& w) {
  std::string out;
  char buf[64];
  for (const auto& [label, weight] : w) {
    std::snprintf(buf, sizeof buf, "%s%d:%.17g", out.empty() ? "" : ",", label, weight);
    out += buf;
  }
  return out;
}

std::map<std::int32_t, double> parse_class_weights(const std::string& text) {
  std::map<std::int32_t, double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.find(':');
    if (colon == std::string::npos) throw InputError("model provenance: bad class weight '" + item + "'");
    out[std::stoi(item.substr(0, colon))] = std::stod(item.substr(colon + 1));
  }
  return out;
}

// A row with its label as bytes, to find exact copies.
std::string row_key(std::int32_t label, const double* row, int dim) {
  std::string k(reinterpret_cast<const char*>(&label), sizeof label);
  k.append(reinterpret_cast<const char*>(row), sizeof(double) * static_cast<std::size_t>(dim));
  return k;
}

// Incremental training: the previous model's support vectors go first into the training set
// (with the labels they have in the model), then the new rows, whose labels are remapped by
// class name onto the model's classes (new classes appended); the warm start, kernel, C and
// class weights come from the model.
void join_previous(const io::ModelFile& old, const TrainConfig& cfg, TrainingData& t, svm::TrainParams& base,
                   TrainSummary& s) {
  svm::SvmModel m = old.svm;
  const bool named = !old.class_names.empty();
  if (named != !t.class_names.empty())
    throw ConfigError("--warm-start: the model was trained on " +
                      std::string(named ? "a feature file" : "LIBSVM text data") + " and the new data are " +
                      (t.class_names.empty() ? "LIBSVM text" : "a feature file"));
  if (named && t.fingerprint != old.fingerprint)
    throw ConfigError("--warm-start: " + cfg.features.string() +
                      " was computed with another chain or PCA than the model (fingerprint " + t.fingerprint +
                      ", model " + old.fingerprint + "); give the chip archive instead, its features are then "
                      "computed with the model's chain");
  if (named && t.data.dim != m.dim && t.data.rows > 0)
    throw ConfigError("--warm-start: the new rows have " + std::to_string(t.data.dim) + " features, the model " +
                      std::to_string(m.dim));
  if (!named) {  // LIBSVM text: widths as svm-predict takes them, unless plainly of other data
    if (const std::string why = svm::width_mismatch(m, t.data, cfg.data.string()); !why.empty())
      throw InputError("--warm-start: " + why);
    svm::pad_rows(t.data, m.dim);
    svm::pad_support_vectors(m, t.data.dim);
  }
  std::vector<std::int32_t> remap;  // new label -> label in the joined set
  std::vector<std::string> names = old.class_names;
  for (const auto& name : t.class_names) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) it = names.insert(names.end(), name);
    remap.push_back(static_cast<std::int32_t>(it - names.begin()));
  }
  // Old support vectors first, grouped by class in the model's order (so the joined set's class
  // order is the model's), then the new rows that are not copies of one of them.
  svm::Dataset joined;
  joined.dim = m.dim;
  std::unordered_set<std::string> old_rows;
  const auto key = [&](std::int32_t label, const double* row) { return row_key(label, row, m.dim); };
  std::int64_t sv = 0;
  for (int c = 0; c < m.classes(); ++c)
    for (std::int32_t i = 0; i < m.sv_count[static_cast<std::size_t>(c)]; ++i, ++sv) {
      const double* row = m.support_vectors.data() + sv * m.dim;
      joined.x.insert(joined.x.end(), row, row + m.dim);
      joined.labels.push_back(m.labels[static_cast<std::size_t>(c)]);
      old_rows.insert(key(m.labels[static_cast<std::size_t>(c)], row));
      base.warm_start.rows.push_back(sv);
    }
  for (std::int64_t r = 0; r < t.data.rows; ++r) {
    const std::int32_t label = named ? remap.at(static_cast<std::size_t>(t.data.labels[static_cast<std::size_t>(r)]))
                                     : t.data.labels[static_cast<std::size_t>(r)];
    if (old_rows.count(key(label, t.data.row(r)))) {
      ++s.warm_duplicates;
      continue;
    }
    joined.x.insert(joined.x.end(), t.data.row(r), t.data.row(r) + m.dim);
    joined.labels.push_back(label);
  }
  joined.rows = static_cast<std::int64_t>(joined.labels.size());
  base.warm_start.labels = m.labels;
  base.warm_start.coef = m.sv_coef;
  base.kernel = m.kernel;
  if (!cfg.C_given) {
    const auto it = old.provenance.find("C");
    if (it == old.provenance.end()) throw ConfigError("--warm-start: the model does not record its C: give --C");
    base.C = std::stod(it->second);
  }
  if (base.class_weights.empty()) {
    const auto it = old.provenance.find("class_weights");
    if (it != old.provenance.end()) base.class_weights = parse_class_weights(it->second);
  }
  s.warm_support_vectors = sv;
  t.data = std::move(joined);
  t.class_names = names;
  t.chain = old.chain;
  t.fingerprint = old.fingerprint;
  t.pca = old.pca;
}

// The old training rows for incremental training's feedback, as rows of the joined set's
// classes, minus those already in `joined`. Empty when they are not available.
svm::Dataset previous_rows(const Comm& comm, const io::ModelFile& old, const TrainConfig& cfg,
                           const TrainingData& joined, TrainSummary& s) {
  std::filesystem::path path = cfg.previous_data;
  const bool explicit_path = !path.empty();
  if (!explicit_path) {
    const auto it = old.provenance.find("training_data");
    if (it == old.provenance.end()) return {};
    path = it->second;
  }
  std::error_code ec;
  const bool text = old.class_names.empty();
  if (!std::filesystem::exists(path, ec) || (!text && io::file_format(path) != io::kFeatureFormatName)) {
    if (explicit_path) throw ConfigError("--previous-data " + path.string() + ": not a feature file");
    return {};
  }
  TrainConfig c;
  (text ? c.data : c.features) = path;
  TrainingData t = load(comm, c, false, nullptr);
  if (t.data.dim > joined.data.dim)  // text: features neither the model nor the new rows have
    throw ConfigError("--previous-data " + path.string() + " has features up to index " + std::to_string(t.data.dim) +
                      ", beyond the " + std::to_string(joined.data.dim) + " of the model and the new rows");
  svm::pad_rows(t.data, joined.data.dim);  // sparse text may omit trailing zero features
  if (!text && t.fingerprint != old.fingerprint) {
    if (explicit_path)
      throw ConfigError("--previous-data " + path.string() + " holds other features than the model (fingerprint " +
                        t.fingerprint + ", model " + old.fingerprint + ")");
    return {};
  }
  std::map<std::string, std::int32_t> index;
  for (std::size_t c2 = 0; c2 < joined.class_names.size(); ++c2)
    index[joined.class_names[c2]] = static_cast<std::int32_t>(c2);
  std::unordered_set<std::string> have;
  const auto key = [&](std::int32_t label, const double* row) { return row_key(label, row, joined.data.dim); };
  for (std::int64_t r = 0; r < joined.data.rows; ++r)
    have.insert(key(joined.data.labels[static_cast<std::size_t>(r)], joined.data.row(r)));
  svm::Dataset out;
  out.dim = joined.data.dim;
  for (std::int64_t r = 0; r < t.data.rows; ++r) {
    std::int32_t label = t.data.labels[static_cast<std::size_t>(r)];
    if (!text) label = index.at(t.class_names.at(static_cast<std::size_t>(label)));
    if (have.count(key(label, t.data.row(r)))) continue;
    out.x.insert(out.x.end(), t.data.row(r), t.data.row(r) + out.dim);
    out.labels.push_back(label);
    ++out.rows;
  }
  s.previous_data = std::filesystem::absolute(path).string();
  s.previous_rows = out.rows;
  return out;
}

std::string fmt(const char* f, double v);

// Incremental training's feedback: old rows violating the model's KKT conditions join the
// training set and training continues warm from the model, until none remains.
svm::SvmModel feedback(svm::SvmModel m, svm::Dataset& train, svm::Dataset& rest, const svm::TrainParams& base,
                       int max_passes, TrainSummary& s) {
  for (int pass = 0; pass < max_passes && rest.rows > 0; ++pass) {
    const std::vector<std::int64_t> v = svm::kkt_violators(m, rest, base.solver.eps, base.solver.threads);
    s.feedback_violators.push_back(static_cast<std::int64_t>(v.size()));
    if (v.empty()) break;
    std::vector<char> joins(static_cast<std::size_t>(rest.rows), 0);
    for (const auto r : v) {
      joins[static_cast<std::size_t>(r)] = 1;
      train.x.insert(train.x.end(), rest.row(r), rest.row(r) + rest.dim);
      train.labels.push_back(rest.labels[static_cast<std::size_t>(r)]);
      ++train.rows;
    }
    std::vector<std::int64_t> keep;
    for (std::int64_t r = 0; r < rest.rows; ++r)
      if (!joins[static_cast<std::size_t>(r)]) keep.push_back(r);
    rest = rest.subset(keep);
    svm::TrainParams p = base;
    p.warm_start = {m.labels, m.sv_indices, m.sv_coef};
    m = svm::train(train, p, &s.report);
    log::info("--warm-start feedback ", pass + 1, ": ", v.size(), " old rows violate the model's KKT conditions; ",
              "retrained warm in ", fmt("%.2f", s.report.seconds), " s");
  }
  return m;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Cross-validation folds: stratified over the slots' rows exactly as without augmentation; an
// augmented row takes its source's fold (-1, training only, if its source is not a training row),
// so no copy of a test chip is trained on.
std::vector<int> cv_folds(const TrainingData& t, int folds, std::uint64_t seed) {
  const svm::Dataset& d = t.data;
  if (t.copy.size() != static_cast<std::size_t>(d.rows)) return svm::stratified_folds(d.labels, folds, seed);
  std::vector<std::int64_t> originals;
  std::vector<std::int32_t> labels;
  for (std::int64_t i = 0; i < d.rows; ++i)
    if (!t.copy[static_cast<std::size_t>(i)]) {
      originals.push_back(i);
      labels.push_back(d.labels[static_cast<std::size_t>(i)]);
    }
  const std::vector<int> f = svm::stratified_folds(labels, folds, seed);
  std::vector<int> out(static_cast<std::size_t>(d.rows), -1);
  std::map<std::int64_t, int> fold_of_slot;
  for (std::size_t k = 0; k < originals.size(); ++k) {
    out[static_cast<std::size_t>(originals[k])] = f[k];
    fold_of_slot[t.source[static_cast<std::size_t>(originals[k])]] = f[k];
  }
  for (std::int64_t i = 0; i < d.rows; ++i)
    if (t.copy[static_cast<std::size_t>(i)])
      if (const auto it = fold_of_slot.find(t.source[static_cast<std::size_t>(i)]); it != fold_of_slot.end())
        out[static_cast<std::size_t>(i)] = it->second;
  return out;
}

// A grid axis: its values in the order given, "auto" (gamma 0) resolved, repeats dropped; the
// base value when the grid gives none.
std::vector<double> grid_values(const std::vector<double>& given, double fallback, double auto_gamma, bool is_gamma) {
  std::vector<double> out;
  for (double x : given.empty() ? std::vector<double>{fallback} : given) {
    if (is_gamma && x == 0) x = auto_gamma;
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  }
  return out;
}

// The chosen point: the highest accuracy by `select_by` (with the shifted validation, ties go
// to the other accuracy), then the first in grid order (C as given, then gamma: with ascending
// lists the smaller C, then the smaller gamma, the simpler model).
void choose_point(TrainSummary& s, TrainConfig::SelectBy select_by) {
  const bool shifted = select_by == TrainConfig::SelectBy::shifted;
  const auto score = [&](const GridPoint& g) {
    return shifted ? std::pair{g.shifted_accuracy, g.cv_accuracy} : std::pair{g.cv_accuracy, -1.0};
  };
  const GridPoint* best = &s.grid.front();
  for (const GridPoint& g : s.grid)
    if (score(g) > score(*best)) best = &g;
  s.best_C = best->C;
  s.best_gamma = best->gamma;
  s.best_cv_accuracy = best->cv_accuracy;
  s.best_shifted_accuracy = best->shifted_accuracy;
  s.select_by = shifted ? "shifted" : "cv";
}

// The shifted validation's facts in the summary; the scored rows (the slots' rows) whose
// perturbed chip gave no features are counted.
void record_shift_validation(const Comm& comm, const detail::ShiftedRows& shifted, const TrainingData& t,
                             TrainSummary& s) {
  s.shift_validation = shifted.spec;
  s.shift_seed = shifted.seed;
  s.shift_features = shifted.features.string();
  s.shift_seconds = shifted.seconds;
  const bool speckle = features::parse_acquisition_shift(shifted.spec).has(features::ShiftOp::Kind::speckle);
  s.speckle_redrawn = speckle && !shifted.computed.up_to_date ? shifted.computed.speckle_redrawn : -1;
  s.shift_unusable = 0;
  const bool copies = t.copy.size() == static_cast<std::size_t>(t.data.rows);
  for (std::int64_t i = 0; i < t.data.rows; ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (!(copies && t.copy[u]) && !shifted.usable[static_cast<std::size_t>(t.source[u])]) ++s.shift_unusable;
  }
  if (s.shift_unusable > 0 && comm.is_root())
    log::warn("shift validation: ", s.shift_unusable, " chips give no usable features once perturbed (see /flagged in ",
              s.shift_features, "); they count as errors");
}

// What the grid search's jobs depend on: the model's key (inputs and options) and, with a
// shifted validation, the shifted feature file as found.
std::string grid_key(const std::string& key, const detail::ShiftedRows& shifted) {
  io::h5::Fingerprint fp;
  fp.add("sarscale-grid-1").add(key);
  if (shifted.available()) {
    std::error_code ec;
    fp.add(std::filesystem::absolute(shifted.features).lexically_normal().string());
    fp.add(static_cast<std::int64_t>(std::filesystem::file_size(shifted.features, ec)));
    fp.add(static_cast<std::int64_t>(std::filesystem::last_write_time(shifted.features, ec).time_since_epoch().count()));
  }
  return fp.hex();
}

// The grid search: job = (grid point, fold); the jobs the grid checkpoint does not hold yet are
// dealt round-robin to the ranks; each trains on the fold's training rows and scores its
// validation rows (the slots' rows, each in one fold), and their shifted rows when there is a
// shifted validation, and is checkpointed once done. A point's figures sum its folds' jobs.
// Fills s (grid, cv_rows, the chosen point) and sets base's C and gamma to the chosen ones.
void grid_search(const Comm& comm, const TrainConfig& cfg, const std::string& key, const TrainingData& t,
                 const detail::ShiftedRows& shifted, svm::TrainParams& base, std::optional<svm::GramMatrix>& gram,
                 TrainSummary& s) {
  const svm::Dataset& d = t.data;
  const double auto_gamma = d.dim > 0 ? 1.0 / d.dim : 0.0;
  const std::vector<double> cs = grid_values(cfg.grid.C, base.C, auto_gamma, false);
  const std::vector<double> gs = grid_values(cfg.grid.gamma, base.kernel.gamma, auto_gamma, true);
  const std::vector<int> fold_of = cv_folds(t, cfg.folds, cfg.seed);
  const bool copies = t.copy.size() == static_cast<std::size_t>(d.rows);
  s.cv_rows = 0;  // scored rows: the slots' rows, each in one fold
  for (std::int64_t i = 0; i < d.rows; ++i) s.cv_rows += copies && t.copy[static_cast<std::size_t>(i)] ? 0 : 1;
  const std::size_t points = cs.size() * gs.size(), folds = static_cast<std::size_t>(cfg.folds);
  detail::GridCheckpoint checkpoint(comm, cfg.model, grid_key(key, shifted), points * folds, cfg.fresh);
  std::vector<std::size_t> pending;
  for (std::size_t job = 0; job < points * folds; ++job)
    if (!checkpoint.done(job)) pending.push_back(job);
  if (comm.is_root() && checkpoint.finished() > 0)
    log::info("resuming the grid search: ", checkpoint.finished(), " of ", points * folds,
              " (point, fold) jobs done, ", pending.size(), " to run");
  std::vector<double> correct(points, 0.0), shifted_correct(points, 0.0), seconds(points, 0.0);
  std::vector<std::uint8_t> ran_here(points * folds, 0);
  std::exception_ptr error;  // this rank's first failed job: the others are skipped
  // This rank's jobs share one Gram matrix of all rows (dot products: any C, gamma and fold),
  // so their kernel columns are look-ups (about twice as fast on MSTAR, docs/performance.md).
  // Not for sets whose n^2 doubles exceed the budget.
  const std::size_t my_jobs =
      (pending.size() + static_cast<std::size_t>(comm.size() - 1 - comm.rank())) / static_cast<std::size_t>(comm.size());
  if (my_jobs > 1 && svm::GramMatrix::bytes(d.rows) <= cfg.gram_bytes) {
    try {
      gram = svm::GramMatrix::of(d.x.data(), d.rows, d.dim, base.solver.threads);
    } catch (const std::bad_alloc&) {
      log::warn("grid search: no memory for the ", d.rows, " x ", d.rows, " Gram matrix; kernel values computed");
    }
  }
  for (std::size_t k = 0; k < pending.size(); ++k) {
    if (static_cast<int>(k % static_cast<std::size_t>(comm.size())) != comm.rank() || error) continue;
    const std::size_t job = pending[k], point = job / folds;
    const int fold = static_cast<int>(job % folds);
    svm::TrainParams p = base;
    p.C = cs[point / gs.size()];
    p.kernel.gamma = gs[point % gs.size()];
    std::vector<std::int64_t> train_rows, test_rows;
    for (std::int64_t i = 0; i < d.rows; ++i) {
      const auto u = static_cast<std::size_t>(i);
      if (fold_of[u] != fold)
        train_rows.push_back(i);
      else if (!copies || !t.copy[u])
        test_rows.push_back(i);
    }
    if (gram) {
      p.gram = &*gram;
      p.gram_rows = train_rows;
    }
    const auto jt = Clock::now();
    try {
      if (!p.sample_weights.empty()) {
        std::vector<double> w;
        for (const auto r : train_rows) w.push_back(base.sample_weights[static_cast<std::size_t>(r)]);
        p.sample_weights = w;
      }
      detail::GridJobResult result;
      const svm::SvmModel m = svm::train(d.subset(train_rows), p);
      const svm::Dataset test = d.subset(test_rows);
      const auto predicted = svm::predict(m, test.x.data(), test.rows, false, p.solver.threads).labels;
      for (std::size_t i = 0; i < predicted.size(); ++i) result.correct += predicted[i] == test.labels[i] ? 1 : 0;
      if (shifted.available()) {  // the same chips as a new acquisition would show them
        std::vector<std::int64_t> slots;
        for (const auto r : test_rows) slots.push_back(t.source[static_cast<std::size_t>(r)]);
        result.shifted_correct =
            static_cast<double>(detail::shifted_correct(m, shifted, slots, test.labels, p.solver.threads));
      }
      result.seconds = since(jt);
      checkpoint.record(job, result);
      ran_here[job] = 1;
    } catch (...) {
      error = std::current_exception();
    }
  }
  // Every job's result counts once: a checkpointed one on rank 0, a new one where it ran.
  for (std::size_t job = 0; job < points * folds; ++job) {
    if (!ran_here[job] && !(comm.is_root() && checkpoint.done(job))) continue;
    const detail::GridJobResult& r = checkpoint.result(job);
    correct[job / folds] += r.correct;
    shifted_correct[job / folds] += r.shifted_correct;
    seconds[job / folds] += r.seconds;
  }
  comm.agree(error);
  for (std::size_t q = 0; q < points; ++q) {
    GridPoint g;
    g.C = cs[q / gs.size()];
    g.gamma = gs[q % gs.size()];
    g.cv_accuracy = comm.sum(correct[q]) / static_cast<double>(s.cv_rows);
    if (shifted.available()) g.shifted_accuracy = comm.sum(shifted_correct[q]) / static_cast<double>(s.cv_rows);
    g.seconds = comm.sum(seconds[q]);
    s.grid.push_back(g);
  }
  choose_point(s, cfg.select_by);
  base.C = s.best_C;
  base.kernel.gamma = s.best_gamma;
}

}  // namespace

Grid Grid::parse(const std::string& text) {
  Grid g;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw ConfigError("--grid: '" + item + "' is not KEY=v1,v2,...");
    const std::string key = item.substr(0, eq);
    std::vector<double>* target = key == "C" || key == "c" ? &g.C : key == "gamma" || key == "g" ? &g.gamma : nullptr;
    if (!target) throw ConfigError("--grid: unknown parameter '" + key + "' (C or gamma)");
    std::stringstream values(item.substr(eq + 1));
    std::string v;
    while (std::getline(values, v, ',')) {
      if (v.empty()) continue;
      target->push_back(key.starts_with("g") && v == "auto" ? 0.0 : parse_value(v, key));
      if (target->back() < 0 || (target == &g.C && target->back() == 0))
        throw ConfigError("--grid: " + key + " values must be positive");
    }
    if (target->empty()) throw ConfigError("--grid: no values for " + key);
  }
  return g;
}

json::Value TrainSummary::to_json() const {
  json::Value v = json::Value::object();
  v["model"] = model.string();
  v["rows"] = rows;
  v["dim"] = dim;
  v["classes"] = classes;
  v["grid"] = json::Value::array();
  for (const auto& p : grid) {
    json::Value g = json::Value::object();
    g["C"] = p.C;
    g["gamma"] = p.gamma;
    g["cv_accuracy"] = p.cv_accuracy;
    if (p.shifted_accuracy >= 0) {
      g["shifted_accuracy"] = p.shifted_accuracy;
      g["gap"] = p.cv_accuracy - p.shifted_accuracy;
    }
    g["seconds"] = p.seconds;
    v["grid"].push_back(g);
  }
  v["C"] = best_C;
  v["gamma"] = best_gamma;
  if (best_cv_accuracy >= 0) v["cv_accuracy"] = best_cv_accuracy;
  if (!grid.empty()) v["cv_rows"] = cv_rows;
  if (!shift_validation.empty()) {  // absent without one: the output is then as it always was
    v["select_by"] = select_by;
    if (best_shifted_accuracy >= 0) {
      v["shifted_accuracy"] = best_shifted_accuracy;
      v["shift_gap"] = best_cv_accuracy - best_shifted_accuracy;
    }
    json::Value sv = json::Value::object();
    sv["spec"] = shift_validation;
    sv["seed"] = shift_seed;
    sv["features"] = shift_features;
    sv["unusable"] = shift_unusable;
    if (speckle_redrawn >= 0) sv["speckle_redrawn"] = speckle_redrawn;
    sv["seconds"] = shift_seconds;
    v["shift_validation"] = sv;
  }
  if (!augment.empty()) {
    v["augment"] = augment;
    v["augmented_rows"] = augmented_rows;
  }
  v["total_sv"] = report.total_sv;
  v["machines"] = static_cast<std::int64_t>(pairs.empty() ? report.machines.size() : pairs.size());
  std::int64_t iterations = 0;
  for (const auto& m : report.machines) iterations += m.iterations;
  v["iterations"] = iterations;
  if (report.machines.size() == 1) {
    v["objective"] = report.machines[0].objective;
    v["rho"] = report.machines[0].rho;
  }
  if (!pairs.empty()) {
    v["pairs"] = json::Value::array();
    for (const auto& p : pairs) {
      json::Value q = json::Value::object();
      q["labels"] = std::to_string(p.label_i) + "-" + std::to_string(p.label_j);
      q["rows"] = p.rows;
      q["mode"] = p.ensemble  ? "ensemble of " + std::to_string(p.leaves) + " leaves"
                  : p.cascaded ? "cascade"
                               : "rank " + std::to_string(p.owner);
      q["objective"] = p.objective;
      q["n_sv"] = p.n_sv;
      if (p.resumed) q["resumed"] = true;
      q["seconds"] = p.seconds;
      json::Value passes = json::Value::array();
      for (const auto& c : p.passes) {
        json::Value r = json::Value::object();
        r["objective"] = c.objective;
        r["n_sv"] = c.n_sv;
        r["violators"] = c.violators;
        r["seconds"] = c.seconds;
        r["leaf_seconds"] = c.leaf_seconds;
        r["merge_seconds"] = c.merge_seconds;
        r["check_seconds"] = c.check_seconds;
        r["bytes"] = c.bytes_sent;
        r["flat"] = c.flat;
        passes.push_back(r);
      }
      q["passes"] = passes;
      v["pairs"].push_back(q);
    }
  }
  if (warm_support_vectors >= 0) {
    v["warm_support_vectors"] = warm_support_vectors;
    v["warm_duplicates"] = warm_duplicates;
    v["previous_data"] = previous_data;
    v["previous_rows"] = previous_rows;
    v["feedback_violators"] = json::Value::array();
    for (const auto n : feedback_violators) v["feedback_violators"].push_back(n);
  }
  v["peak_rss_mb"] = json::Value::array();
  for (const auto mb : peak_rss_mb) v["peak_rss_mb"].push_back(mb);
  v["up_to_date"] = up_to_date;
  v["cv_seconds"] = cv_seconds;
  v["train_seconds"] = train_seconds;
  v["seconds"] = seconds;
  return v;
}

std::string TrainSummary::table() const {
  std::ostringstream os;
  const bool shifted = !shift_validation.empty() && !grid.empty();
  if (!grid.empty()) {
    os << "          C        gamma   CV accuracy" << (shifted ? "       shifted        gap" : "") << "   seconds\n";
    for (const auto& p : grid) {
      os << fmt("%11.5g", p.C) << "  " << fmt("%11.5g", p.gamma) << "  " << fmt("%10.4f%%", 100 * p.cv_accuracy);
      if (shifted)
        os << "  " << fmt("%11.4f%%", 100 * p.shifted_accuracy) << "  "
           << fmt("%+8.2f pt", 100 * (p.cv_accuracy - p.shifted_accuracy));
      os << "  " << fmt("%8.2f", p.seconds) << (p.C == best_C && p.gamma == best_gamma ? "   <- best" : "") << "\n";
    }
  }
  if (shifted)
    os << "shifted validation: " << shift_validation << " (seed " << shift_seed << "), chosen by " << select_by
       << ": CV " << fmt("%.4f%%", 100 * best_cv_accuracy) << ", shifted " << fmt("%.4f%%", 100 * best_shifted_accuracy)
       << ", gap " << fmt("%.2f", 100 * (best_cv_accuracy - best_shifted_accuracy)) << " points"
       << (shift_unusable > 0 ? "; " + std::to_string(shift_unusable) + " perturbed chips unusable (errors)" : "")
       << "\n";
  for (const auto& p : pairs)
    os << "machine " << p.label_i << " vs " << p.label_j << ": " << p.rows << " rows, "
       << (p.ensemble   ? "average of " + std::to_string(p.leaves) + " leaf machines"
           : p.cascaded ? "cascade, " + std::to_string(p.passes.size()) + " pass(es)"
                        : "on rank " + std::to_string(p.owner))
       << ", objective " << fmt("%.6f", p.objective) << ", " << p.n_sv << " SVs, " << fmt("%.2f", p.seconds) << " s\n";
  os << "model: C " << best_C << ", gamma " << best_gamma << ", " << report.total_sv << " support vectors, "
     << (pairs.empty() ? report.machines.size() : pairs.size()) << " binary machine(s), trained in "
     << fmt("%.2f", train_seconds) << " s";
  return os.str();
}

namespace {

// The inputs as found (path, size, modification time) and every option that shapes the model;
// not the thread count, cache size, logging or the output's name.
std::string train_key(const TrainConfig& cfg) {
  io::h5::Fingerprint fp;
  fp.add("sarscale-train-1");
  for (const auto* input : {&cfg.features, &cfg.data, &cfg.warm_start, &cfg.previous_data}) {
    std::error_code ec;
    fp.add(input->empty() ? std::string() : std::filesystem::absolute(*input).lexically_normal().string());
    fp.add(static_cast<std::int64_t>(std::filesystem::file_size(*input, ec)));
    fp.add(static_cast<std::int64_t>(std::filesystem::last_write_time(*input, ec).time_since_epoch().count()));
  }
  static const std::set<std::string> kNotShaping = {"threads", "cache-mb", "gram-mb", "log-level", "config", "model", "fresh"};
  for (const auto& p : cfg.parameters)
    if (!kNotShaping.count(p.substr(0, p.find('=')))) fp.add(p);
  // Full precision of the numbers the parameter text rounds.
  for (const double v : {cfg.params.C, cfg.params.kernel.gamma, cfg.params.kernel.coef0, cfg.params.solver.eps})
    fp.add(fmt("%.17g", v));
  // The shifted validation (it changes the report and, selected by, the model), canonical.
  fp.add(features::describe(features::parse_acquisition_shift(cfg.shift_validation)));
  fp.add(std::to_string(cfg.shift_seed)).add(cfg.select_by == TrainConfig::SelectBy::shifted ? "shifted" : "cv");
  fp.add(std::to_string(cfg.seed));
  return fp.hex();
}

// The HDF5 model of `m` with its provenance, all but the summary (`cv`), which the caller adds.
io::ModelFile model_file(const TrainConfig& cfg, const std::string& key, const TrainingData& t,
                         const svm::TrainParams& base, svm::SvmModel m, const TrainSummary& s, int ranks) {
  io::ModelFile f;
  f.svm = std::move(m);
  f.class_names = t.class_names;
  f.chain = t.chain;
  f.fingerprint = t.fingerprint;
  f.pca = t.pca;
  f.provenance["command_line"] = cfg.command_line;
  f.provenance["training_data"] = std::filesystem::absolute(cfg.features.empty() ? cfg.data : cfg.features).string();
  f.provenance["training_rows"] = std::to_string(s.rows);
  f.provenance["C"] = fmt("%.17g", base.C);
  if (cfg.cascade)
    f.provenance["training_mode"] =
        cfg.cascade_options.mode == DistributedMode::ensemble
            ? "ensemble: the average of " + std::to_string(ranks) + " ranks' leaf machines (approximate)"
            : "cascade over " + std::to_string(ranks) + " ranks";
  if (!base.class_weights.empty()) f.provenance["class_weights"] = class_weights_text(base.class_weights);
  if (!t.augment.empty()) {
    json::Value a = json::Value::object();
    a["spec"] = t.augment;
    a["augmented_rows"] = s.augmented_rows;  // of training_rows
    f.provenance["augmentation"] = a.dump();
  }
  if (!cfg.warm_start.empty()) {
    f.provenance["warm_start"] = std::filesystem::absolute(cfg.warm_start).string();
    f.provenance["warm_support_vectors"] = std::to_string(s.warm_support_vectors);
  }
  if (!s.grid.empty()) f.provenance["cv_accuracy"] = fmt("%.17g", s.best_cv_accuracy);
  if (s.best_shifted_accuracy >= 0) {
    f.provenance["shift_validation"] = s.shift_validation + " (seed " + std::to_string(s.shift_seed) + ")";
    f.provenance["shifted_accuracy"] = fmt("%.17g", s.best_shifted_accuracy);
    f.provenance["select_by"] = s.select_by;
  }
  f.provenance["resume_key"] = key;
  return f;
}

// When an HDF5 model trained under `key` is already there: a summary of it (figures on rank 0).
std::optional<TrainSummary> up_to_date_model(const Comm& comm, const TrainConfig& cfg, const std::string& key) {
  TrainSummary s;
  int found = 0;
  if (comm.is_root() && !cfg.fresh && !cfg.libsvm_model && io::file_format(cfg.model) == io::kModelFormatName) {
    try {
      const io::ModelFile m = io::read_model_file(cfg.model);
      const auto it = m.provenance.find("resume_key");
      if (it != m.provenance.end() && it->second == key) {
        found = 1;
        const auto rows = m.provenance.find("training_rows");
        s.rows = rows == m.provenance.end() ? 0 : std::stoll(rows->second);
        s.dim = m.svm.dim;
        s.classes = m.svm.classes();
        s.best_C = m.provenance.count("C") ? std::stod(m.provenance.at("C")) : 0.0;
        s.best_gamma = m.svm.kernel.gamma;
        s.report.total_sv = m.svm.total_sv();
      }
    } catch (const std::exception& e) {
      log::warn(cfg.model.string(), " cannot be read (", e.what(), "): it is trained again");
    }
  }
  if (!comm.any(found == 1)) return std::nullopt;
  if (comm.is_root())
    log::info(cfg.model.string(), " was trained from the same inputs and options: nothing to do (--fresh retrains)");
  s.up_to_date = true;
  s.model = cfg.model;
  return s;
}

}  // namespace

TrainSummary run_train(const Comm& comm, const TrainConfig& cfg) {
  const auto t0 = Clock::now();
  if (cfg.features.empty() == cfg.data.empty()) throw ConfigError("give exactly one of --features and --data");
  if (cfg.model.empty()) throw ConfigError("--model: no output given");
  if (!cfg.grid.empty() && cfg.folds < 2) throw ConfigError("--folds must be at least 2 for a grid search");
  // Every output path checked (and locked) before any work: a grid search must not end on a
  // model that cannot be written.
  std::vector<io::RunInput> inputs = {{cfg.features, "--features", false}, {cfg.data, "--data", false},
                                      {cfg.warm_start, "--warm-start", false},
                                      {cfg.previous_data, "--previous-data", false}};
  const io::OutputKind kind =
      cfg.libsvm_model ? io::libsvm_model_kind() : io::hdf5_kind("sarscale model", io::kModelFormatName);
  const OutputGuard guard =
      OutputGuard::claim(comm, {{cfg.model, "--model", kind, false}}, inputs, cfg.overwrite, cfg.command_line);
  std::string key;
  if (comm.is_root()) key = train_key(cfg);
  comm.broadcast(key);
  if (auto done = up_to_date_model(comm, cfg, key)) {
    done->seconds = comm.max(since(t0));
    return *done;
  }
  TrainConfig input = cfg;
  std::optional<io::ModelFile> previous;
  if (!cfg.warm_start.empty()) {
    if (cfg.cascade) throw ConfigError("--warm-start with --cascade is not supported: train on one rank group");
    if (!cfg.grid.empty()) throw ConfigError("--warm-start continues the model's C and gamma: no --grid");
    if (cfg.balanced) throw ConfigError("--warm-start keeps the model's class weights: no --balanced");
    // Any HDF5 file goes to the model reader, which says what it is when it is not a model (an
    // archive given by mistake is not LIBSVM text with a strange first keyword).
    if (io::is_hdf5_file(cfg.warm_start)) {
      previous = io::read_model_file(cfg.warm_start);
    } else {  // LIBSVM's text format: no class names, chain or provenance
      previous.emplace();
      previous->svm = svm::read_libsvm_model(cfg.warm_start);
    }
    // A chip archive: its features computed with the model's own chain and PCA.
    if (!cfg.features.empty() && io::file_format(cfg.features) == io::kArchiveFormatName) {
      const auto out = cfg.model.parent_path() / (cfg.model.stem().string() + ".features.h5");
      input.features = features_for_model(comm, *previous, cfg.warm_start, cfg.features, out, cfg.params.solver.threads,
                                          cfg.command_line);
    }
  }
  std::vector<std::int64_t> ids;
  // Rows spread over the ranks with --cascade; a grid search needs them all on every rank, and
  // only its final model is then trained by the cascade.
  const bool spread = cfg.cascade && cfg.grid.empty();
  TrainingData t = load(comm, input, spread, cfg.cascade ? &ids : nullptr);
  TrainSummary s;
  s.augment = t.augment;
  s.augmented_rows = static_cast<std::int64_t>(std::count(t.copy.begin(), t.copy.end(), 1));
  if (spread) s.augmented_rows = comm.sum(s.augmented_rows);
  svm::TrainParams base = cfg.params;
  svm::Dataset rest;  // old training rows to re-check (incremental training)
  if (previous) {
    join_previous(*previous, cfg, t, base, s);
    rest = previous_rows(comm, *previous, cfg, t, s);
    if (comm.is_root() && s.previous_data.empty())
      log::warn("--warm-start: the old training data are not available (give --previous-data): old rows that were "
                "not support vectors are not re-checked, so the model approximates a full retrain");
  }
  const svm::Dataset& d = t.data;
  if (!cfg.grid.empty()) {  // every rank holds every row here: all decide alike
    const auto chips = t.copy.size() == static_cast<std::size_t>(d.rows)
                           ? std::count(t.copy.begin(), t.copy.end(), 0)
                           : static_cast<std::ptrdiff_t>(d.rows);
    if (cfg.folds > chips)
      throw ConfigError("--folds " + std::to_string(cfg.folds) + " is more than the " + std::to_string(chips) +
                        " training samples: every fold needs at least one");
  }

  if (cfg.balanced) {  // n / (k n_c): every class weighs the same in total
    std::map<std::int32_t, std::int64_t> count;
    for (const auto l : d.labels) ++count[l];
    if (spread) {  // counts over every rank's share
      struct LabelCount {
        std::int32_t label;
        std::int64_t n;
      };
      std::vector<LabelCount> mine;
      for (const auto& [l, n] : count) mine.push_back({l, n});
      count.clear();
      for (const auto& c : comm.allgatherv(mine)) count[c.label] += c.n;
    }
    for (const auto& [label, n] : count)
      base.class_weights[label] = static_cast<double>(spread ? comm.sum(d.rows) : d.rows) /
                                  (static_cast<double>(count.size()) * static_cast<double>(n));
  }
  s.rows = d.rows;
  s.dim = d.dim;
  s.model = cfg.model;
  const double auto_gamma = d.dim > 0 ? 1.0 / d.dim : 0.0;

  // Grid search, and the acquisition-shift validation of its folds.
  const detail::ShiftedRows shifted =
      detail::shifted_rows(comm, cfg, {input.features, t.chain, t.fingerprint, t.pca, t.slots, d.dim});
  if (shifted.available()) record_shift_validation(comm, shifted, t, s);
  const auto ct0 = Clock::now();
  std::optional<svm::GramMatrix> gram;  // of the grid search, reused by the final model on rank 0
  if (!cfg.grid.empty()) grid_search(comm, cfg, key, t, shifted, base, gram, s);
  s.cv_seconds = since(ct0);
  s.best_C = base.C;
  s.best_gamma = base.kernel.gamma > 0 ? base.kernel.gamma : auto_gamma;

  // The final model: rank 0 trains and writes it; the others wait for its verdict.
  const auto tt0 = Clock::now();
  std::optional<io::ModelFile> file;  // rank 0's HDF5 model, written once the timings are known
  svm::SvmModel distributed;
  // The distributed training checkpoints beside the model: a killed run, started again with
  // the same command, continues from the last finished machine or cascade pass.
  CascadeTrainOptions distributed_options = cfg.cascade_options;
  if (distributed_options.checkpoint.empty()) distributed_options.checkpoint = cfg.model.string() + ".checkpoint";
  if (cfg.cascade) {
    std::vector<std::int64_t> my_ids;
    const svm::Dataset share = spread ? svm::Dataset{} : cascade_share(comm, t, !cfg.data.empty(), ids, my_ids);
    distributed = train_distributed(comm, spread ? d : share, spread ? ids : my_ids, base, distributed_options, &s.pairs);
    s.rows = comm.sum(spread ? d.rows : share.rows);
    s.dim = distributed.dim;
  }
  comm.agree_on([&] {
    if (comm.is_root()) {
      svm::TrainParams final_params = base;
      if (gram && !cfg.cascade) {  // all rows: Gram row r is training row r
        final_params.gram = &*gram;
        final_params.gram_rows.resize(static_cast<std::size_t>(d.rows));
        std::iota(final_params.gram_rows.begin(), final_params.gram_rows.end(), std::int64_t{0});
      }
      svm::SvmModel m = cfg.cascade ? distributed : svm::train(d, final_params, &s.report);
      if (previous && rest.rows > 0) {
        svm::Dataset grown = d;
        m = feedback(std::move(m), grown, rest, base, cfg.cascade_options.cascade.max_passes, s);
        s.rows = grown.rows;
      }
      if (cfg.cascade) s.report.total_sv = m.total_sv();
      s.classes = m.classes();
      if (cfg.libsvm_model)
        svm::write_libsvm_model(cfg.model, m);
      else
        file = model_file(cfg, key, t, base, std::move(m), s, comm.size());
    }
  });
  s.train_seconds = comm.max(since(tt0));
  // Peak memory per rank: with --cascade no rank should approach the size of the whole training set.
  s.peak_rss_mb = comm.allgather<std::int64_t>(peak_rss_mib());
  s.seconds = comm.max(since(t0));
  // Written once the figures are known, so that the stored summary has them (its `seconds` stops
  // before the write, which the printed summary's includes).
  comm.agree_on([&] {
    if (!file) return;
    file->provenance["cv"] = s.to_json().dump();
    write_model_file(cfg.model, *file);
  });
  if (cfg.cascade && comm.is_root()) {
    std::error_code ec;
    std::filesystem::remove(distributed_options.checkpoint, ec);  // the model is written: done
  }
  if (!cfg.grid.empty()) detail::GridCheckpoint::remove_files(comm, cfg.model);
  s.seconds = comm.max(since(t0));
  return s;
}

}  // namespace sarscale::dist
