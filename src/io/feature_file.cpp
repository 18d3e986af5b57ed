// Writer and reader of the feature file (format: docs/feature-format.md).
#include "sarscale/io/feature_file.hpp"

#include <algorithm>

#include "sarscale/core/error.hpp"
#include "sarscale/core/version.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/checkpoint_file.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "finish_output.hpp"
#include "sarscale/io/model_file.hpp"

namespace sarscale::io {

namespace {

using h5::Handle;
using h5::RecordType;

constexpr const char* kFeatures = "/features";
constexpr const char* kRawFeatures = "/raw_features";
constexpr const char* kLabel = "/label";
constexpr const char* kFlag = "/flag";
constexpr const char* kFlagged = "/flagged";
constexpr const char* kSourceRow = "/source_row";
constexpr const char* kClassNames = "/class_names";
constexpr const char* kAttrFormat = "format";
constexpr const char* kAttrFormatVersion = "format_version";
constexpr const char* kAttrSarscaleVersion = "sarscale_version";
constexpr const char* kAttrComplete = "complete";
// Feature chunks of about 1 MiB: whole rows, so one chunk never splits a vector.
constexpr std::int64_t kTargetChunkBytes = std::int64_t{1} << 20;

RecordType flagged_record(std::size_t reason_width) {
  RecordType r;
  r.add("row", RecordType::Kind::int64).add("reason", RecordType::Kind::text, reason_width);
  return r;
}

std::string check_blocks(const std::vector<FeatureBlock>& blocks, std::int64_t dim, const char* what) {
  std::int64_t next = 0;
  for (const auto& b : blocks) {
    if (b.offset != next || b.length <= 0)
      return std::string(what) + ": block '" + b.name + "' does not start where the previous one ends";
    next += b.length;
  }
  if (next != dim)
    return std::string(what) + ": the blocks cover " + std::to_string(next) + " columns, not " + std::to_string(dim);
  return {};
}

std::string check_layout(const FeatureLayout& l) {
  if (l.rows < 0 || l.augmented_rows < 0) return "the row count is negative";
  if (l.dim < 0 || l.raw_dim < 0) return "a feature dimension is negative";
  if (l.dim == 0 && l.raw_dim == 0) return "the feature dimension must be positive";
  if (l.dim > 0)
    if (auto p = check_blocks(l.blocks, l.dim, "/features"); !p.empty()) return p;
  if (l.raw_dim > 0)
    if (auto p = check_blocks(l.raw_blocks, l.raw_dim, "/raw_features"); !p.empty()) return p;
  return {};
}

std::uint64_t layout_fingerprint(const FeatureLayout& l) {
  h5::Fingerprint fp;
  fp.add(l.rows).add(l.augmented_rows).add(l.dim).add(l.raw_dim);
  for (const auto* blocks : {&l.blocks, &l.raw_blocks})
    for (const auto& b : *blocks) fp.add(b.name).add(b.offset).add(b.length).add(b.params);
  for (const auto& c : l.class_names) fp.add(c);
  return fp.value();
}

std::int64_t choose_chunk_rows(std::int64_t rows, std::int64_t dim) {
  return std::clamp<std::int64_t>(kTargetChunkBytes / (dim * 4), 1, std::max<std::int64_t>(rows, 1));
}

Handle create_matrix(hid_t file, const char* name, std::int64_t rows, std::int64_t dim, std::int64_t chunk_rows) {
  const std::vector<hsize_t> dims = {static_cast<hsize_t>(rows), static_cast<hsize_t>(dim)};
  std::vector<hsize_t> chunk;
  if (rows > 0) chunk = {static_cast<hsize_t>(chunk_rows), static_cast<hsize_t>(dim)};
  return h5::create_dataset(file, name, H5T_IEEE_F32LE, dims, chunk);
}

// Block descriptions as attributes of the dataset whose columns they describe.
void write_block_attributes(hid_t dataset, const std::vector<FeatureBlock>& blocks) {
  h5::write_int_attribute(dataset, "block_count", static_cast<std::int64_t>(blocks.size()));
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const std::string p = "block" + std::to_string(k) + "_";
    h5::write_string_attribute(dataset, p + "name", blocks[k].name);
    h5::write_int_attribute(dataset, p + "offset", blocks[k].offset);
    h5::write_int_attribute(dataset, p + "length", blocks[k].length);
    h5::write_string_attribute(dataset, p + "params", blocks[k].params);
  }
}

std::vector<FeatureBlock> read_block_attributes(hid_t dataset, const std::string& where) {
  const auto attrs = h5::read_attributes_as_text(dataset);
  const auto get = [&](const std::string& name) -> const std::string& {
    const auto it = attrs.find(name);
    if (it == attrs.end()) throw InputError(where + " is damaged: attribute " + name + " is missing");
    return it->second;
  };
  std::vector<FeatureBlock> blocks;
  try {
    const long long n = std::stoll(get("block_count"));
    for (long long k = 0; k < n; ++k) {
      const std::string p = "block" + std::to_string(k) + "_";
      blocks.push_back(
          {get(p + "name"), std::stoll(get(p + "offset")), std::stoll(get(p + "length")), get(p + "params")});
    }
  } catch (const std::invalid_argument&) {
    throw InputError(where + " is damaged: a block attribute is not a number");
  } catch (const std::out_of_range&) {
    throw InputError(where + " is damaged: a block attribute is out of range");
  }
  return blocks;
}

}  // namespace

