#include "sarscale/dist/train_stage.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double parse_value(const std::string& v, const std::string& key) {
  try {
    if (v.rfind("2^", 0) == 0) return std::pow(2.0, std::stod(v.substr(2)));
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return d;
  } catch (const std::exception&) {
    throw ConfigError("--grid: '" + v + "' is not a number (or 2^k) in " + key);
  }
}

// Usable rows of a feature file (flag 0, labelled), with everything the model must carry.
struct TrainingData {
  svm::Dataset data;
  std::vector<std::string> class_names;
  std::string chain, fingerprint;
  std::map<std::string, std::vector<double>> pca;
};

// `ids` (when given) receives the global row id of each row kept; with `share`, a rank keeps
// only its share of the rows (a contiguous block of a feature file; every size-th row of text).
TrainingData load(const Comm& comm, const TrainConfig& cfg, bool share, std::vector<std::int64_t>* ids) {
  TrainingData t;
  if (!cfg.data.empty()) {
    // Text has no random access: every rank parses the file and, with `share`, keeps its rows.
    t.data = svm::read_libsvm_data(cfg.data);
    std::vector<std::int64_t> keep;
    for (std::int64_t i = 0; i < t.data.rows; ++i)
      if (!share || i % comm.size() == comm.rank()) keep.push_back(i);
    if (share) t.data = t.data.subset(keep);
    if (ids) *ids = keep;
    return t;
  }
  if (io::file_format(cfg.features) == io::kArchiveFormatName)
    throw ConfigError("--features " + cfg.features.string() +
                      " is a chip archive: compute its features first (sarscale features --archive " +
                      cfg.features.string() + ")");
  // Every rank reads every row (independent reads: the grid's jobs need the whole set), or only
  // its contiguous share with --cascade.
  const io::FeatureReader r = io::FeatureReader::open(cfg.features, comm.raw());
  const io::FeatureLayout& l = r.layout();
  t.class_names = l.class_names;
  t.chain = r.has_attribute("chain") ? r.attribute("chain") : "";
  t.fingerprint = r.has_attribute("fingerprint") ? r.attribute("fingerprint") : "";
  if (r.has_arrays("pca")) t.pca = r.arrays("pca");
  t.data.dim = static_cast<int>(l.dim);
  constexpr std::int64_t kBlock = 4096;
  std::vector<float> buf;
  const Range range = share ? block_range(static_cast<std::size_t>(l.rows), comm.size(), comm.rank())
                            : Range{0, static_cast<std::size_t>(l.rows)};
  const auto end = static_cast<std::int64_t>(range.end);
  for (auto first = static_cast<std::int64_t>(range.begin); first < end; first += kBlock) {
    const std::int64_t n = std::min(kBlock, end - first);
    buf.resize(static_cast<std::size_t>(n * l.dim));
    r.read_features(first, n, buf.data(), io::Transfer::independent);
    const auto flags = r.flags(first, n, io::Transfer::independent);
    const auto labels = r.labels(first, n, io::Transfer::independent);
    for (std::int64_t i = 0; i < n; ++i) {
      if (flags[static_cast<std::size_t>(i)] != 0 || labels[static_cast<std::size_t>(i)] < 0) continue;
      t.data.x.insert(t.data.x.end(), buf.begin() + i * l.dim, buf.begin() + (i + 1) * l.dim);
      t.data.labels.push_back(labels[static_cast<std::size_t>(i)]);
      ++t.data.rows;
      if (ids) ids->push_back(first + i);
    }
  }
  if (comm.sum(t.data.rows) == 0)
    throw InputError(cfg.features.string() + " holds no usable labelled rows to train on");
  return t;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Grid Grid::parse(const std::string& text) {
  Grid g;
  std::istringstream in(text);
  std::string item;
  while (in >> item) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw ConfigError("--grid: '" + item + "' is not KEY=v1,v2,...");
    const std::string key = item.substr(0, eq);
    std::vector<double>* target = key == "C" || key == "c" ? &g.C : key == "gamma" || key == "g" ? &g.gamma : nullptr;
    if (!target) throw ConfigError("--grid: unknown parameter '" + key + "' (C or gamma)");
    std::stringstream values(item.substr(eq + 1));
    std::string v;
    while (std::getline(values, v, ',')) {
      if (v.empty()) continue;
      target->push_back(key.starts_with("g") && v == "auto" ? 0.0 : parse_value(v, key));
      if (target->back() < 0 || (target == &g.C && target->back() == 0))
        throw ConfigError("--grid: " + key + " values must be positive");
    }
    if (target->empty()) throw ConfigError("--grid: no values for " + key);
  }
  return g;
}

