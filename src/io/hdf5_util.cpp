#include "sarscale/io/hdf5_util.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <utility>

#include "sarscale/core/error.hpp"
#include "sarscale/io/agree.hpp"
#include "failure_state.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::io::h5 {

// ---- handles and errors ------------------------------------------------------------

namespace {
// Set once a file was left open or an H5Fclose failed: HDF5 must then not be shut down.
bool library_unsafe_to_close = false;
bool io_failure_was_agreed = false;

herr_t close_and_note(hid_t id, Handle::Closer closer) {
  const bool file = H5Iget_type(id) == H5I_FILE;
  const herr_t rc = closer(id);
  if (rc < 0 && file) library_unsafe_to_close = true;
  return rc;
}
}  // namespace

Handle::Handle(hid_t id, Closer closer, std::string_view what) : id_(id), closer_(closer) {
  if (id_ < 0) fail(what);
}

Handle::Handle(Handle&& other) noexcept
    : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(std::exchange(other.closer_, nullptr)) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    closer_ = std::exchange(other.closer_, nullptr);
  }
  return *this;
}

Handle::~Handle() { reset(); }

void Handle::reset() noexcept {
  if (id_ >= 0 && closer_) {
    QuietErrors quiet;
    close_and_note(id_, closer_);
    H5Eclear2(H5E_DEFAULT);
  }
  id_ = H5I_INVALID_HID;
}

void Handle::close(std::string_view what) {
  if (id_ < 0) return;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  check(close_and_note(id, closer_), what);
}

void open_library() noexcept {
  H5dont_atexit();
  H5open();
}

void close_library() noexcept {
  if (library_unsafe_to_close) return;
  QuietErrors quiet;
  H5close();
}

QuietErrors::QuietErrors() {
  H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

QuietErrors::~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_); }

namespace {
thread_local const ReadingFile* current_reading = nullptr;
}  // namespace

ReadingFile::ReadingFile(std::string file) : file_(std::move(file)), outer_(current_reading) {
  current_reading = this;
}

ReadingFile::~ReadingFile() { current_reading = outer_; }

namespace {
struct StackText {
  std::vector<std::string> lines;
  std::string innermost;  // the description of the deepest entry: why the call failed
};

herr_t collect_error(unsigned, const H5E_error2_t* err, void* data) {
  try {
    auto* text = static_cast<StackText*>(data);
    std::string line = err->func_name ? err->func_name : "?";
    line += ": ";
    line += err->desc ? err->desc : "";
    char minor[160] = {0};
    if (H5Eget_msg(err->min_num, nullptr, minor, sizeof minor) > 0) {
      line += " (";
      line += minor;
      line += ")";
    }
    text->lines.push_back(std::move(line));
    if (err->desc && *err->desc) text->innermost = err->desc;
  } catch (...) {
    return -1;  // stop walking; never let an exception cross the C library
  }
  return 0;
}

StackText take_stack() {
  StackText text;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &text);
  H5Eclear2(H5E_DEFAULT);
  return text;
}
}  // namespace

std::string take_error_reason() {
  const StackText text = take_stack();
  std::string stack;
  for (const auto& line : text.lines) stack += (stack.empty() ? "" : "; ") + line;
  log::debug("HDF5 error stack: ", stack);
  return text.innermost.empty() ? "no details" : text.innermost;
}

namespace {
// Thrown while reading a file (ReadingFile): the file, what failed (without the file's name
// when `what` already starts with it) and HDF5's reason.
[[noreturn]] void fail_reading(const ReadingFile& reading, std::string_view what) {
  const std::string reason = take_error_reason();
  std::string_view detail = what;
  if (detail.starts_with(reading.file())) detail.remove_prefix(reading.file().size());
  while (!detail.empty() && (detail.front() == ':' || detail.front() == ' ')) detail.remove_prefix(1);
  throw InputError(reading.file() + " is damaged or unreadable: " + std::string(detail) + " failed (HDF5: " + reason +
                   ")");
}
}  // namespace

std::string take_error_stack() {
  const StackText text = take_stack();
  if (text.lines.empty()) return "no HDF5 error details";
  // The outermost entry says what failed, the innermost ones why; keep both ends of a
  // long stack so the message stays readable.
  constexpr std::size_t kKeep = 6;
  std::string out;
  for (std::size_t i = 0; i < text.lines.size(); ++i) {
    if (text.lines.size() > kKeep && i == 2) {
      out += "...; ";
      i = text.lines.size() - (kKeep - 2);
    }
    out += text.lines[i];
    if (i + 1 < text.lines.size()) out += "; ";
  }
  return out;
}

