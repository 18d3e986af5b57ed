#pragma once
// Synthetic SAR scenes: textured, speckled clutter over smooth land-cover regions, with
// vehicles (the same target models as the chips) placed on it.
//
// Every pixel is a pure function of (seed, absolute row, absolute column): clutter comes from
// counter-based random numbers keyed by the pixel's coordinates, targets from their plan. So
// any split of a scene into row blocks, over any number of ranks and threads, gives identical
// pixels: the MPI driver hands each rank row blocks and calls render_scene_rows.
#include <cstdint>
#include <string>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/synth/target_model.hpp"

namespace sarscale::synth {

// ---------------------------------------------------------------------------------------------
// Clutter

// Clutter is K-distributed: intensity = texture x exponential speckle, where the texture is a
// Gamma(shape)/shape field on a lattice of texture_cell_px, bilinearly interpolated (so it is
// spatially correlated, like real terrain), and speckle is independent per pixel with uniform
// phase.
struct ClutterParams {
  std::uint64_t key = 0;           // same key and coordinates -> same pixels
  float mean_intensity = 0.0023f;  // E|c|^2 (linear magnitude squared); 0.0023 = MSTAR ground (median ~0.04)
  float texture_shape = 6.0f;      // Gamma shape of the texture; <= 0 means none (pure Rayleigh speckle)
  int texture_cell_px = 4;         // texture correlation length, 1..64 pixels
  bool landcover = false;          // modulate mean and texture by smooth large-scale regions
                                   // (water: -12 dB and smooth, fields, rough ground: +4 dB)

  void validate() const;  // ConfigError
};

// Clutter for rows [row0, row0 + nrows) x columns [col0, col0 + ncols) in absolute raster
// coordinates (>= 0), row-major: magnitude > 0 and, when `phase` is not null, phase in [0, 2 pi).
// Single-threaded; the scene renderer runs it on row blocks in parallel.
void render_clutter(const ClutterParams& params, int row0, int nrows, int col0, int ncols, float* magnitude,
                    float* phase);

// The land-cover factor on mean intensity at a pixel (1 = fields), for diagnostics and tests.
float landcover_gain(std::uint64_t key, double row, double col);

// Clutter plus one target in `window` (absolute coordinates), row-major into magnitude and
// phase (phase may be null when only magnitudes are wanted): the clutter is attenuated to
// `shadow_gain` in the target's shadow, the target's complex returns are added coherently.
void render_target_window(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                          const ClutterParams& clutter, float shadow_gain, const PixelBox& window, float* magnitude,
                          float* phase);

// ---------------------------------------------------------------------------------------------
// Scenes

enum class ScenePixels {
  complex_int16,  // magnitude and phase (write as CInt16 with to_cint16)
  float32,        // detected linear magnitude only
};

struct SceneSynthConfig {
  int width = 4096;   // columns (cross range)
  int height = 4096;  // rows (slant range)
  int targets = 16;
  std::uint64_t seed = 1;
  int num_classes = 10;
  ScenePixels pixels = ScenePixels::complex_int16;
  float pixel_spacing_m = 0.2f;  // both directions
  float resolution_m = 0.3f;
  float depression_deg = 17.0f;
  float shadow_db = -12.0f;   // clutter attenuation in target shadows
  TargetVariation variation;  // per-target jitter, as for chips
  // Acquisition conditions, as for chips (0 dB: the output is byte for byte as without them).
  float gain_db = 0.0f;           // calibration gain on every pixel: magnitude x 10^(gain_db/20)
  float clutter_level_db = 0.0f;  // clutter (every land-cover type) x 10^(clutter_level_db/20)
  // Clutter discretes a plain threshold takes for targets (bright points, building corners,
  // edges, tree lines). 0: none, and the scene's pixels are exactly those of a scene without
  // them. (`sarscale synth` defaults to as many as targets.)
  int distractors = 0;