std::string root_attribute(const std::filesystem::path& path, const std::string& name) {
  if (!is_hdf5_file(path)) return {};
  try {
    const h5::ReadingFile reading(path.string());
    const Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "opening it");
    const auto attrs = h5::read_attributes_as_text(file.get());
    const auto it = attrs.find(name);
    return it == attrs.end() ? std::string() : it->second;
  } catch (const InputError&) {
    return {};  // damaged: the reader the caller picks reports it
  }
}

bool is_hdf5_file(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  h5::QuietErrors quiet;
  const htri_t is = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  return is > 0;
}

std::string describe_format(const std::string& format) {
  if (format == kArchiveFormatName) return "a sarscale chip archive";
  if (format == kFeatureFormatName) return "a sarscale feature file";
  if (format == kModelFormatName) return "a sarscale model file";
  if (format == kCheckpointFormatName) return "a sarscale training checkpoint";
  if (format.empty()) return "an HDF5 file without a sarscale 'format' attribute";
  return "an HDF5 file of format '" + format.substr(0, 60) + "'";
}

std::string file_format(const std::filesystem::path& path) { return root_attribute(path, kAttrFormat); }

// ---- writer ------------------------------------------------------------------------

struct FeatureWriter::State {
  std::filesystem::path path;
  MPI_Comm comm = MPI_COMM_NULL;
  FeatureLayout layout;
  std::int64_t chunk_rows = 0;
  Handle file;  // declared before the datasets so that it is closed after them
  Handle features, raw, label, flag, source_row;
  h5::RowTransfer collective;
  Handle progress;                           // /progress/done
  std::vector<std::uint8_t> done;            // after resume()
  std::vector<std::pair<std::int64_t, std::int64_t>> since_checkpoint;  // slot ranges of this rank
  std::int64_t rows_written = 0;         // by this rank
  std::int64_t source_rows_written = 0;  // by this rank
  bool flagged_written = false;
  bool closed = false;

  explicit State(MPI_Comm c) : comm(c), collective(c, true) {}
  std::string where() const { return "feature file " + path.string(); }
  // Rows [first, first+count) of a first-pass write: their slots join the next checkpoint.
  void record_slots(std::int64_t first, std::int64_t count) {
    if (count > 0 && first < layout.rows) since_checkpoint.emplace_back(first, std::min(count, layout.rows - first));
  }
  // Checks the call (with the caller's own `problem`, if any) and writes /raw_features rows.
  void write_raw(const char* call, std::int64_t first, std::int64_t count, const float* raw,
                 std::string problem = {}) const {
    if (layout.raw_dim == 0)
      problem = "the layout has no raw features";
    else if (count > 0 && raw == nullptr)
      problem = "no raw buffer";
    check_rows(call, first, count, problem);
    h5::write_rows(collective, this->raw.get(), H5T_NATIVE_FLOAT, first, count, raw);
  }
  // Checks the layout and fills in what follows from it.
  static std::unique_ptr<State> make(const std::filesystem::path& path, MPI_Comm comm, const FeatureLayout& layout) {
    h5::agree_or_throw(comm, check_layout(layout), "feature layout for " + path.string());
    h5::require_identical(comm, layout_fingerprint(layout), "the feature layout");
    auto s = std::make_unique<State>(comm);
    s->path = path;
    s->layout = layout;
    s->chunk_rows = choose_chunk_rows(layout.total_rows(), std::max(layout.dim, layout.raw_dim));
    return s;
  }
  void check_rows(const char* call, std::int64_t first, std::int64_t count, std::string problem = {}) const {
    if (problem.empty() && closed) problem = "the file is already closed";
    if (problem.empty() && (first < 0 || count < 0 || count > layout.total_rows() - first))
      problem = "rows [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside [0, " +
                std::to_string(layout.total_rows()) + ")";
    h5::agree_or_throw(comm, problem, std::string(call) + " on " + where());
  }
};

