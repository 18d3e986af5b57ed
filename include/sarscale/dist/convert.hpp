#pragma once
// `sarscale convert`: exports MSTAR Phoenix files, GDAL rasters and archive chips as 8-bit
// PNG previews (dB or linear, clipped at percentiles) or float32 GeoTIFF, with their
// metadata as GDAL metadata items and georeferencing kept for scenes (and for archive tiles
// whose source scene is still readable). Ranks share the items.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

struct ConvertConfig {
  std::vector<std::string> inputs;  // archives (.h5), Phoenix files, rasters, directories, globs
  std::filesystem::path output_dir;
  enum class Format { png, gtiff } format = Format::png;
  bool db = true;                                // png scaling: dB (default) or linear
  std::pair<double, double> percentiles{1, 99};  // png clipping
  std::int64_t limit = -1;                       // at most this many chips per archive (-1: all)
  std::string command_line;                      // names the holder of the output's lock
};

struct ConvertSummary {
  std::int64_t written = 0;
  std::vector<std::pair<std::string, std::string>> failed;  // input, reason
  json::Value to_json() const;
};

// Collective. Inputs that cannot be converted are reported in `failed`, the rest go on.
ConvertSummary run_convert(const Comm& comm, const ConvertConfig& config);

}  // namespace sarscale::dist
