#pragma once
// The features stage: an archive's chips into one feature vector per chip slot, written by all
// ranks into one feature file (io/feature_file.hpp).
//
// Plan, identical for any rank count:
//  1. every rank opens the archive; the chain is built from the configuration (or adopted from
//     the --pca-from file) and checked against the archive's chip size;
//  2. slots are split into contiguous, equal ranges (dist/partition.hpp); each rank reads its
//     range in batches (collective reads, one batch in memory at a time) and computes the
//     chain with OpenMP over chips (features::FeatureChain::compute_batch);
//  3. rows are written collectively; slots the archive marks invalid and chips that give no
//     usable features are flagged (reason in the /flagged table) and excluded from fitting;
//  4. --fit-pca: per-rank moments of the usable rows are merged in rank order (dist/pca.hpp),
//     every rank fits the same model, and a second pass projects the stored raw rows;
//     --pca-from: the stored model of another feature file is applied in the first pass.
//  4b. checkpoints record finished slots (/progress/done) under a key of the archive (path,
//     size, modification time), the chain and the options: a rerun of a killed run computes
//     only what is not done (at any rank count), a rerun of a finished one does nothing.
//  5. --augment (features/augment.hpp): each rank also makes the K copies of each chip of its
//     batch and computes them with the chain (crops with the chain for their size, checked up
//     front to give the same layout). Rows [0, N) stay the archive's N slots exactly as without
//     augmentation; copy k of slot s is row N + s*K + k, with /source_row = s, its label, and its
//     source's flag (copies of unusable chips and invalid slots are not computed; a copy whose own
//     features fail is flagged with its reason). The PCA is fitted on rows [0, N) only and
//     applied to every row.
//  6. acquisition shift (features/acquisition_shift.hpp; train's shifted validation): every
//     valid chip is perturbed as a new acquisition would be, seeded by its slot, before the chain
//     (with its phase when the archive has one and the spec re-draws speckle); a chip the
//     perturbation refuses is flagged with the reason. Not with augmentation.
// Per-chip features are bitwise identical for any rank and thread count (augmented rows too:
// a copy depends only on the chip and its slot; perturbed chips too); a fitted PCA differs
// between rank counts only by rounding in the merge of moments.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/pca.hpp"
#include "sarscale/io/model_file.hpp"

