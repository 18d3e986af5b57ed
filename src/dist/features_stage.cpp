#include "sarscale/dist/features_stage.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/dist/pca.hpp"
#include "sarscale/dist/progress.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/resume.hpp"
#include "sarscale/features/acquisition_shift.hpp"
#include "sarscale/features/augment.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kBatchPixelBytes = std::int64_t{64} << 20;
constexpr const char* kPcaGroup = "pca";
// 8192^2 doubles = 512 MiB per copy of the co-moments, and an eigen-decomposition of minutes.
constexpr std::int64_t kMaxPcaDim = 8192;

// The chain: from the configuration, or adopted from the --pca-from file, whose model only
// makes sense on the vectors it was fitted on.
features::ChainSpec choose_chain(const FeaturesConfig& cfg, const io::ArchiveLayout& archive,
                                 const std::string& pca_chain, const std::string& pca_path) {
  const bool configured = cfg.planes || cfg.preprocess || cfg.blocks;
  const auto from_config = [&] {
    return features::make_chain_spec(cfg.preprocess.value_or(kDefaultPreprocess), cfg.blocks.value_or(kDefaultBlocks),
                                     archive.rows, archive.cols, cfg.planes.value_or(""));
  };
  if (pca_chain.empty()) return from_config();
  const features::ChainSpec stored = features::parse_chain_spec(pca_chain);
  if (configured && from_config() != stored)
    throw ConfigError("the configured feature chain\n  " + features::describe(from_config()) +
                      "\ndiffers from the chain the PCA model of " + pca_path + " was fitted on\n  " + pca_chain +
                      "\n(leave the chain unset to adopt the stored one)");
  if (stored.rows != archive.rows || stored.cols != archive.cols)
    throw ConfigError("the PCA model of " + pca_path + " was fitted on " + std::to_string(stored.rows) + "x" +
                      std::to_string(stored.cols) + " chips, but the archive's chips are " +
                      std::to_string(archive.rows) + "x" + std::to_string(archive.cols) +
                      " (ingest with the same --chip-size)");
  return stored;
}

std::vector<io::FeatureBlock> to_blocks(const std::vector<features::BlockLayout>& layout) {
  std::vector<io::FeatureBlock> out;
  for (const auto& b : layout)
    out.push_back({b.name, static_cast<std::int64_t>(b.offset), static_cast<std::int64_t>(b.length), b.params});
  return out;
}

io::FeatureBlock pca_block(const features::PcaModel& m) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "components=%d, from=%d, whiten=%s, standardise=%s, explained=%.6f", m.n_components(),
                m.dim, m.options.whiten ? "true" : "false", m.options.standardise ? "true" : "false", [&] {
                  double e = 0;
                  for (double r : m.explained_variance_ratio) e += r;
                  return e;
                }());
  return {"pca", 0, m.n_components(), buf};
}

// Projects usable rows; flagged rows stay zero (a projection of zeros would look like data).
void project(const features::PcaModel& model, const float* raw, std::int64_t n, const std::uint8_t* flags, float* out) {
  const auto k = static_cast<std::size_t>(model.n_components());
  model.apply(raw, static_cast<std::size_t>(n), out);
  for (std::int64_t i = 0; i < n; ++i)
    if (flags[i] != 0) std::fill_n(out + static_cast<std::size_t>(i) * k, k, 0.0f);
}

// The chain of each augmentation operation: `chain` itself for chip-sized copies (shifts), one
// built and checked for each crop size otherwise.
struct CopyChains {
  std::vector<const features::FeatureChain*> of_op;
  std::vector<std::unique_ptr<features::FeatureChain>> own;
};

CopyChains copy_chains(const features::AugmentSpec& spec, const features::FeatureChain& chain) {
  CopyChains c;
  std::map<std::pair<int, int>, const features::FeatureChain*> by_size{{{chain.rows(), chain.cols()}, &chain}};
  for (const features::AugmentOp& op : spec.ops) {
    const bool crop = op.kind == features::AugmentOp::Kind::crop;
    const std::pair<int, int> size = crop ? std::pair{op.rows, op.cols} : std::pair{chain.rows(), chain.cols()};
    auto it = by_size.find(size);
    if (it == by_size.end()) {
      c.own.push_back(std::make_unique<features::FeatureChain>(
          features::chain_for_copies(chain, size.first, size.second, "--augment " + features::describe(op))));
      it = by_size.emplace(size, c.own.back().get()).first;
    }
    c.of_op.push_back(it->second);
  }
  return c;
}

// The augmented rows of one batch of chips: copy k of the batch's chip i at index i * K + k.
struct CopyRows {
  std::vector<float> raw;
  std::vector<std::int32_t> labels;
  std::vector<std::uint8_t> flags;
  std::vector<std::int64_t> source;
  std::vector<io::FlaggedRow> flagged;  // file rows, ascending
  std::int64_t failed = 0;              // copies of usable chips whose own features failed
};