void fail(std::string_view what) {
  if (current_reading) fail_reading(*current_reading, what);
  const std::string stack = take_error_stack();
  throw IoError(std::string(what) + ": " + stack);
}

herr_t check(herr_t rc, std::string_view what) {
  if (rc < 0) fail(what);
  return rc;
}

namespace {
// The name of the file holding `object` ("" when HDF5 cannot say).
std::string file_name_of(hid_t object) {
  const ssize_t n = H5Fget_name(object, nullptr, 0);
  if (n <= 0) return {};
  std::string name(static_cast<std::size_t>(n) + 1, '\0');
  H5Fget_name(object, name.data(), name.size());
  name.resize(static_cast<std::size_t>(n));
  return name;
}

// Why writing to `file` failed, when the file system says: "No space left on device" (errno, or
// no free block left: Open MPI's MPI-IO reports a full disk only as a short write).
std::string file_system_reason(const std::string& file, int saved_errno) {
  if (saved_errno == ENOSPC || saved_errno == EDQUOT) return std::strerror(saved_errno);
  struct statvfs fs {};
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  if (!file.empty() && statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0 && fs.f_bavail == 0)
    return std::strerror(ENOSPC);
  return {};
}
}  // namespace

void fail_write(hid_t object, std::string_view what, int saved_errno) {
  const std::string stack = take_error_stack();
  const std::string file = file_name_of(object);
  H5Eclear2(H5E_DEFAULT);
  fail_write_to(file, what, saved_errno, stack);
}

void fail_write_to(const std::string& file, std::string_view what, int saved_errno, const std::string& stack) {
  const std::string reason = file_system_reason(file, saved_errno);
  std::string message(what);
  if (!file.empty() && message.find(file) == std::string::npos) message += " of " + file;
  message += ": ";
  if (!reason.empty()) message += reason + " (HDF5: " + stack + ")";
  else message += stack;
  throw IoError(message);
}

void flush_collectively(hid_t file, MPI_Comm comm, std::string_view what) {
  agree_on(comm, [&] { check_write(file, what, [&] { return H5Fflush(file, H5F_SCOPE_GLOBAL); }); });
}

void close_file_collectively(Handle& file, MPI_Comm comm, std::string_view what) {
  const std::string name = file_name_of(file.get());
  agree_on(comm, [&] {
    errno = 0;
    try {
      file.close(what);
    } catch (const IoError& e) {
      const std::string reason = file_system_reason(name, errno);
      if (reason.empty()) throw;
      throw IoError(std::string(what) + ": " + reason + " (" + e.what() + ")");
    }
  });
}

// ---- strings and attributes --------------------------------------------------------

Handle fixed_string_type(std::size_t width) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy(string)");
  check(H5Tset_size(type.get(), std::max<std::size_t>(width, 1)), "H5Tset_size");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  return type;
}

bool put_text(char* field, std::size_t width, std::string_view value) {
  std::size_t n = value.size();
  const bool fits = n <= width;
  if (!fits) {
    n = width;
    // Step back over UTF-8 continuation bytes (10xxxxxx) so no character is cut in half.
    while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
  }
  std::memcpy(field, value.data(), n);
  std::memset(field + n, 0, width - n);
  return fits;
}

std::string get_text(const char* field, std::size_t width) {
  const void* nul = std::memchr(field, 0, width);
  const std::size_t n = nul ? static_cast<std::size_t>(static_cast<const char*>(nul) - field) : width;
  return std::string(field, n);
}

namespace {
void delete_attribute_if_present(hid_t object, const std::string& name) {
  const htri_t exists = check(H5Aexists(object, name.c_str()), "H5Aexists(" + name + ")");
  if (exists > 0) check(H5Adelete(object, name.c_str()), "H5Adelete(" + name + ")");
}
}  // namespace

