#include <charconv>
#include <cmath>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/detection_score.hpp"
#include "sarscale/dist/evaluate_stage.hpp"

namespace sarscale::app {

// Its options: for --help, and for checking configuration files against every command's.
po::options_description evaluate_options() {
  po::options_description desc(
      "sarscale evaluate: apply a model to a test archive (or its features) and report how well it does");
  // clang-format off
  desc.add_options()
    ("archive,a", po::value<std::string>(), "test chip archive (features computed with the model's own chain)")
    ("features,f", po::value<std::string>(), "or: test features computed with the model's chain (--pca-from the training features)")
    ("model,m", po::value<std::string>(), "model written by `sarscale train`")
    ("report,r", po::value<std::string>(), "report directory: report.json, report.md, predictions.csv (and features.h5)")
    ("fresh", po::bool_switch(), "recompute REPORT/features.h5 even when it already holds this archive's features")
    ("threads", po::value<int>()->default_value(0), "OpenMP threads per rank (0: OMP_NUM_THREADS, else cores per rank)")
    ("detections", po::value<std::string>(), "or: score detections.csv of `sarscale detect` (or its folder) against --truth; "
                                             "the report folder gets scene_report.json and roc.csv")
    ("truth", po::value<std::vector<std::string>>()->multitoken(), "with --detections: truth files (CSV in pixels, synth's "
                                                                  "<scene>_targets.csv, GeoJSON or any OGR vector)")
    ("scene", po::value<std::vector<std::string>>()->multitoken(), "with --detections: scenes to score too when they have "
                                                                  "no detection (and the files to read sizes from)")
    ("match-radius", po::value<std::string>()->default_value("10"), "with --detections: largest distance of a detection "
                                                                   "from a truth centre, pixels, or metres with an m suffix (2.5m)")
    ("no-footprint-match", po::bool_switch(), "with --detections: match by radius alone (by default a detection inside a "
                                              "truth footprint matches it too)")
    ("roc-log10-pfa", po::value<std::string>(), "with --detections: ROC thresholds a,b,c or first:last[:step] in log10 Pfa "
                                                "(default: every integer over the detections' range)")
    ("pixel-area-m2", po::value<double>(), "with --detections: pixel area of scenes without georeferencing (synth: 0.04)");
  // clang-format on
  add_overwrite_option(desc, "path at --report");
  return desc;
}

namespace {

// "10" (pixels) or "2.5m" (metres) into the config.
void set_match_radius(const std::string& text, dist::DetectionScoreConfig& cfg) {
  const bool metres = text.ends_with('m');
  const std::string number = metres ? text.substr(0, text.size() - 1) : text;
  double v = 0;
  const auto res = std::from_chars(number.data(), number.data() + number.size(), v);
  if (number.empty() || res.ec != std::errc() || res.ptr != number.data() + number.size() || !(v > 0) ||
      !std::isfinite(v))
    throw ConfigError("--match-radius: '" + text + "' is not a positive distance (pixels, or metres as 2.5m)");
  if (metres) cfg.match_radius_m = v;
  else cfg.params.match_radius_px = v;
}

int score_detections(const dist::Comm& comm, const CommandLine& cl, const po::variables_map& vm) {
  for (const char* other : {"archive", "features", "model", "fresh"})
    if (vm.count(other) && !vm[other].defaulted())
      throw ConfigError(std::string("--detections scores detections against truth: --") + other + " does not apply");
  dist::DetectionScoreConfig cfg;
  cfg.detections = vm["detections"].as<std::string>();
  if (vm.count("truth"))
    for (const auto& t : vm["truth"].as<std::vector<std::string>>()) cfg.truth.emplace_back(t);
  if (vm.count("scene"))
    for (const auto& s : vm["scene"].as<std::vector<std::string>>()) cfg.scenes.emplace_back(s);
  if (vm.count("report")) cfg.report_dir = vm["report"].as<std::string>();
  set_match_radius(vm["match-radius"].as<std::string>(), cfg);
  cfg.params.match_footprint = !vm["no-footprint-match"].as<bool>();
  if (vm.count("roc-log10-pfa")) cfg.params.roc_log10_pfa = parse_roc_thresholds(vm["roc-log10-pfa"].as<std::string>());
  if (vm.count("pixel-area-m2")) cfg.pixel_area_m2 = vm["pixel-area-m2"].as<double>();
  cfg.overwrite = vm["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  const dist::DetectionScoreSummary s = dist::run_detection_score(comm, cfg);
  if (comm.is_root()) {
    const json::Value summary = s.to_json();
    log::info("scored ", s.report.total.scenes, " scenes (", s.rejected.size(), " rejected); report in ",
              cfg.report_dir.string());
    std::cout << summary.dump() << std::endl;
  }
  return 0;
}

}  // namespace

int cmd_evaluate(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = evaluate_options();
  const auto vm = parse_command(
      cl, "sarscale evaluate --archive TEST.h5 --model M.h5 --report DIR\n"
          "       sarscale evaluate --detections DIR|detections.csv --truth T... --report DIR", desc);
  if (!vm) return 0;
  if (vm->count("detections")) return score_detections(comm, cl, *vm);
  for (const char* only : {"truth", "scene", "roc-log10-pfa", "pixel-area-m2", "match-radius", "no-footprint-match"})
    if (vm->count(only) && !(*vm)[only].defaulted()) throw ConfigError(std::string("--") + only + " goes with --detections");
  dist::EvaluateConfig cfg;
  if (vm->count("archive")) cfg.archive = (*vm)["archive"].as<std::string>();
  if (vm->count("features")) cfg.features = (*vm)["features"].as<std::string>();
  if (vm->count("model")) cfg.model = (*vm)["model"].as<std::string>();
  if (vm->count("report")) cfg.report_dir = (*vm)["report"].as<std::string>();
  cfg.threads = (*vm)["threads"].as<int>();
  cfg.fresh = (*vm)["fresh"].as<bool>();
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  const dist::EvaluateSummary s = dist::run_evaluate(comm, cfg);
  if (comm.is_root()) {
    std::cerr << s.metrics.markdown();
    log::info("accuracy ", s.metrics.accuracy * 100, "% on ", s.evaluated, " of ", s.rows, " chips (", s.flagged,
              " flagged, ", s.invalid_slots, " invalid, ", s.unlabelled, " unlabelled, ", s.unknown_class,
              " of unknown classes); report in ", cfg.report_dir.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