// Copies of the `count` chips of slots [first, first + count) (`pixels`, `labels`, `flags`:
// theirs). Only usable chips are copied and computed: the copies of the others take their flag
// and zero features. Each copy is made and computed alone, so the result does not depend on
// `threads` or on how slots are split into batches and ranks.
CopyRows compute_copies(const features::AugmentSpec& spec, const CopyChains& chains, const float* pixels, int rows,
                        int cols, std::int64_t slots, std::int64_t first, std::int64_t count,
                        const std::int32_t* labels, const std::uint8_t* flags, std::size_t raw_dim, int threads) {
  const auto k = static_cast<std::size_t>(spec.copies());
  const auto n = static_cast<std::size_t>(count) * k;
  // A chip is its planes one after the other; a copy takes the same window of every plane.
  const auto planes = static_cast<std::size_t>(chains.of_op.empty() ? 1 : chains.of_op.front()->input_planes());
  const auto plane_px = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  const std::size_t chip_px = planes * plane_px;
  CopyRows out;
  out.raw.assign(n * raw_dim, 0.0f);
  out.labels.resize(n);
  out.flags.resize(n);
  out.source.resize(n);
  std::vector<std::int64_t> usable;
  for (std::int64_t i = 0; i < count; ++i) {
    const auto u = static_cast<std::size_t>(i);
    std::fill_n(out.labels.begin() + static_cast<std::ptrdiff_t>(u * k), k, labels[u]);
    std::fill_n(out.flags.begin() + static_cast<std::ptrdiff_t>(u * k), k, flags[u]);
    std::fill_n(out.source.begin() + static_cast<std::ptrdiff_t>(u * k), k, first + i);
    if (flags[u] == 0) usable.push_back(i);
  }
  std::vector<features::AugmentWindow> windows(usable.size() * k);
  for (std::size_t u = 0; u < usable.size(); ++u) {
    const auto w = features::augment_windows(spec, rows, cols, static_cast<std::uint64_t>(first + usable[u]));
    std::copy(w.begin(), w.end(), windows.begin() + static_cast<std::ptrdiff_t>(u * k));
  }
  std::vector<std::string> reasons(n);
  std::vector<float> copies, computed;
  std::size_t offset = 0;  // of the operation's first copy among a chip's k
  for (std::size_t j = 0; j < spec.ops.size(); offset += static_cast<std::size_t>(spec.ops[j].copies()), ++j) {
    const features::FeatureChain& chain = *chains.of_op[j];
    const auto per = static_cast<std::size_t>(spec.ops[j].copies());
    const auto copy_plane = static_cast<std::size_t>(chain.rows()) * static_cast<std::size_t>(chain.cols());
    const std::size_t px = planes * copy_plane;
    const std::size_t m = usable.size() * per;
    copies.resize(m * px);
#pragma omp parallel for num_threads(threads > 0 ? threads : omp_get_max_threads()) schedule(static)
    for (long long q = 0; q < static_cast<long long>(m); ++q) {
      const std::size_t u = static_cast<std::size_t>(q) / per, c = static_cast<std::size_t>(q) % per;
      for (std::size_t j = 0; j < planes; ++j)
        features::extract_window(pixels + static_cast<std::size_t>(usable[u]) * chip_px + j * plane_px, rows, cols,
                                 windows[u * k + offset + c],
                                 copies.data() + static_cast<std::size_t>(q) * px + j * copy_plane);
    }
    computed.resize(m * raw_dim);
    const std::vector<std::string> why = chain.compute_batch(copies.data(), m, computed.data(), threads);
    for (std::size_t q = 0; q < m; ++q) {
      const std::size_t row = static_cast<std::size_t>(usable[q / per]) * k + offset + q % per;
      std::copy_n(computed.begin() + static_cast<std::ptrdiff_t>(q * raw_dim), raw_dim,
                  out.raw.begin() + static_cast<std::ptrdiff_t>(row * raw_dim));
      if (why[q].empty()) continue;
      out.flags[row] = static_cast<std::uint8_t>(io::RowFlag::unusable_chip);
      reasons[row] = "copy " + std::to_string(q % per + 1) + " of " + features::describe(spec.ops[j]) + ": " + why[q];
      ++out.failed;
    }
  }
  for (std::size_t row = 0; row < n; ++row) {
    if (out.flags[row] != static_cast<std::uint8_t>(io::RowFlag::unusable_chip)) continue;
    const std::int64_t src = out.source[row];
    out.flagged.push_back({slots + first * static_cast<std::int64_t>(k) + static_cast<std::int64_t>(row),
                           reasons[row].empty() ? "copy of row " + std::to_string(src) + ", an unusable chip"
                                                : reasons[row] + " (a copy of row " + std::to_string(src) + ")"});
  }
  return out;
}

// Acquisition shift: the valid chips of a batch of slots [first, first + count) perturbed in
// place (magnitude, and phase when given). Each chip alone, so the result does not depend on the
// threads or on how slots are split into batches and ranks. Every band of a chip gets the same
// draws (one acquisition); the outcome reported is the first band's. Returns per chip "" or why
// the perturbation refused it; counts what the speckle re-draw did into `summary`.
std::vector<std::string> perturb_chips(const features::AcquisitionShift& shift, int bands, float* pixels, float* phase,
                                       std::int64_t first, std::int64_t count, const std::vector<std::uint8_t>& valid,
                                       int threads, FeaturesSummary& summary) {
  const auto px = static_cast<std::size_t>(shift.rows()) * static_cast<std::size_t>(shift.cols());
  const auto stride = px * static_cast<std::size_t>(bands);
  std::vector<features::ShiftOutcome> outcomes(static_cast<std::size_t>(count));
  // Threads: the stage's count (--threads, else OMP_NUM_THREADS or cores per rank).
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (long long i = 0; i < static_cast<long long>(count); ++i) {
    const auto u = static_cast<std::size_t>(i);
    if (valid[u] == 0) continue;
    try {
      const auto index = static_cast<std::uint64_t>(first + i);
      outcomes[u] = shift.apply(pixels + u * stride, phase ? phase + u * px : nullptr, index);
      for (int b = 1; b < bands && outcomes[u].reason.empty(); ++b)
        outcomes[u].reason = shift.apply(pixels + u * stride + static_cast<std::size_t>(b) * px, nullptr, index).reason;
    } catch (const std::exception& e) {  // never out of the region: the chip is flagged instead
      outcomes[u].reason = std::string("shift validation: ") + e.what();
    }
  }
  std::vector<std::string> reasons;
  using Speckle = features::ShiftOutcome::Speckle;
  for (std::size_t u = 0; u < outcomes.size(); ++u) {
    reasons.push_back(outcomes[u].reason);
    if (valid[u] == 0 || !outcomes[u].reason.empty()) continue;
    summary.speckle_redrawn += outcomes[u].speckle == Speckle::redrawn ? 1 : 0;
    summary.speckle_no_phase += outcomes[u].speckle == Speckle::no_phase ? 1 : 0;
    summary.speckle_constant_phase += outcomes[u].speckle == Speckle::constant_phase ? 1 : 0;
    summary.speckle_whole_band += outcomes[u].speckle == Speckle::whole_band ? 1 : 0;
  }
  return reasons;
}

