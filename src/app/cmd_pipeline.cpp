// `sarscale pipeline`: ingest, features, train and evaluate in one MPI job, each stage run as its
// own sub-command with the same configuration file (each reads its [section]). A stage whose
// inputs, options and upstream stages have not changed since its last successful run is reused:
// its stamp (a hash of all of those) is kept in OUT/stamps/ and written only after the stage
// succeeded, so an interrupted run simply redoes the stage it was in.
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/json.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/discover.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/dist/output_guard.hpp"

namespace sarscale::app {

namespace fs = std::filesystem;

namespace {

// What a stage depends on besides its arguments: files (size and modification time), read
// recursively for directories. Paths that do not exist count as such (the stage reports them).
void add_inputs(io::h5::Fingerprint& fp, const std::vector<std::string>& inputs) {
  for (const auto& in : inputs) {
    fp.add(in);
    std::error_code ec;
    const auto add_file = [&](const fs::path& p) {
      fp.add(p.string()).add(static_cast<std::int64_t>(fs::file_size(p, ec)));
      fp.add(static_cast<std::int64_t>(fs::last_write_time(p, ec).time_since_epoch().count()));
    };
    if (fs::is_directory(in, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        if (it->is_regular_file(ec)) files.push_back(it->path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) add_file(f);
    } else if (fs::is_regular_file(in, ec)) {
      add_file(in);
    } else {
      fp.add(std::string("<missing>"));
    }
  }
}

// Inputs that name nothing (a mistyped path, a glob matching nothing, only empty folders) are an
// error before any stage runs: ingest would make an empty archive of them and the pipeline would
// fail late (features: "PCA: fitting needs >= 2 usable rows") or report 0% on 0 chips.
void require_inputs(const dist::Comm& comm, const char* option, const std::vector<std::string>& specs) {
  std::string problem;
  if (comm.is_root()) {
    const io::DiscoveryResult found = io::discover_inputs(specs);
    if (found.inputs.empty()) {
      problem = std::string(option) + ": nothing to ingest";
      for (const auto& r : found.rejects) problem += "; " + r.path + ": " + r.reason;
      if (found.rejects.empty()) problem += " (" + std::to_string(found.skipped.size()) + " files skipped, none is data)";
    }
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw ConfigError(problem);
}

struct Stage {
  std::string name;  // also the stamp file's name
  Command command;   // the sub-command that runs it
  std::vector<std::string> args;
  std::vector<std::string> inputs;  // raw inputs it reads (for the stamp)
  fs::path output;                  // what it produces (must exist for a reuse)
};

// A number stored as text (model provenance), or nullopt.
std::optional<double> number(const std::map<std::string, std::string>& values, const std::string& key) {
  const auto it = values.find(key);
  if (it == values.end()) return std::nullopt;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// How far to trust the model: the chosen point's CV accuracy, shifted-validation accuracy and
// their gap, and with a test set the held-out accuracy.
struct Validation {
  std::optional<double> C, gamma, cv, shifted, test;
  std::string shift, select_by;

  json::Value to_json() const {
    json::Value v = json::Value::object();
    if (C) v["C"] = *C;
    if (gamma) v["gamma"] = *gamma;
    if (cv) v["cv_accuracy"] = *cv;
    if (shifted) {
      v["shift_validation"] = shift;
      v["select_by"] = select_by;
      v["shifted_accuracy"] = *shifted;
      if (cv) v["shift_gap"] = *cv - *shifted;
    }
    if (test) v["test_accuracy"] = *test;
    return v;
  }
};

// From the model's provenance, and report.json's first member, "accuracy", as evaluate writes it.
Validation read_validation(const fs::path& model, const fs::path& report_json) {
  Validation v;
  io::ModelFile m;
  try {
    m = io::read_model_file(model);
  } catch (const std::exception& e) {  // e.g. [train] model-format = libsvm: no provenance to show
    log::warn("pipeline: no validation figures from ", model.string(), ": ", e.what());
    return v;
  }
  v.C = number(m.provenance, "C");
  v.gamma = m.svm.kernel.gamma;
  v.cv = number(m.provenance, "cv_accuracy");
  v.shifted = number(m.provenance, "shifted_accuracy");
  if (v.shifted) {
    v.shift = m.provenance.count("shift_validation") ? m.provenance.at("shift_validation") : "";
    v.select_by = m.provenance.count("select_by") ? m.provenance.at("select_by") : "cv";
  }
  if (report_json.empty()) return v;
  std::ifstream in(report_json);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::string_view kAccuracy = "{\"accuracy\": ";
  if (text.starts_with(kAccuracy)) v.test = std::strtod(text.c_str() + kAccuracy.size(), nullptr);
  return v;
}

std::string format(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct StageRun {
  std::string name;
  bool reused = false;
  double seconds = 0;
};

// OUT/summary.md: the stages, and the validation figures side by side.
void write_report(const fs::path& path, const std::vector<StageRun>& stages, const Validation& v) {
  std::ofstream md(path);
  md << "# sarscale pipeline\n\n| stage | reused | seconds |\n|---|---|---|\n";
  for (const StageRun& st : stages)
    md << "| " << st.name << " | " << (st.reused ? "yes" : "no") << " | " << format("%.2f", st.seconds) << " |\n";
  md << "\n## How well the model does\n\n";
  if (v.C && v.gamma) md << "Chosen C " << format("%g", *v.C) << ", gamma " << format("%g", *v.gamma) << ".\n\n";
  md << "| validation | accuracy |\n|---|---|\n";
  if (v.cv) md << "| cross-validation on the training chips | " << format("%.2f%%", 100 * *v.cv) << " |\n";
  if (v.shifted) {
    md << "| the same folds, chips perturbed as a new acquisition: " << v.shift << " | "
       << format("%.2f%%", 100 * *v.shifted) << " |\n";
    if (v.cv) md << "| gap (CV - shifted) | " << format("%.2f points", 100 * (*v.cv - *v.shifted)) << " |\n";
  }
  if (v.test) md << "| held-out test set (report/report.md) | " << format("%.2f%%", 100 * *v.test) << " |\n";
  if (v.shifted) md << "\nThe grid point was chosen by the " << (v.select_by == "shifted" ? "shifted" : "CV") << " accuracy.\n";
  if (!md.flush()) throw IoError("cannot write " + path.string());
}

}  // namespace

// Its options: for --help, and for checking configuration files against every command's.
po::options_description pipeline_options() {
  po::options_description desc("sarscale pipeline: ingest, features, train and evaluate in one MPI job");
  // clang-format off
  desc.add_options()
    ("train", po::value<std::vector<std::string>>()->multitoken(), "training inputs: files, directories, globs (as ingest's --input)")
    ("test", po::value<std::vector<std::string>>()->multitoken(), "test inputs: evaluated with the trained model")
    ("out,o", po::value<std::string>(), "output directory: archives, features, model, report/")
    ("force", po::bool_switch(), "rerun every stage even when its stamp says it is up to date");
  // clang-format on
  add_overwrite_option(desc, "path at --out and the files every stage writes in it");
  return desc;
}

int cmd_pipeline(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = pipeline_options();
  const auto vm =
      parse_command(cl, "sarscale pipeline --config FILE.ini --train PATH... [--test PATH...] --out DIR", desc);
  if (!vm) return 0;
  if (!vm->count("config"))
    throw ConfigError("--config: the pipeline needs a configuration file (e.g. configs/mstar10-soc.ini)");
  if (!vm->count("train")) throw ConfigError("--train: no training inputs given");
  if (!vm->count("out")) throw ConfigError("--out: no output directory given");
  const std::string config = (*vm)["config"].as<std::string>();
  const fs::path out = (*vm)["out"].as<std::string>();
  const auto train_inputs = (*vm)["train"].as<std::vector<std::string>>();
  const auto test_inputs =
      vm->count("test") ? (*vm)["test"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool force = (*vm)["force"].as<bool>();
  const std::string level = (*vm)["log-level"].as<std::string>();
  std::string config_text;
  {
    std::ifstream in(config);
    if (!in) throw ConfigError("--config: cannot read " + config);
    config_text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  require_inputs(comm, "--train", train_inputs);
  if (!test_inputs.empty()) require_inputs(comm, "--test", test_inputs);
  // The output policy: OUT is an earlier pipeline's folder, an empty one or a new one, never
  // inside a training or test folder (each stage then checks its own outputs, too).
  std::vector<io::RunInput> inputs = {{config, "--config", false}};
  for (const auto& in : train_inputs) inputs.push_back({in, "--train", true});
  for (const auto& in : test_inputs) inputs.push_back({in, "--test", true});
  const bool overwrite = (*vm)["overwrite"].as<bool>();
  const dist::OutputGuard guard = dist::OutputGuard::claim(
      comm, {{out, "--out", io::folder_kind("sarscale pipeline folder", {"stamps", "summary.md"}), true}}, inputs,
      overwrite, join_command_line(cl.command, cl.args));
  if (comm.is_root()) fs::create_directories(out / "stamps");
  comm.barrier();

  const auto find = [](const char* name) {
    for (const auto& c : commands())
      if (std::string(c.name) == name) return c;
    throw ConfigError(std::string("no sub-command ") + name);
  };
  const auto with_common = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--config", config, "--log-level", level});
    return args;
  };
  std::vector<Stage> stages;
  std::vector<std::string> ingest_train = {"--output", (out / "train.h5").string(), "--input"};
  ingest_train.insert(ingest_train.end(), train_inputs.begin(), train_inputs.end());
  stages.push_back({"ingest-train", find("ingest"), with_common(ingest_train), train_inputs, out / "train.h5"});
  stages.push_back(
      {"features-train",
       find("features"),
       with_common({"--archive", (out / "train.h5").string(), "--output", (out / "train.features.h5").string()}),
       {},
       out / "train.features.h5"});
  stages.push_back(
      {"train",
       find("train"),
       with_common({"--features", (out / "train.features.h5").string(), "--model", (out / "model.h5").string()}),
       {},
       out / "model.h5"});
  if (!test_inputs.empty()) {
    std::vector<std::string> ingest_test = {"--output", (out / "test.h5").string(), "--input"};
    ingest_test.insert(ingest_test.end(), test_inputs.begin(), test_inputs.end());
    stages.push_back({"ingest-test", find("ingest"), with_common(ingest_test), test_inputs, out / "test.h5"});
    stages.push_back({"evaluate",
                      find("evaluate"),
                      with_common({"--archive", (out / "test.h5").string(), "--model", (out / "model.h5").string(),
                                   "--report", (out / "report").string()}),
                      {},
                      out / "report" / "report.json"});
  }

  // --force: the stages themselves must not find their outputs up to date either (evaluate's
  // cached test features included).
  if (force)
    for (Stage& st : stages) st.args.push_back("--fresh");
  if (overwrite)
    for (Stage& st : stages) st.args.push_back("--overwrite");

  json::Value summary = json::Value::object();
  summary["out"] = out.string();
  summary["stages"] = json::Value::array();
  std::vector<StageRun> runs;
  std::string upstream;  // stamp of the previous stage: a rerun there reruns everything after it
  const auto t_all = std::chrono::steady_clock::now();
  for (const Stage& st : stages) {
    // Rank 0 computes the stamp (it walks the inputs) and every rank gets it.
    std::string stamp;
    if (comm.is_root()) {
      io::h5::Fingerprint fp;
      fp.add(st.name).add(config_text).add(upstream);
      for (std::size_t a = 0; a < st.args.size(); ++a) {
        if (st.args[a] == "--log-level") {  // how much is printed does not change what is computed
          ++a;
          continue;
        }
        if (st.args[a] == "--fresh" || st.args[a] == "--overwrite") continue;  // recomputes the same thing
        fp.add(st.args[a]);
      }
      add_inputs(fp, st.inputs);
      stamp = fp.hex();
    }
    comm.broadcast(stamp);
    const fs::path stamp_file = out / "stamps" / (st.name + ".txt");
    std::string previous;
    std::ifstream(stamp_file) >> previous;
    std::error_code ec;
    const bool reuse = !force && previous == stamp && fs::exists(st.output, ec);
    const bool reuse_all = comm.all(reuse);  // every rank must make the same decision
    const auto t0 = std::chrono::steady_clock::now();
    if (reuse_all) {
      if (comm.is_root()) log::info("pipeline: ", st.name, " is up to date (", st.output.string(), ")");
    } else {
      if (comm.is_root()) log::info("pipeline: running ", st.name, ": sarscale ", st.command.name, " ...");
      if (comm.is_root()) fs::remove(stamp_file, ec);  // a failed or killed run leaves no stamp
      const int status = st.command.run(comm, CommandLine{st.command.name, st.args, comm.is_root()});
      if (status != 0) {
        if (comm.is_root()) log::error("pipeline: stage ", st.name, " failed (exit ", status, ")");
        return status;
      }
      comm.barrier();
      if (comm.is_root()) std::ofstream(stamp_file) << stamp << "\n";
    }
    json::Value s = json::Value::object();
    s["stage"] = st.name;
    s["reused"] = reuse_all;
    s["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s["output"] = st.output.string();
    summary["stages"].push_back(s);
    runs.push_back({st.name, reuse_all, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
    upstream = stamp;
  }
  summary["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  if (!test_inputs.empty()) summary["report"] = (out / "report" / "report.json").string();
  if (comm.is_root()) {
    const Validation validation = read_validation(
        out / "model.h5", test_inputs.empty() ? fs::path() : out / "report" / "report.json");
    summary["validation"] = validation.to_json();
    write_report(out / "summary.md", runs, validation);
    summary["summary_report"] = (out / "summary.md").string();
    std::cout << summary.dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
