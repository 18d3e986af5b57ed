#pragma once
// The feature file: one parallel HDF5 file holding a feature vector per chip slot of an
// archive, the chain that computed them, and the fitted standardisation/PCA, written
// collectively by N ranks (format: docs/feature-format.md). With training-set augmentation,
// augmented rows follow the slots' rows, each naming the slot it was made from; readers that
// want one row per slot (evaluate, predict) read rows [0, layout().rows) and never see them. `train`, `evaluate` and
// `predict` read it and compare its fingerprint, so a model is never applied to features
// computed differently.
//
// Collective methods must be called by every rank of the communicator in the same order;
// arguments that must agree across ranks are checked, so a mismatch throws everywhere.
#include <mpi.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sarscale/io/archive.hpp"

namespace sarscale::io {

// The newest version read and written. Version 2 adds augmented rows (/source_row); a file
// without them is still written as version 1, so older readers keep reading it.
inline constexpr int kFeatureFormatVersion = 2;
inline constexpr const char* kFeatureFormatName = "sarscale-features";

// Row flags: why a row must not be used (0 = usable).
enum class RowFlag : std::uint8_t {
  usable = 0,
  invalid_slot = 1,  // the archive slot has valid=0 (its input was rejected while being read)
  unusable_chip = 2  // the chip gave no usable features (constant, NaN, no target...): see /flagged
};

// A contiguous range of columns and what computed it.
struct FeatureBlock {
  std::string name;
  std::int64_t offset = 0;
  std::int64_t length = 0;
  std::string params;  // canonical parameter text
  bool operator==(const FeatureBlock&) const = default;
};

struct FeatureLayout {
  std::int64_t rows = 0;                 // N: one per archive slot, in archive order
  std::int64_t augmented_rows = 0;       // A: rows [N, N + A) are augmented copies (see /source_row)
  std::int64_t dim = 0;                  // D: columns of /features (0 at creation: define_features later)
  std::vector<FeatureBlock> blocks;      // columns of /features, covering [0, D)
  std::int64_t raw_dim = 0;              // > 0: /raw_features [N, raw_dim] exists (pre-PCA vectors)
  std::vector<FeatureBlock> raw_blocks;  // columns of /raw_features
  std::vector<std::string> class_names;  // label k names class_names[k]; -1 = unlabelled
  std::int64_t total_rows() const { return rows + augmented_rows; }  // rows of every per-row dataset
};

// One unusable row and why.
struct FlaggedRow {
  std::int64_t row = 0;
  std::string reason;
  bool operator==(const FlaggedRow&) const = default;
};

// The root 'format' attribute of a sarscale HDF5 file ("sarscale-archive",
// "sarscale-features", ...), "" when the file is not HDF5, has none, or is too damaged to tell
// (a sniff: never throws; the reader of the file then says what is wrong). Local (one process).
std::string file_format(const std::filesystem::path& path);
// A text attribute of the file's root group ("" when the file, or the attribute, is not there).
std::string root_attribute(const std::filesystem::path& path, const std::string& name);
// True when `path` is a regular file that starts like an HDF5 file (damaged or not). Never throws.
bool is_hdf5_file(const std::filesystem::path& path) noexcept;
// What a file of that 'format' is, for messages: "a sarscale chip archive", "a sarscale feature
// file", "a sarscale model file", "a sarscale training checkpoint", or for "" "an HDF5 file
// without a sarscale 'format' attribute".
std::string describe_format(const std::string& format);

class FeatureWriter {
 public:
  // Collective. Creates (truncates) the file and pre-allocates its datasets. ConfigError for
  // an inconsistent layout (blocks not covering the columns, different on some rank),
  // IoError when the file cannot be created.
  // `resume_key` (may be empty) identifies the inputs and options the file is computed from.
  static FeatureWriter create(const std::filesystem::path& path, MPI_Comm comm, const FeatureLayout& layout,
                              const std::string& resume_key = {});
  // Collective. Reopens an incomplete file that create() began with the same layout (a killed
  // run), keeping the slots its progress record lists as done; what a killed run wrote last
  // (the flagged table, arrays) is dropped. InputError when it is not such a file.
  static FeatureWriter resume(const std::filesystem::path& path, MPI_Comm comm, const FeatureLayout& layout);
  FeatureWriter(FeatureWriter&&) noexcept;
  FeatureWriter& operator=(FeatureWriter&&) noexcept;
  FeatureWriter(const FeatureWriter&) = delete;
  FeatureWriter& operator=(const FeatureWriter&) = delete;
  ~FeatureWriter();  // collective; without close() the file stays marked incomplete

