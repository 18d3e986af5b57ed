// Resumable outputs: inspecting what a killed run left, reopening it, and the per-row
// progress record (docs/archive-format.md, "Resuming").
#include <algorithm>
#include <cstdio>
#include <map>

#include "sarscale/core/error.hpp"
#include "sarscale/io/agree.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "finish_output.hpp"

namespace sarscale::io::h5 {

namespace {

void broadcast_string(MPI_Comm comm, std::string& s) {
  auto n = static_cast<long long>(s.size());
  MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm);
  s.resize(static_cast<std::size_t>(n));
  if (n > 0) MPI_Bcast(s.data(), static_cast<int>(n), MPI_CHAR, 0, comm);
}

// A root attribute as text, "" when absent.
std::string attribute_or_empty(const std::map<std::string, std::string>& attrs, const char* name) {
  const auto it = attrs.find(name);
  return it == attrs.end() ? std::string() : it->second;
}

// Rank 0's look at the file through HDF5's default (POSIX) driver: no collective calls, so a
// damaged file cannot leave the other ranks waiting.
ExistingOutput inspect_locally(const std::filesystem::path& path) {
  ExistingOutput out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  if (!std::filesystem::is_regular_file(path, ec)) {
    out.kind = ExistingOutput::Kind::unusable;
    out.problem = "it is not a regular file";
    return out;
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    out.kind = ExistingOutput::Kind::unusable;
    out.problem = "it is not an HDF5 file";
    return out;
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    // A writer killed while the file was open leaves the superblock marked "open for writing";
    // HDF5 then refuses to open it. Clearing the mark is what h5clear -s does (the property is
    // HDF5's own, private to h5clear and its tests); the contents are judged below.
    H5Eclear2(H5E_DEFAULT);
    const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate(fapl)");
    hbool_t clear = true;
    if (H5Pset(fapl.get(), "clear_status_flags", &clear) >= 0) f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get());
    if (f < 0) {
      out.kind = ExistingOutput::Kind::unusable;
      out.problem = "the HDF5 file is damaged or truncated (" + take_error_stack() + ")";
      return out;
    }
  }
  const Handle file(f, H5Fclose, "H5Fopen");
  const auto attrs = read_attributes_as_text(f);
  out.format = attribute_or_empty(attrs, schema::kAttrFormat);
  out.resume_key = attribute_or_empty(attrs, kAttrResumeKey);
  out.kind = attribute_or_empty(attrs, schema::kAttrComplete) == "1" ? ExistingOutput::Kind::complete
                                                                    : ExistingOutput::Kind::incomplete;
  return out;
}

}  // namespace

ExistingOutput inspect_output(const std::filesystem::path& path, MPI_Comm comm) {
  QuietErrors quiet;
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  ExistingOutput out;
  if (rank == 0) {
    try {
      out = inspect_locally(path);
    } catch (const std::exception& e) {
      out.kind = ExistingOutput::Kind::unusable;
      out.problem = e.what();
    }
  }
  int kind = static_cast<int>(out.kind);
  MPI_Bcast(&kind, 1, MPI_INT, 0, comm);
  out.kind = static_cast<ExistingOutput::Kind>(kind);
  broadcast_string(comm, out.format);
  broadcast_string(comm, out.resume_key);
  broadcast_string(comm, out.problem);
  return out;
}

void remove_link(hid_t file, const std::string& path) {
  if (link_exists(file, path)) check(H5Ldelete(file, path.c_str(), H5P_DEFAULT), "removing " + path);
}

