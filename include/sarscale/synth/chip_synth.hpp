#pragma once
// Synthetic MSTAR-like chips: one vehicle on K-distributed clutter, written as raw Phoenix
// files (magnitude + phase, header fields like the real products).
//
// Chip i is a pure function of (config, i): its class is i % num_classes (balanced), and its
// azimuth, serial variant, jitter and clutter come from counter-based streams keyed by
// (seed, i). Any rank or thread can produce any chip, byte-identical. Nothing here touches
// MPI or global state: the dist layer spreads indices over ranks and calls write_synth_chip.
//
// Output layout: <out_dir>/<class>/<CLASS>_SYN<index, 7+ digits>.phx, e.g.
//   out/tank_a/TANK_A_SYN0000010.phx
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/io/phoenix.hpp"
#include "sarscale/synth/target_model.hpp"

namespace sarscale::synth {

struct ChipSynthConfig {
  std::uint64_t seed = 1;
  int num_classes = 10;
  int chip_size = 128;  // rows = columns
  float depression_deg = 17.0f;
  float pixel_spacing_m = 0.2f;  // both directions, as MSTAR's ~0.2 m
  float resolution_m = 0.3f;     // as MSTAR's ~0.3 m

  // Difficulty. The defaults put a simple classifier (RBF SVM on 16 x 16 dB pixels of the
  // centre, 10 classes x 60 chips, 5-fold CV) at ~89-92% (real MSTAR chips: ~81% on the same
  // features): see scripts/check_synth_separability.sh. The centre and clutter-level jitters
  // are the strongest levers.
  float clutter_median = 0.04f;    // median clutter magnitude (MSTAR ground ~0.04)
  float clutter_jitter_db = 1.0f;  // per-chip uniform +- on the clutter level
  float texture_shape_min = 2.0f;  // per-chip Gamma shape of the clutter texture, uniform in
  float texture_shape_max = 8.0f;  //   [min, max] (smaller = spikier clutter)
  float centre_jitter_px = 1.0f;   // target centre offset, uniform +- in rows and columns (on top
                                   //   of the aspect-dependent offset of the bright parts)
  float shadow_db = -12.0f;        // clutter attenuation in the radar shadow
  TargetVariation variation;       // per-chip scatterer jitter

  // Acquisition conditions: what changes between two collections of the same targets (with the
  // depression angle and the seed). 0 dB leaves the output byte for byte as without them.
  float gain_db = 0.0f;           // calibration gain on the whole chip: magnitude x 10^(gain_db/20),
                                  //   recorded in the header as SynthGainDb (when not 0)
  float clutter_level_db = 0.0f;  // clutter median x 10^(clutter_level_db/20), before the gain;
                                  //   recorded as SynthClutterDb (when not 0)

  ImagingGeometry geometry() const;
  // Throws ConfigError: chip size outside 8..4096, num_classes < 1, bad geometry or knobs
  // (gains outside -40..40 dB).
  void validate() const;
};

struct SynthChip {
  std::int64_t index = 0;
  int class_index = 0;
  std::string class_name;
  int variant = 0;  // serial-number variant (make_target_model's `variant`)
  std::string serial;
  float azimuth_deg = 0;                // exactly the TargetAz written to the header
  double target_row = 0;                // where the target's origin lies in the chip (pixels):
  double target_col = 0;                //   ground truth for detectors and tests
  std::filesystem::path relative_path;  // <class>/<CLASS>_SYN0000042.phx
  io::PhoenixHeader header;             // fields to write (sizes are computed by write_phoenix)
  Image image;                          // magnitude and phase, chip_size x chip_size
};

// Class names of a run: target_class_name(0 .. num_classes - 1).
std::vector<std::string> synth_class_names(int num_classes);

// Where chip `index` goes, relative to the output directory.
std::filesystem::path synth_chip_relative_path(const ChipSynthConfig& cfg, std::int64_t index);

// Renders chip `index` (>= 0). Thread-safe; ~1-2 ms for 128 x 128.
SynthChip synthesize_chip(const ChipSynthConfig& cfg, std::int64_t index);

struct SynthChipFile {
  std::filesystem::path path;
  int class_index = 0;
  std::uint64_t bytes = 0;
};

// Renders chip `index` and writes it under `out_dir` (class directory created when missing;
// an existing file is replaced). Throws ConfigError / IoError.
SynthChipFile write_synth_chip(const std::filesystem::path& out_dir, const ChipSynthConfig& cfg, std::int64_t index);

}  // namespace sarscale::synth
