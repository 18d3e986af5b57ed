#pragma once
// A checkpoint of a long computation (the distributed training's finished machines and its
// cascade's last pass): named float64 arrays and text attributes in one small HDF5 file, written
// by one process. Writes are atomic (PATH.tmp, then renamed over PATH), so a run killed while
// writing leaves the previous checkpoint intact, and a reader never sees half a checkpoint.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sarscale::io {

inline constexpr const char* kCheckpointFormatName = "sarscale-checkpoint";

struct Checkpoint {
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::vector<double>> arrays;
};

// IoError when it cannot be written.
void write_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);

// nullopt when there is no file. InputError when the file is there but damaged, truncated or
// not a checkpoint (the caller decides whether to start over).
std::optional<Checkpoint> read_checkpoint(const std::filesystem::path& path);

}  // namespace sarscale::io