void write_string_attribute(hid_t object, const std::string& name, const std::string& value) {
  delete_attribute_if_present(object, name);
  const Handle type = fixed_string_type(value.size());
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate(scalar)");
  const Handle attr(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                    "cannot create attribute '" + name + "'");
  // One extra byte so that an empty value still passes a valid buffer.
  std::string padded = value;
  padded.resize(std::max<std::size_t>(value.size(), 1), '\0');
  check(H5Awrite(attr.get(), type.get(), padded.data()), "cannot write attribute '" + name + "'");
}

void write_int_attribute(hid_t object, const std::string& name, std::int64_t value) {
  delete_attribute_if_present(object, name);
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate(scalar)");
  const Handle attr(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                    "cannot create attribute '" + name + "'");
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), "cannot write attribute '" + name + "'");
}

bool has_attribute(hid_t object, const std::string& name) {
  return check(H5Aexists(object, name.c_str()), "H5Aexists(" + name + ")") > 0;
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  try {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  } catch (...) {
    return -1;
  }
  return 0;
}

// Reads a scalar (or first element of a) string, integer or float attribute as text;
// false for other types.
bool attribute_text(hid_t attr, std::string& out) {
  const Handle type(H5Aget_type(attr), H5Tclose, "H5Aget_type");
  const Handle space(H5Aget_space(attr), H5Sclose, "H5Aget_space");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 1) return false;
  switch (H5Tget_class(type.get())) {
    case H5T_STRING: {
      if (H5Tis_variable_str(type.get()) > 0) {
        // Written by other tools (h5py writes variable-length strings by default).
        const Handle mem(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy");
        check(H5Tset_size(mem.get(), H5T_VARIABLE), "H5Tset_size");
        std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
        check(H5Aread(attr, mem.get(), ptrs.data()), "H5Aread(vlen string)");
        out = ptrs[0] ? ptrs[0] : "";
        H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
        return true;
      }
      const std::size_t width = H5Tget_size(type.get());
      std::vector<char> buf(width * static_cast<std::size_t>(n));
      check(H5Aread(attr, type.get(), buf.data()), "H5Aread(string)");
      out = get_text(buf.data(), width);
      return true;
    }
    case H5T_INTEGER: {
      std::vector<std::int64_t> v(static_cast<std::size_t>(n));
      check(H5Aread(attr, H5T_NATIVE_INT64, v.data()), "H5Aread(integer)");
      out = std::to_string(v[0]);
      return true;
    }
    case H5T_FLOAT: {
      std::vector<double> v(static_cast<std::size_t>(n));
      check(H5Aread(attr, H5T_NATIVE_DOUBLE, v.data()), "H5Aread(float)");
      std::ostringstream os;
      os.precision(17);
      os << v[0];
      out = os.str();
      return true;
    }
    default:
      return false;
  }
}
}  // namespace

std::map<std::string, std::string> read_attributes_as_text(hid_t object) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  // Native order, as member_names() walks links: a sorted walk of dense attribute storage copies
  // every attribute into a table first, which HDF5 1.10 mishandles when a damaged one stops it.
  check(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, collect_name, &names), "reading the attributes");
  std::map<std::string, std::string> out;
  for (const auto& name : names) {
    const Handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose, "H5Aopen(" + name + ")");
    std::string text;
    if (attribute_text(attr.get(), text)) out.emplace(name, std::move(text));
  }
  return out;
}

// ---- records -----------------------------------------------------------------------

RecordType& RecordType::add(std::string name, Kind kind, std::size_t text_width) {
  std::size_t width = 0;
  switch (kind) {
    case Kind::int64:
      width = 8;
      break;
    case Kind::int32:
      width = 4;
      break;
    case Kind::float32:
      width = 4;
      break;
    case Kind::text:
      width = std::max<std::size_t>(text_width, 1);
      break;
  }
  fields_.push_back(Field{std::move(name), kind, width, size_});
  size_ += width;
  return *this;
}

namespace {
Handle build_compound(const RecordType& rec, bool file) {
  Handle type(H5Tcreate(H5T_COMPOUND, rec.size()), H5Tclose, "H5Tcreate(compound)");
  for (std::size_t i = 0; i < rec.field_count(); ++i) {
    const auto& f = rec.field(i);
    hid_t member = H5I_INVALID_HID;
    Handle text;
    switch (f.kind) {
      case RecordType::Kind::int64:
        member = file ? H5T_STD_I64LE : H5T_NATIVE_INT64;
        break;
      case RecordType::Kind::int32:
        member = file ? H5T_STD_I32LE : H5T_NATIVE_INT32;
        break;
      case RecordType::Kind::float32:
        member = file ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT;
        break;
      case RecordType::Kind::text:
        text = fixed_string_type(f.width);
        member = text.get();
        break;
    }
    check(H5Tinsert(type.get(), f.name.c_str(), f.offset, member), "H5Tinsert(" + f.name + ")");
  }
  return type;
}
}  // namespace

