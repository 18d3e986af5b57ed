#include "sarscale/dist/detection_score.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/io/crs.hpp"
#include "sarscale/io/detection_file.hpp"
#include "sarscale/io/gdal_raster.hpp"
#include "sarscale/io/truth_file.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

namespace {

// One scene to score and what is known of it.
struct SceneEntry {
  std::string name;  // as the detections (or --scene, or the truth) give it
  std::vector<io::Detection> detections;
  std::vector<io::TruthObject> truth;
};

bool same_scene(const std::string& a, const std::string& b) {
  return a == b || fs::path(a).filename() == fs::path(b).filename();
}

// Truth of every file; objects of synth's <stem>_targets.csv without a scene get that stem.
std::vector<io::TruthObject> read_all_truth(const std::vector<fs::path>& files) {
  std::vector<io::TruthObject> all;
  for (const auto& file : files) {
    auto objects = io::read_truth(file);
    const std::string stem = file.stem().string();
    const std::string suffix = "_targets";
    const bool synth = stem.size() > suffix.size() && stem.ends_with(suffix);
    for (auto& t : objects) {
      if (synth && t.scene.empty()) t.scene = stem.substr(0, stem.size() - suffix.size());
      all.push_back(std::move(t));
    }
  }
  return all;
}

// Scenes in report order: the detections', the --scene ones, then those only the truth names.
std::vector<SceneEntry> gather_scenes(const DetectionScoreConfig& cfg, std::vector<io::Detection> detections,
                                      const std::vector<io::TruthObject>& truth,
                                      std::vector<std::string>& warnings) {
  std::vector<SceneEntry> scenes;
  const auto find = [&](const std::string& name) {
    return std::find_if(scenes.begin(), scenes.end(), [&](const SceneEntry& s) { return same_scene(s.name, name); });
  };
  for (auto& d : detections) {
    auto it = std::find_if(scenes.begin(), scenes.end(), [&](const SceneEntry& s) { return s.name == d.scene; });
    if (it == scenes.end()) it = scenes.insert(scenes.end(), SceneEntry{d.scene, {}, {}});
    it->detections.push_back(std::move(d));
  }
  for (const auto& s : cfg.scenes) {
    auto it = find(s.string());
    if (it == scenes.end()) scenes.push_back({s.string(), {}, {}});
    else it->name = s.string();  // the file the user points at is the one to open
  }
  for (const auto& t : truth) {
    if (t.scene.empty()) continue;
    const bool named = std::any_of(scenes.begin(), scenes.end(), [&](const SceneEntry& s) {
      return !io::truth_for_scene({t}, s.name).empty();
    });
    if (named) continue;
    warnings.push_back("scene '" + t.scene + "' of the truth has no detection and was not given with --scene: " +
                       "scored with every target missed, area unknown");
    scenes.push_back({t.scene, {}, {}});
  }
  if (scenes.empty())
    throw InputError("nothing to score: " + cfg.detections.string() +
                     " holds no detection, no --scene was given and the truth names no scene");
  for (auto& s : scenes) s.truth = io::truth_for_scene(truth, s.name);
  return scenes;
}

// Opens the scene, places its vector truth, finds its area and match radius. Throws InputError
// when the scene cannot be scored.
detect::SceneInput prepare_scene(SceneEntry&& s, const DetectionScoreConfig& cfg, detect::ScoreParams& params,
                                 std::vector<std::string>& warnings) {
  detect::SceneInput in;
  in.scene = s.name;
  std::optional<io::Georef> georef;
  std::int64_t rows = 0, cols = 0;
  std::string unreadable;
  try {
    const io::GdalRaster raster = io::GdalRaster::open(s.name);
    georef = raster.georef();
    rows = raster.rows(), cols = raster.cols();
    if (georef && georef->projection_wkt.empty()) georef.reset();  // a geotransform alone is no map
  } catch (const Error& e) {
    unreadable = e.what();
  }
  try {
    io::locate_truth(s.truth, georef);
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()) + (unreadable.empty() ? "" : " (" + unreadable + ")"));
  }
  const double mid_row = 0.5 * static_cast<double>(rows), mid_col = 0.5 * static_cast<double>(cols);
  if (cfg.match_radius_m) {
    const auto size = georef ? io::pixel_size_m(*georef, mid_row, mid_col) : std::nullopt;
    if (!size) throw InputError("--match-radius in metres needs a georeferenced scene");
    params.match_radius_px = *cfg.match_radius_m / std::min((*size)[0], (*size)[1]);
  }
  const auto pixel_area = georef ? io::pixel_area_m2(*georef, mid_row, mid_col) : cfg.pixel_area_m2;
  if (rows > 0 && pixel_area) in.area_km2 = static_cast<double>(rows) * static_cast<double>(cols) * *pixel_area / 1e6;
  else
    warnings.push_back(s.name + ": no area, no false alarms per km^2 (" +
                       (!unreadable.empty() ? "scene not readable: " + unreadable
                                            : std::string("no georeferencing; give --pixel-area-m2")) +
                       ")");
  in.detections = std::move(s.detections);
  in.truth = std::move(s.truth);
  return in;
}

