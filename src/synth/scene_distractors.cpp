// Clutter discretes on synthetic scenes: bright points, building corners, edges and tree lines,
// drawn as scatterer models (like the vehicles) so that they share the imaging, speckle and
// shadow code, and so that every pixel stays a pure function of (seed, row, col).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "sarscale/core/error.hpp"
#include "sarscale/synth/scene_synth.hpp"

namespace sarscale::synth {

namespace {

constexpr std::uint64_t kDistractorStream = 0xd157;
constexpr int kSceneBorder = 8;      // as for targets: footprints stay this far inside the scene
constexpr int kClearance = 6;        // pixels kept free between a distractor and any other object
constexpr int kPlacementTries = 400;  // random positions tried per distractor before giving up
// Typical peak magnitude of a vehicle on these scenes (median over classes and azimuths is
// ~1.2; single flashes reach ~4): distractor brightness is drawn around it.
constexpr double kVehiclePeak = 1.2;
// Scatterers along a bright line, per metre: a few per resolution cell, so the line is
// continuous; their coherent sum varies with the line's orientation, as real dihedrals do.
constexpr double kLineScatterersPerMetre = 10.0;

double deg_to_rad(double deg) { return deg * std::numbers::pi / 180.0; }

Scatterer omni_at(double x, double y, double z, double amplitude, double phase) {
  Scatterer s;
  s.kind = ScattererKind::omni;
  s.x_m = static_cast<float>(x);
  s.y_m = static_cast<float>(y);
  s.z_m = static_cast<float>(z);
  s.amplitude = static_cast<float>(amplitude);
  s.phase_rad = static_cast<float>(phase);
  return s;
}

// A bright line from (x0, y0) to (x1, y1) on the ground: scatterers every 1/kLineScatterersPerMetre
// metres, amplitudes jittered (posts, joints) so that the line is not perfectly uniform.
void add_line(TargetModel& m, CounterRng& rng, double x0, double y0, double x1, double y1, double amplitude) {
  const double length = std::hypot(x1 - x0, y1 - y0);
  const int n = std::max(2, static_cast<int>(std::ceil(length * kLineScatterersPerMetre)) + 1);
  // About three scatterers share a 0.3 m resolution cell: in phase (a line across the range
  // direction) they add up to ~amplitude, at random phases to about half of it.
  const double each = amplitude / 3.0;
  for (int k = 0; k < n; ++k) {
    const double t = static_cast<double>(k) / (n - 1);
    m.scatterers.push_back(omni_at(x0 + t * (x1 - x0), y0 + t * (y1 - y0), 0.0,
                                   each * std::exp(0.3 * rng.normal()), 0.0));
  }
}

Volume box_volume(double length, double width, double height) {
  Volume v;
  v.shape = Volume::Shape::box;
  v.length_m = static_cast<float>(length);
  v.width_m = static_cast<float>(width);
  v.height_m = static_cast<float>(height);
  return v;
}

// The parameters of distractor `index`: everything but its position.
SceneDistractor draw_distractor(const SceneSynthConfig& cfg, int index, CounterRng& rng) {
  SceneDistractor d;
  d.index = index;
  // Kinds in turn from a seed-dependent start, so that even a few distractors show several kinds.
  const auto start = static_cast<int>(mix64(cfg.seed ^ kDistractorStream) % kDistractorKinds);
  d.kind = static_cast<DistractorKind>((start + index) % kDistractorKinds);
  d.azimuth_deg = static_cast<float>(rng.uniform(0.0, 360.0));
  // Brightness within -6..+6 dB of a vehicle's typical peak: some brighter, some weaker.
  d.amplitude = static_cast<float>(kVehiclePeak * std::pow(10.0, rng.uniform(-6.0, 6.0) / 20.0));
  switch (d.kind) {
    case DistractorKind::point:
      d.length_m = static_cast<float>(rng.uniform(0.0, 0.8));  // a cluster of 1-3 scatterers
      break;
    case DistractorKind::corner:
      d.length_m = static_cast<float>(rng.uniform(3.0, 8.0));
      d.width_m = static_cast<float>(rng.uniform(2.0, 6.0));
      d.height_m = static_cast<float>(rng.uniform(2.0, 3.5));
      break;
    case DistractorKind::edge:
      d.length_m = static_cast<float>(rng.uniform(3.0, 9.0));
      break;
    case DistractorKind::treeline:
      d.length_m = static_cast<float>(rng.uniform(4.0, 9.0));
      d.width_m = static_cast<float>(rng.uniform(1.5, 3.0));
      d.height_m = static_cast<float>(rng.uniform(2.0, 4.0));
      break;
  }
  return d;
}

PixelBox grown(const PixelBox& b, int margin) {
  return {b.row0 - margin, b.col0 - margin, b.rows + 2 * margin, b.cols + 2 * margin};
}

}  // namespace

std::string distractor_kind_name(DistractorKind kind) {
  switch (kind) {
    case DistractorKind::point:
      return "point";
    case DistractorKind::corner:
      return "corner";
    case DistractorKind::edge:
      return "edge";
    case DistractorKind::treeline:
      return "treeline";
  }
  throw ConfigError("unknown distractor kind");
}

TargetModel scene_distractor_model(const SceneSynthConfig& cfg, const SceneDistractor& d) {
  TargetModel m;
  m.class_index = -1;
  m.class_name = "clutter";
  m.serial = distractor_kind_name(d.kind);
  // Its own stream (not the placement's): the model does not depend on how many tries placing took.
  CounterRng rng(stream_key(cfg.seed, static_cast<std::uint64_t>(d.index), kDistractorStream + 1));
  const double a = d.amplitude;
  switch (d.kind) {
    case DistractorKind::point: {
      const int n = 1 + rng.below(3);
      for (int k = 0; k < n; ++k) {
        const double x = k == 0 ? 0.0 : rng.uniform(-0.5, 0.5) * d.length_m;
        const double y = k == 0 ? 0.0 : rng.uniform(-0.5, 0.5) * d.length_m;
        m.scatterers.push_back(omni_at(x, y, rng.uniform(0.0, 1.5), k == 0 ? a : a * rng.uniform(0.2, 0.6),
                                       rng.uniform(0.0, 2.0 * std::numbers::pi)));
      }
      break;
    }
    case DistractorKind::corner: {
      // The walls whose faces look towards the radar (at azimuth d.azimuth_deg in this frame)
      // meet the ground in an L; their shared vertex is a trihedral, as bright as a line at most.
      const double hx = 0.5 * d.length_m, hy = 0.5 * d.width_m;
      const double az = deg_to_rad(d.azimuth_deg);
      const double fx = std::cos(az) >= 0 ? hx : -hx, fy = std::sin(az) >= 0 ? hy : -hy;
      add_line(m, rng, fx, -hy, fx, hy, a);
      add_line(m, rng, -hx, fy, hx, fy, a);
      m.scatterers.push_back(omni_at(fx, fy, 0.0, 0.7 * a, 0.0));
      m.volumes.push_back(box_volume(d.length_m, d.width_m, d.height_m));
      break;
    }
    case DistractorKind::edge:
      add_line(m, rng, -0.5 * d.length_m, 0.0, 0.5 * d.length_m, 0.0, a);
      break;
    case DistractorKind::treeline: {
      // Crowns: many random scatterers over the strip at random heights (layover smears them
      // towards the radar), Rayleigh amplitudes: bright, rough clutter; the trunks cast a shadow.
      const double area = static_cast<double>(d.length_m) * d.width_m;
      const int n = static_cast<int>(std::ceil(area * 12.0));
      const double each = 0.25 * a / kVehiclePeak;
      for (int k = 0; k < n; ++k) {
        const double x = rng.uniform(-0.5, 0.5) * d.length_m, y = rng.uniform(-0.5, 0.5) * d.width_m;
        const double amp = each * std::sqrt(-std::log(1.0 - rng.uniform()));
        m.scatterers.push_back(omni_at(x, y, rng.uniform(0.3, 1.0) * d.height_m, amp,
                                       rng.uniform(0.0, 2.0 * std::numbers::pi)));
      }
      m.volumes.push_back(box_volume(d.length_m, d.width_m, d.height_m));
      break;
    }
  }
  return m;
}

std::vector<SceneDistractor> plan_scene_distractors(const SceneSynthConfig& cfg,
                                                    const std::vector<SceneTarget>& targets) {
  cfg.validate();
  std::vector<SceneDistractor> plan;
  if (cfg.distractors == 0) return plan;
  std::vector<PixelBox> taken;  // footprints grown by the clearance
  taken.reserve(targets.size() + static_cast<std::size_t>(cfg.distractors));
  for (const auto& t : targets) taken.push_back(grown(t.footprint, kClearance));
  const ImagingGeometry g = cfg.geometry();
  const PixelBox inside{kSceneBorder, kSceneBorder, cfg.height - 2 * kSceneBorder, cfg.width - 2 * kSceneBorder};

  for (int index = 0; index < cfg.distractors; ++index) {
    CounterRng rng(stream_key(cfg.seed, static_cast<std::uint64_t>(index), kDistractorStream));
    SceneDistractor d = draw_distractor(cfg, index, rng);
    const TargetModel model = scene_distractor_model(cfg, d);
    // The footprint about the origin, then shifted to each tried position.
    const PixelBox at_origin = target_footprint(model, g, TargetPose{0, 0, d.azimuth_deg});
    bool placed = false;
    for (int attempt = 0; attempt < kPlacementTries && !placed; ++attempt) {
      const double row = rng.uniform(0.0, cfg.height), col = rng.uniform(0.0, cfg.width);
      const PixelBox fp = target_footprint(model, g, TargetPose{row, col, d.azimuth_deg});
      if (fp.intersect(inside).rows != fp.rows || fp.intersect(inside).cols != fp.cols) continue;
      if (std::any_of(taken.begin(), taken.end(), [&](const PixelBox& b) { return !b.intersect(fp).empty(); }))
        continue;
      d.row = row;
      d.col = col;
      d.footprint = fp;
      placed = true;
    }
    if (!placed)
      throw ConfigError("no room for distractor " + std::to_string(index + 1) + " of " +
                        std::to_string(cfg.distractors) + " (a " + distractor_kind_name(d.kind) + " of " +
                        std::to_string(at_origin.cols) + " x " + std::to_string(at_origin.rows) + " pixels) on a " +
                        std::to_string(cfg.width) + " x " + std::to_string(cfg.height) + " scene with " +
                        std::to_string(targets.size()) + " targets: ask for fewer distractors or a larger scene");
    taken.push_back(grown(d.footprint, kClearance));
    plan.push_back(std::move(d));
  }
  return plan;
}

ScenePlan plan_scene(const SceneSynthConfig& cfg) {
  ScenePlan plan;
  plan.targets = plan_scene_targets(cfg);
  plan.distractors = plan_scene_distractors(cfg, plan.targets);
  return plan;
}

}  // namespace sarscale::synth