Handle RecordType::memory_type() const { return build_compound(*this, false); }
Handle RecordType::file_type() const { return build_compound(*this, true); }

RecordType RecordType::matching(hid_t dataset_type, const RecordType& expected, const std::string& where) {
  if (H5Tget_class(dataset_type) != H5T_COMPOUND)
    throw InputError(where + " is not a table of records (not an HDF5 compound type)");
  RecordType out;
  for (const auto& f : expected.fields_) {
    const int idx = H5Tget_member_index(dataset_type, f.name.c_str());
    if (idx < 0) {
      H5Eclear2(H5E_DEFAULT);
      throw InputError(where + " lacks the field '" + f.name + "'");
    }
    const H5T_class_t cls = H5Tget_member_class(dataset_type, static_cast<unsigned>(idx));
    const bool text = f.kind == Kind::text;
    const bool ok = text ? cls == H5T_STRING : (f.kind == Kind::float32 ? cls == H5T_FLOAT : cls == H5T_INTEGER);
    if (!ok) throw InputError(where + ": field '" + f.name + "' has an unexpected type");
    std::size_t width = 0;
    if (text) {
      const Handle member(H5Tget_member_type(dataset_type, static_cast<unsigned>(idx)), H5Tclose, "H5Tget_member_type");
      if (H5Tis_variable_str(member.get()) > 0)
        throw InputError(where + ": field '" + f.name + "' is a variable-length string (the archive uses fixed)");
      width = H5Tget_size(member.get());
    }
    out.add(f.name, f.kind, width);
  }
  return out;
}

void RecordType::put_int64(char* rec, std::size_t i, std::int64_t v) const {
  std::memcpy(rec + fields_[i].offset, &v, sizeof v);
}
void RecordType::put_int32(char* rec, std::size_t i, std::int32_t v) const {
  std::memcpy(rec + fields_[i].offset, &v, sizeof v);
}
void RecordType::put_float32(char* rec, std::size_t i, float v) const {
  std::memcpy(rec + fields_[i].offset, &v, sizeof v);
}
bool RecordType::put_text(char* rec, std::size_t i, std::string_view v) const {
  return h5::put_text(rec + fields_[i].offset, fields_[i].width, v);
}
std::int64_t RecordType::get_int64(const char* rec, std::size_t i) const {
  std::int64_t v;
  std::memcpy(&v, rec + fields_[i].offset, sizeof v);
  return v;
}
std::int32_t RecordType::get_int32(const char* rec, std::size_t i) const {
  std::int32_t v;
  std::memcpy(&v, rec + fields_[i].offset, sizeof v);
  return v;
}
float RecordType::get_float32(const char* rec, std::size_t i) const {
  float v;
  std::memcpy(&v, rec + fields_[i].offset, sizeof v);
  return v;
}
std::string RecordType::get_text(const char* rec, std::size_t i) const {
  return h5::get_text(rec + fields_[i].offset, fields_[i].width);
}

// ---- row transfers -----------------------------------------------------------------

RowTransfer::RowTransfer(MPI_Comm comm, bool collective)
    : comm_(comm), collective_(collective), plist_(H5Pcreate(H5P_DATASET_XFER), H5Pclose, "H5Pcreate(xfer)") {
  check(H5Pset_dxpl_mpio(plist_.get(), collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT), "H5Pset_dxpl_mpio");
  // One linked-chunk MPI-IO call for all chunks a rank touches, rather than per-chunk
  // collectives: the chip blocks are contiguous runs of whole chunks.
  if (collective) check(H5Pset_dxpl_mpio_chunk_opt(plist_.get(), H5FD_MPIO_CHUNK_ONE_IO), "chunk_opt");
}

