#pragma once
// Small, exception-safe layer over the HDF5 C API used by the archive: RAII handles,
// error-stack capture into exceptions, fixed-length string and compound record packing,
// row-block transfers, and the archive's on-disk schema (names and record types) shared
// by its writer and reader.
#include <hdf5.h>
#include <mpi.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sarscale::io::h5 {

// Owns one hid_t and closes it with the matching H5?close function.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  // Takes ownership of `id`; throws IoError (naming `what`, with HDF5's error stack) when
  // id is negative, i.e. the call that produced it failed.
  Handle(hid_t id, Closer closer, std::string_view what);
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and throws IoError when HDF5 reports a failure (used where a failed close
  // means lost data, e.g. the file).
  void close(std::string_view what);
  // Closes now, ignoring failures (destructor path).
  void reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Silences HDF5's automatic error printing for its lifetime (errors become exceptions
// carrying the captured stack instead), restoring the previous handler afterwards.
class QuietErrors {
 public:
  QuietErrors();
  ~QuietErrors();
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

// `main` calls open_library() before MPI_Init and close_library() before MPI_Finalize. HDF5
// started before MPI does not hook its own shutdown into MPI_Finalize (nor into exit): it is shut
// down here, explicitly, while MPI-IO still works. After a file failed to close (a full disk),
// HDF5 1.10 keeps a freed file in its tables and crashes in H5F__close_cb when shut down
// (CVE-2020-10812); close_library() then leaves it alone and the process ends without it.
void open_library() noexcept;
void close_library() noexcept;

// While one is alive on this thread, HDF5 failures (fail(), check(), a Handle of a failed call)
// are a damaged input, not a system failure: they throw InputError("<file> is damaged or
// unreadable: <what> (HDF5: <reason>)"), naming the file and HDF5's innermost reason ("incorrect
// metadata checksum after all read attempts") instead of the whole error stack (logged at debug
// level). Every reader of sarscale's own files holds one while it reads; it also silences HDF5's
// printing as QuietErrors does. The innermost of nested ones names the file.
class ReadingFile {
 public:
  explicit ReadingFile(std::string file);  // e.g. "model file out/model.h5"
  ~ReadingFile();
  ReadingFile(const ReadingFile&) = delete;
  ReadingFile& operator=(const ReadingFile&) = delete;
  const std::string& file() const { return file_; }

 private:
  QuietErrors quiet_;
  std::string file_;
  const ReadingFile* outer_;
};

// The current HDF5 error stack as one line ("func: message; ..."), then clears it.
std::string take_error_stack();
// Only the innermost reason of the current error stack (the whole stack goes to the debug log),
// then clears it.
std::string take_error_reason();

// Throws IoError("<what>: <HDF5 error stack>"), or InputError as above while a ReadingFile is alive.
[[noreturn]] void fail(std::string_view what);
// Returns `rc`, or fails(what) when it is negative.
herr_t check(herr_t rc, std::string_view what);

// Throws IoError for a failed call that writes to the file holding `object`: "<what> of <file>:",
// "No space left on device" (or the quota's message) when the system said so or the file system
// is full (MPI-IO reports only a short write), then HDF5's stack. `saved_errno`: errno right
// after the call (cleared before it).
[[noreturn]] void fail_write(hid_t object, std::string_view what, int saved_errno);
// The same for a file known by name (one already closed), with HDF5's error stack as text.
[[noreturn]] void fail_write_to(const std::string& file, std::string_view what, int saved_errno,
                                const std::string& stack);
// Runs `call` (an HDF5 call writing to `object`'s file) and fail_write()s when it returns < 0.
template <typename Call>
herr_t check_write(hid_t object, std::string_view what, Call&& call) {
  errno = 0;
  const herr_t rc = std::forward<Call>(call)();
  if (rc < 0) fail_write(object, what, errno);
  return rc;
}
// Collective: flushes `file` (H5Fflush, global scope) and agrees on the outcome across `comm`,
// so that a rank whose flush failed (a full disk) does not leave the others in the next collective.
void flush_collectively(hid_t file, MPI_Comm comm, std::string_view what);
// Collective: closes a parallel file and agrees on the outcome (a failed close names the file).
void close_file_collectively(Handle& file, MPI_Comm comm, std::string_view what);

// A fixed-length, null-padded UTF-8 string type of `width` bytes (at least 1).
Handle fixed_string_type(std::size_t width);

// Copies `value` into a zero-padded field of `width` bytes, cutting at a UTF-8
// character boundary when too long. Returns false when the value was truncated.
bool put_text(char* field, std::size_t width, std::string_view value);
// The text of a null-padded field (up to the first NUL).
std::string get_text(const char* field, std::size_t width);

// String and integer attributes on an object (group, dataset, file root). Writing
// replaces an existing attribute of the same name.
void write_string_attribute(hid_t object, const std::string& name, const std::string& value);
void write_int_attribute(hid_t object, const std::string& name, std::int64_t value);
bool has_attribute(hid_t object, const std::string& name);
// Every attribute of `object` as text: strings as they are, integers and floats in
// decimal; other types are skipped.
std::map<std::string, std::string> read_attributes_as_text(hid_t object);

// A flat record of integer, float and fixed-length text fields, packed without padding.
// Its memory type uses native numbers, its file type little-endian ones, with identical
// offsets, so on little-endian machines writing and reading need no conversion (which
// would otherwise turn collective transfers into independent ones).
class RecordType {
 public:
  enum class Kind { int64, int32, float32, text };
  struct Field {
    std::string name;
    Kind kind;
    std::size_t width;   // bytes
    std::size_t offset;  // bytes from the record start
  };

  RecordType& add(std::string name, Kind kind, std::size_t text_width = 0);
  std::size_t size() const { return size_; }
  std::size_t field_count() const { return fields_.size(); }
  const Field& field(std::size_t i) const { return fields_.at(i); }

  Handle memory_type() const;
  Handle file_type() const;

  // `expected` with its text widths taken from a dataset's compound type, so that a
  // reader's memory type fits the file. Throws InputError naming `where` when a field is
  // missing or of another class.
  static RecordType matching(hid_t dataset_type, const RecordType& expected, const std::string& where);

  void put_int64(char* rec, std::size_t i, std::int64_t v) const;
  void put_int32(char* rec, std::size_t i, std::int32_t v) const;
  void put_float32(char* rec, std::size_t i, float v) const;
  bool put_text(char* rec, std::size_t i, std::string_view v) const;  // false when truncated
  std::int64_t get_int64(const char* rec, std::size_t i) const;
  std::int32_t get_int32(const char* rec, std::size_t i) const;
  float get_float32(const char* rec, std::size_t i) const;
  std::string get_text(const char* rec, std::size_t i) const;

 private:
  std::vector<Field> fields_;
  std::size_t size_ = 0;
};

// How rows move: an MPI-IO transfer property list, collective (linked-chunk I/O) or
// independent, and the communicator over which a collective transfer is agreed.
class RowTransfer {
 public:
  RowTransfer(MPI_Comm comm, bool collective);
  MPI_Comm comm() const { return comm_; }
  bool collective() const { return collective_; }
  hid_t plist() const { return plist_.get(); }

 private:
  MPI_Comm comm_;
  bool collective_;
  Handle plist_;
};

// Number of rows (extent of dimension 0) and elements per row of a dataset.
struct DatasetShape {
  std::int64_t rows = 0;
  std::int64_t row_elements = 1;
  std::vector<hsize_t> dims;
};
DatasetShape dataset_shape(hid_t dataset);

// Transfers rows [first, first+count) of `dataset` from/to a contiguous buffer of
// `memory_type` elements (count * row_elements of them). The caller checks the range.
// Large blocks go in pieces of at most kMaxPieceBytes per rank (keeps MPI counts below
// 2^31 and bounds collective buffers); a collective transfer agrees on the number of
// pieces across ranks, and a rank with count 0 takes part with an empty selection.
inline constexpr std::int64_t kMaxPieceBytes = std::int64_t{512} << 20;
void write_rows(const RowTransfer& transfer, hid_t dataset, hid_t memory_type, std::int64_t first, std::int64_t count,
                const void* buffer);
void read_rows(const RowTransfer& transfer, hid_t dataset, hid_t memory_type, std::int64_t first, std::int64_t count,
               void* buffer);

// 64-bit FNV-1a, for checking that values meant to be identical on all ranks are.
class Fingerprint {
 public:
  Fingerprint& add(std::string_view bytes);
  Fingerprint& add(std::int64_t v);
  std::uint64_t value() const { return h_; }
  std::string hex() const;  // 16 lowercase hex digits

 private:
  std::uint64_t h_ = 14695981039346656037ULL;
};

// Collective: true on every rank when `local_ok` is true on every rank. Used before
// collective HDF5 calls, so that one rank's bad argument makes every rank throw instead
// of leaving the others waiting in a collective call.
bool all_ranks_ok(MPI_Comm comm, bool local_ok);
// Collective: returns when `local_problem` is empty on every rank; otherwise throws on every rank
// the ConfigError ("context: problem") of the lowest rank that has one (io/agree.hpp).
void agree_or_throw(MPI_Comm comm, const std::string& local_problem, const std::string& context);
// Collective: throws ConfigError on every rank when `fingerprint` differs between ranks.
void require_identical(MPI_Comm comm, std::uint64_t fingerprint, std::string_view what);
// Collective sum and maximum.
std::int64_t sum_over_ranks(MPI_Comm comm, std::int64_t v);
std::int64_t max_over_ranks(MPI_Comm comm, std::int64_t v);

// ---- files, datasets, tables (hdf5_file.cpp) ----

// Collective: creates (truncates) `path` for parallel writing through MPI-IO, in the
// HDF5 1.10 file format (pinned at both ends so files do not change with a newer
// library), with large objects aligned to 1 MiB (file-system blocks and stripes) and
// collective metadata reads and writes (every writer call is collective).
Handle create_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what);
// Collective: opens `path` through MPI-IO, read-only. Throws InputError naming `what`
// for a missing file (or one some rank cannot see), a file that is not HDF5, and a
// damaged, truncated or unclosed one.
Handle open_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what);
// Collective: opens an incomplete output for writing again, with create_parallel_file's
// properties (after inspect_output, which clears a killed writer's flags). InputError on failure.
Handle reopen_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what);
// True when `path` (absolute, any depth) names an existing link in `file`.
bool link_exists(hid_t file, const std::string& path);
// Creates a dataset with early allocation and no fill pass (each byte is written once,
// and ranks can then write any chunk without further metadata traffic). `chunk` empty:
// contiguous. `compress`: deflate level 1, when the filter is available.
Handle create_dataset(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                      const std::vector<hsize_t>& chunk, bool compress = false);
// Collective: creates a 1-D table of `n` records and writes it, each rank packing
// (pack_row(record, row)) and writing whole chunks of its share, in blocks of bounded
// size, so a table of millions of rows needs little memory. Chunked and deflated: fixed
// strings are padded to the longest value, which compression makes cheap.
void write_table(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name, hid_t file_type,
                 hid_t memory_type, std::int64_t n, const std::function<void(char*, std::int64_t)>& pack_row);
