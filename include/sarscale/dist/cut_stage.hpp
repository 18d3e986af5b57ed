#pragma once
// `sarscale cut`: training chips for a discriminator cut from whole scenes with ground truth,
// into one chip archive (io/archive.hpp, the format ingest writes and features/train read).
//
// Per scene, in this order (docs/detection.md, "Cutting training chips"):
//  1. chips of every truth target inside the scene, labelled with its class: centred on its
//     truth position and/or (target_chips) on its main prescreener object (the largest that lies on it), where
//     `detect` centres its chips (detect::chip_centre of the CFAR's objects, clustered with the
//     same gap): a model learns vehicles as detect will show them to it. An object lies on a
//     truth object when its chip centre falls in the truth footprint (without a footprint:
//     within a quarter chip of its centre); on several, it goes to the nearest centre;
//  2. `clutter` chips of every truth clutter object (synth's distractors), the same way;
//  3. `clutter` chips at random background positions (a chip's half-width or more from every
//     truth target), drawn from (seed, scene file name) so that a scene always gives the same;
//  4. with false alarms: `clutter` chips at the prescreener's objects (their chip centre) that
//     lie on no truth object and a chip's half-width or more from every truth target; beyond max_false_alarms, picks
//     spread evenly over their significance ranking (the strongest first, down to the weakest).
// Chip windows are moved inside the scene where they would cross its border (a scene smaller
// than a chip is zero-padded around its centre). Pixels are magnitudes (complex scenes: |z|;
// float scenes are taken to hold linear magnitude, as synth writes them); CFAR runs on
// intensity = magnitude^2, read in row strips with the CFAR's halo, so memory stays bounded.
//
// Ranks take contiguous slices of the sorted scenes (balanced by file size), plan their chips,
// agree on every scene's first slot, and write their chips into the archive collectively:
// chip order, labels and pixels are the same at any rank count. Every scene is either cut or
// rejected with its reason (unreadable, truncated, truth in map coordinates without
// georeferencing); truth objects outside their scene are counted and reported.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sarscale/core/json.hpp"
#include "sarscale/detect/cfar.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/truth_file.hpp"

namespace sarscale::dist {

// Where the chips of truth objects are centred: their truth position, the prescreener's objects
// on them (where detect looks), or both.
enum class TargetChips { truth, objects, both };
TargetChips parse_target_chips(const std::string& name);  // truth|objects|both; ConfigError
std::string to_string(TargetChips where);

struct CutConfig {
  std::vector<std::string> scenes;              // files, folders, globs (io/discover.hpp rules)
  std::vector<std::filesystem::path> truth;     // truth files (io/truth_file.hpp)
  std::filesystem::path output;                 // the chip archive
  int chip = 128;                               // rows = columns
  int band = 1;                                 // logical band of the scenes
  int clutter_per_scene = 8;                    // random background chips per scene
  bool false_alarms = true;                     // chips at the prescreener's false alarms
  int max_false_alarms = 50;                    // per scene, spread over the significance ranking (0: none)
  detect::CfarParams cfar;                      // the prescreener (method, pfa, guard, background)
  int cluster_gap = 8;                          // its objects, as detect --cluster-gap
  bool chip_on_box = false;                     // and their chip centres, as detect --chip-centre
  TargetChips target_chips = TargetChips::objects;
  std::uint64_t seed = 1;
  int threads = 1;                              // OpenMP threads for the CFAR
  bool overwrite = false;
  std::string command_line;
  std::vector<std::string> parameters;          // provenance, stored as an archive attribute

  void validate() const;  // ConfigError
};

// Why a chip is cut.
enum class ChipOrigin { target, truth_clutter, background, false_alarm };
std::string to_string(ChipOrigin origin);  // "target", "truth_clutter", "background", "false_alarm"

// One chip of a scene: its window (which may cross the border only when the scene is smaller
// than a chip), its class and why it is cut.
struct ChipCut {
  std::int64_t row0 = 0, col0 = 0;  // window origin in scene pixels
  std::int64_t centre_row = 0, centre_col = 0;  // the pixel it was centred on
  std::string class_name;           // a target class, or "clutter"
  std::string detail;               // the truth's serial / distractor kind, "background", "cfar"
  ChipOrigin origin = ChipOrigin::target;
};

struct ScenePlanCounts {
  std::int64_t targets = 0, truth_clutter = 0, background = 0, false_alarms = 0;
  std::int64_t truth_outside = 0;       // truth objects whose centre lies outside the scene
  std::int64_t candidates = 0;          // prescreener objects found (CFAR components clustered)
  std::int64_t candidates_near_target = 0;  // of those, on a truth object or within a chip half-width of a target
  std::int64_t object_chips = 0;        // chips of truth objects centred on the prescreener's objects
  std::int64_t targets_missed = 0;      // truth targets with no prescreener object on them
  std::int64_t background_short = 0;    // background chips asked for but without room
};

// The chips of one scene from its truth (objects already placed in pixels), in the order above.
// `intensity_strip` reads rows [row0, row0 + nrows) of the scene as intensity (row-major,
// nrows x cols) for the CFAR; it is only called when the prescreener is needed (false alarms, or
// chips on objects). Deterministic.
using IntensityReader = std::function<void(std::int64_t row0, std::int64_t nrows, std::vector<float>& out)>;
std::vector<ChipCut> plan_scene_chips(const CutConfig& config, const std::string& scene_name, std::int64_t rows,
                                      std::int64_t cols, const std::vector<io::TruthObject>& truth,
                                      const IntensityReader& intensity_strip, ScenePlanCounts& counts);

struct CutSummary {
  std::int64_t scenes = 0;           // inputs found (cut + rejected)
  std::int64_t cut_scenes = 0;
  std::int64_t rejected_scenes = 0;
  std::int64_t chips = 0;            // valid chips in the archive
  ScenePlanCounts counts;            // summed over the scenes
  std::vector<std::pair<std::string, std::int64_t>> per_class;  // chips per class, class order
  std::vector<std::pair<std::string, std::string>> rejects;     // path, reason
  std::vector<std::string> unused_truth_files;  // truth files no given scene takes an object from
  double seconds = 0;
  json::Value to_json() const;
};

// Collective over `comm`. Throws ConfigError for bad options, InputError for a truth file that
// does not parse (naming its line), IoError when the archive cannot be written.
CutSummary run_cut(const Comm& comm, const CutConfig& config);

}  // namespace sarscale::dist
