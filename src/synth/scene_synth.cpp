#include "sarscale/synth/scene_synth.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <exception>
#include <numbers>
#include <set>

#include "sarscale/core/error.hpp"

namespace sarscale::synth {

namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;
constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;
// Stream purposes: distinct salts keep the clutter, texture and planning streams independent.
constexpr std::uint64_t kTextureSalt = 0x7e87a3e5c0ffee01ULL;
constexpr std::uint64_t kLandcoverSalt = 0x1a2dc0fe2b3c4d5eULL;
constexpr std::uint64_t kSceneClutterStream = 0x5c3e;
constexpr std::uint64_t kScenePlanStream = 0x91a7;
constexpr std::uint64_t kSceneTargetStream = 0x7a6e;
constexpr int kMaxSceneSide = 1 << 20;

// Phase in [0, 2 pi) as float: rounding of values just below 2 pi must not give 2 pi.
float to_phase(double radians) {
  double p = std::fmod(radians, kTwoPi);
  if (p < 0) p += kTwoPi;
  const auto f = static_cast<float>(p);
  return f >= static_cast<float>(kTwoPi) ? 0.0f : f;
}

// Value noise in [-1, 1] on a lattice of `scale` pixels, smoothstep-interpolated.
double value_noise(std::uint64_t key, double row, double col, double scale) {
  const double y = row / scale, x = col / scale;
  const double fy = std::floor(y), fx = std::floor(x);
  const auto iy = static_cast<std::int64_t>(fy), ix = static_cast<std::int64_t>(fx);
  auto node = [&](std::int64_t a, std::int64_t b) {
    const std::uint64_t h = hash_combine(key, (static_cast<std::uint64_t>(a) << 32) ^ static_cast<std::uint64_t>(b));
    return static_cast<double>(h >> 11) * 0x1.0p-52 - 1.0;
  };
  auto smooth = [](double t) { return t * t * (3.0 - 2.0 * t); };
  const double ty = smooth(y - fy), tx = smooth(x - fx);
  const double top = node(iy, ix) + (node(iy, ix + 1) - node(iy, ix)) * tx;
  const double bottom = node(iy + 1, ix) + (node(iy + 1, ix + 1) - node(iy + 1, ix)) * tx;
  return top + (bottom - top) * ty;
}

struct Landcover {
  double gain;   // factor on mean intensity
  double shape;  // texture Gamma shape
};

// Three octaves of value noise (~200 m, 50 m, 13 m at 0.2 m pixels) mapped to water, fields
// and rough ground with soft transitions.
Landcover landcover_at(std::uint64_t key, double row, double col, double field_shape) {
  const std::uint64_t k = hash_combine(key, kLandcoverSalt);
  const double n = 0.55 * value_noise(k, row, col, 1024.0) + 0.30 * value_noise(k + 1, row, col, 256.0) +
                   0.15 * value_noise(k + 2, row, col, 64.0);
  const double water = std::clamp((-0.22 - n) / 0.08, 0.0, 1.0);
  const double rough = std::clamp((n - 0.28) / 0.08, 0.0, 1.0);
  const double db = -12.0 * water + 4.0 * rough;
  const double base_shape = field_shape > 0 ? field_shape : 8.0;
  return {std::pow(10.0, db / 10.0), base_shape + (20.0 - base_shape) * water + (3.0 - base_shape) * rough};
}

// Mean intensity of texture node (i, j) (pixel (i * cell, j * cell)).
float texture_node(const ClutterParams& p, std::int64_t i, std::int64_t j) {
  double gain = 1.0, shape = p.texture_shape;
  const double cell = p.texture_cell_px;
  if (p.landcover) {
    const Landcover lc =
        landcover_at(p.key, static_cast<double>(i) * cell, static_cast<double>(j) * cell, p.texture_shape);
    gain = lc.gain;
    shape = lc.shape;
  }
  double texture = 1.0;
  if (shape > 0) {
    CounterRng rng(
        hash_combine(p.key ^ kTextureSalt, (static_cast<std::uint64_t>(i) << 32) ^ static_cast<std::uint64_t>(j)));
    texture = rng.gamma(shape) / shape;
  }
  return static_cast<float>(p.mean_intensity * gain * texture);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Clutter

void ClutterParams::validate() const {
  if (!(std::isfinite(mean_intensity) && mean_intensity > 0))
    throw ConfigError("clutter mean intensity must be positive, got " + std::to_string(mean_intensity));
  if (!std::isfinite(texture_shape) || texture_shape > 1e6f)
    throw ConfigError("clutter texture shape must be finite, got " + std::to_string(texture_shape));
  if (texture_shape > 0 && texture_shape < 0.1f)
    throw ConfigError("clutter texture shape must be >= 0.1 (or <= 0 for none), got " + std::to_string(texture_shape));
  if (texture_cell_px < 1 || texture_cell_px > 64)
    throw ConfigError("clutter texture cell must be 1..64 pixels, got " + std::to_string(texture_cell_px));
}

float landcover_gain(std::uint64_t key, double row, double col) {
  return static_cast<float>(landcover_at(key, row, col, 8.0).gain);
}

void render_clutter(const ClutterParams& params, int row0, int nrows, int col0, int ncols, float* magnitude,
                    float* phase) {
  params.validate();
  if (row0 < 0 || col0 < 0 || nrows < 0 || ncols < 0) throw ConfigError("clutter window must lie at >= 0");
  if (nrows == 0 || ncols == 0) return;
  const int cell = params.texture_cell_px;
  const float inv_cell = 1.0f / static_cast<float>(cell);
  const std::int64_t j0 = col0 / cell;
  const std::int64_t j1 = (static_cast<std::int64_t>(col0) + ncols - 1) / cell + 1;
  const auto nodes = static_cast<std::size_t>(j1 - j0 + 1);
  std::vector<float> upper(nodes), lower(nodes), row_nodes(nodes);
  std::int64_t have = -2;  // lattice row held in `upper` (lower holds have + 1)

  auto fill = [&](std::vector<float>& v, std::int64_t i) {
    for (std::size_t k = 0; k < nodes; ++k) v[k] = texture_node(params, i, j0 + static_cast<std::int64_t>(k));
  };

  for (int rr = 0; rr < nrows; ++rr) {
    const std::int64_t r = static_cast<std::int64_t>(row0) + rr;
    const std::int64_t i = r / cell;
    if (i == have + 1) {  // next lattice row: reuse the previous lower row
      std::swap(upper, lower);
      fill(lower, i + 1);
      have = i;
    } else if (i != have) {
      fill(upper, i);
      fill(lower, i + 1);
      have = i;
    }
    const float w = static_cast<float>(r - i * cell) * inv_cell;
    for (std::size_t k = 0; k < nodes; ++k) row_nodes[k] = upper[k] + (lower[k] - upper[k]) * w;

    float* mag = magnitude + static_cast<std::size_t>(rr) * ncols;
    float* ph = phase ? phase + static_cast<std::size_t>(rr) * ncols : nullptr;
    const std::uint64_t row_base = params.key + (static_cast<std::uint64_t>(r) << 32) * kGolden;
    for (int cc = 0; cc < ncols; ++cc) {
      const std::int64_t c = static_cast<std::int64_t>(col0) + cc;
      const std::int64_t jn = c / cell;
      const float f = static_cast<float>(c - jn * cell) * inv_cell;
      const std::size_t k = static_cast<std::size_t>(jn - j0);
      const float mean = row_nodes[k] + (row_nodes[k + 1] - row_nodes[k]) * f;
      // One 64-bit draw per pixel: 24 bits for the speckle intensity, 24 for the phase.
      const std::uint64_t bits = mix64(row_base + static_cast<std::uint64_t>(c) * kGolden);
      const float u1 = (static_cast<float>(bits >> 40) + 0.5f) * 0x1.0p-24f;  // (0, 1)
      mag[cc] = std::sqrt(-mean * std::log(u1));
      if (ph) ph[cc] = static_cast<float>(static_cast<double>(bits & 0xffffffULL) * (kTwoPi * 0x1.0p-24));
    }
  }
}

void render_target_window(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                          const ClutterParams& clutter, float shadow_gain, const PixelBox& window, float* magnitude,
                          float* phase) {
  if (window.empty()) return;
  const std::size_t n = static_cast<std::size_t>(window.rows) * static_cast<std::size_t>(window.cols);
  std::vector<float> clutter_phase(n), gain(n, 1.0f);
  render_clutter(clutter, window.row0, window.rows, window.col0, window.cols, magnitude, clutter_phase.data());
  apply_target_shadow(model, geometry, pose, shadow_gain, window, gain.data());
  std::vector<std::complex<float>> field(n);
  add_target_returns(model, geometry, pose, window, field.data());
  for (std::size_t k = 0; k < n; ++k) {
    const float m = magnitude[k] * gain[k];
    if (field[k] == std::complex<float>(0.0f, 0.0f)) {
      magnitude[k] = m;
      if (phase) phase[k] = clutter_phase[k];
      continue;
    }
    const std::complex<float> z = std::polar(m, clutter_phase[k]) + field[k];
    magnitude[k] = std::abs(z);
    if (phase) phase[k] = to_phase(std::arg(z));
  }
}

// ---------------------------------------------------------------------------------------------
// Scenes

ImagingGeometry SceneSynthConfig::geometry() const {
  return ImagingGeometry::square(depression_deg, pixel_spacing_m, resolution_m);
}

void SceneSynthConfig::validate() const {
  if (width < 1 || height < 1 || width > kMaxSceneSide || height > kMaxSceneSide)
    throw ConfigError("scene size " + std::to_string(width) + " x " + std::to_string(height) + " must be within 1.." +
                      std::to_string(kMaxSceneSide));
  if (targets < 0) throw ConfigError("number of scene targets must be >= 0, got " + std::to_string(targets));
  if (distractors < 0) throw ConfigError("number of distractors must be >= 0, got " + std::to_string(distractors));
  if (num_classes < 1) throw ConfigError("number of classes must be >= 1, got " + std::to_string(num_classes));
  if (!(shadow_db <= 0 && shadow_db >= -60)) throw ConfigError("shadow attenuation must be within -60..0 dB");
  if (!(gain_db >= -40 && gain_db <= 40))
    throw ConfigError("gain must be within -40..40 dB, got " + std::to_string(gain_db));
  if (!(clutter_level_db >= -40 && clutter_level_db <= 40))
    throw ConfigError("clutter level must be within -40..40 dB, got " + std::to_string(clutter_level_db));
  variation.validate();
  geometry().validate();
}

namespace {

ClutterParams scene_clutter(const SceneSynthConfig& cfg) {
  ClutterParams p;
  p.key = stream_key(cfg.seed, 0, kSceneClutterStream);
  p.landcover = true;
  p.texture_cell_px = 4;
  if (cfg.clutter_level_db != 0)
    p.mean_intensity = static_cast<float>(p.mean_intensity * std::pow(10.0, cfg.clutter_level_db / 10.0));
  return p;
}

// Footprint of a target at the origin, covering every class and azimuth (conservative).
PixelBox class_footprint_envelope(const SceneSynthConfig& cfg) {
  const ImagingGeometry g = cfg.geometry();
  PixelBox env{0, 0, 0, 0};
  const int classes = std::min(cfg.num_classes, 10 * 64);  // generations repeat the archetype sizes within +-20%
  for (int c = 0; c < classes * kSerialsPerClass; ++c) {
    const PixelBox b =
        target_footprint(make_target_model(c / kSerialsPerClass, c % kSerialsPerClass), g, TargetPose{0, 0, 0});
    const int r0 = std::min(env.row0, b.row0), c0 = std::min(env.col0, b.col0);
    const int r1 = std::max(env.row0 + env.rows, b.row0 + b.rows), c1 = std::max(env.col0 + env.cols, b.col0 + b.cols);
    env = {r0, c0, r1 - r0, c1 - c0};
  }
  // Room for per-instance jitter (positions move by a few sigma) and for the class
  // generations not measured above.
  const int pad = 4 + static_cast<int>(std::ceil(0.25 * std::max(env.rows, env.cols)));
  return {env.row0 - pad, env.col0 - pad, env.rows + 2 * pad, env.cols + 2 * pad};
}

}  // namespace

TargetModel scene_target_model(const SceneSynthConfig& cfg, const SceneTarget& target) {
  TargetModel model = make_target_model(target.class_index, target.variant);
  CounterRng rng(stream_key(cfg.seed, static_cast<std::uint64_t>(target.index), kSceneTargetStream));
  jitter_target(model, rng, cfg.variation);
  return model;
}

std::vector<SceneTarget> plan_scene_targets(const SceneSynthConfig& cfg) {
  cfg.validate();
  std::vector<SceneTarget> plan;
  if (cfg.targets == 0) return plan;
  const PixelBox env = class_footprint_envelope(cfg);
  constexpr int kBorder = 8;
  // Cells at least a quarter larger than the envelope leave room to move the target inside
  // its cell; when the scene is roomy, cells grow (to ~4 per target) so that the targets do
  // not line up on a visible grid.
  int cell_h = env.rows + env.rows / 4, cell_w = env.cols + env.cols / 4;
  const auto cells_of = [&](int ch, int cw) {
    return std::int64_t{std::max(0, (cfg.height - 2 * kBorder) / ch)} * std::max(0, (cfg.width - 2 * kBorder) / cw);
  };
  const std::int64_t max_cells = cells_of(cell_h, cell_w);
  if (max_cells < cfg.targets)
    throw ConfigError("a " + std::to_string(cfg.width) + " x " + std::to_string(cfg.height) + " scene holds at most " +
                      std::to_string(max_cells) + " non-overlapping targets of " + std::to_string(env.cols) + " x " +
                      std::to_string(env.rows) + " pixels; asked for " + std::to_string(cfg.targets));
  if (max_cells > 4 * std::int64_t{cfg.targets}) {
    const double grow = std::sqrt(static_cast<double>(max_cells) / (4.0 * cfg.targets));
    cell_h = static_cast<int>(cell_h * grow);
    cell_w = static_cast<int>(cell_w * grow);
  }
  const std::int64_t nx = std::max(0, (cfg.width - 2 * kBorder) / cell_w);
  const std::int64_t cells = cells_of(cell_h, cell_w);

  // Floyd's sampling of distinct cells without materialising all of them: up to three per
  // target so that vehicles can be kept off water; cells are taken in random order, land first.
  CounterRng rng(stream_key(cfg.seed, 0, kScenePlanStream));
  const std::int64_t draws = std::min(cells, 3 * std::int64_t{cfg.targets});
  std::set<std::int64_t> drawn;
  std::vector<std::int64_t> order;
  for (std::int64_t j = cells - draws; j < cells; ++j) {
    const auto t = static_cast<std::int64_t>(rng.next_u64() % static_cast<std::uint64_t>(j + 1));
    const std::int64_t pick = drawn.count(t) ? j : t;
    drawn.insert(pick);
    order.push_back(pick);
  }
  // Floyd's draw order is far from random (late draws favour high indices): shuffle it.
  for (std::size_t k = order.size(); k > 1; --k)
    std::swap(order[k - 1], order[static_cast<std::size_t>(rng.next_u64() % k)]);
  const ClutterParams clutter = scene_clutter(cfg);
  auto on_land = [&](std::int64_t cell) {
    const double r = kBorder + (static_cast<double>(cell / nx) + 0.5) * cell_h;
    const double c = kBorder + (static_cast<double>(cell % nx) + 0.5) * cell_w;
    return landcover_gain(clutter.key, r, c) > 0.3f;
  };
  std::vector<std::int64_t> chosen;
  for (int pass = 0; pass < 2 && std::ssize(chosen) < cfg.targets; ++pass)
    for (std::int64_t cell : order)
      if (std::ssize(chosen) < cfg.targets && on_land(cell) == (pass == 0)) chosen.push_back(cell);
  std::sort(chosen.begin(), chosen.end());

  const ImagingGeometry g = cfg.geometry();
  int index = 0;
  for (std::int64_t cell : chosen) {  // ascending: row-major order over the scene
    CounterRng trng(stream_key(cfg.seed, static_cast<std::uint64_t>(index), kScenePlanStream + 1));
    SceneTarget t;
    t.index = index++;
    t.class_index = trng.below(cfg.num_classes);
    t.variant = trng.below(kSerialsPerClass);
    t.class_name = target_class_name(t.class_index);
    t.serial = target_serial(t.class_index, t.variant);
    t.azimuth_deg = static_cast<float>(trng.uniform(0.0, 360.0));
    const double cell_row0 = kBorder + static_cast<double>(cell / nx) * cell_h;
    const double cell_col0 = kBorder + static_cast<double>(cell % nx) * cell_w;
    t.row = cell_row0 - env.row0 + trng.uniform(0.0, cell_h - env.rows);
    t.col = cell_col0 - env.col0 + trng.uniform(0.0, cell_w - env.cols);
    const TargetModel model = scene_target_model(cfg, t);
    t.footprint = target_footprint(model, g, TargetPose{t.row, t.col, t.azimuth_deg})
                      .intersect(PixelBox{0, 0, cfg.height, cfg.width});
    plan.push_back(std::move(t));
  }
  return plan;
}

namespace {

// One object drawn over the clutter: a target or a distractor.
struct SceneObject {
  const SceneTarget* target = nullptr;
  const SceneDistractor* distractor = nullptr;
  const PixelBox& footprint() const { return target ? target->footprint : distractor->footprint; }
  std::string name() const {
    return target ? "target " + std::to_string(target->index) : "distractor " + std::to_string(distractor->index);
  }
};

// The objects whose footprints meet rows_box, checked not to overlap one another.
std::vector<SceneObject> objects_in_rows(const ScenePlan& plan, const PixelBox& rows_box) {
  std::vector<SceneObject> hit;
  for (const auto& t : plan.targets)
    if (!t.footprint.intersect(rows_box).empty()) hit.push_back({&t, nullptr});
  for (const auto& d : plan.distractors)
    if (!d.footprint.intersect(rows_box).empty()) hit.push_back({nullptr, &d});
  for (std::size_t a = 0; a < hit.size(); ++a)
    for (std::size_t b = a + 1; b < hit.size(); ++b)
      if (!hit[a].footprint().intersect(hit[b].footprint()).empty())
        throw ConfigError("scene objects " + hit[a].name() + " and " + hit[b].name() + " overlap");
  return hit;
}

}  // namespace

void render_scene_rows(const SceneSynthConfig& cfg, const std::vector<SceneTarget>& targets, int row0, int nrows,
                       Image& out) {
  if (cfg.distractors > 0)
    throw ConfigError("a scene with distractors renders from its whole plan (plan_scene), not from its targets alone");
  ScenePlan plan;
  plan.targets = targets;
  render_scene_rows(cfg, plan, row0, nrows, out);
}

void render_scene_rows(const SceneSynthConfig& cfg, const ScenePlan& plan, int row0, int nrows, Image& out) {
  cfg.validate();
  if (row0 < 0 || nrows < 0 || static_cast<std::int64_t>(row0) + nrows > cfg.height)
    throw ConfigError("scene rows [" + std::to_string(row0) + ", " +
                      std::to_string(static_cast<std::int64_t>(row0) + nrows) + ") outside the scene's " +
                      std::to_string(cfg.height) + " rows");
  const bool complex = cfg.pixels == ScenePixels::complex_int16;
  const int width = cfg.width;
  out.rows = nrows;
  out.cols = width;
  out.magnitude.resize(out.pixels());
  if (complex)
    out.phase.resize(out.pixels());
  else
    out.phase.clear();
  if (nrows == 0) return;

  const PixelBox rows_box{row0, 0, nrows, width};
  const std::vector<SceneObject> hit = objects_in_rows(plan, rows_box);
  const ClutterParams clutter = scene_clutter(cfg);
  const ImagingGeometry geometry = cfg.geometry();
  const float shadow_gain = std::pow(10.0f, cfg.shadow_db / 20.0f);
  std::exception_ptr failure;

  // Thread count: OMP_NUM_THREADS / omp_get_max_threads(). Contiguous row blocks per thread
  // let render_clutter reuse texture lattice rows; objects then overwrite their own windows.
#pragma omp parallel
  {
    const int threads = omp_get_num_threads(), me = omp_get_thread_num();
    const std::int64_t begin = static_cast<std::int64_t>(nrows) * me / threads;
    const std::int64_t end = static_cast<std::int64_t>(nrows) * (me + 1) / threads;
    try {
      if (end > begin)
        render_clutter(clutter, row0 + static_cast<int>(begin), static_cast<int>(end - begin), 0, width,
                       out.magnitude.data() + begin * width, complex ? out.phase.data() + begin * width : nullptr);
    } catch (...) {
#pragma omp critical(sarscale_scene_failure)
      if (!failure) failure = std::current_exception();
    }
#pragma omp barrier
#pragma omp for schedule(dynamic)
    for (std::size_t k = 0; k < hit.size(); ++k) {
      try {
        const SceneObject& o = hit[k];
        const PixelBox window = o.footprint().intersect(rows_box);
        const TargetModel model =
            o.target ? scene_target_model(cfg, *o.target) : scene_distractor_model(cfg, *o.distractor);
        const TargetPose pose = o.target ? TargetPose{o.target->row, o.target->col, o.target->azimuth_deg}
                                         : TargetPose{o.distractor->row, o.distractor->col, o.distractor->azimuth_deg};
        const std::size_t n = static_cast<std::size_t>(window.rows) * static_cast<std::size_t>(window.cols);
        std::vector<float> mag(n), ph(complex ? n : 0);
        render_target_window(model, geometry, pose, clutter, shadow_gain, window, mag.data(),
                             complex ? ph.data() : nullptr);
        for (int r = 0; r < window.rows; ++r) {
          const std::size_t dst = static_cast<std::size_t>(window.row0 - row0 + r) * width + window.col0;
          const std::size_t src = static_cast<std::size_t>(r) * window.cols;
          std::copy_n(mag.data() + src, window.cols, out.magnitude.data() + dst);
          if (complex) std::copy_n(ph.data() + src, window.cols, out.phase.data() + dst);
        }
      } catch (...) {
#pragma omp critical(sarscale_scene_failure)
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
  apply_gain_db(cfg.gain_db, out.magnitude);  // after the objects: it scales the whole acquisition
}

void to_cint16(const Image& image, std::vector<std::int16_t>& iq, float scale) {
  if (!image.has_phase() || image.phase.size() != image.magnitude.size())
    throw ConfigError("to_cint16 needs a complex image (magnitude and phase)");
  iq.resize(2 * image.magnitude.size());
  auto sat = [](float v) { return static_cast<std::int16_t>(std::lround(std::clamp(v, -32767.0f, 32767.0f))); };
  for (std::size_t k = 0; k < image.magnitude.size(); ++k) {
    const float m = image.magnitude[k] * scale;
    iq[2 * k] = sat(m * std::cos(image.phase[k]));
    iq[2 * k + 1] = sat(m * std::sin(image.phase[k]));
  }
}

}  // namespace sarscale::synth