// Collective: a 1-D fixed-length string array (class names), written whole by the ranks.
void write_string_array(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name,
                        const std::vector<std::string>& values);
// A 1-D fixed-length string array, read whole. InputError naming `where` when it is not one.
std::vector<std::string> read_string_array(hid_t loc, const std::string& name, const RowTransfer& transfer,
                                           const std::string& where);
// Collective: a 1-D float64 dataset holding `values` (written by rank 0's share).
void write_double_array(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name,
                        const std::vector<double>& values);
// The names of a group's members, in HDF5's native order (safe on damaged groups; see hdf5_file.cpp).
std::vector<std::string> member_names(hid_t group, const std::string& where);
// Every 1-D float64 dataset of a group, by name.
std::map<std::string, std::vector<double>> read_double_arrays(hid_t group, const RowTransfer& transfer,
                                                              const std::string& where);

// ---- resumable outputs (hdf5_resume.cpp) ----
// A stage's output is written in place; a killed run leaves it without the root attribute
// complete=1. The next run inspects it: started from the same inputs and options (the root
// attribute resume_key) it continues, otherwise it starts over. /progress/done holds one byte
// per row (chip slot, feature row): 1 once the row is on disk, set only after a flush.

// What lies at an output path before a stage writes it.
struct ExistingOutput {
  enum class Kind { absent, complete, incomplete, unusable };
  Kind kind = Kind::absent;
  std::string format;      // root attribute 'format' ("" when absent)
  std::string resume_key;  // root attribute 'resume_key' ("" when absent)
  std::string problem;     // why an unusable file cannot be used
};
// Collective: looks at `path` (a complete file is only read; an incomplete one left by a killed
// writer has its superblock's "open for writing" flags cleared, as h5clear does, so that it can
// be opened again). Never throws for a bad file: it is reported as unusable.
ExistingOutput inspect_output(const std::filesystem::path& path, MPI_Comm comm);
// Removes `path` (a dataset or group) when it exists: a table a killed run began to write.
void remove_link(hid_t file, const std::string& path);