  const FeatureLayout& layout() const;
  std::int64_t chunk_rows() const;  // rows per chunk of /features
  // After resume(): one byte per slot, 1 when an earlier run wrote the slot's row and its
  // augmented rows durably (first pass). Empty after create().
  const std::vector<std::uint8_t>& done_slots() const;
  // Collective: flushes what was written, then records the slots written so far as done.
  void checkpoint();
  // Slots (with their augmented rows) an earlier run wrote, kept by this one after resume():
  // they count as written at close.
  void keep_slots(std::int64_t count);
  // Collective: labels and flags of rows [first, first+count) as written earlier.
  void read_labels_flags(std::int64_t first, std::int64_t count, std::int32_t* labels, std::uint8_t* flags) const;

  // Row arguments below range over [0, layout.total_rows()): slots, then augmented rows.
  // Collective, any count per rank (0 included). Rows [first, first+count): features hold
  // count*dim floats, raw_or_null count*raw_dim (must be given exactly when raw_dim > 0 and
  // this call writes raw rows), labels and flags count values each. Each row must be written
  // exactly once over the run (checked at close), by one rank.
  void write_rows(std::int64_t first, std::int64_t count, const float* features, const float* raw_or_null,
                  const std::int32_t* labels, const std::uint8_t* flags);
  // Collective: only /raw_features rows, with their labels and flags (first pass of a PCA
  // fit), then later write_features.
  void write_raw_rows(std::int64_t first, std::int64_t count, const float* raw, const std::int32_t* labels,
                      const std::uint8_t* flags);
  // Collective: reads back raw rows written earlier by this rank (second pass of a PCA fit).
  void read_raw_rows(std::int64_t first, std::int64_t count, float* raw) const;
  // Collective, once, when the layout was created with dim 0 (the PCA's size is known only
  // after a first pass over the raw rows): creates /features with its block description.
  void define_features(std::int64_t dim, const std::vector<FeatureBlock>& blocks);
  // Collective: /features, /label and /flag rows (after write_raw_rows).
  void write_features(std::int64_t first, std::int64_t count, const float* features, const std::int32_t* labels,
                      const std::uint8_t* flags);

  // Collective: the slot each augmented row [first, first+count) was made from (first >= rows).
  // Every augmented row must get one exactly once (checked at close).
  void write_source_rows(std::int64_t first, std::int64_t count, const std::int64_t* source);
  // Collective, the same complete table on every rank, sorted by row.
  void write_flagged(const std::vector<FlaggedRow>& flagged);
  // Collective, same values on every rank: a group of 1-D float64 arrays (e.g. "pca").
  void write_arrays(const std::string& group, const std::map<std::string, std::vector<double>>& arrays);
  // Collective, same values on every rank: string attribute on the root group ("chain",
  // "fingerprint", "archive", "command_line"...). Format names are refused.
  void set_attribute(const std::string& name, const std::string& value);
  // Collective: flushes, checks every row was written, then marks the file complete.
  void close();

 private:
  struct State;
  explicit FeatureWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class FeatureReader {
 public:
  // Collective over `comm` (MPI_COMM_SELF for one rank alone). InputError for a missing,
  // foreign, damaged, newer or incomplete file.
  static FeatureReader open(const std::filesystem::path& path, MPI_Comm comm);
  FeatureReader(FeatureReader&&) noexcept;
  FeatureReader& operator=(FeatureReader&&) noexcept;
  FeatureReader(const FeatureReader&) = delete;
  FeatureReader& operator=(const FeatureReader&) = delete;
  ~FeatureReader();

  // layout().rows slots, then layout().augmented_rows augmented rows; the row arguments below
  // range over [0, layout().total_rows()).
  const FeatureLayout& layout() const;
  const std::filesystem::path& path() const;
  std::int64_t chunk_rows() const;
  const std::map<std::string, std::string>& attributes() const;
  std::string attribute(const std::string& name) const;  // InputError when absent
  bool has_attribute(const std::string& name) const;

  void read_features(std::int64_t first, std::int64_t count, float* out,
                     Transfer transfer = Transfer::collective) const;
  void read_raw(std::int64_t first, std::int64_t count, float* out, Transfer transfer = Transfer::collective) const;
  std::vector<std::int32_t> labels(std::int64_t first, std::int64_t count,
                                   Transfer transfer = Transfer::collective) const;
  std::vector<std::uint8_t> flags(std::int64_t first, std::int64_t count,
                                  Transfer transfer = Transfer::collective) const;
  // The slot each row was made from: the row itself for slots, /source_row for augmented rows.
  std::vector<std::int64_t> source_rows(std::int64_t first, std::int64_t count,
                                        Transfer transfer = Transfer::collective) const;
  std::vector<FlaggedRow> flagged(Transfer transfer = Transfer::independent) const;
  bool has_arrays(const std::string& group) const;
  std::map<std::string, std::vector<double>> arrays(const std::string& group,
                                                    Transfer transfer = Transfer::independent) const;

 private:
  struct State;
  explicit FeatureReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sarscale::io
