// Parallel HDF5 files, datasets and tables shared by the chip archive and the feature file.
#include <algorithm>
#include <exception>

#include "sarscale/core/error.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "failure_state.hpp"

namespace sarscale::io::h5 {

namespace {

constexpr hsize_t kAlignment = hsize_t{1} << 20;
constexpr hsize_t kAlignThreshold = hsize_t{512} << 10;
// Tables: chunk size, write block size and deflate level (1: fast, and fixed-length
// padded strings compress well at any level).
constexpr std::int64_t kTableChunkBytes = std::int64_t{1} << 20;
constexpr std::int64_t kTableBlockBytes = std::int64_t{64} << 20;
constexpr unsigned kDeflateLevel = 1;

}  // namespace

namespace {

// How every writer opens its file: MPI-IO, the 1.10 format, 1 MiB alignment, collective metadata.
Handle writer_fapl(MPI_Comm comm) {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate(fapl)");
  check(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "H5Pset_libver_bounds");
  check(H5Pset_alignment(fapl.get(), kAlignThreshold, kAlignment), "H5Pset_alignment");
  // One rank reads metadata and cache flushes are split among ranks in one MPI-IO call.
  check(H5Pset_all_coll_metadata_ops(fapl.get(), 1), "H5Pset_all_coll_metadata_ops");
  check(H5Pset_coll_metadata_write(fapl.get(), 1), "H5Pset_coll_metadata_write");
  return fapl;
}

// Closing a file shared by several ranks is collective (MPI_File_close, and HDF5's flush). While
// an exception unwinds, it is left open when the exception was raised on this rank alone (the
// others never join the close: `main` ends the job with MPI_Abort) or when the ranks agreed on an
// I/O failure (a flush after a failed write can leave ranks in different collectives). MPI_Finalize
// then closes the MPI-IO file; the output stays incomplete, as a killed run's would. Any other
// exception every rank raised together (io/agree.hpp) closes it normally.
herr_t close_shared_file(hid_t file) {
  if (unwinding_alone() || (std::uncaught_exceptions() > 0 && detail::io_failure_agreed())) {
    detail::note_library_unsafe_to_close();
    return 0;
  }
  return H5Fclose(file);
}

// The closer for a file opened through MPI-IO on `comm` (one rank alone closes it normally).
Handle::Closer file_closer(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size > 1 ? close_shared_file : H5Fclose;
}

}  // namespace

Handle create_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what) {
  const Handle fapl = writer_fapl(comm);
  return Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), file_closer(comm),
                "cannot create " + what + " " + path.string());
}

Handle reopen_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what) {
  const Handle fapl = writer_fapl(comm);
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
  if (f < 0) throw InputError("cannot reopen " + what + " " + path.string() + " to resume: " + take_error_stack());
  return Handle(f, file_closer(comm), "H5Fopen");
}

Handle open_parallel_file(const std::filesystem::path& path, MPI_Comm comm, const std::string& what) {
  std::error_code ec;
  const bool exists = std::filesystem::is_regular_file(path, ec);
  if (!all_ranks_ok(comm, exists)) {
    // A run that did not finish leaves its output under the in-progress name (io/output_policy.hpp).
    const std::filesystem::path part = path.string() + ".part";
    const std::string unfinished = std::filesystem::exists(part, ec)
                                       ? "; a run that did not finish left " + part.string() +
                                             ": re-run the same command to resume it"
                                       : "";
    throw InputError("cannot open " + what + " " + path.string() +
                     (exists ? ": it is not visible from every MPI rank" : ": no such file" + unfinished));
  }
  const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate(fapl)");
  check(H5Pset_fapl_mpio(fapl.get(), comm, MPI_INFO_NULL), "H5Pset_fapl_mpio");
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (fid < 0) {
    const std::string reason = take_error_reason();
    const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
    H5Eclear2(H5E_DEFAULT);
    if (is_hdf5 <= 0) throw InputError("cannot open " + what + " " + path.string() + ": not an HDF5 file");
    throw InputError("cannot open " + what + " " + path.string() +
                     ": the HDF5 file is damaged, truncated or was not closed by its writer (HDF5: " + reason + ")");
  }
  return Handle(fid, file_closer(comm), "H5Fopen");
}

bool link_exists(hid_t file, const std::string& path) {
  // H5Lexists needs every intermediate group to exist: check each prefix in turn.
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
    if (H5Lexists(file, path.substr(0, slash).c_str(), H5P_DEFAULT) <= 0) return false;
  return H5Lexists(file, path.c_str(), H5P_DEFAULT) > 0;
}

Handle create_dataset(hid_t loc, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                      const std::vector<hsize_t>& chunk, bool compress) {
  const Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
                     "H5Screate_simple");
  const Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "H5Pcreate(dcpl)");
  if (!chunk.empty()) check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk");
  check(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time");
  check(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), "H5Pset_fill_time");
  if (compress && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0)
    check(H5Pset_deflate(dcpl.get(), kDeflateLevel), "H5Pset_deflate");
  return Handle(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose,
                "cannot create dataset " + name);
}