// Collective: the acquisition shift in the summary, its speckle counts summed over the ranks,
// and a warning when a speckle re-draw was asked for but left chips as they were.
void report_shift(const Comm& comm, const FeaturesConfig& cfg, const features::AcquisitionShiftSpec& spec,
                  bool has_phase, FeaturesSummary& s) {
  s.acquisition_shift = features::describe(spec);
  s.acquisition_shift_seed = cfg.acquisition_shift_seed;
  for (std::int64_t* n : {&s.speckle_redrawn, &s.speckle_no_phase, &s.speckle_constant_phase, &s.speckle_whole_band})
    *n = comm.sum(*n);
  const std::int64_t left = s.speckle_no_phase + s.speckle_constant_phase + s.speckle_whole_band;
  if (!spec.has(features::ShiftOp::Kind::speckle) || left == 0 || !comm.is_root()) return;
  if (!has_phase)
    log::warn("shift validation: the archive holds no phase, so speckle is not re-drawn (", left, " chips)");
  else
    log::warn("shift validation: speckle re-drawn on ", s.speckle_redrawn, " chips; left as they are: ",
              s.speckle_constant_phase, " with a constant phase (magnitude-only sources), ", s.speckle_whole_band,
              " whose spectrum fills the whole band");
}

// The archive bands the chain reads (0-based), found by name; a chain without planes reads band 1.
std::vector<int> chain_bands(const features::FeatureChain& chain, const io::ArchiveReader& archive) {
  if (chain.bands().empty()) return {0};
  std::vector<int> out;
  for (const std::string& name : chain.bands()) {
    const int index = archive.band_index(name);
    if (index >= 0) {
      out.push_back(index);
      continue;
    }
    std::string have;
    for (const auto& b : archive.layout().band_names) have += (have.empty() ? "" : ", ") + b;
    throw ConfigError("the feature chain reads band '" + name + "' but the archive " + archive.path().string() +
                      (have.empty() ? " has one unnamed band (name bands with ingest --bands / --band-names)"
                                    : " has the bands (" + have + ")"));
  }
  return out;
}

// Everything the output depends on: the archive as found (path, size, modification time, and
// the key of the inputs and options it was ingested from: another archive of the same size
// written within the file system's time resolution is still another archive), the chain, the
// PCA (options of a fit, or the model applied) and the augmentation.
std::string resume_key(const Comm& comm, const FeaturesConfig& cfg, const io::ArchiveReader& archive_file,
                       const features::FeatureChain& chain,
                       const std::map<std::string, std::vector<double>>& applied_pca,
                       const features::AugmentSpec& augment, const features::AcquisitionShiftSpec& shift) {
  std::string key;
  if (comm.is_root()) {
    io::h5::Fingerprint fp;
    fp.add("sarscale-features-1");
    std::error_code ec;
    const fs::path archive = fs::absolute(cfg.archive).lexically_normal();
    fp.add(archive.string()).add(static_cast<std::int64_t>(fs::file_size(archive, ec)));
    fp.add(static_cast<std::int64_t>(fs::last_write_time(archive, ec).time_since_epoch().count()));
    const auto& attributes = archive_file.attributes();
    const auto ingest_key = attributes.find(io::h5::kAttrResumeKey);
    fp.add(ingest_key == attributes.end() ? std::string() : ingest_key->second);
    fp.add(chain.description()).add(features::describe(augment)).add(cfg.fit_pca ? 1 : 0);
    if (cfg.fit_pca)
      fp.add(cfg.pca.components).add(static_cast<std::int64_t>(cfg.pca.explained_variance * 1e12)).add(cfg.pca.whiten ? 1 : 0);
    fp.add(features_fingerprint(chain.fingerprint(), applied_pca));
    if (!shift.empty())  // (files without one keep the keys they had)
      fp.add("acquisition-shift").add(features::describe(shift)).add(static_cast<std::int64_t>(cfg.acquisition_shift_seed));
    key = fp.hex();
  }
  comm.broadcast(key);
  return key;
}

