#include "sarscale/dist/detect_stage.hpp"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "detect_outputs.hpp"
#include "detect_tiles.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/progress.hpp"
#include "sarscale/dist/scene_classifier.hpp"
#include "sarscale/io/discover.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;
using detail::SceneSetup;
using detail::TileResult;

namespace {

// A scene after probing: readable (rows, cols, setup) or rejected with its reason.
struct SceneProbe {
  SceneSetup setup;
  std::int64_t rows = 0, cols = 0;
  std::int64_t bytes = 0, mtime = 0;
  std::string rejected;
};

bool says_db(const io::GdalRaster& raster, int band) {
  const auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  const io::Metadata meta = raster.band_metadata(band);
  for (const char* key : {"UNIT", "UNITS", "unit", "units"})
    if (const auto it = meta.find(key); it != meta.end() && lower(it->second) == "db") return true;
  if (lower(raster.band_description(band)).find("db") != std::string::npos) return true;
  std::string name = lower(raster.path().filename().string());
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = ' ';
  return (" " + name + " ").find(" db ") != std::string::npos;
}

PixelQuantity resolve_quantity(const io::GdalRaster& raster, const DetectConfig& cfg) {
  if (cfg.pixels != PixelQuantity::automatic) return cfg.pixels;
  if (raster.calibration_applied() != "none") return PixelQuantity::intensity;
  if (!raster.is_complex() && says_db(raster, cfg.band)) return PixelQuantity::db;
  return PixelQuantity::amplitude;
}

// Opens and checks one scene; guard and background from metres when asked.
SceneProbe probe_scene(const io::DiscoveredInput& input, const DetectConfig& cfg) {
  SceneProbe p;
  p.setup.path = input.path;
  p.setup.cfar = cfg.cfar;
  p.bytes = static_cast<std::int64_t>(input.size_bytes);
  std::error_code ec;
  p.mtime = static_cast<std::int64_t>(fs::last_write_time(input.path, ec).time_since_epoch().count());
  try {
    const io::GdalRaster raster = io::GdalRaster::open(input.path, cfg.calibration);
    if (cfg.band > raster.bands())
      throw InputError("has " + std::to_string(raster.bands()) + " band(s); --band " + std::to_string(cfg.band) +
                       " asked for");
    raster.validate();
    p.rows = raster.rows();
    p.cols = raster.cols();
    p.setup.quantity = resolve_quantity(raster, cfg);
    if (const auto nodata = raster.nodata(cfg.band)) p.setup.nodata = static_cast<float>(*nodata);
    if (cfg.guard_m > 0 || cfg.background_m > 0) {
      if (!raster.has_geotransform())
        throw InputError("has no geotransform: give --guard and --background in pixels for it");
      const auto gt = raster.geotransform();
      if (cfg.guard_m > 0) p.setup.cfar.guard = detect::metres_to_pixels(cfg.guard_m, gt);
      if (cfg.background_m > 0) p.setup.cfar.background = detect::metres_to_pixels(cfg.background_m, gt);
    }
  } catch (const Error& e) {
    p.rejected = e.what();
  }
  return p;
}

std::string encode_probe(const SceneProbe& p) {
  std::ostringstream out;
  out.precision(17);
  out << p.rows << ' ' << p.cols << ' ' << p.bytes << ' ' << p.mtime << ' ' << static_cast<int>(p.setup.quantity) << ' '
      << p.setup.nodata << ' ' << p.setup.cfar.guard << ' ' << p.setup.cfar.background << ' ' << p.rejected;
  return out.str();
}

SceneProbe decode_probe(const std::string& text, const fs::path& path, const DetectConfig& cfg) {
  SceneProbe p;
  p.setup.path = path;
  p.setup.cfar = cfg.cfar;
  std::istringstream in(text);
  int quantity = 0;
  std::string nodata;
  in >> p.rows >> p.cols >> p.bytes >> p.mtime >> quantity >> nodata >> p.setup.cfar.guard >> p.setup.cfar.background;
  p.setup.quantity = static_cast<PixelQuantity>(quantity);
  p.setup.nodata = nodata == "nan" || nodata == "-nan" ? std::numeric_limits<float>::quiet_NaN() : std::stof(nodata);
  std::getline(in >> std::ws, p.rejected);
  return p;
}

// Collective: every scene probed once (scenes shared among ranks), every rank gets all results.
std::vector<SceneProbe> probe_scenes(const Comm& comm, const std::vector<io::DiscoveredInput>& inputs,
                                     const DetectConfig& cfg) {
  const Range mine = block_range(inputs.size(), comm.size(), comm.rank());
  std::vector<std::string> local;
  comm.agree_on([&] {
    for (std::size_t i = mine.begin; i < mine.end; ++i) local.push_back(encode_probe(probe_scene(inputs[i], cfg)));
  });
  const std::vector<std::string> all = comm.allgather_strings(local);
  std::vector<SceneProbe> probes;
  for (std::size_t i = 0; i < inputs.size(); ++i) probes.push_back(decode_probe(all[i], inputs[i].path, cfg));
  return probes;
}

std::string resume_key(const DetectConfig& cfg, const std::vector<SceneProbe>& scenes, const DetectPlan& plan) {
  io::h5::Fingerprint fp;
  const detect::CfarParams& c = cfg.cfar;
  fp.add("sarscale-detect-tiles-1").add(cfg.band).add(io::to_string(cfg.calibration)).add(cfg.tile);
  fp.add(static_cast<int>(c.method)).add(static_cast<int>(c.model)).add(c.pfa).add(c.looks).add(c.os_rank);
  fp.add(c.min_cells).add(static_cast<double>(c.nodata)).add(static_cast<double>(c.db_floor));
  for (std::size_t i = 0; i < scenes.size(); ++i) {
    const SceneProbe& s = scenes[i];
    fp.add(s.setup.path.string()).add(s.bytes).add(s.mtime).add(s.rows).add(s.cols);
    fp.add(static_cast<int>(s.setup.quantity)).add(static_cast<double>(s.setup.nodata));
    fp.add(s.setup.cfar.guard).add(s.setup.cfar.background).add(plan.quicklook_factor[i]);
  }
  return fp.hex();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Rank 0: keeps the tile logs of an earlier run with the same key, else starts the folder anew.
void prepare_tiles_folder(const fs::path& tiles, const std::string& key, bool fresh) {
  std::error_code ec;
  if (fresh || read_text(tiles / "key") != key) {
    fs::remove_all(tiles, ec);
    if (ec) throw IoError("cannot clear " + tiles.string() + ": " + ec.message());
  }
  fs::create_directories(tiles, ec);
  if (ec) throw IoError("cannot create " + tiles.string() + ": " + ec.message());
  if (read_text(tiles / "key") != key) io::write_file_atomically(tiles / "key", key);
}

// The tiles no earlier run logged, as rank 0 found them, on every rank.
std::vector<std::uint64_t> pending_tiles(const Comm& comm, const fs::path& tiles, std::size_t count) {
  std::vector<std::uint64_t> pending;
  comm.agree_on([&] {
    if (!comm.is_root()) return;
    const auto done = detail::read_tile_logs(tiles);
    for (std::uint64_t t = 0; t < count; ++t)
      if (!done.count(t)) pending.push_back(t);
  });
  comm.broadcast(pending);
  return pending;
}

// Collective: this rank's share of the pending tiles, each logged as soon as it is done.
void run_tiles(const Comm& comm, const fs::path& tiles_dir, const std::vector<SceneProbe>& scenes,
               const DetectPlan& plan, const std::vector<std::uint64_t>& pending, const DetectConfig& cfg, int threads) {
  std::string run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count()) + "-" +
                       std::to_string(::getpid());
  comm.broadcast(run_id);
  std::vector<SceneTile> todo;
  for (const std::uint64_t t : pending) todo.push_back(plan.tiles[t]);
  const Range mine = tile_range(todo, comm.size(), comm.rank());
  comm.agree_on([&] {
    if (mine.empty()) return;
    detail::TileLog log(tiles_dir, comm.rank(), run_id);
    std::map<std::pair<int, int>, std::unique_ptr<detect::Cfar>> cfars;  // by (guard, background)
    std::optional<io::GdalRaster> raster;
    std::size_t open_scene = SIZE_MAX;
    for (std::size_t i = mine.begin; i < mine.end; ++i) {
      const SceneTile& tile = todo[i];
      const SceneProbe& scene = scenes[tile.scene];
      TileResult result;
      try {
        if (open_scene != tile.scene) {
          raster.reset();
          open_scene = SIZE_MAX;
          raster.emplace(io::GdalRaster::open(scene.setup.path, cfg.calibration));
          open_scene = tile.scene;
        }
      } catch (const InputError& e) {
        result.failure = e.what();  // the scene changed or vanished since it was probed
      }
      if (result.failure.empty()) {
        auto& cfar = cfars[{scene.setup.cfar.guard, scene.setup.cfar.background}];
        if (!cfar) cfar = std::make_unique<detect::Cfar>(scene.setup.cfar);
        result = detail::prescreen_tile(*raster, cfg.band, scene.setup, *cfar, tile, scene.rows, scene.cols, threads);
      }
      log.append(pending[i], detail::pack_tile(result));
    }
  });
}

void check_config(const DetectConfig& cfg) {
  if (cfg.inputs.empty()) throw ConfigError("detect needs --input (scenes, folders of scenes or globs)");
  if (cfg.output.empty()) throw ConfigError("detect needs --output (a folder)");
  if (cfg.model.empty() && !cfg.prescreen_only)
    throw ConfigError("detect needs --model (a chip model with a 'clutter' class), or --prescreen-only for CFAR "
                      "candidates alone");
  if (!cfg.model.empty() && cfg.prescreen_only) throw ConfigError("--prescreen-only and --model exclude each other");
  if (cfg.band < 1) throw ConfigError("--band counts from 1");
  if (cfg.tile < 64 || cfg.tile % 64 != 0) throw ConfigError("--tile must be a multiple of 64 pixels (>= 64)");
  if (cfg.cluster_gap < -1) throw ConfigError("--cluster-gap must be -1 (no clustering) or >= 0");
  if (!(cfg.suppress_radius >= 0)) throw ConfigError("--suppress-radius must be >= 0 pixels");
  if (cfg.min_area < 1 || cfg.max_area < 0 || (cfg.max_area > 0 && cfg.max_area < cfg.min_area))
    throw ConfigError("--min-area must be >= 1 and --max-area 0 (no limit) or >= --min-area");
  if (cfg.quicklook_size < 0 || cfg.threads < 0 || cfg.guard_m < 0 || cfg.background_m < 0)
    throw ConfigError("--quicklook-size, --threads, --guard-m and --background-m must not be negative");
  detect::Cfar check(cfg.cfar);  // ConfigError naming a bad CFAR parameter, before any work
}

}  // namespace