DatasetShape dataset_shape(hid_t dataset) {
  const Handle space(H5Dget_space(dataset), H5Sclose, "H5Dget_space");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1) fail("dataset is not an array");
  DatasetShape shape;
  shape.dims.resize(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), shape.dims.data(), nullptr);
  shape.rows = static_cast<std::int64_t>(shape.dims[0]);
  for (std::size_t i = 1; i < shape.dims.size(); ++i) shape.row_elements *= static_cast<std::int64_t>(shape.dims[i]);
  return shape;
}

namespace {
// A dataset's path in its file ("/chips/magnitude"), for messages.
std::string object_name(hid_t object) {
  const ssize_t n = H5Iget_name(object, nullptr, 0);
  if (n <= 0) return "a dataset";
  std::string name(static_cast<std::size_t>(n) + 1, '\0');
  H5Iget_name(object, name.data(), name.size());
  name.resize(static_cast<std::size_t>(n));
  return name;
}

// One H5Dwrite/H5Dread of rows [first, first+count); count 0 selects nothing.
void transfer_once(bool write, const RowTransfer& t, hid_t dataset, hid_t memory_type, const DatasetShape& shape,
                   std::int64_t first, std::int64_t count, void* buffer) {
  const Handle file_space(H5Dget_space(dataset), H5Sclose, "H5Dget_space");
  Handle mem_space;
  if (count == 0) {
    const hsize_t one = 1;
    mem_space = Handle(H5Screate_simple(1, &one, nullptr), H5Sclose, "H5Screate_simple");
    check(H5Sselect_none(file_space.get()), "H5Sselect_none");
    check(H5Sselect_none(mem_space.get()), "H5Sselect_none");
  } else {
    std::vector<hsize_t> start(shape.dims.size(), 0), block(shape.dims);
    start[0] = static_cast<hsize_t>(first);
    block[0] = static_cast<hsize_t>(count);
    check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr),
          "H5Sselect_hyperslab");
    // The memory space has the shape of the file block: HDF5 then maps chunks by
    // hyperslab arithmetic; a differently shaped (e.g. flat) memory space makes it visit
    // every element, which costs more than the I/O itself.
    mem_space =
        Handle(H5Screate_simple(static_cast<int>(block.size()), block.data(), nullptr), H5Sclose, "H5Screate_simple");
  }
  // HDF5 rejects a null buffer even for an empty selection.
  char dummy = 0;
  void* buf = buffer ? buffer : &dummy;
  if (write)
    check_write(dataset, "writing " + object_name(dataset), [&] {
      return H5Dwrite(dataset, memory_type, mem_space.get(), file_space.get(), t.plist(), buf);
    });
  else
    check(H5Dread(dataset, memory_type, mem_space.get(), file_space.get(), t.plist(), buf), "H5Dread");
}

void transfer_rows(bool write, const RowTransfer& t, hid_t dataset, hid_t memory_type, std::int64_t first,
                   std::int64_t count, void* buffer) {
  const DatasetShape shape = dataset_shape(dataset);
  const std::int64_t row_bytes =
      std::max<std::int64_t>(1, shape.row_elements * static_cast<std::int64_t>(H5Tget_size(memory_type)));
  const std::int64_t rows_per_piece = std::max<std::int64_t>(1, kMaxPieceBytes / row_bytes);
  const std::int64_t my_pieces = (count + rows_per_piece - 1) / rows_per_piece;
  const std::int64_t pieces = t.collective() ? max_over_ranks(t.comm(), my_pieces) : my_pieces;
  auto* bytes = static_cast<char*>(buffer);
  for (std::int64_t p = 0; p < pieces; ++p) {
    const std::int64_t begin = std::min(count, p * rows_per_piece);
    const std::int64_t n = std::min(count - begin, rows_per_piece);
    const auto once = [&] {
      transfer_once(write, t, dataset, memory_type, shape, first + begin, n, n > 0 ? bytes + begin * row_bytes : nullptr);
    };
    // A collective transfer can fail on some ranks only (the one whose write met a full disk):
    // every rank learns of it before the next collective call.
    if (t.collective())
      agree_on(t.comm(), once);
    else
      once();
  }
}
}  // namespace

void write_rows(const RowTransfer& t, hid_t dataset, hid_t memory_type, std::int64_t first, std::int64_t count,
                const void* buffer) {
  // HDF5's write takes a const buffer; the shared helper only reads it when writing.
  transfer_rows(true, t, dataset, memory_type, first, count, const_cast<void*>(buffer));
}

