#include "sarscale/io/checkpoint_file.hpp"

#include "sarscale/core/error.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::io {

using h5::Handle;

void write_checkpoint(const std::filesystem::path& path, const Checkpoint& c) {
  h5::QuietErrors quiet;
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate(fapl)");
    h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "H5Pset_libver_bounds");
    Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
                "cannot create checkpoint " + tmp.string());
    const hid_t f = file.get();
    h5::write_string_attribute(f, "format", kCheckpointFormatName);
    const Handle attrs(H5Gcreate2(f, "/attributes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                       "cannot create group /attributes");
    for (const auto& [k, v] : c.attributes) h5::write_string_attribute(attrs.get(), k, v);
    const Handle arrays(H5Gcreate2(f, "/arrays", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                        "cannot create group /arrays");
    const h5::RowTransfer independent(MPI_COMM_SELF, false);
    for (const auto& [k, v] : c.arrays) h5::write_double_array(arrays.get(), MPI_COMM_SELF, independent, k, v);
    h5::check(H5Fflush(f, H5F_SCOPE_GLOBAL), "flushing " + tmp.string());
    h5::write_int_attribute(f, "complete", 1);
    file.close("closing checkpoint " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
}

std::optional<Checkpoint> read_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  const std::string where = "checkpoint " + path.string();
  if (!is_hdf5_file(path)) throw InputError(where + " is not a sarscale checkpoint: it is not an HDF5 file");
  const h5::ReadingFile reading(where);
  const Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "opening it");
  const hid_t fid = file.get();
  const auto top = h5::read_attributes_as_text(fid);
  const auto format = top.find("format");
  if (format == top.end() || format->second != kCheckpointFormatName)
    throw InputError(where + " is " + describe_format(format == top.end() ? "" : format->second) +
                     ", not a sarscale checkpoint");
  const auto complete = top.find("complete");
  if (complete == top.end() || complete->second != "1") throw InputError(where + " is incomplete");
  Checkpoint c;
  const auto group = [&](const char* name) {
    const hid_t g = H5Gopen2(fid, name, H5P_DEFAULT);
    if (g < 0) throw InputError(where + " is damaged: no " + name);
    return Handle(g, H5Gclose, name);
  };
  const Handle attrs = group("/attributes");
  c.attributes = h5::read_attributes_as_text(attrs.get());
  const Handle arrays = group("/arrays");
  const h5::RowTransfer independent(MPI_COMM_SELF, false);
  c.arrays = h5::read_double_arrays(arrays.get(), independent, where);
  return c;
}

}  // namespace sarscale::io
