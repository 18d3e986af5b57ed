// Serial HDF5 reader and writer of the model file (docs/model-format.md).
#include "sarscale/io/model_file.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sarscale/core/error.hpp"
#include "sarscale/core/version.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::io {

namespace {

using h5::Handle;

// Numeric arrays of the model: 1-D float64 datasets in /svm (integers are stored as float64
// too, exactly: counts and labels are far below 2^53).
std::map<std::string, std::vector<double>> svm_arrays(const svm::SvmModel& m) {
  const auto as_double = [](const auto& v) { return std::vector<double>(v.begin(), v.end()); };
  std::map<std::string, std::vector<double>> a;
  a["labels"] = as_double(m.labels);
  a["sv_count"] = as_double(m.sv_count);
  a["support_vectors"] = m.support_vectors;
  a["sv_coef"] = m.sv_coef;
  a["rho"] = m.rho;
  a["prob_a"] = m.prob_a;
  a["prob_b"] = m.prob_b;
  a["sv_indices"] = as_double(m.sv_indices);
  a["kernel"] = {static_cast<double>(static_cast<int>(m.kernel.type)), static_cast<double>(m.kernel.degree),
                 m.kernel.gamma, m.kernel.coef0};
  a["dim"] = {static_cast<double>(m.dim)};
  return a;
}

void write_group(hid_t file, const std::string& name, const std::map<std::string, std::vector<double>>& arrays) {
  const Handle g(H5Gcreate2(file, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                 "cannot create group " + name);
  const h5::RowTransfer independent(MPI_COMM_SELF, false);
  for (const auto& [key, values] : arrays) h5::write_double_array(g.get(), MPI_COMM_SELF, independent, key, values);
}

// `d` as a T when it is a whole number T can hold (a cast of anything else is undefined).
template <typename T>
T whole(double d, const std::string& what, const std::string& where) {
  const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);
  if (!(d >= -limit && d < limit) || d != std::trunc(d))
    throw InputError(where + " is damaged: " + what + " is not a whole number in range");
  return static_cast<T>(d);
}

template <typename T>
std::vector<T> integers(const std::vector<double>& v, const std::string& what, const std::string& where) {
  std::vector<T> out;
  out.reserve(v.size());
  for (const double d : v) out.push_back(whole<T>(d, what, where));
  return out;
}

}  // namespace

void write_model_file(const std::filesystem::path& path, const ModelFile& m) {
  m.svm.check();
  h5::QuietErrors quiet;
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    const Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, "H5Pcreate(fapl)");
    h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "H5Pset_libver_bounds");
    Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose,
                "cannot create model file " + tmp.string());
    const hid_t f = file.get();
    h5::write_string_attribute(f, "format", kModelFormatName);
    h5::write_int_attribute(f, "format_version", kModelFormatVersion);
    h5::write_string_attribute(f, "sarscale_version", kVersion);
    h5::write_string_attribute(f, "chain", m.chain);
    h5::write_string_attribute(f, "fingerprint", m.fingerprint);
    h5::write_string_attribute(f, "kernel_type", svm::to_string(m.svm.kernel.type));
    write_group(f, "/svm", svm_arrays(m.svm));
    if (!m.pca.empty()) write_group(f, "/pca", m.pca);
    const h5::RowTransfer independent(MPI_COMM_SELF, false);
    h5::write_string_array(f, MPI_COMM_SELF, independent, "/class_names", m.class_names);
    const Handle prov(H5Gcreate2(f, "/provenance", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose,
                      "cannot create group /provenance");
    for (const auto& [k, v] : m.provenance) h5::write_string_attribute(prov.get(), k, v);
    h5::check(H5Fflush(f, H5F_SCOPE_GLOBAL), "flushing " + tmp.string());
    h5::write_int_attribute(f, "complete", 1);
    file.close("closing model file " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
}

ModelFile read_model_file(const std::filesystem::path& path) {
  const std::string where = "model file " + path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError("cannot open " + where + ": no such file");
  if (!is_hdf5_file(path))
    throw InputError(path.string() + " is not a model written by `sarscale train`: it is not an HDF5 file");
  const h5::ReadingFile reading(where);
  const Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "opening it");
  const hid_t fid = file.get();
  const auto attrs = h5::read_attributes_as_text(fid);
  const auto attr = [&](const char* k) {
    const auto it = attrs.find(k);
    return it == attrs.end() ? std::string() : it->second;
  };
  if (attr("format") != kModelFormatName)
    throw InputError(path.string() + " is " + describe_format(attr("format")) +
                     ", not a model written by `sarscale train`");
  if (attr("complete") != "1") throw InputError(where + " is incomplete: the run that wrote it did not finish");
  int version = 0;
  try {
    version = std::stoi(attr("format_version"));
  } catch (const std::exception&) {
  }
  if (version < 1 || version > kModelFormatVersion)
    throw InputError(where + " has an unsupported format version '" + attr("format_version") + "'");
  ModelFile m;
  m.chain = attr("chain");
  m.fingerprint = attr("fingerprint");
  const h5::RowTransfer independent(MPI_COMM_SELF, false);
  const auto group = [&](const char* name) {
    if (!h5::link_exists(fid, name)) return std::map<std::string, std::vector<double>>{};
    const Handle g(H5Gopen2(fid, name, H5P_DEFAULT), H5Gclose, where + ": cannot open " + name);
    return h5::read_double_arrays(g.get(), independent, where + " " + name);
  };
  auto a = group("/svm");
  for (const char* key :
       {"labels", "sv_count", "support_vectors", "sv_coef", "rho", "prob_a", "prob_b", "sv_indices", "kernel", "dim"})
    if (!a.count(key)) throw InputError(where + " is damaged: /svm/" + key + " is missing");
  svm::SvmModel& s = m.svm;
  if (a["kernel"].size() != 4 || a["dim"].size() != 1) throw InputError(where + " is damaged: bad /svm/kernel or dim");
  const int type = whole<int>(a["kernel"][0], "the kernel type", where);
  if (type < 0 || type > 3) throw InputError(where + " is damaged: unknown kernel type");
  s.kernel.type = static_cast<svm::KernelType>(type);
  s.kernel.degree = whole<int>(a["kernel"][1], "the kernel degree", where);
  s.kernel.gamma = a["kernel"][2];
  s.kernel.coef0 = a["kernel"][3];
  s.dim = whole<int>(a["dim"][0], "/svm/dim", where);
  s.labels = integers<std::int32_t>(a["labels"], "labels", where);
  s.sv_count = integers<std::int32_t>(a["sv_count"], "sv_count", where);
  s.support_vectors = std::move(a["support_vectors"]);
  s.sv_coef = std::move(a["sv_coef"]);
  s.rho = std::move(a["rho"]);
  s.prob_a = std::move(a["prob_a"]);
  s.prob_b = std::move(a["prob_b"]);
  s.sv_indices = integers<std::int64_t>(a["sv_indices"], "sv_indices", where);
  try {
    s.check();
  } catch (const ConfigError& e) {
    throw InputError(where + " is damaged: " + e.what());
  }
  m.pca = group("/pca");
  if (h5::link_exists(fid, "/class_names"))
    m.class_names = h5::read_string_array(fid, "/class_names", independent, where);
  if (h5::link_exists(fid, "/provenance")) {
    const Handle g(H5Gopen2(fid, "/provenance", H5P_DEFAULT), H5Gclose, where + ": cannot open /provenance");
    m.provenance = h5::read_attributes_as_text(g.get());
  }
  return m;
}

}  // namespace sarscale::io