json::Value TrainSummary::to_json() const {
  json::Value v = json::Value::object();
  v["model"] = model.string();
  v["rows"] = rows;
  v["dim"] = dim;
  v["classes"] = classes;
  v["grid"] = json::Value::array();
  for (const auto& p : grid) {
    json::Value g = json::Value::object();
    g["C"] = p.C;
    g["gamma"] = p.gamma;
    g["cv_accuracy"] = p.cv_accuracy;
    g["seconds"] = p.seconds;
    v["grid"].push_back(g);
  }
  v["C"] = best_C;
  v["gamma"] = best_gamma;
  if (best_cv_accuracy >= 0) v["cv_accuracy"] = best_cv_accuracy;
  v["total_sv"] = report.total_sv;
  v["machines"] = static_cast<std::int64_t>(pairs.empty() ? report.machines.size() : pairs.size());
  std::int64_t iterations = 0;
  for (const auto& m : report.machines) iterations += m.iterations;
  v["iterations"] = iterations;
  if (report.machines.size() == 1) {
    v["objective"] = report.machines[0].objective;
    v["rho"] = report.machines[0].rho;
  }
  if (!pairs.empty()) {
    v["pairs"] = json::Value::array();
    for (const auto& p : pairs) {
      json::Value q = json::Value::object();
      q["labels"] = std::to_string(p.label_i) + "-" + std::to_string(p.label_j);
      q["rows"] = p.rows;
      q["mode"] = p.cascaded ? "cascade" : "rank " + std::to_string(p.owner);
      q["objective"] = p.objective;
      q["n_sv"] = p.n_sv;
      q["seconds"] = p.seconds;
      json::Value passes = json::Value::array();
      for (const auto& c : p.passes) {
        json::Value r = json::Value::object();
        r["objective"] = c.objective;
        r["n_sv"] = c.n_sv;
        r["violators"] = c.violators;
        r["seconds"] = c.seconds;
        r["leaf_seconds"] = c.leaf_seconds;
        r["merge_seconds"] = c.merge_seconds;
        r["check_seconds"] = c.check_seconds;
        r["bytes"] = c.bytes_sent;
        passes.push_back(r);
      }
      q["passes"] = passes;
      v["pairs"].push_back(q);
    }
  }
  v["peak_rss_mb"] = json::Value::array();
  for (const auto mb : peak_rss_mb) v["peak_rss_mb"].push_back(mb);
  v["cv_seconds"] = cv_seconds;
  v["train_seconds"] = train_seconds;
  v["seconds"] = seconds;
  return v;
}

std::string TrainSummary::table() const {
  std::ostringstream os;
  if (!grid.empty()) {
    os << "          C        gamma   CV accuracy   seconds\n";
    for (const auto& p : grid)
      os << fmt("%11.5g", p.C) << "  " << fmt("%11.5g", p.gamma) << "  " << fmt("%10.4f%%", 100 * p.cv_accuracy) << "  "
         << fmt("%8.2f", p.seconds) << (p.C == best_C && p.gamma == best_gamma ? "   <- best" : "") << "\n";
  }
  for (const auto& p : pairs)
    os << "machine " << p.label_i << " vs " << p.label_j << ": " << p.rows << " rows, "
       << (p.cascaded ? "cascade, " + std::to_string(p.passes.size()) + " pass(es)"
                      : "on rank " + std::to_string(p.owner))
       << ", objective " << fmt("%.6f", p.objective) << ", " << p.n_sv << " SVs, " << fmt("%.2f", p.seconds) << " s\n";
  os << "model: C " << best_C << ", gamma " << best_gamma << ", " << report.total_sv << " support vectors, "
     << (pairs.empty() ? report.machines.size() : pairs.size()) << " binary machine(s), trained in "
     << fmt("%.2f", train_seconds) << " s";
  return os.str();
}