// The summary of a run whose output was already complete for the same inputs and options.
FeaturesSummary up_to_date_summary(const Comm& comm, const fs::path& output) {
  FeaturesSummary s;
  s.up_to_date = true;
  s.output = output;
  const io::FeatureReader reader = io::FeatureReader::open(output, comm.raw());
  const io::FeatureLayout& l = reader.layout();
  s.rows = l.rows;
  s.resumed_chips = l.rows;
  s.dim = l.dim;
  s.raw_dim = l.raw_dim > 0 ? l.raw_dim : l.dim;
  s.chain = reader.attribute("chain");
  s.fingerprint = reader.attribute("fingerprint");
  const Range mine = block_range(static_cast<std::size_t>(l.total_rows()), comm.size(), comm.rank());
  const auto flags = reader.flags(static_cast<std::int64_t>(mine.begin), static_cast<std::int64_t>(mine.size()));
  std::int64_t invalid = 0, usable_copies = 0;
  for (std::size_t i = 0; i < flags.size(); ++i) {
    const bool slot = static_cast<std::int64_t>(mine.begin + i) < l.rows;
    if (slot) invalid += flags[i] == static_cast<std::uint8_t>(io::RowFlag::invalid_slot) ? 1 : 0;
    if (!slot) usable_copies += flags[i] == 0 ? 1 : 0;
  }
  s.invalid_slots = comm.sum(invalid);
  std::map<std::string, std::int64_t> by_reason;
  for (const auto& f : reader.flagged()) {
    if (f.row < l.rows) {
      ++s.flagged;
      ++by_reason[f.reason];
    } else {
      ++s.augmented_flagged;
    }
  }
  s.usable = s.rows - s.invalid_slots - s.flagged;
  s.flag_reasons.assign(by_reason.begin(), by_reason.end());
  if (l.augmented_rows > 0) {
    s.augment = reader.has_attribute("augment") ? reader.attribute("augment") : "";
    s.augmented_rows = l.augmented_rows;
    s.augmented_usable = comm.sum(usable_copies);
  }
  if (reader.has_attribute("acquisition_shift")) {
    s.acquisition_shift = reader.attribute("acquisition_shift");
    s.acquisition_shift_seed = std::stoull(reader.attribute("acquisition_shift_seed"));
  }
  if (reader.has_arrays(kPcaGroup)) {
    const features::PcaModel m = features::pca_from_arrays(reader.arrays(kPcaGroup));
    s.pca_components = m.n_components();
    for (double e : m.explained_variance_ratio) s.pca_explained += e;
  }
  return s;
}

}  // namespace

std::string archive_key(const std::filesystem::path& archive) {
  io::h5::Fingerprint fp;
  fp.add("sarscale-archive-key-1");
  std::error_code ec;
  const fs::path path = fs::absolute(archive).lexically_normal();
  fp.add(path.string()).add(static_cast<std::int64_t>(fs::file_size(path, ec)));
  fp.add(static_cast<std::int64_t>(fs::last_write_time(path, ec).time_since_epoch().count()));
  return fp.hex();
}

std::string features_fingerprint(const std::string& chain_fingerprint,
                                 const std::map<std::string, std::vector<double>>& pca_arrays) {
  if (pca_arrays.empty()) return chain_fingerprint;
  io::h5::Fingerprint fp;
  fp.add(chain_fingerprint);
  for (const auto& [name, values] : pca_arrays)
    fp.add(name).add(std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double)));
  return fp.hex();
}

ModelChain model_chain(const io::ModelFile& m, const std::filesystem::path& path) {
  if (m.chain.empty()) throw ConfigError("model " + path.string() + " carries no feature chain");
  const std::string damaged = "model " + path.string() + " is damaged or inconsistent: ";
  std::optional<features::FeatureChain> chain;
  try {
    chain.emplace(features::parse_chain_spec(m.chain));
  } catch (const ConfigError& e) {
    throw InputError(damaged + "its feature chain is not valid (" + e.what() + ")");
  }
  std::optional<features::PcaModel> pca;
  if (!m.pca.empty()) pca = features::pca_from_arrays(m.pca);  // InputError for a malformed one
  if (!m.fingerprint.empty() && features_fingerprint(chain->fingerprint(), m.pca) != m.fingerprint)
    throw InputError(damaged + "its fingerprint does not match its stored chain and PCA");
  const auto raw_dim = static_cast<int>(chain->length());
  if (pca && pca->dim != raw_dim)
    throw InputError(damaged + "its PCA expects " + std::to_string(pca->dim) + " features, its chain gives " +
                     std::to_string(raw_dim));
  const int dim = pca ? pca->n_components() : raw_dim;
  if (m.svm.dim != dim)
    throw InputError(damaged + "the SVM expects " + std::to_string(m.svm.dim) + " features, the chain" +
                     (pca ? " and PCA give " : " gives ") + std::to_string(dim));
  return ModelChain{std::move(*chain), std::move(pca)};
}

json::Value FeaturesSummary::to_json() const {
  json::Value v = json::Value::object();
  v["output"] = output.string();
  v["rows"] = rows;
  v["usable"] = usable;
  v["invalid_slots"] = invalid_slots;
  v["flagged"] = flagged;
  v["flag_reasons"] = json::Value::object();
  for (const auto& [reason, n] : flag_reasons) v["flag_reasons"][reason] = n;
  if (augmented_rows > 0) {
    v["augment"] = augment;
    v["augmented_rows"] = augmented_rows;
    v["augmented_usable"] = augmented_usable;
    v["augmented_flagged"] = augmented_flagged;
  }
  if (!acquisition_shift.empty()) {
    v["acquisition_shift"] = acquisition_shift;
    v["acquisition_shift_seed"] = acquisition_shift_seed;
    v["speckle"] = json::Value::object();
    v["speckle"]["redrawn"] = speckle_redrawn;
    v["speckle"]["no_phase"] = speckle_no_phase;
    v["speckle"]["constant_phase"] = speckle_constant_phase;
    v["speckle"]["whole_band"] = speckle_whole_band;
  }
  v["dim"] = dim;
  v["raw_dim"] = raw_dim;
  v["pca_components"] = pca_components;
  v["pca_explained"] = pca_explained;
  v["chain"] = chain;
  v["fingerprint"] = fingerprint;
  v["threads"] = threads;
  v["resumed_chips"] = resumed_chips;
  v["up_to_date"] = up_to_date;
  v["checkpoints"] = checkpoints;
  v["seconds"] = seconds;
  v["chips_per_s"] = seconds > 0 ? static_cast<double>(rows) / seconds : 0.0;
  v["phase_seconds"] = json::Value::object();
  for (const auto& [name, secs] : phase_seconds) v["phase_seconds"][name] = secs;
  return v;
}