FeatureWriter::FeatureWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
FeatureWriter::FeatureWriter(FeatureWriter&&) noexcept = default;
FeatureWriter& FeatureWriter::operator=(FeatureWriter&&) noexcept = default;
FeatureWriter::~FeatureWriter() = default;
const FeatureLayout& FeatureWriter::layout() const { return state_->layout; }
std::int64_t FeatureWriter::chunk_rows() const { return state_->chunk_rows; }

const std::vector<std::uint8_t>& FeatureWriter::done_slots() const { return state_->done; }
void FeatureWriter::keep_slots(std::int64_t count) {
  State& s = *state_;
  const std::int64_t copies = s.layout.rows > 0 ? s.layout.augmented_rows / s.layout.rows : 0;
  // During a PCA fit's first pass /features does not exist yet; its rows are counted when the
  // second pass writes them all.
  if (s.features.valid()) s.rows_written += count * (1 + copies);
  s.source_rows_written += count * copies;
}

FeatureWriter FeatureWriter::create(const std::filesystem::path& path, MPI_Comm comm, const FeatureLayout& layout,
                                   const std::string& resume_key) {
  h5::QuietErrors quiet;
  auto s = State::make(path, comm, layout);
  const std::int64_t total = layout.total_rows();
  s->file = h5::create_parallel_file(path, comm, "feature file");
  const hid_t f = s->file.get();
  h5::write_string_attribute(f, kAttrFormat, kFeatureFormatName);
  // Version 1 when nothing needs version 2: readers that predate augmentation still read it.
  h5::write_int_attribute(f, kAttrFormatVersion, layout.augmented_rows > 0 ? kFeatureFormatVersion : 1);
  h5::write_string_attribute(f, kAttrSarscaleVersion, kVersion);
  const auto n = static_cast<hsize_t>(total);
  if (layout.dim > 0) {
    s->features = create_matrix(f, kFeatures, total, layout.dim, s->chunk_rows);
    write_block_attributes(s->features.get(), layout.blocks);
  }
  if (layout.raw_dim > 0) {
    s->raw = create_matrix(f, kRawFeatures, total, layout.raw_dim, choose_chunk_rows(total, layout.raw_dim));
    write_block_attributes(s->raw.get(), layout.raw_blocks);
  }
  s->label = h5::create_dataset(f, kLabel, H5T_STD_I32LE, {n}, {});
  s->flag = h5::create_dataset(f, kFlag, H5T_STD_U8LE, {n}, {});
  if (layout.augmented_rows > 0)
    s->source_row = h5::create_dataset(f, kSourceRow, H5T_STD_I64LE, {static_cast<hsize_t>(layout.augmented_rows)}, {});
  h5::write_string_array(f, comm, s->collective, kClassNames, layout.class_names);
  h5::write_string_attribute(f, "layout_fingerprint", h5::to_hex(layout_fingerprint(layout)));
  s->progress = h5::create_progress(f, comm, s->collective, layout.rows, resume_key);
  // A writer killed later leaves a file HDF5 recognises (and readers refuse as incomplete).
  h5::flush_collectively(f, comm, "flushing " + s->where());
  return FeatureWriter(std::move(s));
}