// Every integer log10 Pfa from the loosest to the strictest finite one of the detections.
std::vector<double> default_thresholds(const std::vector<io::Detection>& detections) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& d : detections)
    if (std::isfinite(d.log10_pfa) && d.log10_pfa > -300) lo = std::min(lo, d.log10_pfa), hi = std::max(hi, d.log10_pfa);
  if (!(lo <= hi)) return {};
  const double first = std::floor(lo), last = std::ceil(hi);
  const double step = std::max(1.0, std::ceil((last - first) / 100.0));
  std::vector<double> out;
  for (double t = first; t < last + step; t += step) out.push_back(t);
  return out;
}

DetectionScoreSummary score_on_root(const DetectionScoreConfig& cfg) {
  DetectionScoreSummary s;
  std::vector<io::Detection> detections = io::read_detections(cfg.detections);
  const std::vector<io::TruthObject> truth = read_all_truth(cfg.truth);
  detect::ScoreParams params = cfg.params;
  if (params.roc_log10_pfa.empty()) params.roc_log10_pfa = default_thresholds(detections);
  std::sort(params.roc_log10_pfa.begin(), params.roc_log10_pfa.end());
  s.report.params = params;
  for (auto& entry : gather_scenes(cfg, std::move(detections), truth, s.warnings)) {
    const std::string name = entry.name;
    try {
      detect::ScoreParams own = params;
      const detect::SceneInput in = prepare_scene(std::move(entry), cfg, own, s.warnings);
      s.report.scenes.push_back(detect::score_scene(in, own));
    } catch (const InputError& e) {
      s.rejected.push_back({name, e.what()});
    }
  }
  s.report.total = detect::sum_scores(s.report.scenes);
  return s;
}

json::Value report_json(const DetectionScoreSummary& s, const DetectionScoreConfig& cfg) {
  json::Value v = s.report.to_json();
  if (cfg.match_radius_m) v["params"]["match_radius_m"] = *cfg.match_radius_m;
  v["detections_file"] = fs::absolute(cfg.detections).string();
  json::Value files = json::Value::array();
  for (const auto& t : cfg.truth) files.push_back(fs::absolute(t).string());
  v["truth_files"] = files;
  json::Value rejected = json::Value::array();
  for (const auto& r : s.rejected) {
    json::Value item = json::Value::object();
    item["scene"] = r.scene;
    item["reason"] = r.reason;
    rejected.push_back(item);
  }
  v["rejected"] = rejected;
  json::Value warnings = json::Value::array();
  for (const auto& w : s.warnings) warnings.push_back(w);
  v["warnings"] = warnings;
  return v;
}

}  // namespace