inline constexpr const char* kProgressDone = "/progress/done";
inline constexpr const char* kAttrResumeKey = "resume_key";
// Collective: creates /progress/done [n] (uint8), all zero, and stores the resume key.
Handle create_progress(hid_t file, MPI_Comm comm, const RowTransfer& transfer, std::int64_t n,
                       const std::string& resume_key);
// Collective: every rank gets the whole /progress/done ([n] zeros when the file has none).
std::vector<std::uint8_t> read_progress(hid_t file, const RowTransfer& transfer, std::int64_t n);
// Collective; each rank passes its own (first, count) ranges, possibly none: sets those
// elements of a 1-D uint8 dataset to `value` in one write.
void fill_ranges(hid_t dataset, const RowTransfer& transfer,
                 const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges, std::uint8_t value);
// Collective: throws InputError on every rank unless `file` is an incomplete file of `format`
// begun with the layout whose key is `layout_key` and holding a progress record.
void check_resumable(hid_t file, MPI_Comm comm, const std::string& format, const std::string& layout_key,
                     const std::string& where);
// Collective: flushes `file`, sets the progress bytes of `ranges` (this rank's rows written
// since the last checkpoint; cleared), flushes again. Data first, then the record that vouches
// for it: a kill in between only loses the record.
void checkpoint_progress(hid_t file, hid_t progress, const RowTransfer& transfer,
                         std::vector<std::pair<std::int64_t, std::int64_t>>& ranges, const std::string& where);