  ImagingGeometry geometry() const;
  // Throws ConfigError: sizes outside 1..1,048,576, negative targets, num_classes < 1, gains
  // outside -40..40 dB, ...
  void validate() const;
};

struct SceneTarget {
  int index = 0;  // position in the plan
  int class_index = 0;
  int variant = 0;
  std::string class_name;
  std::string serial;
  double row = 0, col = 0;  // target origin, pixels
  float azimuth_deg = 0;
  PixelBox footprint;  // every pixel its returns and shadow touch (inside the scene)
};

// Clutter discretes: what a CFAR prescreener detects but a discriminator must reject.
enum class DistractorKind {
  point,     // one strong scatterer (a pole, a metal box): a few pixels
  corner,    // a building's two walls facing the radar: an L of bright wall-ground dihedral lines,
             // with the building's shadow behind it
  edge,      // a straight bright line (fence, field boundary, kerb), no shadow
  treeline,  // a strip of brighter, rougher clutter (many random scatterers) with a shadow
};
inline constexpr int kDistractorKinds = 4;
std::string distractor_kind_name(DistractorKind kind);  // "point", "corner", "edge", "treeline"

struct SceneDistractor {
  int index = 0;  // position among the distractors (0..cfg.distractors-1)
  DistractorKind kind = DistractorKind::point;
  double row = 0, col = 0;  // centre (the model's origin), pixels
  float azimuth_deg = 0;    // orientation: the radar's direction in the object's frame, as for targets
  float length_m = 0;       // extent along the object's x axis (corner: the building's length)
  float width_m = 0;        // extent along its y axis (corner: building width; treeline: strip depth)
  float height_m = 0;       // casts a shadow (corner, treeline); 0 for points and edges
  float amplitude = 0;      // magnitude scale of its scatterers (vehicles' peaks are ~0.5..3)
  PixelBox footprint;       // every pixel its returns and shadow touch (inside the scene)
};

// Everything placed on a scene.
struct ScenePlan {
  std::vector<SceneTarget> targets;
  std::vector<SceneDistractor> distractors;
};

// Deterministic placement of cfg.targets targets: each in its own cell of a grid laid over the
// scene (so footprints never overlap and stay clear of the borders), cells drawn without
// replacement, random class, serial variant, azimuth and position within the cell.
// Throws ConfigError when the scene cannot hold that many targets.
std::vector<SceneTarget> plan_scene_targets(const SceneSynthConfig& cfg);

// The (jittered) model of a planned target: what render_scene_rows draws.
TargetModel scene_target_model(const SceneSynthConfig& cfg, const SceneTarget& target);

// Deterministic placement of cfg.distractors distractors around `targets` (the plan of
// plan_scene_targets): kind, size, orientation and brightness drawn from (seed, index), the
// position by rejection sampling so that no footprint touches a target's or another
// distractor's (with a margin of a few pixels) and all stay inside the scene. The targets'
// plan does not depend on the distractors. Throws ConfigError when the scene has no room left.
std::vector<SceneDistractor> plan_scene_distractors(const SceneSynthConfig& cfg,
                                                    const std::vector<SceneTarget>& targets);

// Targets and distractors: plan_scene_targets then plan_scene_distractors.
ScenePlan plan_scene(const SceneSynthConfig& cfg);

// A distractor as scatterers and volumes (its shadow), drawn like a target.
TargetModel scene_distractor_model(const SceneSynthConfig& cfg, const SceneDistractor& distractor);

// Renders rows [row0, row0 + nrows) x all columns into `out` (resized to nrows x width;
// phase filled for complex_int16, empty for float32). Identical pixels for any split of rows.
// Uses OpenMP over row blocks and objects; thread count from OMP_NUM_THREADS /
// omp_get_max_threads(). Throws ConfigError for rows outside the scene or overlapping objects.
void render_scene_rows(const SceneSynthConfig& cfg, const ScenePlan& plan, int row0, int nrows, Image& out);
// Targets alone (a plan without distractors); ConfigError when cfg.distractors > 0, which
// needs the plan of plan_scene.
void render_scene_rows(const SceneSynthConfig& cfg, const std::vector<SceneTarget>& targets, int row0, int nrows,
                       Image& out);

// CInt16 samples per unit of linear magnitude: MSTAR-like clutter (~0.04) becomes ~40 counts,
// strong returns (~2) ~2000, leaving headroom to 32767.
inline constexpr float kSceneCInt16Scale = 1000.0f;

// Interleaved I, Q int16 (2 * pixels values) of a complex image, scaled and saturated.
// Throws ConfigError when `image` has no phase.
void to_cint16(const Image& image, std::vector<std::int16_t>& iq, float scale = kSceneCInt16Scale);

}  // namespace sarscale::synth
