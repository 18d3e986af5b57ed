// `sarscale cut`, one scene: where its chips go (truth objects, random background, the
// prescreener's false alarms). No MPI: run_cut (cut_stage.cpp) spreads scenes over ranks.
#include <algorithm>
#include <cmath>
#include <limits>

#include "sarscale/core/error.hpp"
#include "sarscale/detect/components.hpp"
#include "sarscale/dist/cut_stage.hpp"
#include "sarscale/synth/target_model.hpp"

namespace sarscale::dist {

namespace {

constexpr std::uint64_t kBackgroundStream = 0xb6c7;
constexpr int kBackgroundTriesPerChip = 200;
// CFAR strips hold about this many pixels (plus the halo rows), whatever the scene's width.
constexpr std::int64_t kStripPixels = std::int64_t{16} << 20;

// FNV-1a of the scene's file name: background positions depend on the scene, not on which
// other scenes a run is given.
std::uint64_t name_hash(const std::string& name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : name) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

struct Centre {
  std::int64_t row, col;
};

// Window origin of a chip centred on pixel (r, c): half a chip above and left, moved inside the
// scene when it would cross a border; a scene smaller than the chip is centred in it.
std::int64_t window_origin(std::int64_t centre, std::int64_t size, int chip) {
  if (size < chip) return (size - chip) / 2;
  return std::clamp<std::int64_t>(centre - chip / 2, 0, size - chip);
}

ChipCut chip_at(const CutConfig& cfg, std::int64_t rows, std::int64_t cols, Centre at, std::string class_name,
                std::string detail, ChipOrigin origin) {
  ChipCut c;
  c.centre_row = at.row;
  c.centre_col = at.col;
  c.row0 = window_origin(at.row, rows, cfg.chip);
  c.col0 = window_origin(at.col, cols, cfg.chip);
  c.class_name = std::move(class_name);
  c.detail = std::move(detail);
  c.origin = origin;
  return c;
}

bool near_any(const std::vector<Centre>& targets, double row, double col, double radius) {
  return std::any_of(targets.begin(), targets.end(), [&](const Centre& t) {
    return std::hypot(static_cast<double>(t.row) - row, static_cast<double>(t.col) - col) < radius;
  });
}

// Candidates of the whole scene: CFAR strip by strip (each read with its halo), components
// joined across strip borders exactly as on the untiled scene.
std::vector<detect::Candidate> scene_candidates(const CutConfig& cfg, std::int64_t rows, std::int64_t cols,
                                                const IntensityReader& read) {
  const detect::Cfar cfar(cfg.cfar);
  const std::int64_t strip = std::max<std::int64_t>(64, kStripPixels / std::max<std::int64_t>(1, cols));
  std::vector<detect::TileComponents> tiles;
  std::vector<float> data;
  for (std::int64_t row0 = 0; row0 < rows; row0 += strip) {
    const detect::Rect core{row0, 0, std::min(strip, rows - row0), cols};
    const detect::Rect win = detect::tile_window(core, cfar.halo(), rows, cols);
    read(win.row0, win.rows, data);
    if (static_cast<std::int64_t>(data.size()) != win.rows * cols)
      throw Error("cut: the intensity reader returned " + std::to_string(data.size()) + " pixels for " +
                  std::to_string(win.rows) + " rows");
    const detect::SceneWindow window{data.data(), win.row0, 0, win.rows, cols, cols, rows, cols};
    tiles.push_back(detect::find_components(cfar.run(window, core, cfg.threads)));
  }
  return detect::merge_components(tiles);
}


// The prescreener's objects of the whole scene: CFAR strip by strip (each read with its halo),
// components joined across strip borders exactly as on the untiled scene, then clustered as
// detect clusters them.
std::vector<detect::Candidate> scene_objects(const CutConfig& cfg, std::int64_t rows, std::int64_t cols,
                                             const IntensityReader& read) {
  return detect::cluster_candidates(scene_candidates(cfg, rows, cols, read), cfg.cluster_gap);
}

// Per object: the truth object (index into `truth`, one of `inside`) it lies on, or npos.
constexpr std::size_t kNone = static_cast<std::size_t>(-1);
std::vector<std::size_t> owners(const CutConfig& cfg, const std::vector<detect::Candidate>& objects,
                                const std::vector<io::TruthObject>& truth, const std::vector<std::size_t>& inside) {
  std::vector<std::size_t> owner(objects.size(), kNone);
  const double radius = cfg.chip / 4.0;
  for (std::size_t k = 0; k < objects.size(); ++k) {
    const detect::PixelIndex c = detect::chip_centre(objects[k], cfg.chip_on_box);
    const double r = static_cast<double>(c.row) + 0.5, col = static_cast<double>(c.col) + 0.5;
    double best = std::numeric_limits<double>::infinity();
    for (const std::size_t i : inside) {
      const io::TruthObject& o = truth[i];
      const double d = std::hypot(o.row - r, o.col - col);
      const bool on = o.box_rows > 0 ? c.row >= o.box_row0 && c.row < o.box_row0 + o.box_rows &&
                                           c.col >= o.box_col0 && c.col < o.box_col0 + o.box_cols
                                     : d <= radius;
      if (on && d < best) best = d, owner[k] = i;
    }
  }
  return owner;
}

// 3. Random background, clear of every target.
void add_background(const CutConfig& cfg, const std::string& scene_name, std::int64_t rows, std::int64_t cols,
                    const std::vector<Centre>& targets, std::vector<ChipCut>& chips, ScenePlanCounts& counts) {
  const double half = cfg.chip / 2.0;
  synth::CounterRng rng(synth::stream_key(cfg.seed, name_hash(scene_name), kBackgroundStream));
  const std::int64_t lo_r = rows >= cfg.chip ? cfg.chip / 2 : rows / 2, hi_r = rows >= cfg.chip ? rows - cfg.chip / 2 : rows / 2;
  const std::int64_t lo_c = cols >= cfg.chip ? cfg.chip / 2 : cols / 2, hi_c = cols >= cfg.chip ? cols - cfg.chip / 2 : cols / 2;
  int placed = 0;
  for (int tries = 0; placed < cfg.clutter_per_scene && tries < kBackgroundTriesPerChip * cfg.clutter_per_scene;
       ++tries) {
    const Centre at{lo_r + static_cast<std::int64_t>(rng.uniform() * static_cast<double>(hi_r - lo_r + 1)),
                    lo_c + static_cast<std::int64_t>(rng.uniform() * static_cast<double>(hi_c - lo_c + 1))};
    if (near_any(targets, static_cast<double>(at.row), static_cast<double>(at.col), half)) continue;
    chips.push_back(chip_at(cfg, rows, cols, at, "clutter", "background", ChipOrigin::background));
    ++placed;
  }
  counts.background += placed;
  counts.background_short += cfg.clutter_per_scene - placed;
}

// 4. The prescreener's false alarms: objects on no truth object and clear of every target, most
// significant first.
void add_false_alarms(const CutConfig& cfg, std::int64_t rows, std::int64_t cols,
                      const std::vector<detect::Candidate>& objects, const std::vector<std::size_t>& owner,
                      const std::vector<Centre>& targets, std::vector<ChipCut>& chips, ScenePlanCounts& counts) {
  if (!cfg.false_alarms || cfg.max_false_alarms == 0) return;
  const double half = cfg.chip / 2.0;
  std::vector<const detect::Candidate*> alarms;
  for (std::size_t k = 0; k < objects.size(); ++k) {
    const detect::PixelIndex c = detect::chip_centre(objects[k], cfg.chip_on_box);
    if (owner[k] != kNone || near_any(targets, static_cast<double>(c.row), static_cast<double>(c.col), half))
      ++counts.candidates_near_target;
    else
      alarms.push_back(&objects[k]);
  }
  // Ranked by significance (stable: equal ones keep their peak order). More than the cap: picks
  // spread evenly over the ranking, from the strongest down to the weakest, since a
  // discriminator meets every kind of false alarm, not only the brightest.
  std::stable_sort(alarms.begin(), alarms.end(), [](const detect::Candidate* a, const detect::Candidate* b) {
    return a->min_log10_pfa < b->min_log10_pfa;
  });
  const auto n = static_cast<std::int64_t>(alarms.size());
  const std::int64_t take = std::min<std::int64_t>(n, cfg.max_false_alarms);
  for (std::int64_t k = 0; k < take; ++k) {
    const detect::PixelIndex c = detect::chip_centre(*alarms[static_cast<std::size_t>(k * n / take)], cfg.chip_on_box);
    chips.push_back(chip_at(cfg, rows, cols, {c.row, c.col}, "clutter", "cfar", ChipOrigin::false_alarm));
  }
  counts.false_alarms += take;
}

}  // namespace

std::string to_string(ChipOrigin origin) {
  switch (origin) {
    case ChipOrigin::target:
      return "target";
    case ChipOrigin::truth_clutter:
      return "truth_clutter";
    case ChipOrigin::background:
      return "background";
    case ChipOrigin::false_alarm:
      return "false_alarm";
  }
  return "?";
}

TargetChips parse_target_chips(const std::string& name) {
  if (name == "truth") return TargetChips::truth;
  if (name == "objects") return TargetChips::objects;
  if (name == "both") return TargetChips::both;
  throw ConfigError("--target-chips must be truth, objects or both, not '" + name + "'");
}

std::string to_string(TargetChips where) {
  return where == TargetChips::truth ? "truth" : where == TargetChips::objects ? "objects" : "both";
}

void CutConfig::validate() const {
  if (chip < 8 || chip > 4096) throw ConfigError("--chip must be within 8..4096 pixels, got " + std::to_string(chip));
  if (band < 1) throw ConfigError("--band must be >= 1, got " + std::to_string(band));
  if (clutter_per_scene < 0 || clutter_per_scene > 100000)
    throw ConfigError("--clutter-per-scene must be within 0..100000, got " + std::to_string(clutter_per_scene));
  if (max_false_alarms < 0)
    throw ConfigError("--max-false-alarms must be >= 0, got " + std::to_string(max_false_alarms));
  if (threads < 1) throw ConfigError("threads must be >= 1");
  if (cluster_gap < -1) throw ConfigError("--cluster-gap must be -1 (no clustering) or >= 0");
  if (scenes.empty()) throw ConfigError("--scene: no scenes given");
  if (truth.empty()) throw ConfigError("--truth: no truth files given");
  detect::Cfar check(cfar);  // ConfigError naming a bad CFAR parameter
  (void)check;
}

std::vector<ChipCut> plan_scene_chips(const CutConfig& cfg, const std::string& scene_name, std::int64_t rows,
                                      std::int64_t cols, const std::vector<io::TruthObject>& truth,
                                      const IntensityReader& intensity_strip, ScenePlanCounts& counts) {
  std::vector<std::size_t> inside;  // truth objects inside the scene, targets first (the archive lists them first)
  for (int pass = 0; pass < 2; ++pass)
    for (std::size_t i = 0; i < truth.size(); ++i) {
      const io::TruthObject& o = truth[i];
      if (o.target != (pass == 0)) continue;
      const bool in = std::isfinite(o.row) && std::isfinite(o.col) && o.row >= 0 && o.col >= 0 && o.row < rows &&
                      o.col < cols;
      if (in) inside.push_back(i);
      else ++counts.truth_outside;
    }
  const bool on_objects = cfg.target_chips != TargetChips::truth;
  std::vector<detect::Candidate> objects;
  if (on_objects || (cfg.false_alarms && cfg.max_false_alarms > 0)) {
    objects = scene_objects(cfg, rows, cols, intensity_strip);
    counts.candidates += static_cast<std::int64_t>(objects.size());
  }
  const std::vector<std::size_t> owner = owners(cfg, objects, truth, inside);

  // 1-2. Truth objects: at their position and/or on the prescreener's objects on them.
  std::vector<ChipCut> chips;
  std::vector<Centre> targets;
  for (const std::size_t i : inside) {
    const io::TruthObject& o = truth[i];
    const Centre at{static_cast<std::int64_t>(std::floor(o.row)), static_cast<std::int64_t>(std::floor(o.col))};
    const std::string cls = o.target ? o.class_name : "clutter";
    const std::string detail = o.target || !o.detail.empty() ? o.detail : "clutter";
    const ChipOrigin origin = o.target ? ChipOrigin::target : ChipOrigin::truth_clutter;
    if (o.target) targets.push_back(at);
    std::int64_t& count = o.target ? counts.targets : counts.truth_clutter;
    if (cfg.target_chips != TargetChips::objects) {
      chips.push_back(chip_at(cfg, rows, cols, at, cls, detail, origin));
      ++count;
    }
    // Its main object: the largest on it (ties: the brighter peak, then the first). The others
    // are pieces (a scatterer beyond the cluster gap, a clutter hit on the footprint) whose
    // chips show part of the object off-centre: detect declares the main one, and suppresses
    // the pieces as its duplicates.
    const detect::Candidate* main = nullptr;
    for (std::size_t k = 0; k < objects.size(); ++k)
      if (owner[k] == i && (main == nullptr || objects[k].area > main->area ||
                            (objects[k].area == main->area && objects[k].peak > main->peak)))
        main = &objects[k];
    const bool seen = main != nullptr;
    if (seen && on_objects) {
      const detect::PixelIndex c = detect::chip_centre(*main, cfg.chip_on_box);
      chips.push_back(chip_at(cfg, rows, cols, {c.row, c.col}, cls, detail, origin));
      ++count;
      ++counts.object_chips;
    }
    if (!seen && o.target && !objects.empty()) ++counts.targets_missed;
    // Objects only, and the prescreener missed it: the truth position stands in.
    if (!seen && cfg.target_chips == TargetChips::objects) {
      chips.push_back(chip_at(cfg, rows, cols, at, cls, detail, origin));
      ++count;
    }
  }
  add_background(cfg, scene_name, rows, cols, targets, chips, counts);
  add_false_alarms(cfg, rows, cols, objects, owner, targets, chips, counts);
  return chips;
}

}  // namespace sarscale::dist