FeatureWriter FeatureWriter::resume(const std::filesystem::path& path, MPI_Comm comm, const FeatureLayout& layout) {
  h5::QuietErrors quiet;
  auto s = State::make(path, comm, layout);
  s->file = h5::reopen_parallel_file(path, comm, "feature file");
  const hid_t f = s->file.get();
  h5::check_resumable(f, comm, kFeatureFormatName, h5::to_hex(layout_fingerprint(layout)), s->where());
  const auto open = [&](const char* name) { return h5::open_dataset(f, name, s->where()); };
  // /features of a PCA fit is created after the first pass: a run killed later may have made it.
  if (layout.dim > 0)
    s->features = open(kFeatures);
  else
    h5::remove_link(f, kFeatures);
  if (layout.raw_dim > 0) s->raw = open(kRawFeatures);
  s->label = open(kLabel);
  s->flag = open(kFlag);
  if (layout.augmented_rows > 0) s->source_row = open(kSourceRow);
  s->progress = open(h5::kProgressDone);
  s->done = h5::read_progress(f, s->collective, layout.rows);
  // Written last by a run: begun perhaps, never finished.
  h5::remove_link(f, kFlagged);
  h5::remove_link(f, "/pca");
  h5::flush_collectively(f, comm, "flushing " + s->where());
  return FeatureWriter(std::move(s));
}

void FeatureWriter::checkpoint() {
  h5::QuietErrors quiet;
  State& s = *state_;
  h5::agree_or_throw(s.comm, s.closed ? "the file is already closed" : "", "checkpoint of " + s.where());
  h5::checkpoint_progress(s.file.get(), s.progress.get(), s.collective, s.since_checkpoint, s.where());
}

void FeatureWriter::read_labels_flags(std::int64_t first, std::int64_t count, std::int32_t* labels,
                                      std::uint8_t* flags) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("read_labels_flags", first, count);
  h5::read_rows(s.collective, s.label.get(), H5T_NATIVE_INT32, first, count, labels);
  h5::read_rows(s.collective, s.flag.get(), H5T_NATIVE_UINT8, first, count, flags);
}

void FeatureWriter::write_raw_rows(std::int64_t first, std::int64_t count, const float* raw,
                                   const std::int32_t* labels, const std::uint8_t* flags) {
  h5::QuietErrors quiet;
  State& s = *state_;
  s.write_raw("write_raw_rows", first, count, raw, count > 0 && (!labels || !flags) ? "no buffer" : "");
  h5::write_rows(s.collective, s.label.get(), H5T_NATIVE_INT32, first, count, labels);
  h5::write_rows(s.collective, s.flag.get(), H5T_NATIVE_UINT8, first, count, flags);
  s.record_slots(first, count);
}

void FeatureWriter::read_raw_rows(std::int64_t first, std::int64_t count, float* raw) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("read_raw_rows", first, count, s.layout.raw_dim == 0 ? "the layout has no raw features" : "");
  h5::read_rows(s.collective, s.raw.get(), H5T_NATIVE_FLOAT, first, count, raw);
}

void FeatureWriter::define_features(std::int64_t dim, const std::vector<FeatureBlock>& blocks) {
  h5::QuietErrors quiet;
  State& s = *state_;
  std::string problem = s.features.valid() ? "/features already exists" : check_blocks(blocks, dim, "/features");
  if (problem.empty() && dim <= 0) problem = "the feature dimension must be positive";
  h5::agree_or_throw(s.comm, problem, "define_features on " + s.where());
  s.layout.dim = dim;
  s.layout.blocks = blocks;
  h5::require_identical(s.comm, layout_fingerprint(s.layout), "the feature layout");
  s.chunk_rows = choose_chunk_rows(s.layout.total_rows(), dim);
  s.features = create_matrix(s.file.get(), kFeatures, s.layout.total_rows(), dim, s.chunk_rows);
  write_block_attributes(s.features.get(), blocks);
}