PixelQuantity parse_pixel_quantity(const std::string& name) {
  if (name == "auto") return PixelQuantity::automatic;
  if (name == "amplitude") return PixelQuantity::amplitude;
  if (name == "intensity") return PixelQuantity::intensity;
  if (name == "db") return PixelQuantity::db;
  throw ConfigError("--pixels must be auto, amplitude, intensity or db, not '" + name + "'");
}

std::string to_string(PixelQuantity q) {
  switch (q) {
    case PixelQuantity::amplitude:
      return "amplitude";
    case PixelQuantity::intensity:
      return "intensity";
    case PixelQuantity::db:
      return "db";
    default:
      return "auto";
  }
}

DetectPlan make_detect_plan(const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes, int tile,
                            int quicklook_size) {
  DetectPlan plan;
  plan.sizes = sizes;
  plan.tiles = sizes.empty() ? std::vector<SceneTile>{} : plan_scene_tiles(sizes, tile, tile);
  // The smallest power of two that brings the longest side within quicklook_size, at most the
  // largest power of two dividing the tile (so a tile's core is a whole number of blocks).
  int max_factor = 1;
  while (tile % (2 * max_factor) == 0) max_factor *= 2;
  for (const auto& [rows, cols] : sizes) {
    if (quicklook_size <= 0) {  // no quick-looks: no blocks in the tile logs either
      plan.quicklook_factor.push_back(0);
      continue;
    }
    int f = 1;
    while (f < max_factor && std::max(rows, cols) > static_cast<std::int64_t>(quicklook_size) * f)
      f *= 2;
    plan.quicklook_factor.push_back(f);
  }
  return plan;
}