TrainSummary run_train(const Comm& comm, const TrainConfig& cfg) {
  const auto t0 = Clock::now();
  if (cfg.features.empty() == cfg.data.empty()) throw ConfigError("give exactly one of --features and --data");
  if (cfg.model.empty()) throw ConfigError("--model: no output given");
  if (!cfg.grid.empty() && cfg.folds < 2) throw ConfigError("--folds must be at least 2 for a grid search");
  if (cfg.cascade && !cfg.grid.empty())
    throw ConfigError(
        "--grid with --cascade is not supported yet: search the grid on a sample without --cascade, "
        "then train on all rows with --cascade and the chosen --C and --gamma");
  std::vector<std::int64_t> ids;
  const TrainingData t = load(comm, cfg, cfg.cascade, cfg.cascade ? &ids : nullptr);
  const svm::Dataset& d = t.data;

  svm::TrainParams base = cfg.params;
  if (cfg.balanced) {  // n / (k n_c): every class weighs the same in total
    std::map<std::int32_t, std::int64_t> count;
    for (const auto l : d.labels) ++count[l];
    if (cfg.cascade) {  // counts over every rank's share
      struct LabelCount {
        std::int32_t label;
        std::int64_t n;
      };
      std::vector<LabelCount> mine;
      for (const auto& [l, n] : count) mine.push_back({l, n});
      count.clear();
      for (const auto& c : comm.allgatherv(mine)) count[c.label] += c.n;
    }
    for (const auto& [label, n] : count)
      base.class_weights[label] = static_cast<double>(cfg.cascade ? comm.sum(d.rows) : d.rows) /
                                  (static_cast<double>(count.size()) * static_cast<double>(n));
  }
  TrainSummary s;
  s.rows = d.rows;
  s.dim = d.dim;
  s.model = cfg.model;
  const double auto_gamma = d.dim > 0 ? 1.0 / d.dim : 0.0;

  // Grid search: job = (grid point, fold), job j on rank j % size; correct counts summed.
  const auto ct0 = Clock::now();
  if (!cfg.grid.empty()) {
    // Values in the order given, "auto" resolved and repeats dropped.
    const auto resolve = [&](std::vector<double> v, bool is_gamma) {
      std::vector<double> out;
      for (double x : v) {
        if (is_gamma && x == 0) x = auto_gamma;
        if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
      }
      return out;
    };
    const std::vector<double> cs = resolve(cfg.grid.C.empty() ? std::vector<double>{base.C} : cfg.grid.C, false);
    const std::vector<double> gs =
        resolve(cfg.grid.gamma.empty() ? std::vector<double>{base.kernel.gamma} : cfg.grid.gamma, true);
    const std::vector<int> fold_of = svm::stratified_folds(d.labels, cfg.folds, cfg.seed);
    const std::size_t points = cs.size() * gs.size();
    std::vector<double> correct(points, 0.0), seconds(points, 0.0);
    std::string error;
    for (std::size_t job = 0; job < points * static_cast<std::size_t>(cfg.folds); ++job) {
      if (static_cast<int>(job % static_cast<std::size_t>(comm.size())) != comm.rank() || !error.empty()) continue;
      const std::size_t point = job / static_cast<std::size_t>(cfg.folds);
      const int fold = static_cast<int>(job % static_cast<std::size_t>(cfg.folds));
      svm::TrainParams p = base;
      p.C = cs[point / gs.size()];
      p.kernel.gamma = gs[point % gs.size()];
      std::vector<std::int64_t> train_rows, test_rows;
      for (std::int64_t i = 0; i < d.rows; ++i)
        (fold_of[static_cast<std::size_t>(i)] == fold ? test_rows : train_rows).push_back(i);
      const auto jt = Clock::now();
      try {
        if (!p.sample_weights.empty()) {
          std::vector<double> w;
          for (const auto r : train_rows) w.push_back(base.sample_weights[static_cast<std::size_t>(r)]);
          p.sample_weights = w;
        }
        const svm::SvmModel m = svm::train(d.subset(train_rows), p);
        const svm::Dataset test = d.subset(test_rows);
        const auto predicted = svm::predict(m, test.x.data(), test.rows, false, p.solver.threads).labels;
        for (std::size_t i = 0; i < predicted.size(); ++i) correct[point] += predicted[i] == test.labels[i] ? 1 : 0;
      } catch (const std::exception& e) {
        error = e.what();
      }
      seconds[point] += since(jt);
    }
    if (!comm.all(error.empty())) throw InputError(error.empty() ? "grid search failed on another rank" : error);
    for (std::size_t q = 0; q < points; ++q) {
      GridPoint g;
      g.C = cs[q / gs.size()];
      g.gamma = gs[q % gs.size()];
      g.cv_accuracy = comm.sum(correct[q]) / static_cast<double>(d.rows);
      g.seconds = comm.sum(seconds[q]);
      s.grid.push_back(g);
      // Best: highest accuracy; ties to the smaller C, then the smaller gamma (simpler model).
      if (g.cv_accuracy > s.best_cv_accuracy) {
        s.best_cv_accuracy = g.cv_accuracy;
        s.best_C = g.C;
        s.best_gamma = g.gamma;
      }
    }
    base.C = s.best_C;
    base.kernel.gamma = s.best_gamma;
  }
  s.cv_seconds = since(ct0);
  s.best_C = base.C;
  s.best_gamma = base.kernel.gamma > 0 ? base.kernel.gamma : auto_gamma;

  // The final model: rank 0 trains and writes it; the others wait for its verdict.
  const auto tt0 = Clock::now();
  std::string error;
  svm::SvmModel distributed;
  if (cfg.cascade) {
    distributed = train_distributed(comm, d, ids, base, cfg.cascade_options, &s.pairs);
    s.rows = comm.sum(d.rows);
    s.dim = distributed.dim;
  }
  if (comm.is_root()) {
    try {
      const svm::SvmModel m = cfg.cascade ? distributed : svm::train(d, base, &s.report);
      if (cfg.cascade) s.report.total_sv = m.total_sv();
      s.classes = m.classes();
      if (cfg.libsvm_model) {
        svm::write_libsvm_model(cfg.model, m);
      } else {
        io::ModelFile f;
        f.svm = m;
        f.class_names = t.class_names;
        f.chain = t.chain;
        f.fingerprint = t.fingerprint;
        f.pca = t.pca;
        f.provenance["command_line"] = cfg.command_line;
        f.provenance["training_data"] =
            std::filesystem::absolute(cfg.features.empty() ? cfg.data : cfg.features).string();
        f.provenance["training_rows"] = std::to_string(s.rows);
        f.provenance["C"] = fmt("%.17g", base.C);
        f.provenance["cv"] = s.to_json().dump();
        write_model_file(cfg.model, f);
      }
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  comm.broadcast(error);
  if (!error.empty()) throw InputError(error);
  s.train_seconds = comm.max(since(tt0));
  // Peak memory per rank (ru_maxrss is in KiB on Linux): with --cascade no rank should approach
  // the size of the whole training set.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  s.peak_rss_mb = comm.allgather<std::int64_t>(static_cast<std::int64_t>(usage.ru_maxrss) / 1024);
  s.seconds = comm.max(since(t0));
  return s;
}

}  // namespace sarscale::dist