void FeatureWriter::write_features(std::int64_t first, std::int64_t count, const float* features,
                                   const std::int32_t* labels, const std::uint8_t* flags) {
  h5::QuietErrors quiet;
  State& s = *state_;
  s.check_rows("write_features", first, count,
               !s.features.valid()                             ? "/features is not defined yet (define_features)"
               : count > 0 && (!features || !labels || !flags) ? "no buffer"
                                                               : "");
  h5::write_rows(s.collective, s.features.get(), H5T_NATIVE_FLOAT, first, count, features);
  h5::write_rows(s.collective, s.label.get(), H5T_NATIVE_INT32, first, count, labels);
  h5::write_rows(s.collective, s.flag.get(), H5T_NATIVE_UINT8, first, count, flags);
  s.rows_written += count;
}

void FeatureWriter::write_rows(std::int64_t first, std::int64_t count, const float* features, const float* raw_or_null,
                               const std::int32_t* labels, const std::uint8_t* flags) {
  State& s = *state_;
  if (s.layout.raw_dim > 0) {
    h5::QuietErrors quiet;
    s.write_raw("write_rows", first, count, raw_or_null);
  }
  write_features(first, count, features, labels, flags);
  s.record_slots(first, count);
}

void FeatureWriter::write_source_rows(std::int64_t first, std::int64_t count, const std::int64_t* source) {
  h5::QuietErrors quiet;
  State& s = *state_;
  std::string problem = count > 0 && first < s.layout.rows
                            ? "rows before " + std::to_string(s.layout.rows) + " are slots, not augmented rows"
                        : count > 0 && !source ? "no buffer"
                                               : "";
  for (std::int64_t i = 0; problem.empty() && i < count; ++i)
    if (source[i] < 0 || source[i] >= s.layout.rows)
      problem = "source row " + std::to_string(source[i]) + " is not a slot of the file";
  s.check_rows("write_source_rows", first, count, problem);
  h5::write_rows(s.collective, s.source_row.get(), H5T_NATIVE_INT64, std::max<std::int64_t>(0, first - s.layout.rows),
                 count, source);
  s.source_rows_written += count;
}

void FeatureWriter::write_flagged(const std::vector<FlaggedRow>& flagged) {
  h5::QuietErrors quiet;
  State& s = *state_;
  h5::Fingerprint fp;
  std::size_t width = 1;
  for (const auto& r : flagged) {
    fp.add(r.row).add(r.reason);
    width = std::max(width, r.reason.size());
  }
  std::string problem = s.flagged_written ? "the table was already written" : "";
  for (std::size_t i = 0; problem.empty() && i < flagged.size(); ++i)
    if (flagged[i].row < 0 || flagged[i].row >= s.layout.total_rows() ||
        (i > 0 && flagged[i].row <= flagged[i - 1].row))
      problem = "rows must be distinct, sorted and inside the file";
  h5::agree_or_throw(s.comm, problem, "write_flagged on " + s.where());
  h5::require_identical(s.comm, fp.value(), "the flagged-rows table");
  const RecordType rt = flagged_record(width);
  const Handle file_type = rt.file_type(), mem_type = rt.memory_type();
  h5::write_table(s.file.get(), s.comm, s.collective, kFlagged, file_type.get(), mem_type.get(),
                  static_cast<std::int64_t>(flagged.size()), [&](char* rec, std::int64_t i) {
                    const auto& r = flagged[static_cast<std::size_t>(i)];
                    rt.put_int64(rec, 0, r.row);
                    rt.put_text(rec, 1, r.reason);
                  });
  s.flagged_written = true;
}

void FeatureWriter::write_arrays(const std::string& group, const std::map<std::string, std::vector<double>>& arrays) {
  h5::QuietErrors quiet;
  State& s = *state_;
  h5::Fingerprint fp;
  fp.add(group);
  for (const auto& [k, v] : arrays) {
    fp.add(k).add(static_cast<std::int64_t>(v.size()));
    fp.add(std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double)));
  }
  h5::require_identical(s.comm, fp.value(), "arrays of group '" + group + "'");
  const std::string path = "/" + group;
  h5::agree_or_throw(s.comm,
                     group.empty() || group.find('/') != std::string::npos || h5::link_exists(s.file.get(), path)
                         ? "bad or existing group name '" + group + "'"
                         : "",
                     "write_arrays on " + s.where());
  const Handle g(H5Gcreate2(s.file.get(), path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 "cannot create group " + path);
  for (const auto& [name, values] : arrays) h5::write_double_array(g.get(), s.comm, s.collective, name, values);
}