void write_table(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name, hid_t file_type,
                 hid_t memory_type, std::int64_t n, const std::function<void(char*, std::int64_t)>& pack_row) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const auto rec = static_cast<std::int64_t>(H5Tget_size(memory_type));
  const std::int64_t chunk_rows = std::clamp<std::int64_t>(kTableChunkBytes / rec, 1, std::max<std::int64_t>(n, 1));
  // An empty table cannot be chunked (HDF5 needs chunk <= extent for fixed sizes).
  const Handle dset = n == 0 ? create_dataset(loc, name, file_type, {0}, {})
                             : create_dataset(loc, name, file_type, {static_cast<hsize_t>(n)},
                                              {static_cast<hsize_t>(chunk_rows)}, true);
  // Whole chunks per rank: parallel filtered writes then need no chunk shared between ranks.
  const std::int64_t chunks = (n + chunk_rows - 1) / chunk_rows;
  const std::int64_t begin = std::min(n, chunks * rank / size * chunk_rows);
  const std::int64_t end = std::min(n, chunks * (rank + 1) / size * chunk_rows);
  const std::int64_t block_rows = std::max<std::int64_t>(1, kTableBlockBytes / (chunk_rows * rec)) * chunk_rows;
  const std::int64_t rounds = max_over_ranks(comm, (end - begin + block_rows - 1) / block_rows);
  std::vector<char> buf;
  for (std::int64_t r = 0; r < rounds; ++r) {
    const std::int64_t first = std::min(end, begin + r * block_rows);
    const std::int64_t count = std::min(block_rows, end - first);
    buf.assign(static_cast<std::size_t>(count * rec), 0);
    for (std::int64_t i = 0; i < count; ++i) pack_row(buf.data() + i * rec, first + i);
    write_rows(transfer, dset.get(), memory_type, first, count, buf.data());
  }
}

void write_string_array(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name,
                        const std::vector<std::string>& values) {
  std::size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  const Handle type = fixed_string_type(width);
  write_table(loc, comm, transfer, name, type.get(), type.get(), static_cast<std::int64_t>(values.size()),
              [&](char* rec, std::int64_t i) { put_text(rec, width, values[static_cast<std::size_t>(i)]); });
}

std::vector<std::string> read_string_array(hid_t loc, const std::string& name, const RowTransfer& transfer,
                                           const std::string& where) {
  const Handle dset(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose, where + ": cannot open " + name);
  const Handle type(H5Dget_type(dset.get()), H5Tclose, "H5Dget_type");
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
    throw InputError(where + " is damaged: " + name + " is not a fixed-length string array");
  const std::size_t width = H5Tget_size(type.get());
  const std::int64_t n = dataset_shape(dset.get()).rows;
  std::vector<char> buf(static_cast<std::size_t>(n) * width);
  read_rows(transfer, dset.get(), type.get(), 0, n, buf.data());
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.push_back(get_text(buf.data() + static_cast<std::size_t>(i) * width, width));
  return out;
}

void write_double_array(hid_t loc, MPI_Comm comm, const RowTransfer& transfer, const std::string& name,
                        const std::vector<double>& values) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  const auto n = static_cast<std::int64_t>(values.size());
  const Handle dset = create_dataset(loc, name, H5T_IEEE_F64LE, {static_cast<hsize_t>(n)}, {});
  write_rows(transfer, dset.get(), H5T_NATIVE_DOUBLE, 0, rank == 0 ? n : 0, values.data());
}

namespace {
herr_t collect_link_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  try {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  } catch (...) {
    return -1;  // never let an exception cross the C library
  }
  return 0;
}
}  // namespace

std::vector<std::string> member_names(hid_t group, const std::string& where) {
  // Native order: HDF5 1.10 walks the group's own index. A sorted walk (H5_ITER_INC, or
  // H5Lget_name_by_idx) of a group with dense link storage first copies every link into a table,
  // and when a damaged link stops the copy half way, frees the entries it never filled: a
  // segfault on a flipped byte (issue 12, item 11). Callers sort or look names up themselves.
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Literate(group, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, collect_link_name, &names),
        where + ": cannot list its members");
  return names;
}

std::map<std::string, std::vector<double>> read_double_arrays(hid_t group, const RowTransfer& transfer,
                                                              const std::string& where) {
  std::map<std::string, std::vector<double>> out;
  for (std::string& name : member_names(group, where)) {
    H5O_info_t oinfo{};
    check(H5Oget_info_by_name2(group, name.c_str(), &oinfo, H5O_INFO_BASIC, H5P_DEFAULT), where + ": " + name);
    if (oinfo.type != H5O_TYPE_DATASET) continue;
    const Handle dset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose, where + ": cannot open " + name);
    const Handle type(H5Dget_type(dset.get()), H5Tclose, "H5Dget_type");
    const DatasetShape shape = dataset_shape(dset.get());
    if (H5Tget_class(type.get()) != H5T_FLOAT || shape.dims.size() != 1)
      throw InputError(where + " is damaged: " + name + " is not a 1-D floating-point array");
    std::vector<double> values(static_cast<std::size_t>(shape.rows));
    read_rows(transfer, dset.get(), H5T_NATIVE_DOUBLE, 0, shape.rows, values.data());
    out.emplace(std::move(name), std::move(values));
  }
  return out;
}

}  // namespace sarscale::io::h5