namespace sarscale::dist {

struct FeaturesConfig {
  std::filesystem::path archive;
  std::filesystem::path output;  // empty: beside the archive, <stem>.features.h5
  // The chain (features/chain.hpp, features/preprocess.hpp). Unset: the defaults below, or,
  // with --pca-from, the chain stored in that file.
  std::optional<std::string> planes;  // multi-band chips: features/planes.hpp ("" or unset: band 1)
  std::optional<std::string> preprocess;
  std::optional<std::string> blocks;
  bool fit_pca = false;
  std::optional<std::filesystem::path> pca_from;
  // Or the chain and fitted PCA given directly (e.g. from a model file, to compute a test set's
  // features exactly as the training set's): `stored_chain` is a whole-chain text
  // (features/chain.hpp); `stored_pca` may be empty (no PCA).
  std::optional<std::string> stored_chain;
  std::map<std::string, std::vector<double>> stored_pca;
  std::string stored_source;  // where they come from, for messages
  features::PcaOptions pca;
  std::string augment;           // training-set augmentation (features/augment.hpp); "" = none
  // Acquisition shift (features/acquisition_shift.hpp) applied to every chip before the chain,
  // "" or "none" = none, and the seed of its draws.
  std::string acquisition_shift;
  std::uint64_t acquisition_shift_seed = 1;
  int threads = 0;               // OpenMP threads per rank (0: omp_get_max_threads())
  std::int64_t batch_chips = 0;  // chips per rank per collective round (0: about 64 MiB of pixels)
  bool progress = false;
  // Resuming, as for ingest (dist/ingest.hpp): slots recorded as done at most every
  // checkpoint_seconds; an existing output from the same archive, chain and options is resumed
  // or, when complete, left as it is; one from others is replaced, or refused with refuse_changed.
  double checkpoint_seconds = 30;
  bool refuse_changed = false;
  bool fresh = false;
  // The output policy (io/output_policy.hpp): an existing output that is not a sarscale feature
  // file is refused unless overwrite; the file is written as OUTPUT.part and renamed when complete.
  bool overwrite = false;
  std::string command_line;
  std::vector<std::string> parameters;
};

// The chain used when a configuration names none: dB magnitudes, HOG and statistics.
inline constexpr const char* kDefaultPreprocess = "db";
inline constexpr const char* kDefaultBlocks = "hog; stats";

struct FeaturesSummary {
  std::filesystem::path output;
  std::int64_t rows = 0;  // archive slots
  std::int64_t usable = 0;
  std::int64_t invalid_slots = 0;
  std::int64_t flagged = 0;                                        // unusable chips (not counting invalid slots)
  std::vector<std::pair<std::string, std::int64_t>> flag_reasons;  // reason -> count, most frequent first
  std::string augment;                                             // canonical spec ("" = none)
  std::int64_t augmented_rows = 0;                                 // rows after the slots: rows * copies per chip
  std::int64_t augmented_usable = 0;                               // of them, flag 0
  std::int64_t augmented_flagged = 0;  // copies of usable chips whose own features failed (flag 2)
  // With an acquisition shift: its canonical spec and seed, and what its speckle re-draw did to
  // the chips computed by this run (features/acquisition_shift.hpp, ShiftOutcome::Speckle).
  std::string acquisition_shift;
  std::uint64_t acquisition_shift_seed = 0;
  std::int64_t speckle_redrawn = 0, speckle_no_phase = 0, speckle_constant_phase = 0, speckle_whole_band = 0;
  std::int64_t dim = 0;                // columns of /features
  std::int64_t raw_dim = 0;            // columns of the chain's output
  std::string chain;
  std::string fingerprint;
  int pca_components = 0;
  double pca_explained = 0;  // fraction of variance kept
  int threads = 0;
  std::int64_t resumed_chips = 0;  // slots an earlier, interrupted run computed, kept
  bool up_to_date = false;         // the output was already complete for these inputs: nothing done
  std::int64_t checkpoints = 0;
  double seconds = 0;
  // Slowest rank's wall time per phase: open, read, compute, write, fit, project, finish.
  std::vector<std::pair<std::string, double>> phase_seconds;

  json::Value to_json() const;
};

// Collective over `comm`. ConfigError for bad options or a chain that does not fit the archive,
// InputError for unreadable inputs (or nothing usable to fit on), IoError when writing fails.
FeaturesSummary run_features(const Comm& comm, const FeaturesConfig& config);

// A key of an archive as found on disk (absolute path, size, modification time), recorded in
// every feature file as `archive_key`, so that a reader can check that the archive the file
// names is still the one its rows were computed from. Local (no MPI).
std::string archive_key(const std::filesystem::path& archive);

// The fingerprint that train/evaluate/predict compare: the chain's, combined with the PCA
// model's arrays when one is applied ("" model: none).
std::string features_fingerprint(const std::string& chain_fingerprint,
                                 const std::map<std::string, std::vector<double>>& pca_arrays);

// A model's feature chain and PCA, rebuilt from its file and checked against each other and its
// SVM before any feature is computed with them: the stored fingerprint matches the chain and
// PCA, the PCA takes the chain's length, the SVM the chain's (or the PCA's) output. InputError
// naming the model as damaged or inconsistent otherwise, so that a damaged model is never blamed
// on the features computed with it. `model` must carry a chain (ConfigError otherwise).
struct ModelChain {
  features::FeatureChain chain;
  std::optional<features::PcaModel> pca;
};
ModelChain model_chain(const io::ModelFile& model, const std::filesystem::path& path);

}  // namespace sarscale::dist