void FeatureWriter::set_attribute(const std::string& name, const std::string& value) {
  h5::QuietErrors quiet;
  State& s = *state_;
  for (const char* reserved : {kAttrFormat, kAttrFormatVersion, kAttrSarscaleVersion, kAttrComplete})
    if (name == reserved) throw ConfigError("set_attribute: '" + name + "' is reserved by the feature format");
  if (name.empty()) throw ConfigError("set_attribute: empty attribute name");
  h5::require_identical(s.comm, h5::Fingerprint().add(name).add(value).value(), "attribute '" + name + "'");
  h5::write_string_attribute(s.file.get(), name, value);
}

void FeatureWriter::close() {
  if (!state_ || state_->closed) return;
  h5::QuietErrors quiet;
  State& s = *state_;
  h5::agree_or_throw(s.comm, s.features.valid() ? "" : "/features was never defined", "closing " + s.where());
  if (!s.flagged_written) write_flagged({});
  const std::int64_t written = h5::sum_over_ranks(s.comm, s.rows_written);
  if (written != s.layout.total_rows())
    throw IoError("closing " + s.where() + ": " + std::to_string(written) + " rows were written but the layout has " +
                  std::to_string(s.layout.total_rows()) + "; the file is left incomplete");
  const std::int64_t sources = h5::sum_over_ranks(s.comm, s.source_rows_written);
  if (sources != s.layout.augmented_rows)
    throw IoError("closing " + s.where() + ": " + std::to_string(sources) + " source rows were written for " +
                  std::to_string(s.layout.augmented_rows) + " augmented rows; the file is left incomplete");
  if (s.layout.rows > 0) h5::fill_ranges(s.progress.get(), s.collective, s.since_checkpoint, 1);
  h5::finish_output(s.file, s.comm,
                    {{&s.progress, "/progress/done"},
                     {&s.features, "/features"},
                     {&s.raw, "/raw_features"},
                     {&s.label, "/label"},
                     {&s.flag, "/flag"},
                     {&s.source_row, "/source_row"}},
                    s.where());
  s.closed = true;
}

// ---- reader ------------------------------------------------------------------------

struct FeatureReader::State {
  std::filesystem::path path;
  MPI_Comm comm = MPI_COMM_NULL;
  FeatureLayout layout;
  std::int64_t chunk_rows = 0;
  std::map<std::string, std::string> attributes;
  Handle file;
  Handle features, raw, label, flag, source_row;
  h5::RowTransfer collective, independent;

  explicit State(MPI_Comm c) : comm(c), collective(c, true), independent(c, false) {}
  std::string where() const { return "feature file " + path.string(); }
  [[noreturn]] void damaged(const std::string& what) const { throw InputError(where() + " is damaged: " + what); }
  Handle open_dataset(const char* name) const {
    if (!h5::link_exists(file.get(), name)) damaged(std::string("the dataset ") + name + " is missing");
    return Handle(H5Dopen2(file.get(), name, H5P_DEFAULT), H5Dclose, where() + ": cannot open " + name);
  }
  const h5::RowTransfer& transfer(Transfer t) const { return t == Transfer::collective ? collective : independent; }
  void check_rows(const char* call, std::int64_t first, std::int64_t count, Transfer t,
                  std::string problem = {}) const {
    if (problem.empty() && (first < 0 || count < 0 || count > layout.total_rows() - first))
      problem = "rows [" + std::to_string(first) + ", " + std::to_string(first + count) + ") are outside [0, " +
                std::to_string(layout.total_rows()) + ")";
    const std::string context = std::string(call) + " on " + where();
    if (t == Transfer::collective)
      h5::agree_or_throw(comm, problem, context);
    else if (!problem.empty())
      throw ConfigError(context + ": " + problem);
  }
};

FeatureReader::FeatureReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
FeatureReader::FeatureReader(FeatureReader&&) noexcept = default;
FeatureReader& FeatureReader::operator=(FeatureReader&&) noexcept = default;
FeatureReader::~FeatureReader() = default;