FeaturesSummary run_features(const Comm& comm, const FeaturesConfig& cfg) {
  PhaseClock total, clock;
  double t_read = 0, t_compute = 0, t_write = 0, t_fit = 0, t_project = 0;
  if (cfg.fit_pca && cfg.pca_from) throw ConfigError("--fit-pca and --pca-from exclude each other");
  if (cfg.fit_pca) features::validate(cfg.pca);
  if (cfg.archive.empty()) throw ConfigError("--archive: no archive given");
  if (cfg.threads < 0) throw ConfigError("--threads must be 0 (default) or positive");

  const io::ArchiveReader archive = io::ArchiveReader::open(cfg.archive, comm.raw());
  const io::ArchiveLayout& al = archive.layout();

  std::optional<features::PcaModel> model;
  std::map<std::string, std::vector<double>> pca_arrays;
  std::string pca_chain;
  if (cfg.pca_from) {
    const io::FeatureReader source = io::FeatureReader::open(*cfg.pca_from, comm.raw());
    if (!source.has_arrays(kPcaGroup))
      throw ConfigError("--pca-from " + cfg.pca_from->string() +
                        ": the file holds no fitted PCA (write it with `sarscale features --fit-pca`)");
    pca_arrays = source.arrays(kPcaGroup);
    model = features::pca_from_arrays(pca_arrays);
    pca_chain = source.attribute("chain");
  } else if (cfg.stored_chain) {
    pca_chain = *cfg.stored_chain;
    if (!cfg.stored_pca.empty()) {
      pca_arrays = cfg.stored_pca;
      model = features::pca_from_arrays(pca_arrays);
    }
  }
  if (cfg.stored_chain && (cfg.pca_from || cfg.fit_pca))
    throw ConfigError("a stored chain excludes --pca-from and --fit-pca");
  const features::FeatureChain chain(
      choose_chain(cfg, al, pca_chain, cfg.pca_from ? cfg.pca_from->string() : cfg.stored_source));
  const auto raw_dim = static_cast<std::int64_t>(chain.length());
  const std::vector<int> bands = chain_bands(chain, archive);
  if (model && model->dim != raw_dim)
    throw InputError("--pca-from: the stored PCA expects " + std::to_string(model->dim) +
                     " features, the chain gives " + std::to_string(raw_dim));

  if (cfg.fit_pca && raw_dim > kMaxPcaDim)
    throw ConfigError("--fit-pca: the chain gives " + std::to_string(raw_dim) + " features; PCA is limited to " +
                      std::to_string(kMaxPcaDim) +
                      " (its covariance needs dim^2 doubles per rank and an O(dim^3) "
                      "eigen-decomposition); use coarser blocks, e.g. hog(cell=16, block=2), or a crop");
  // Augmentation, checked against the chips and the chain before any work.
  const features::AugmentSpec augment = features::parse_augment(cfg.augment);
  features::validate(augment, al.rows, al.cols);
  const CopyChains copy_chain = copy_chains(augment, chain);
  const std::int64_t copies = augment.copies();
  // Acquisition shift, checked against the chips before any work; phase is read for speckle.
  const features::AcquisitionShiftSpec shift_spec = features::parse_acquisition_shift(cfg.acquisition_shift);
  if (!shift_spec.empty() && copies > 0) throw ConfigError("an acquisition shift and --augment exclude each other");
  std::unique_ptr<const features::AcquisitionShift> shift;
  if (!shift_spec.empty())
    shift = std::make_unique<const features::AcquisitionShift>(shift_spec, cfg.acquisition_shift_seed, al.rows, al.cols);
  const bool read_phase =
      shift && shift_spec.has(features::ShiftOp::Kind::speckle) && al.has_phase && bands == std::vector<int>{0};
  const fs::path output =
      cfg.output.empty() ? cfg.archive.parent_path() / (cfg.archive.stem().string() + ".features.h5") : cfg.output;
  std::vector<io::RunInput> inputs = {{cfg.archive, "--archive", false}};
  if (cfg.pca_from) inputs.push_back({*cfg.pca_from, "--pca-from", false});
  const OutputGuard guard = OutputGuard::claim(
      comm, {{output, "--output", io::hdf5_kind("sarscale feature file", io::kFeatureFormatName), true}}, inputs,
      cfg.overwrite, cfg.command_line);
  {
    std::error_code ec;
    if (comm.is_root() && !output.parent_path().empty()) fs::create_directories(output.parent_path(), ec);
  }

  const bool pca = cfg.fit_pca || model.has_value();
  io::FeatureLayout fl;
  fl.rows = al.chips;
  fl.augmented_rows = al.chips * copies;
  fl.class_names = al.class_names;
  if (!pca) {
    fl.dim = raw_dim;
    fl.blocks = to_blocks(chain.layout());
  } else {
    fl.raw_dim = raw_dim;
    fl.raw_blocks = to_blocks(chain.layout());
    if (model) {
      fl.dim = model->n_components();
      fl.blocks = {pca_block(*model)};
    }
  }
  const std::string key = resume_key(comm, cfg, archive, chain, pca_arrays, augment, shift_spec);
  OutputPlan todo =
      plan_output(comm, output, io::kFeatureFormatName, key, cfg.fresh, cfg.refuse_changed, "feature file");
  if (todo == OutputPlan::up_to_date) {
    // "Up to date" only from a file that reads: one that does not is computed again.
    std::string problem;
    FeaturesSummary done;
    try {
      done = up_to_date_summary(comm, output);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!comm.any(!problem.empty())) {
      done.threads = cfg.threads > 0 ? cfg.threads : omp_get_max_threads();
      done.seconds = comm.max(total.lap());
      return done;
    }
    if (comm.is_root()) log::warn(output.string(), " cannot be read (", problem, "): it is computed again");
    todo = OutputPlan::create;
  }
  const bool resuming = todo == OutputPlan::resume;
  // Written under its in-progress name and renamed when complete (as ingest's archive).
  const fs::path output_part = io::partial_path(output);
  io::FeatureWriter writer = resuming ? io::FeatureWriter::resume(output_part, comm.raw(), fl)
                                      : io::FeatureWriter::create(output_part, comm.raw(), fl, key);
  const std::vector<std::uint8_t>& done = writer.done_slots();
  std::int64_t resumed_chips = 0;
  if (resuming) {
    for (auto d : done) resumed_chips += d;
    if (comm.is_root())
      log::info("resuming ", output.string(), ": ", resumed_chips, " of ", al.chips,
                " chips were computed by an earlier run");
  }
  CheckpointTimer checkpoint_timer(comm, cfg.checkpoint_seconds);
  std::int64_t checkpoints = 0;
  const double t_open = clock.lap();

  const Range mine = block_range(static_cast<std::size_t>(al.chips), comm.size(), comm.rank());
  // Pixels per chip as the chain reads it: every plane it takes from the archive.
  const std::int64_t chip_px = static_cast<std::int64_t>(bands.size()) * al.rows * al.cols;
  // A chip's copies are in memory with it: about the same bytes per batch with augmentation.
  std::int64_t batch = cfg.batch_chips > 0 ? cfg.batch_chips
                                           : std::max<std::int64_t>(1, kBatchPixelBytes / (chip_px * 4 * (1 + copies + (read_phase ? 1 : 0))));
  // Whole chunks per read when a batch spans several: each chunk is then read once.
  if (batch > archive.chunk_chips() && archive.chunk_chips() > 0) batch -= batch % archive.chunk_chips();
  const auto my_count = static_cast<std::int64_t>(mine.size());
  const std::int64_t rounds = comm.max((my_count + batch - 1) / batch);
  const int threads = cfg.threads > 0 ? cfg.threads : omp_get_max_threads();

  std::vector<float> pixels, phase, raw, projected;
  FeaturesSummary summary;
  std::vector<std::int32_t> my_labels(static_cast<std::size_t>(my_count));
  std::vector<std::uint8_t> my_flags(static_cast<std::size_t>(my_count));
  std::vector<io::FlaggedRow> my_flagged;
  // This rank's augmented rows: those of its slots, [N + mine.begin * K, N + mine.end * K).
  std::vector<std::int32_t> my_copy_labels(static_cast<std::size_t>(my_count * copies));
  std::vector<std::uint8_t> my_copy_flags(static_cast<std::size_t>(my_count * copies));
  std::vector<io::FlaggedRow> my_copy_flagged;
  std::int64_t my_copies_failed = 0;
  const auto copy_row = [&](std::int64_t slot) { return al.chips + slot * copies; };
  // Only a fit needs the dim x dim co-moments (a HOG of 128x128 chips alone has ~16,000 columns).
  features::Moments moments = cfg.fit_pca ? features::Moments(static_cast<int>(raw_dim)) : features::Moments();
  Progress progress(comm, cfg.progress || (comm.is_root() && isatty(STDERR_FILENO)), al.chips);

  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t offset = std::min(my_count, r * batch);
    const std::int64_t first = static_cast<std::int64_t>(mine.begin) + offset;
    const std::int64_t batch_count = std::min(batch, my_count - offset);
    // A batch an earlier run finished is read back, not computed, unless it holds a chip whose
    // features failed (computed again for the reason, which the progress record does not keep).
    // When resuming (a verdict every rank shares) every rank makes the same collective calls,
    // with 0 rows where they do not apply.
    bool kept = false;
    if (resuming) {
      kept = batch_count > 0 && std::all_of(done.begin() + first, done.begin() + first + batch_count,
                                            [](auto d) { return d != 0; });
      const std::int64_t kc = kept ? batch_count : 0;
      writer.read_labels_flags(first, kc, my_labels.data() + offset, my_flags.data() + offset);
      writer.read_labels_flags(copy_row(first), kc * copies, my_copy_labels.data() + offset * copies,
                               my_copy_flags.data() + offset * copies);
      const auto unusable = [](std::uint8_t f) { return f == static_cast<std::uint8_t>(io::RowFlag::unusable_chip); };
      kept = kept && std::none_of(my_flags.begin() + offset, my_flags.begin() + offset + kc, unusable) &&
             std::none_of(my_copy_flags.begin() + offset * copies, my_copy_flags.begin() + (offset + kc) * copies,
                          unusable);
      if (cfg.fit_pca) {  // the moments of kept rows, from the raw rows on disk (same values, same order)
        const std::int64_t n = kept ? batch_count : 0;
        raw.resize(static_cast<std::size_t>(n * raw_dim));
        writer.read_raw_rows(first, n, raw.data());
        moments.add_rows(raw.data(), static_cast<std::size_t>(n), static_cast<int>(raw_dim), my_flags.data() + offset);
      }
      if (kept) writer.keep_slots(batch_count);
    }
    const std::int64_t count = kept ? 0 : batch_count;
    pixels.resize(static_cast<std::size_t>(count * chip_px));
    phase.resize(static_cast<std::size_t>(read_phase ? count * chip_px : 0));
    if (read_phase)  // one band, the first: magnitude and phase in one read
      archive.read_chips(first, count, pixels.data(), phase.data());
    else
      archive.read_bands(first, count, bands, pixels.data());
    const std::vector<std::uint8_t> valid = archive.valid(first, count);
    const std::vector<std::int32_t> labels = archive.labels(first, count);
    t_read += clock.lap();
    const std::string chips_of = "chips [" + std::to_string(first) + ", " + std::to_string(first + count) + ") of " +
                                 cfg.archive.string();
    std::vector<std::string> refused;  // by the acquisition shift
    std::vector<std::string> reasons;
    comm.agree_on([&] {
      try {
        if (shift)
          refused = perturb_chips(*shift, static_cast<int>(bands.size()), pixels.data(),
                                  read_phase ? phase.data() : nullptr, first, count, valid, threads, summary);
        raw.resize(static_cast<std::size_t>(count * raw_dim));
        reasons = chain.compute_batch(pixels.data(), static_cast<std::size_t>(count), raw.data(), threads);
      } catch (...) {
        rethrow_with_context("features of " + chips_of);
      }
    });
    for (std::size_t i = 0; i < refused.size(); ++i)
      if (!refused[i].empty()) reasons[i] = refused[i];
    for (std::int64_t i = 0; i < count; ++i) {
      const auto li = static_cast<std::size_t>(offset + i);
      my_labels[li] = labels[static_cast<std::size_t>(i)];
      std::uint8_t flag = 0;
      if (valid[static_cast<std::size_t>(i)] == 0) {
        flag = static_cast<std::uint8_t>(io::RowFlag::invalid_slot);
      } else if (!reasons[static_cast<std::size_t>(i)].empty()) {
        flag = static_cast<std::uint8_t>(io::RowFlag::unusable_chip);
        my_flagged.push_back({first + i, reasons[static_cast<std::size_t>(i)]});
      }
      if (flag != 0) std::fill_n(raw.data() + i * raw_dim, raw_dim, 0.0f);
      my_flags[li] = flag;
    }
    if (cfg.fit_pca)
      moments.add_rows(raw.data(), static_cast<std::size_t>(count), static_cast<int>(raw_dim),
                       my_flags.data() + offset);
    if (model) {
      projected.resize(static_cast<std::size_t>(count * model->n_components()));
      project(*model, raw.data(), count, my_flags.data() + offset, projected.data());
    }
    CopyRows copy;
    if (copies > 0) {
      comm.agree_on([&] {
        try {
          copy = compute_copies(augment, copy_chain, pixels.data(), al.rows, al.cols, al.chips, first, count,
                                my_labels.data() + offset, my_flags.data() + offset,
                                static_cast<std::size_t>(raw_dim), threads);
        } catch (...) {
          rethrow_with_context("augmented copies of " + chips_of);
        }
      });
      std::copy(copy.labels.begin(), copy.labels.end(), my_copy_labels.begin() + offset * copies);
      std::copy(copy.flags.begin(), copy.flags.end(), my_copy_flags.begin() + offset * copies);
      my_copy_flagged.insert(my_copy_flagged.end(), copy.flagged.begin(), copy.flagged.end());
      my_copies_failed += copy.failed;
      if (model) {
        projected.resize(static_cast<std::size_t>(count * (1 + copies) * model->n_components()));
        project(*model, copy.raw.data(), count * copies, copy.flags.data(),
                projected.data() + count * model->n_components());
      }
    }
    t_compute += clock.lap();

    if (!pca)
      writer.write_rows(first, count, raw.data(), nullptr, my_labels.data() + offset, my_flags.data() + offset);
    else if (model)
      writer.write_rows(first, count, projected.data(), raw.data(), my_labels.data() + offset,
                        my_flags.data() + offset);
    else
      writer.write_raw_rows(first, count, raw.data(), my_labels.data() + offset, my_flags.data() + offset);
    if (copies > 0) {  // every rank calls these collectives each round, with 0 rows when it has none
      const std::int64_t n = count * copies;
      if (!pca)
        writer.write_rows(copy_row(first), n, copy.raw.data(), nullptr, copy.labels.data(), copy.flags.data());
      else if (model)
        writer.write_rows(copy_row(first), n, projected.data() + count * model->n_components(), copy.raw.data(),
                          copy.labels.data(), copy.flags.data());
      else
        writer.write_raw_rows(copy_row(first), n, copy.raw.data(), copy.labels.data(), copy.flags.data());
      writer.write_source_rows(copy_row(first), n, copy.source.data());
    }
    if (checkpoint_timer.due()) {
      writer.checkpoint();
      checkpoint_timer.reset();
      ++checkpoints;
      if (comm.is_root()) log::info("checkpoint: chips up to round ", r + 1, " of ", rounds, " are on disk");
    }
    t_write += clock.lap();
    progress.update(batch_count, static_cast<std::uint64_t>((offset + batch_count) * chip_px * 4));
  }
  progress.finish();

  if (cfg.fit_pca) {
    const features::PcaModel fitted = fit_pca(comm, moments, cfg.pca);  // same verdict on every rank
    pca_arrays = features::pca_to_arrays(fitted);
    model = fitted;
    writer.define_features(fitted.n_components(), {pca_block(fitted)});
    t_fit += clock.lap();
    // Second pass: this rank's raw rows back from the file, projected batch by batch.
    for (std::int64_t r = 0; r < rounds; ++r) {
      const std::int64_t offset = std::min(my_count, r * batch);
      const std::int64_t first = static_cast<std::int64_t>(mine.begin) + offset;
      const std::int64_t count = std::min(batch, my_count - offset);
      raw.resize(static_cast<std::size_t>(count * raw_dim));
      writer.read_raw_rows(first, count, raw.data());
      projected.resize(static_cast<std::size_t>(count * fitted.n_components()));
      project(fitted, raw.data(), count, my_flags.data() + offset, projected.data());
      writer.write_features(first, count, projected.data(), my_labels.data() + offset, my_flags.data() + offset);
      if (copies == 0) continue;
      // The copies of these chips, projected with the model fitted on the originals alone.
      const std::int64_t n = count * copies;
      raw.resize(static_cast<std::size_t>(n * raw_dim));
      writer.read_raw_rows(copy_row(first), n, raw.data());
      projected.resize(static_cast<std::size_t>(n * fitted.n_components()));
      project(fitted, raw.data(), n, my_copy_flags.data() + offset * copies, projected.data());
      writer.write_features(copy_row(first), n, projected.data(), my_copy_labels.data() + offset * copies,
                            my_copy_flags.data() + offset * copies);
    }
    t_project += clock.lap();
  }

  // The flagged table, in row order (ranks hold consecutive ranges).
  std::vector<std::int64_t> rows_local;
  std::vector<std::string> reasons_local;
  for (const auto& f : my_flagged) {
    rows_local.push_back(f.row);
    reasons_local.push_back(f.reason);
  }
  const std::vector<std::int64_t> rows_all = comm.allgatherv(rows_local);
  const std::vector<std::string> reasons_all = comm.allgather_strings(reasons_local);
  std::vector<io::FlaggedRow> flagged;
  std::map<std::string, std::int64_t> by_reason;
  for (std::size_t i = 0; i < rows_all.size(); ++i) {
    flagged.push_back({rows_all[i], reasons_all[i]});
    ++by_reason[reasons_all[i]];
  }
  const std::int64_t flagged_slots = static_cast<std::int64_t>(flagged.size());
  if (copies > 0) {  // then the augmented rows' entries, also in row order
    rows_local.clear();
    reasons_local.clear();
    for (const auto& f : my_copy_flagged) {
      rows_local.push_back(f.row);
      reasons_local.push_back(f.reason);
    }
    const std::vector<std::int64_t> copy_rows = comm.allgatherv(rows_local);
    const std::vector<std::string> copy_reasons = comm.allgather_strings(reasons_local);
    for (std::size_t i = 0; i < copy_rows.size(); ++i) flagged.push_back({copy_rows[i], copy_reasons[i]});
  }
  writer.write_flagged(flagged);
  if (model) writer.write_arrays(kPcaGroup, pca_arrays);
  writer.set_attribute("chain", chain.description());
  writer.set_attribute("chain_fingerprint", chain.fingerprint());
  writer.set_attribute("fingerprint", features_fingerprint(chain.fingerprint(), pca_arrays));
  writer.set_attribute("archive", fs::absolute(cfg.archive).lexically_normal().string());
  std::string identity = comm.is_root() ? archive_key(cfg.archive) : std::string();
  comm.broadcast(identity);
  writer.set_attribute("archive_key", identity);
  if (shift) {
    writer.set_attribute("acquisition_shift", features::describe(shift_spec));
    writer.set_attribute("acquisition_shift_seed", std::to_string(cfg.acquisition_shift_seed));
  }
  if (cfg.pca_from) writer.set_attribute("pca_from", fs::absolute(*cfg.pca_from).lexically_normal().string());
  if (copies > 0) {
    writer.set_attribute("augment", features::describe(augment));
    writer.set_attribute("augment_copies", std::to_string(copies));
  }
  if (!cfg.command_line.empty()) writer.set_attribute("command_line", cfg.command_line);
  std::string params;
  for (const auto& p : cfg.parameters) params += p + "\n";
  if (!params.empty()) writer.set_attribute("parameters", params);
  writer.close();
  commit_output(comm, output_part, output);

  std::int64_t invalid = 0;
  for (const auto f : my_flags) invalid += f == static_cast<std::uint8_t>(io::RowFlag::invalid_slot) ? 1 : 0;
  summary.output = output;
  summary.rows = al.chips;
  summary.invalid_slots = comm.sum(invalid);
  summary.flagged = flagged_slots;
  if (copies > 0) {
    std::int64_t usable_copies = 0;
    for (const auto f : my_copy_flags) usable_copies += f == 0 ? 1 : 0;
    summary.augment = features::describe(augment);
    summary.augmented_rows = fl.augmented_rows;
    summary.augmented_usable = comm.sum(usable_copies);
    summary.augmented_flagged = comm.sum(my_copies_failed);
  }
  summary.usable = summary.rows - summary.invalid_slots - summary.flagged;
  summary.flag_reasons.assign(by_reason.begin(), by_reason.end());
  std::stable_sort(summary.flag_reasons.begin(), summary.flag_reasons.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (shift) report_shift(comm, cfg, shift_spec, al.has_phase, summary);
  summary.raw_dim = raw_dim;
  summary.dim = model ? model->n_components() : raw_dim;
  summary.chain = chain.description();
  summary.fingerprint = features_fingerprint(chain.fingerprint(), pca_arrays);
  if (model) {
    summary.pca_components = model->n_components();
    for (double e : model->explained_variance_ratio) summary.pca_explained += e;
  }
  summary.threads = threads;
  summary.resumed_chips = resumed_chips;
  summary.checkpoints = checkpoints;
  const double t_finish = clock.lap();
  summary.seconds = comm.max(total.lap());
  summary.phase_seconds = {{"open", comm.max(t_open)},    {"read", comm.max(t_read)}, {"compute", comm.max(t_compute)},
                           {"write", comm.max(t_write)},  {"fit", comm.max(t_fit)},   {"project", comm.max(t_project)},
                           {"finish", comm.max(t_finish)}};
  return summary;
}

}  // namespace sarscale::dist
