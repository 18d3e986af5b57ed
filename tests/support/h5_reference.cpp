#include "h5_reference.hpp"

#include <hdf5.h>

#include <stdexcept>

namespace sarscale::test {

namespace {
[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("reference file: " + what); }

// HDF5 1.10 API (Debian 12); the *2/*3 variants arrived in 1.12.
herr_t collect_group(hid_t group, const char* name, const H5L_info_t*, void* out) {
  H5O_info_t info;
  if (H5Oget_info_by_name2(group, name, &info, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_GROUP)
    static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}
}  // namespace

H5Reference::H5Reference(const std::filesystem::path& file) {
  file_ = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file_ < 0) fail("cannot open " + file.string());
}

H5Reference::~H5Reference() { H5Fclose(static_cast<hid_t>(file_)); }

std::vector<std::string> H5Reference::groups(const std::string& path) const {
  std::vector<std::string> names;
  const hid_t g = H5Gopen2(static_cast<hid_t>(file_), path.c_str(), H5P_DEFAULT);
  if (g < 0) fail("no group " + path);
  hsize_t idx = 0;
  H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_group, &names);
  H5Gclose(g);
  return names;
}

H5Array H5Reference::dataset(const std::string& path) const {
  const hid_t d = H5Dopen2(static_cast<hid_t>(file_), path.c_str(), H5P_DEFAULT);
  if (d < 0) fail("no dataset " + path);
  const hid_t space = H5Dget_space(d);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  H5Array a;
  std::size_t n = 1;
  for (auto v : dims) {
    a.shape.push_back(v);
    n *= v;
  }
  a.values.resize(n);
  const herr_t rc = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a.values.data());
  H5Sclose(space);
  H5Dclose(d);
  if (rc < 0) fail("cannot read " + path);
  return a;
}

bool H5Reference::has_attribute(const std::string& object, const std::string& name) const {
  return H5Aexists_by_name(static_cast<hid_t>(file_), object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::vector<double> H5Reference::numbers(const std::string& object, const std::string& name) const {
  const hid_t a = H5Aopen_by_name(static_cast<hid_t>(file_), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) fail("no attribute " + object + "@" + name);
  const hid_t space = H5Aget_space(a);
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<double> out(static_cast<std::size_t>(n));
  const hid_t type = H5Aget_type(a);
  herr_t rc;
  if (H5Tget_class(type) == H5T_ENUM) {
    // h5py stores booleans as an int8 enum {FALSE=0, TRUE=1}: read the underlying integers.
    std::vector<long long> raw(out.size());
    rc = H5Aread(a, H5T_NATIVE_LLONG, raw.data());
    if (rc < 0) {
      const hid_t base = H5Tget_super(type);
      std::vector<signed char> small(out.size());
      rc = H5Aread(a, type, small.data());
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = small[i];
      H5Tclose(base);
    } else {
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(raw[i]);
    }
  } else {
    rc = H5Aread(a, H5T_NATIVE_DOUBLE, out.data());
  }
  H5Tclose(type);
  H5Sclose(space);
  H5Aclose(a);
  if (rc < 0) fail("cannot read attribute " + object + "@" + name);
  return out;
}

std::string H5Reference::text(const std::string& object, const std::string& name) const {
  const hid_t a = H5Aopen_by_name(static_cast<hid_t>(file_), object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) fail("no attribute " + object + "@" + name);
  const hid_t type = H5Aget_type(a);
  std::string out;
  if (H5Tis_variable_str(type) > 0) {
    char* s = nullptr;
    const hid_t mem = H5Tget_native_type(type, H5T_DIR_ASCEND);
    if (H5Aread(a, mem, &s) >= 0 && s) out = s;
    H5free_memory(s);
    H5Tclose(mem);
  } else {
    std::string buf(H5Tget_size(type), '\0');
    H5Aread(a, type, buf.data());
    out = buf.c_str();
  }
  H5Tclose(type);
  H5Aclose(a);
  return out;
}

}  // namespace sarscale::test