FeatureReader FeatureReader::open(const std::filesystem::path& path, MPI_Comm comm) {
  auto s = std::make_unique<State>(comm);
  s->path = path;
  const h5::ReadingFile reading(s->where());
  s->file = h5::open_parallel_file(path, comm, "feature file");
  const hid_t f = s->file.get();
  s->attributes = h5::read_attributes_as_text(f);
  const auto attr = [&](const char* name) -> std::string {
    const auto it = s->attributes.find(name);
    return it == s->attributes.end() ? std::string() : it->second;
  };
  if (attr(kAttrFormat) != kFeatureFormatName)
    throw InputError(s->where() + " is not a sarscale feature file (its root attribute 'format' is " +
                     (attr(kAttrFormat).empty() ? std::string("absent") : "'" + attr(kAttrFormat) + "'") +
                     "); was it written by `sarscale features`?");
  int version = 0;
  try {
    version = std::stoi(attr(kAttrFormatVersion));
  } catch (const std::exception&) {
  }
  if (version < 1) throw InputError(s->where() + " has no valid 'format_version' attribute");
  if (version > kFeatureFormatVersion)
    throw InputError(s->where() + " has format version " + std::to_string(version) +
                     ", newer than this sarscale reads; use a newer sarscale");
  if (attr(kAttrComplete) != "1")
    throw InputError(s->where() + " is incomplete: the `sarscale features` run that wrote it failed or is still running" +
                     h5::progress_note(s->file.get(), s->collective, "chips"));

  s->features = s->open_dataset(kFeatures);
  const h5::DatasetShape shape = h5::dataset_shape(s->features.get());
  if (shape.dims.size() != 2 || shape.dims[1] == 0) s->damaged("/features is not an [N,D] array");
  if (h5::link_exists(f, kSourceRow)) {  // augmented rows follow the slots
    s->source_row = s->open_dataset(kSourceRow);
    const h5::DatasetShape src = h5::dataset_shape(s->source_row.get());
    if (src.dims.size() != 1 || src.rows > shape.rows) s->damaged("/source_row has more rows than /features");
    s->layout.augmented_rows = src.rows;
  }
  s->layout.rows = shape.rows - s->layout.augmented_rows;
  s->layout.dim = static_cast<std::int64_t>(shape.dims[1]);
  s->layout.blocks = read_block_attributes(s->features.get(), s->where() + " /features");
  {
    const Handle dcpl(H5Dget_create_plist(s->features.get()), H5Pclose, "H5Dget_create_plist");
    hsize_t chunk[2] = {0, 0};
    const bool chunked = H5Pget_layout(dcpl.get()) == H5D_CHUNKED && H5Pget_chunk(dcpl.get(), 2, chunk) == 2;
    s->chunk_rows = chunked ? static_cast<std::int64_t>(chunk[0]) : std::max<std::int64_t>(1, shape.rows);
  }
  if (h5::link_exists(f, kRawFeatures)) {
    s->raw = s->open_dataset(kRawFeatures);
    const h5::DatasetShape raw = h5::dataset_shape(s->raw.get());
    if (raw.dims.size() != 2 || raw.rows != shape.rows) s->damaged("/raw_features is not an [N,D] array");
    s->layout.raw_dim = static_cast<std::int64_t>(raw.dims[1]);
    s->layout.raw_blocks = read_block_attributes(s->raw.get(), s->where() + " /raw_features");
  }
  if (const std::string p = check_layout(s->layout); !p.empty()) s->damaged(p);
  s->label = s->open_dataset(kLabel);
  s->flag = s->open_dataset(kFlag);
  for (const hid_t d : {s->label.get(), s->flag.get()})
    if (h5::dataset_shape(d).rows != shape.rows) s->damaged("/label or /flag does not have one value per row");
  if (!h5::link_exists(f, kClassNames)) s->damaged("the dataset /class_names is missing");
  s->layout.class_names = h5::read_string_array(f, kClassNames, s->independent, s->where());
  return FeatureReader(std::move(s));
}

const FeatureLayout& FeatureReader::layout() const { return state_->layout; }
const std::filesystem::path& FeatureReader::path() const { return state_->path; }
std::int64_t FeatureReader::chunk_rows() const { return state_->chunk_rows; }
const std::map<std::string, std::string>& FeatureReader::attributes() const { return state_->attributes; }
bool FeatureReader::has_attribute(const std::string& name) const { return state_->attributes.count(name) > 0; }
std::string FeatureReader::attribute(const std::string& name) const {
  const auto it = state_->attributes.find(name);
  if (it == state_->attributes.end()) throw InputError(state_->where() + " has no attribute '" + name + "'");
  return it->second;
}