json::Value DetectionScoreSummary::to_json() const {
  const json::Value total = report.total.to_json();
  json::Value v = json::Value::object();
  const auto& t = report.total;
  const auto ratio = [](std::optional<double> r) { return r ? json::Value(*r) : json::Value(); };
  v["scenes"] = t.scenes;
  v["rejected_scenes"] = rejected.size();
  v["truth_targets"] = t.truth_targets;
  v["detections"] = t.prescreen.detections;
  v["declared_targets"] = t.declared.detections;
  v["pd"] = ratio(detect::ratio(t.declared.matched, t.truth_targets));
  v["precision"] = ratio(detect::ratio(t.declared.matched, t.declared.detections));
  v["false_alarms"] = t.declared.false_alarms;
  v["false_alarms_per_scene"] = ratio(detect::ratio(t.declared.false_alarms, t.scenes));
  v["far_per_km2"] = ratio(t.area_km2 && *t.area_km2 > 0
                               ? std::optional<double>(static_cast<double>(t.declared.false_alarms) / *t.area_km2)
                               : std::nullopt);
  std::int64_t matched = 0, correct = 0;
  for (const auto& [key, n] : t.confusion) matched += n, correct += key.first == key.second ? n : 0;
  v["classification_accuracy"] = ratio(detect::ratio(correct, matched));
  v["prescreen_pd"] = ratio(detect::ratio(t.prescreen.matched, t.truth_targets));
  v["report"] = report_json.string();
  v["roc"] = roc_csv.string();
  return v;
}

DetectionScoreSummary run_detection_score(const Comm& comm, const DetectionScoreConfig& cfg) {
  if (cfg.detections.empty()) throw ConfigError("--detections: no detections file or folder given");
  if (cfg.truth.empty()) throw ConfigError("--truth: no truth file given");
  if (cfg.report_dir.empty()) throw ConfigError("--report: no report directory given");
  cfg.params.validate();
  if (cfg.match_radius_m && !(*cfg.match_radius_m > 0 && std::isfinite(*cfg.match_radius_m)))
    throw ConfigError("--match-radius must be a positive distance");
  if (cfg.pixel_area_m2 && !(*cfg.pixel_area_m2 > 0 && std::isfinite(*cfg.pixel_area_m2)))
    throw ConfigError("--pixel-area-m2 must be a positive area");
  std::vector<io::RunInput> inputs = {{cfg.detections, "--detections", fs::is_directory(cfg.detections)}};
  for (const auto& t : cfg.truth) inputs.push_back({t, "--truth", false});
  for (const auto& s : cfg.scenes) inputs.push_back({s, "--scene", false});
  const OutputGuard guard = OutputGuard::claim(
      comm,
      {{cfg.report_dir, "--report",
        io::folder_kind("sarscale detection score folder (scene_report.json, roc.csv)", {"scene_report.json", "roc.csv"}),
        true}},
      inputs, cfg.overwrite, cfg.command_line);

  DetectionScoreSummary s;
  s.report_json = cfg.report_dir / "scene_report.json";
  s.roc_csv = cfg.report_dir / "roc.csv";
  comm.agree_on([&] {  // rank 0 does the (small) work; a failure there reaches every rank
    if (!comm.is_root()) return;
    DetectionScoreSummary done = score_on_root(cfg);
    done.report_json = s.report_json, done.roc_csv = s.roc_csv;
    s = std::move(done);
    for (const auto& w : s.warnings) log::warn(w);
    for (const auto& r : s.rejected) log::warn("scene rejected: ", r.scene, ": ", r.reason);
    fs::create_directories(cfg.report_dir);
    io::write_file_atomically(s.report_json, report_json(s, cfg).dump(2) + "\n");
    io::write_file_atomically(s.roc_csv, s.report.roc_csv());
  });
  return s;
}

}  // namespace sarscale::dist
