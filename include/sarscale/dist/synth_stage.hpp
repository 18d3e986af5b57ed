#pragma once
// `sarscale synth` over MPI: ranks share the work, and the output is byte-identical for any
// rank count because every chip and every scene pixel is a pure function of (seed, index).
#include <cstdint>
#include <filesystem>

#include "sarscale/core/json.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/synth/chip_synth.hpp"
#include "sarscale/synth/scene_synth.hpp"

namespace sarscale::dist {

struct SynthSummary {
  std::int64_t files = 0;
  std::uint64_t bytes = 0;
  double seconds = 0;
  json::Value to_json() const;
};

// Writes chips [0, count) as Phoenix files under out_dir/<class>/. Each rank takes a
// contiguous block of indices; OpenMP threads (OMP_NUM_THREADS) render and write within it.
SynthSummary synth_chips(const Comm& comm, const std::filesystem::path& out_dir, std::int64_t count,
                         const synth::ChipSynthConfig& config);

// Writes a GeoTIFF scene (CInt16 or float32, tiled) and, beside it, <stem>_targets.csv with
// every target's position, class and azimuth, and every distractor's (kind clutter). Ranks render interleaved row blocks; rank 0
// writes them in order (GeoTIFF has one writer), so memory per rank stays at a few blocks.
SynthSummary synth_scene(const Comm& comm, const std::filesystem::path& out_tif, const synth::SceneSynthConfig& config);

// The ground-truth table of a scene: <dir>/<stem>_targets.csv.
std::filesystem::path scene_targets_path(const std::filesystem::path& out_tif);

}  // namespace sarscale::dist