void FeatureReader::read_features(std::int64_t first, std::int64_t count, float* out, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("read_features", first, count, transfer);
  h5::read_rows(s.transfer(transfer), s.features.get(), H5T_NATIVE_FLOAT, first, count, out);
}

void FeatureReader::read_raw(std::int64_t first, std::int64_t count, float* out, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("read_raw", first, count, transfer, s.layout.raw_dim == 0 ? "the file has no raw features" : "");
  h5::read_rows(s.transfer(transfer), s.raw.get(), H5T_NATIVE_FLOAT, first, count, out);
}

std::vector<std::int32_t> FeatureReader::labels(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("labels", first, count, transfer);
  std::vector<std::int32_t> out(static_cast<std::size_t>(count));
  h5::read_rows(s.transfer(transfer), s.label.get(), H5T_NATIVE_INT32, first, count, out.data());
  return out;
}

std::vector<std::uint8_t> FeatureReader::flags(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("flags", first, count, transfer);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(count));
  h5::read_rows(s.transfer(transfer), s.flag.get(), H5T_NATIVE_UINT8, first, count, out.data());
  return out;
}

std::vector<std::int64_t> FeatureReader::source_rows(std::int64_t first, std::int64_t count, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  s.check_rows("source_rows", first, count, transfer);
  std::vector<std::int64_t> out(static_cast<std::size_t>(count));
  const std::int64_t slots = std::clamp<std::int64_t>(s.layout.rows - first, 0, count);  // rows that are slots
  for (std::int64_t i = 0; i < slots; ++i) out[static_cast<std::size_t>(i)] = first + i;
  // Every rank takes part in the collective read, with 0 rows when its range holds no augmented row.
  if (s.layout.augmented_rows > 0)
    h5::read_rows(s.transfer(transfer), s.source_row.get(), H5T_NATIVE_INT64,
                  std::max<std::int64_t>(0, first + slots - s.layout.rows), count - slots, out.data() + slots);
  return out;
}

std::vector<FlaggedRow> FeatureReader::flagged(Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  if (!h5::link_exists(s.file.get(), kFlagged)) s.damaged("the dataset /flagged is missing");
  const Handle dset(H5Dopen2(s.file.get(), kFlagged, H5P_DEFAULT), H5Dclose, s.where() + ": cannot open /flagged");
  const Handle type(H5Dget_type(dset.get()), H5Tclose, "H5Dget_type");
  const RecordType rt = RecordType::matching(type.get(), flagged_record(1), s.where() + ": /flagged");
  const Handle mem = rt.memory_type();
  const std::int64_t n = h5::dataset_shape(dset.get()).rows;
  std::vector<char> buf(static_cast<std::size_t>(n) * rt.size());
  h5::read_rows(s.transfer(transfer), dset.get(), mem.get(), 0, n, buf.data());
  std::vector<FlaggedRow> out;
  for (std::int64_t i = 0; i < n; ++i) {
    const char* rec = buf.data() + static_cast<std::size_t>(i) * rt.size();
    out.push_back({rt.get_int64(rec, 0), rt.get_text(rec, 1)});
  }
  return out;
}

bool FeatureReader::has_arrays(const std::string& group) const {
  const h5::ReadingFile reading(state_->where());
  return h5::link_exists(state_->file.get(), "/" + group);
}

std::map<std::string, std::vector<double>> FeatureReader::arrays(const std::string& group, Transfer transfer) const {
  const State& s = *state_;
  const h5::ReadingFile reading(s.where());
  if (!has_arrays(group)) throw InputError(s.where() + " has no group /" + group);
  const Handle g(H5Gopen2(s.file.get(), ("/" + group).c_str(), H5P_DEFAULT), H5Gclose,
                 s.where() + ": cannot open /" + group);
  return h5::read_double_arrays(g.get(), s.transfer(transfer), s.where() + " /" + group);
}

}  // namespace sarscale::io