// Opens an existing dataset of a file being resumed.
Handle open_dataset(hid_t file, const std::string& name, const std::string& where);
// Collective. For a reader's message about an incomplete output: what its progress record says
// ("; 704 of 3000 rows are on disk: re-run the same command to resume"; "; re-run it" without one).
std::string progress_note(hid_t file, const RowTransfer& transfer, const std::string& rows);
// 16 lowercase hex digits of a fingerprint value.
std::string to_hex(std::uint64_t value);

// Runs of rows [first, first+count) whose done byte is 0, cut into pieces of at most `batch`
// rows: the work left to a rank whose share is those rows. Pure.
std::vector<std::pair<std::int64_t, std::int64_t>> pending_runs(const std::vector<std::uint8_t>& done,
                                                                std::int64_t first, std::int64_t count,
                                                                std::int64_t batch);

// The archive's on-disk names and record types (docs/archive-format.md).
namespace schema {
inline constexpr const char* kMagnitude = "/chips/magnitude";
inline constexpr const char* kPhase = "/chips/phase";
inline constexpr const char* kLabel = "/chips/label";
inline constexpr const char* kValid = "/chips/valid";
inline constexpr const char* kMeta = "/chips/meta";
inline constexpr const char* kClassNames = "/class_names";
inline constexpr const char* kBandNames = "/band_names";
inline constexpr const char* kSources = "/sources";
inline constexpr const char* kRejects = "/rejects";
inline constexpr const char* kProvenance = "/provenance";
inline constexpr const char* kAttrFormat = "format";
inline constexpr const char* kAttrFormatVersion = "format_version";
inline constexpr const char* kAttrSarscaleVersion = "sarscale_version";
inline constexpr const char* kAttrComplete = "complete";

// Field indices of the records below (must follow the add() order).
enum MetaField : std::size_t {
  kSourceIndex,
  kTileRow,
  kTileCol,
  kOrigRows,
  kOrigCols,
  kAzimuth,
  kDepression,
  kTargetType,
  kSerial,
  kPolarisation
};
enum SourceField : std::size_t { kSrcBytes, kSrcFirstChip, kSrcChipCount, kSrcPath, kSrcFormat, kSrcCalibration };
enum RejectField : std::size_t { kRejPath, kRejReason };

RecordType meta_record(std::size_t text_width);
RecordType source_record(std::size_t path_width, std::size_t format_width, std::size_t calibration_width);
RecordType reject_record(std::size_t path_width, std::size_t reason_width);
}  // namespace schema

}  // namespace sarscale::io::h5