void read_rows(const RowTransfer& t, hid_t dataset, hid_t memory_type, std::int64_t first, std::int64_t count,
               void* buffer) {
  transfer_rows(false, t, dataset, memory_type, first, count, buffer);
}

// ---- agreement across ranks --------------------------------------------------------

Fingerprint& Fingerprint::add(std::string_view bytes) {
  add(static_cast<std::int64_t>(bytes.size()));
  for (const char c : bytes) {
    h_ ^= static_cast<unsigned char>(c);
    h_ *= 1099511628211ULL;
  }
  return *this;
}

Fingerprint& Fingerprint::add(std::int64_t v) {
  for (int i = 0; i < 8; ++i) {
    h_ ^= static_cast<std::uint64_t>(v >> (8 * i)) & 0xFF;
    h_ *= 1099511628211ULL;
  }
  return *this;
}

std::string Fingerprint::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
  return buf;
}

namespace {
void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw IoError(std::string(what) + " failed (MPI error " + std::to_string(rc) + ")");
}
}  // namespace

void agree_or_throw(MPI_Comm comm, const std::string& local_problem, const std::string& context) {
  std::exception_ptr local;
  if (!local_problem.empty()) local = std::make_exception_ptr(ConfigError(context + ": " + local_problem));
  agree_on_failure(comm, local);
}

bool all_ranks_ok(MPI_Comm comm, bool local_ok) {
  int local = local_ok ? 1 : 0, global = 0;
  check_mpi(MPI_Allreduce(&local, &global, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  return global == 1;
}

void require_identical(MPI_Comm comm, std::uint64_t fingerprint, std::string_view what) {
  // max(v) and max(~v) = ~min(v) in one reduction.
  std::uint64_t local[2] = {fingerprint, ~fingerprint}, global[2] = {0, 0};
  check_mpi(MPI_Allreduce(local, global, 2, MPI_UINT64_T, MPI_MAX, comm), "MPI_Allreduce");
  if (global[0] != ~global[1])
    throw ConfigError(std::string(what) + " differs between MPI ranks; it must be identical on all of them");
}

std::int64_t sum_over_ranks(MPI_Comm comm, std::int64_t v) {
  std::int64_t out = 0;
  check_mpi(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_SUM, comm), "MPI_Allreduce");
  return out;
}

std::int64_t max_over_ranks(MPI_Comm comm, std::int64_t v) {
  std::int64_t out = 0;
  check_mpi(MPI_Allreduce(&v, &out, 1, MPI_INT64_T, MPI_MAX, comm), "MPI_Allreduce");
  return out;
}

// ---- schema ------------------------------------------------------------------------

namespace schema {

RecordType meta_record(std::size_t text_width) {
  using K = RecordType::Kind;
  RecordType r;
  r.add("source_index", K::int64)
      .add("tile_row", K::int32)
      .add("tile_col", K::int32)
      .add("orig_rows", K::int32)
      .add("orig_cols", K::int32)
      .add("azimuth_deg", K::float32)
      .add("depression_deg", K::float32)
      .add("target_type", K::text, text_width)
      .add("serial", K::text, text_width)
      .add("polarisation", K::text, text_width);
  return r;
}

RecordType source_record(std::size_t path_width, std::size_t format_width, std::size_t calibration_width) {
  using K = RecordType::Kind;
  RecordType r;
  r.add("bytes", K::int64)
      .add("first_chip", K::int64)
      .add("chip_count", K::int64)
      .add("path", K::text, path_width)
      .add("format", K::text, format_width)
      .add("calibration", K::text, calibration_width);
  return r;
}

RecordType reject_record(std::size_t path_width, std::size_t reason_width) {
  using K = RecordType::Kind;
  RecordType r;
  r.add("path", K::text, path_width).add("reason", K::text, reason_width);
  return r;
}

}  // namespace schema
}  // namespace sarscale::io::h5

namespace sarscale::io::detail {
void note_io_failure_agreed() noexcept { h5::io_failure_was_agreed = true; }
bool io_failure_agreed() noexcept { return h5::io_failure_was_agreed; }
void note_library_unsafe_to_close() noexcept { h5::library_unsafe_to_close = true; }
}  // namespace sarscale::io::detail