std::vector<int> assign_scene_merges(const DetectPlan& plan, int ranks) {
  std::vector<std::int64_t> tiles(plan.sizes.size(), 0);
  for (const SceneTile& t : plan.tiles) ++tiles[t.scene];
  std::vector<std::size_t> order(tiles.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tiles[a] > tiles[b]; });
  std::vector<std::int64_t> load(static_cast<std::size_t>(std::max(1, ranks)), 0);
  std::vector<int> owner(tiles.size(), 0);
  for (const std::size_t s : order) {
    const auto least = std::min_element(load.begin(), load.end());
    owner[s] = static_cast<int>(least - load.begin());
    *least += tiles[s];
  }
  return owner;
}

json::Value DetectSummary::to_json() const {
  json::Value v = json::Value::object();
  v["output"] = output.string();
  v["mode"] = mode;
  v["scenes"] = static_cast<std::int64_t>(scenes.size());
  v["rejected"] = json::Value::array();
  for (const auto& [path, reason] : rejected) {
    json::Value r = json::Value::object();
    r["path"] = path;
    r["reason"] = reason;
    v["rejected"].push_back(r);
  }
  v["skipped"] = skipped;
  v["tiles"] = tiles;
  v["tiles_resumed"] = tiles_resumed;
  v["detections"] = detections;
  v["targets"] = targets;
  v["ranks"] = ranks;
  v["threads"] = threads;
  v["seconds"] = seconds;
  v["setup_seconds"] = setup_seconds;
  v["prescreen_seconds"] = prescreen_seconds;
  v["merge_seconds"] = merge_seconds;
  v["classify_seconds"] = classify_seconds;
  v["output_seconds"] = output_seconds;
  v["megapixels"] = megapixels;
  v["megapixels_per_s"] = seconds > 0 ? megapixels / seconds : 0.0;
  v["peak_rss_mb"] = peak_rss_mb;
  v["per_scene"] = json::Value::array();
  for (const DetectSceneSummary& s : scenes) {
    json::Value e = json::Value::object();
    e["scene"] = s.scene;
    if (!s.rejected.empty()) e["rejected"] = s.rejected;
    e["rows"] = s.rows;
    e["cols"] = s.cols;
    e["tiles"] = s.tiles;
    e["tested_pixels"] = s.tested;
    e["candidates"] = s.candidates;
    e["size_rejected"] = s.size_rejected;
    e["targets"] = s.targets;
    e["clutter"] = s.clutter;
    e["unclassified"] = s.unclassified;
    e["georeferenced"] = s.georeferenced;
    if (!s.quicklook.empty()) e["quicklook"] = s.quicklook;
    v["per_scene"].push_back(e);
  }
  return v;
}

