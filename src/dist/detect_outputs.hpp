#pragma once
// Internal to the detect stage: merging the logged tiles into candidates, classifying them, and
// writing the outputs (detections, quick-looks, summary).
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "detect_tiles.hpp"
#include "sarscale/detect/components.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/dist/detect_stage.hpp"
#include "sarscale/dist/scene_classifier.hpp"
#include "sarscale/io/discover.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::dist::detail {

// "discriminate+classify", "classify (no discrimination)" or "prescreen only".
std::string detect_mode(const SceneClassifier* classifier, const DetectConfig& cfg);

// What the output folder is, for the output policy.
io::OutputKind detect_folder_kind();

struct SceneResult {
  std::string failure;  // a tile could not be read: the scene is rejected with this reason
  std::int64_t tested = 0;
  std::int64_t candidates = 0, size_rejected = 0;
  std::vector<detect::Candidate> kept;  // candidates within the size limits, in peak order
  std::vector<float> quicklook;         // rows x cols block means (on the rank that merged the scene)
  int quicklook_rows = 0, quicklook_cols = 0;
};

// One candidate to classify: its scene (index of the readable scenes) and chip centre.
struct ChipJob {
  std::uint32_t scene = 0;
  detect::PixelIndex centre;  // chip centre (detect::chip_centre: the box centre or the weighted centroid)
};

struct DetectResults {
  std::vector<SceneResult> scenes;  // per readable scene (complete on rank 0)
  std::map<std::size_t, SceneResult> own;  // the scenes this rank merged (assign_scene_merges)
  std::vector<ChipJob> jobs;        // every kept candidate of every scene, in order (every rank)
  std::vector<ChipVerdict> verdicts;  // per job (every rank)
};

// An input that is not processed, and why (discovery, probing or a tile that could not be read).
struct Rejection {
  std::string path;
  std::string reason;
};

// Collective: rank 0 reads every tile log and merges each scene's components; the chip jobs are
// broadcast.
DetectResults merge_tiles(const Comm& comm, const std::filesystem::path& tiles_dir, const std::vector<SceneSetup>& scenes,
                          const DetectPlan& plan, const DetectConfig& cfg);

// Collective: the jobs shared among ranks (block ranges), each chip cut from its scene and
// classified; the verdicts gathered on rank 0. No model: no verdicts.
void classify_candidates(const Comm& comm, DetectResults& results, const std::vector<SceneSetup>& scenes,
                         const SceneClassifier* classifier, const DetectConfig& cfg, int threads);

// Collective: every rank writes the quick-looks of the scenes it merged (their PNGs are the
// same as one rank would write). Nothing when quick-looks are off.
void write_quicklooks(const Comm& comm, const DetectResults& results, const std::vector<SceneSetup>& scenes,
                      const DetectPlan& plan, const SceneClassifier* classifier, const DetectConfig& cfg);

// Rank 0: detections.csv / .geojson, summary.json. Fills the summary's scene list (with the
// quick-looks' paths), counts and mode. `rejected`: inputs refused before their tiles were read.
DetectSummary write_outputs(const DetectResults& results, const std::vector<SceneSetup>& scenes, const DetectPlan& plan,
                            const std::vector<Rejection>& rejected, std::size_t skipped,
                            const SceneClassifier* classifier, const DetectConfig& cfg);

}  // namespace sarscale::dist::detail
