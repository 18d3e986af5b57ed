#include "sarscale/dist/evaluate_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/confusion_image.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One row's outcome, gathered to rank 0.
struct Outcome {
  std::int64_t row;
  std::int32_t truth;      // model class index; -1 no label, -2 unknown class, -3 flagged, -4 invalid slot
  std::int32_t predicted;  // model class index, -1 when not predicted
};

}  // namespace

std::filesystem::path features_for_model(const Comm& comm, const io::ModelFile& model,
                                         const std::filesystem::path& model_path, const std::filesystem::path& archive,
                                         const std::filesystem::path& output, int threads,
                                         const std::string& command_line, bool fresh) {
  model_chain(model, model_path);  // a damaged model is reported as such, before any work
  // run_features keys its output on the archive as found (path, size, modification time), the
  // chain and the PCA: features of another archive (a new --test, a re-ingested archive) with
  // the model's fingerprint are recomputed, never reused; unchanged ones are left as they are.
  FeaturesConfig fc;
  fc.archive = archive;
  fc.output = output;
  fc.stored_chain = model.chain;
  fc.stored_pca = model.pca;
  fc.stored_source = "model " + model_path.string();
  fc.threads = threads;
  fc.fresh = fresh;
  fc.command_line = command_line;
  run_features(comm, fc);
  return output;
}

json::Value EvaluateSummary::to_json() const {
  json::Value v = metrics.to_json();
  v["slots"] = rows;
  v["evaluated"] = evaluated;
  v["flagged_chips"] = flagged;
  v["invalid_slots"] = invalid_slots;
  v["unlabelled"] = unlabelled;
  v["unknown_class"] = unknown_class;
  v["stage_seconds"] = json::Value::object();
  for (const auto& [name, s] : stage_seconds) v["stage_seconds"][name] = s;
  v["report"] = report_json.string();
  return v;
}