Handle create_progress(hid_t file, MPI_Comm comm, const RowTransfer& transfer, std::int64_t n,
                       const std::string& resume_key) {
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  write_string_attribute(file, kAttrResumeKey, resume_key);
  const Handle group(H5Gcreate2(file, "/progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                     "cannot create group /progress");
  Handle done = create_dataset(file, kProgressDone, H5T_STD_U8LE, {static_cast<hsize_t>(n)}, {});
  // Zeros written, not left to chance: the datasets are allocated without a fill pass.
  if (n > 0) {
    const std::int64_t begin = n * rank / size, end = n * (rank + 1) / size;
    fill_ranges(done.get(), transfer, {{begin, end - begin}}, 0);
  }
  return done;
}

std::vector<std::uint8_t> read_progress(hid_t file, const RowTransfer& transfer, std::int64_t n) {
  std::vector<std::uint8_t> done(static_cast<std::size_t>(n), 0);
  if (n == 0 || !link_exists(file, kProgressDone)) return done;
  const Handle dset = open_dataset(file, kProgressDone, "the file");
  if (dataset_shape(dset.get()).rows != n) throw InputError("/progress/done does not have one entry per row");
  read_rows(transfer, dset.get(), H5T_NATIVE_UINT8, 0, n, done.data());
  return done;
}

void fill_ranges(hid_t dataset, const RowTransfer& transfer,
                 const std::vector<std::pair<std::int64_t, std::int64_t>>& ranges, std::uint8_t value) {
  // One collective write over the union of this rank's ranges.
  const Handle file_space(H5Dget_space(dataset), H5Sclose, "H5Dget_space");
  check(H5Sselect_none(file_space.get()), "H5Sselect_none");
  for (const auto& [first, count] : ranges) {
    if (count == 0) continue;
    const hsize_t start = static_cast<hsize_t>(first), block = static_cast<hsize_t>(count);
    check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_OR, &start, nullptr, &block, nullptr),
          "H5Sselect_hyperslab");
  }
  const hssize_t selected = H5Sget_select_npoints(file_space.get());
  if (selected < 0) fail("H5Sget_select_npoints");
  const hsize_t mem_dims = std::max<hsize_t>(1, static_cast<hsize_t>(selected));
  const Handle mem_space(H5Screate_simple(1, &mem_dims, nullptr), H5Sclose, "H5Screate_simple");
  if (selected == 0) check(H5Sselect_none(mem_space.get()), "H5Sselect_none");
  const std::vector<std::uint8_t> values(mem_dims, value);
  check(H5Dwrite(dataset, H5T_NATIVE_UINT8, mem_space.get(), file_space.get(), transfer.plist(), values.data()),
        "writing a 1-D flag dataset");
}

void check_resumable(hid_t file, MPI_Comm comm, const std::string& format, const std::string& layout_key,
                     const std::string& where) {
  const auto attrs = read_attributes_as_text(file);
  std::string problem;
  if (attribute_or_empty(attrs, schema::kAttrFormat) != format)
    problem = "it is not a " + format + " file";
  else if (attribute_or_empty(attrs, schema::kAttrComplete) == "1")
    problem = "it is already complete";
  else if (attribute_or_empty(attrs, "layout_fingerprint") != layout_key || !link_exists(file, kProgressDone))
    problem = "it was begun with another layout or without a progress record";
  agree_or_throw(comm, problem, "resuming " + where);
}

void checkpoint_progress(hid_t file, hid_t progress, const RowTransfer& transfer,
                         std::vector<std::pair<std::int64_t, std::int64_t>>& ranges, const std::string& where) {
  flush_collectively(file, transfer.comm(), "flushing " + where);
  if (dataset_shape(progress).rows > 0) fill_ranges(progress, transfer, ranges, 1);
  flush_collectively(file, transfer.comm(), "flushing " + where);
  ranges.clear();
}

Handle open_dataset(hid_t file, const std::string& name, const std::string& where) {
  return Handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose, "cannot open " + name + " of " + where);
}

std::string progress_note(hid_t file, const RowTransfer& transfer, const std::string& rows) {
  if (!link_exists(file, kProgressDone)) return "; re-run it";
  const std::int64_t n = dataset_shape(open_dataset(file, kProgressDone, "the incomplete file").get()).rows;
  const std::vector<std::uint8_t> done = read_progress(file, transfer, n);
  const auto on_disk = std::count_if(done.begin(), done.end(), [](std::uint8_t d) { return d != 0; });
  return "; " + std::to_string(on_disk) + " of " + std::to_string(n) + " " + rows +
         " are on disk: re-run the same command to resume";
}

std::string to_hex(std::uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

std::vector<std::pair<std::int64_t, std::int64_t>> pending_runs(const std::vector<std::uint8_t>& done,
                                                                std::int64_t first, std::int64_t count,
                                                                std::int64_t batch) {
  std::vector<std::pair<std::int64_t, std::int64_t>> runs;
  batch = std::max<std::int64_t>(1, batch);
  const auto is_done = [&](std::int64_t i) {
    return static_cast<std::size_t>(i) < done.size() && done[static_cast<std::size_t>(i)] != 0;
  };
  std::int64_t i = first;
  const std::int64_t end = first + count;
  while (i < end) {
    if (is_done(i)) {
      ++i;
      continue;
    }
    std::int64_t j = i;
    while (j < end && j - i < batch && !is_done(j)) ++j;
    runs.emplace_back(i, j - i);
    i = j;
  }
  return runs;
}

void finish_output(Handle& file, MPI_Comm comm, const std::vector<std::pair<Handle*, std::string>>& datasets,
                   const std::string& where) {
  agree_on(comm, [&] {
    for (const auto& [dataset, name] : datasets) dataset->close("closing " + name);
  });
  // Data reaches the disk (MPI_File_sync) before the flag that vouches for it is written.
  flush_collectively(file.get(), comm, "flushing " + where);
  agree_on(comm, [&] { write_int_attribute(file.get(), schema::kAttrComplete, 1); });
  flush_collectively(file.get(), comm, "flushing " + where);
  close_file_collectively(file, comm, "closing " + where);
}

}  // namespace sarscale::io::h5
