#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
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
    ("threads", po::value<int>()->default_value(0), "OpenMP threads per rank (0: OMP_NUM_THREADS, else cores per rank)");
  // clang-format on
  add_overwrite_option(desc, "path at --report");
  return desc;
}

int cmd_evaluate(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = evaluate_options();
  const auto vm = parse_command(cl, "sarscale evaluate --archive TEST.h5 --model M.h5 --report DIR", desc);
  if (!vm) return 0;
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