EvaluateSummary run_evaluate(const Comm& comm, const EvaluateConfig& cfg) {
  if (cfg.archive.empty() == cfg.features.empty()) throw ConfigError("give exactly one of --archive and --features");
  if (cfg.model.empty()) throw ConfigError("--model: no model given");
  if (cfg.report_dir.empty()) throw ConfigError("--report: no report directory given");
  std::vector<io::RunInput> inputs = {
      {cfg.archive, "--archive", false}, {cfg.features, "--features", false}, {cfg.model, "--model", false}};
  const OutputGuard guard = OutputGuard::claim(
      comm,
      {{cfg.report_dir, "--report",
        io::folder_kind("sarscale report folder (report.json, report.md, predictions.csv, confusion.png, features.h5)",
                        {"report.json", "report.md", "predictions.csv", "features.h5"}),
        true}},
      inputs, cfg.overwrite, cfg.command_line);
  const io::ModelFile model = io::read_model_file(cfg.model);  // small: every rank reads it
  if (model.chain.empty() || model.class_names.empty())
    throw ConfigError("model " + cfg.model.string() +
                      " carries no feature chain (trained on LIBSVM text data?): evaluate needs a model trained "
                      "on a feature file; use `sarscale predict --data` for text data");
  // Features given ready-made: a damaged model must not be blamed on them (features_for_model
  // checks the model itself when it computes them).
  if (!cfg.features.empty()) model_chain(model, cfg.model);
  comm.agree_on([&] {  // a failure on rank 0 reaches every rank
    if (comm.is_root()) fs::create_directories(cfg.report_dir);
  });

  EvaluateSummary s;
  auto t = Clock::now();
  fs::path features = cfg.features;
  if (features.empty())
    features = features_for_model(comm, model, cfg.model, cfg.archive, cfg.report_dir / "features.h5", cfg.threads,
                                  cfg.command_line, cfg.fresh);
  s.stage_seconds.emplace_back("features", comm.max(since(t)));

  t = Clock::now();
  const io::FeatureReader r = io::FeatureReader::open(features, comm.raw());
  const std::string fp = r.has_attribute("fingerprint") ? r.attribute("fingerprint") : "";
  if (fp != model.fingerprint)
    throw ConfigError(features.string() + " was computed with another chain or PCA than the model (fingerprint " + fp +
                      ", model " + model.fingerprint + "); recompute it from the archive with --archive");
  std::map<std::string, std::int32_t> model_class;
  for (std::size_t c = 0; c < model.class_names.size(); ++c)
    model_class[model.class_names[c]] = static_cast<std::int32_t>(c);
  const io::FeatureLayout& l = r.layout();
  const Range mine = block_range(static_cast<std::size_t>(l.rows), comm.size(), comm.rank());
  const auto first = static_cast<std::int64_t>(mine.begin), n = static_cast<std::int64_t>(mine.size());
  std::vector<float> x(static_cast<std::size_t>(n * l.dim));
  r.read_features(first, n, x.data());
  const auto flags = r.flags(first, n);
  const auto labels = r.labels(first, n);
  const svm::Predictions p = svm::predict(model.svm, x.data(), n, false, cfg.threads);
  std::vector<Outcome> outcomes;
  for (std::int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    Outcome o{first + i, -1, -1};
    if (flags[u] == static_cast<std::uint8_t>(io::RowFlag::invalid_slot)) {
      o.truth = -4;
    } else if (flags[u] != 0) {
      o.truth = -3;
    } else {
      o.predicted = p.labels[u];  // training labels are indices into the model's class names
      if (labels[u] >= 0) {
        const auto it = model_class.find(l.class_names.at(static_cast<std::size_t>(labels[u])));
        o.truth = it == model_class.end() ? -2 : it->second;
      }
    }
    outcomes.push_back(o);
  }
  // No chip to score (an empty archive, a mistyped test path ingested into one, chips all
  // flagged or unlabelled) is an error on every rank together, never "0% on 0 of 0 chips".
  const auto scored = comm.sum<std::int64_t>(
      std::count_if(outcomes.begin(), outcomes.end(), [](const Outcome& o) { return o.truth >= 0; }));
  if (scored == 0)
    throw InputError("nothing to evaluate: " + (cfg.archive.empty() ? features : cfg.archive).string() + " holds " +
                     std::to_string(l.rows) +
                     " chip slots and none is a usable chip labelled with one of the model's classes (" +
                     std::to_string(model.class_names.size()) + " classes)");
  const std::vector<Outcome> all = comm.gatherv(outcomes, 0);
  s.stage_seconds.emplace_back("predict", comm.max(since(t)));

  t = Clock::now();
  s.rows = l.rows;
  s.report_json = cfg.report_dir / "report.json";
  if (comm.is_root()) {
    std::vector<std::int32_t> truth, predicted;
    for (const auto& o : all) {
      switch (o.truth) {
        case -1:
          ++s.unlabelled;
          break;
        case -2:
          ++s.unknown_class;
          break;
        case -3:
          ++s.flagged;
          break;
        case -4:
          ++s.invalid_slots;
          break;
        default:
          truth.push_back(o.truth);
          predicted.push_back(o.predicted);
      }
    }
    s.evaluated = static_cast<std::int64_t>(truth.size());
    s.metrics = svm::compute_metrics(truth, predicted, model.class_names);
    std::ostringstream csv;
    csv << "row,true_class,predicted_class,status\n";
    const auto name = [&](std::int32_t c) { return c >= 0 ? model.class_names[static_cast<std::size_t>(c)] : ""; };
    for (const auto& o : all) {
      const char* status = o.truth >= 0    ? "evaluated"
                           : o.truth == -1 ? "unlabelled"
                           : o.truth == -2 ? "unknown class"
                           : o.truth == -3 ? "flagged chip"
                                           : "invalid slot";
      csv << o.row << "," << name(o.truth) << "," << name(o.predicted) << "," << status << "\n";
    }
    io::write_file_atomically(cfg.report_dir / "predictions.csv", csv.str());
  }
  s.stage_seconds.emplace_back("report", since(t));
  if (comm.is_root()) {
    json::Value v = s.to_json();
    v["model"] = fs::absolute(cfg.model).string();
    v["features"] = fs::absolute(features).string();
    v["fingerprint"] = model.fingerprint;
    v["chain"] = model.chain;
    // The image is a convenience: without a font the report is still complete, and says why.
    try {
      char title[160];
      std::snprintf(title, sizeof title, "%s: accuracy %.2f%% (%lld of %lld chips)",
                    cfg.model.filename().string().c_str(), 100 * s.metrics.accuracy,
                    static_cast<long long>(s.metrics.correct), static_cast<long long>(s.metrics.rows));
      io::write_confusion_png(cfg.report_dir / "confusion.png", model.class_names, s.metrics.confusion, title);
      v["confusion_image"] = (cfg.report_dir / "confusion.png").string();
    } catch (const std::exception& e) {
      log::warn("no confusion image: ", e.what());
      v["confusion_image"] = std::string("not written: ") + e.what();
    }
    io::write_file_atomically(s.report_json, v.dump() + "\n");
    std::ostringstream md;
    md << "# Evaluation of " << cfg.model.filename().string() << "\n\n"
       << "Test data: " << (cfg.archive.empty() ? features : cfg.archive).string() << " (" << s.rows
       << " slots: " << s.evaluated << " evaluated, " << s.flagged << " flagged chips, " << s.invalid_slots
       << " invalid slots, " << s.unlabelled << " unlabelled, " << s.unknown_class
       << " of classes the model does not know)\n\n"
       << "Feature chain: `" << model.chain << "`\n\n"
       << s.metrics.markdown();
    io::write_file_atomically(cfg.report_dir / "report.md", md.str());
  }
  return s;
}

}  // namespace sarscale::dist