DetectSummary run_detect(const Comm& comm, const DetectConfig& cfg) {
  PhaseClock clock;
  check_config(cfg);
  io::DiscoveryResult found;
  comm.agree_on([&] {
    if (comm.is_root()) found = io::discover_inputs(cfg.inputs);
  });
  std::string bytes = comm.is_root() ? io::serialize(found) : std::string();
  comm.broadcast(bytes);
  if (!comm.is_root()) found = io::deserialize_discovery(bytes);

  std::vector<io::RunInput> inputs;
  for (const std::string& spec : cfg.inputs) inputs.push_back({spec, "--input", fs::is_directory(spec)});
  if (!cfg.model.empty()) inputs.push_back({cfg.model, "--model", false});
  const OutputGuard guard = OutputGuard::claim(
      comm, {{cfg.output, "--output", detail::detect_folder_kind(), true}}, inputs, cfg.overwrite, cfg.command_line);

  std::optional<SceneClassifier> classifier;
  comm.agree_on([&] {
    if (cfg.model.empty()) return;
    classifier.emplace(SceneClassifier::load(cfg.model, "detect"));
    if (classifier->clutter_class() < 0 && !cfg.no_discrimination)
      throw ConfigError("model " + cfg.model.string() +
                        " has no 'clutter' class, so it cannot tell clutter from targets: train it with clutter chips "
                        "(sarscale cut, docs/detection.md), or give --no-discrimination to classify every candidate");
  });

  const std::vector<SceneProbe> scenes = probe_scenes(comm, found.inputs, cfg);
  std::vector<std::pair<std::int64_t, std::int64_t>> sizes;
  std::vector<std::size_t> accepted;  // indices of readable scenes
  for (std::size_t i = 0; i < scenes.size(); ++i)
    if (scenes[i].rejected.empty()) {
      accepted.push_back(i);
      sizes.emplace_back(scenes[i].rows, scenes[i].cols);
    }
  std::vector<SceneProbe> readable;
  for (const std::size_t i : accepted) readable.push_back(scenes[i]);
  if (readable.empty()) {  // a mistyped path must not look like a scene without targets
    std::string why;
    for (const auto& r : found.rejects) why += "\n  " + r.path + ": " + r.reason;
    for (const SceneProbe& p : scenes) why += "\n  " + p.setup.path.string() + ": " + p.rejected;
    throw InputError("detect: no scene to search" + (why.empty() ? std::string(" (the inputs hold no files)") : ":" + why));
  }
  DetectPlan plan = make_detect_plan(sizes, cfg.tile, cfg.quicklook_size);
  for (std::size_t i = 0; i < readable.size(); ++i) readable[i].setup.quicklook_factor = plan.quicklook_factor[i];

  const fs::path tiles_dir = cfg.output / "tiles";
  comm.agree_on([&] {
    if (!comm.is_root()) return;
    fs::create_directories(cfg.output);
    prepare_tiles_folder(tiles_dir, resume_key(cfg, readable, plan), cfg.fresh);
  });
  const int threads = cfg.threads > 0 ? cfg.threads : omp_get_max_threads();
  const std::vector<std::uint64_t> pending = pending_tiles(comm, tiles_dir, plan.tiles.size());
  const double setup_seconds = comm.max(clock.lap());
  run_tiles(comm, tiles_dir, readable, plan, pending, cfg, threads);
  const double prescreen_seconds = comm.max(clock.lap());

  std::vector<SceneSetup> setups;
  for (const SceneProbe& p : readable) setups.push_back(p.setup);
  detail::DetectResults results = detail::merge_tiles(comm, tiles_dir, setups, plan, cfg);
  const double merge_seconds = comm.max(clock.lap());
  const SceneClassifier* model = classifier ? &*classifier : nullptr;
  detail::classify_candidates(comm, results, setups, model, cfg, threads);
  const double classify_seconds = comm.max(clock.lap());

  std::vector<detail::Rejection> rejected;
  for (const auto& r : found.rejects) rejected.push_back({r.path, r.reason});
  for (const SceneProbe& p : scenes)
    if (!p.rejected.empty()) rejected.push_back({p.setup.path.string(), p.rejected});
  detail::write_quicklooks(comm, results, setups, plan, model, cfg);
  DetectSummary s;
  comm.agree_on([&] {
    if (comm.is_root()) s = detail::write_outputs(results, setups, plan, rejected, found.skipped.size(), model, cfg);
  });
  // Rank 0 wrote the outputs; the totals are every rank's (the per-scene list stays on rank 0).
  comm.broadcast(s.detections);
  comm.broadcast(s.targets);
  s.mode = detail::detect_mode(model, cfg);
  s.output = cfg.output;
  s.tiles = static_cast<std::int64_t>(plan.tiles.size());
  s.tiles_resumed = s.tiles - static_cast<std::int64_t>(pending.size());
  s.ranks = comm.size();
  s.threads = threads;
  s.setup_seconds = setup_seconds;
  s.prescreen_seconds = prescreen_seconds;
  s.merge_seconds = merge_seconds;
  s.classify_seconds = classify_seconds;
  s.output_seconds = comm.max(clock.lap());
  s.seconds = setup_seconds + prescreen_seconds + merge_seconds + classify_seconds + s.output_seconds;
  s.peak_rss_mb = static_cast<double>(comm.max(peak_rss_mib()));
  comm.agree_on([&] {
    if (comm.is_root()) io::write_file_atomically(cfg.output / "summary.json", s.to_json().dump() + "\n");
  });
  return s;
}

}  // namespace sarscale::dist
