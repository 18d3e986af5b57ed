#pragma once
// Reads golden reference files (../shared/reference/*.h5) in tests: datasets as float64 with
// their shape, and group attributes as numbers or text. Serial HDF5 calls (the default file
// driver): no MPI needed.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sarscale::test {

struct H5Array {
  std::vector<std::uint64_t> shape;
  std::vector<double> values;  // row-major
};

class H5Reference {
 public:
  explicit H5Reference(const std::filesystem::path& file);  // throws std::runtime_error
  ~H5Reference();
  H5Reference(const H5Reference&) = delete;
  H5Reference& operator=(const H5Reference&) = delete;

  std::vector<std::string> groups(const std::string& path = "/") const;  // child group names
  H5Array dataset(const std::string& path) const;                        // e.g. "L1/expected"
  bool has_attribute(const std::string& object, const std::string& name) const;
  // Numeric attributes (integers, floats, HDF5 enums such as h5py's booleans) as doubles.
  std::vector<double> numbers(const std::string& object, const std::string& name) const;
  double number(const std::string& object, const std::string& name) const { return numbers(object, name).at(0); }
  std::string text(const std::string& object, const std::string& name) const;

 private:
  long long file_;  // hid_t
};

}  // namespace sarscale::test
