#include <iostream>
#include <sstream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/features/acquisition_shift.hpp"

namespace sarscale::app {

namespace {

// "LABEL:W,LABEL:W" -> class weights (LIBSVM's -wLABEL W).
std::map<std::int32_t, double> parse_class_weights(const std::string& text) {
  std::map<std::int32_t, double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto colon = item.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument(item);
      out[std::stoi(item.substr(0, colon))] = std::stod(item.substr(colon + 1));
    } catch (const std::exception&) {
      throw ConfigError("--class-weights: '" + item + "' is not LABEL:WEIGHT");
    }
  }
  return out;
}

}  // namespace

// Its options: for --help, and for checking configuration files against every command's.
po::options_description train_options() {
  po::options_description desc(
      "sarscale train: a multi-class C-SVC (LIBSVM's SMO) on features or LIBSVM data, with an optional CV grid "
      "search, the cascade over ranks or incremental training");
  // clang-format off
  desc.add_options()
    ("features,f", po::value<std::string>(), "feature file written by `sarscale features`")
    ("archive,a", po::value<std::string>(), "same as --features")
    ("data,d", po::value<std::string>(), "LIBSVM/svmlight text data instead (.gz read directly)")
    ("model,m", po::value<std::string>(), "model to write (HDF5; LIBSVM text with --model-format libsvm)")
    ("model-format", po::value<std::string>()->default_value("hdf5"), "hdf5 | libsvm")
    ("kernel", po::value<std::string>()->default_value("rbf"), "linear | poly | rbf | sigmoid")
    ("C", po::value<double>()->default_value(1.0), "cost (LIBSVM -c)")
    ("gamma", po::value<double>()->default_value(0.0), "kernel gamma (0: 1 / features, LIBSVM -g)")
    ("degree", po::value<int>()->default_value(3), "polynomial degree (LIBSVM -d)")
    ("coef0", po::value<double>()->default_value(0.0), "kernel coef0 (LIBSVM -r)")
    ("eps", po::value<double>()->default_value(1e-3), "stopping tolerance (LIBSVM -e)")
    ("cache-mb", po::value<double>()->default_value(100), "kernel cache in MiB (LIBSVM -m)")
    ("shrinking", po::value<int>()->default_value(1), "1 | 0 (LIBSVM -h)")
    ("probability", po::bool_switch(), "fit Platt-scaled probability estimates (LIBSVM -b 1)")
    ("class-weights", po::value<std::string>(), "LABEL:W,... multiply C per class (LIBSVM -wLABEL)")
    ("balanced", po::bool_switch(), "class weights n / (classes x n_class)")
    ("grid", po::value<std::string>(), "search, e.g. \"C=1,10,100 gamma=auto,0.01\" (2^k allowed)")
    ("folds", po::value<int>()->default_value(5), "stratified cross-validation folds of the grid search")
    ("seed", po::value<unsigned long long>()->default_value(1), "seed of the fold assignment")
    ("shift-validation", po::value<std::string>()->default_value(features::kDefaultAcquisitionShift),
     "grid search: also score each validation fold's chips perturbed as a new acquisition would be "
     "(speckle, clutter(db), gain(db, clip), shift(pixels); `none`: off)")
    ("shift-seed", po::value<unsigned long long>()->default_value(1), "seed of the shifted validation's draws")
    ("select-by", po::value<std::string>()->default_value("cv"), "cv | shifted: the accuracy that chooses the grid point")
    ("warm-start", po::value<std::string>(), "incremental: continue from this model (its support vectors + the new rows; its kernel, C and class weights)")
    ("previous-data", po::value<std::string>(), "with --warm-start: the old training features (default: the path the model records), re-checked so the result equals a full retrain")
    ("cascade", po::bool_switch(), "rows spread over the ranks: small one-vs-one machines solved on one rank, large ones by the cascade SVM")
    ("ensemble", po::bool_switch(), "fast approximate: rows spread as with --cascade, each rank trains on its own rows, the leaf machines are averaged (no merge passes)")
    ("cascade-passes", po::value<int>()->default_value(10), "cascade: at most this many feedback passes")
    ("cascade-tolerance", po::value<double>()->default_value(1e-3), "cascade: relative objective change counted as converged")
    ("cascade-cache-mb", po::value<double>()->default_value(256), "cascade: MiB per rank for the KKT check's kernel columns, kept across passes")
    ("gather-below", po::value<double>()->default_value(2e6), "cascade: machines of fewer rows x features go to one rank")
    ("threads", po::value<int>()->default_value(0), "OpenMP threads per rank (0: OMP_NUM_THREADS, else cores per rank)")
    ("fresh", po::bool_switch(), "train even when MODEL (HDF5) was trained from the same inputs and options")
    ("gram-mb", po::value<double>()->default_value(512),
     "grid search: each rank computes the rows' Gram matrix once when it fits in this many MiB (0: never)");
  // clang-format on
  add_overwrite_option(desc, "file at --model");
  return desc;
}

int cmd_train(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = train_options();
  const auto vm = parse_command(cl, "sarscale train --features F.h5 | --data FILE  --model M.h5 [options]", desc);
  if (!vm) return 0;

  dist::TrainConfig cfg;
  if (vm->count("features") && vm->count("archive")) throw ConfigError("--features and --archive are the same option");
  if (vm->count("features")) cfg.features = (*vm)["features"].as<std::string>();
  if (vm->count("archive")) cfg.features = (*vm)["archive"].as<std::string>();
  if (vm->count("data")) cfg.data = (*vm)["data"].as<std::string>();
  if (vm->count("model")) cfg.model = (*vm)["model"].as<std::string>();
  const std::string format = (*vm)["model-format"].as<std::string>();
  if (format != "hdf5" && format != "libsvm")
    throw ConfigError("--model-format: '" + format + "' is not hdf5 or libsvm");
  cfg.libsvm_model = format == "libsvm";
  svm::TrainParams& p = cfg.params;
  p.kernel.type = svm::parse_kernel((*vm)["kernel"].as<std::string>());
  p.C = (*vm)["C"].as<double>();
  p.kernel.gamma = (*vm)["gamma"].as<double>();
  p.kernel.degree = (*vm)["degree"].as<int>();
  p.kernel.coef0 = (*vm)["coef0"].as<double>();
  p.solver.eps = (*vm)["eps"].as<double>();
  const double cache_mb = (*vm)["cache-mb"].as<double>();
  p.solver.cache_bytes = static_cast<std::size_t>(cache_mb * 1048576.0);
  p.solver.shrinking = (*vm)["shrinking"].as<int>() != 0;
  p.solver.threads = (*vm)["threads"].as<int>();
  p.probability = (*vm)["probability"].as<bool>();
  if (vm->count("class-weights")) p.class_weights = parse_class_weights((*vm)["class-weights"].as<std::string>());
  cfg.balanced = (*vm)["balanced"].as<bool>();
  if (cfg.balanced && !p.class_weights.empty()) throw ConfigError("--balanced and --class-weights exclude each other");
  if (vm->count("grid")) cfg.grid = dist::Grid::parse((*vm)["grid"].as<std::string>());
  cfg.folds = (*vm)["folds"].as<int>();
  cfg.seed = (*vm)["seed"].as<unsigned long long>();
  cfg.shift_validation = features::describe(features::parse_acquisition_shift((*vm)["shift-validation"].as<std::string>()));
  cfg.shift_seed = (*vm)["shift-seed"].as<unsigned long long>();
  cfg.shift_validation_required = !(*vm)["shift-validation"].defaulted();
  const std::string select_by = (*vm)["select-by"].as<std::string>();
  if (select_by != "cv" && select_by != "shifted")
    throw ConfigError("--select-by: '" + select_by + "' is not cv or shifted");
  cfg.select_by = select_by == "shifted" ? dist::TrainConfig::SelectBy::shifted : dist::TrainConfig::SelectBy::cv;
  svm::validate(p.kernel);
  cfg.cascade = (*vm)["cascade"].as<bool>() || (*vm)["ensemble"].as<bool>();
  if ((*vm)["cascade"].as<bool>() && (*vm)["ensemble"].as<bool>())
    throw ConfigError("--cascade and --ensemble exclude each other (--ensemble is the cascade without merges)");
  if ((*vm)["ensemble"].as<bool>()) cfg.cascade_options.mode = dist::DistributedMode::ensemble;
  cfg.cascade_options.cascade.max_passes = (*vm)["cascade-passes"].as<int>();
  cfg.cascade_options.cascade.tolerance = (*vm)["cascade-tolerance"].as<double>();
  cfg.cascade_options.gather_below = (*vm)["gather-below"].as<double>();
  const double check_mb = (*vm)["cascade-cache-mb"].as<double>();
  cfg.cascade_options.cascade.check_cache_bytes = static_cast<std::size_t>(check_mb * 1048576.0);
  if (vm->count("warm-start")) {
    cfg.warm_start = (*vm)["warm-start"].as<std::string>();
    for (const char* kept : {"kernel", "gamma", "degree", "coef0"})
      if (!(*vm)[kept].defaulted())
        throw ConfigError(std::string("--warm-start keeps the model's kernel: no --") + kept);
    cfg.C_given = !(*vm)["C"].defaulted();
    if (vm->count("previous-data")) cfg.previous_data = (*vm)["previous-data"].as<std::string>();
  }
  cfg.command_line = join_command_line(cl.command, cl.args);
  cfg.parameters = describe(*vm);
  cfg.fresh = (*vm)["fresh"].as<bool>();
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  const double gram_mb = (*vm)["gram-mb"].as<double>();
  cfg.gram_bytes = static_cast<std::size_t>(gram_mb * 1048576.0);

  const dist::TrainSummary s = dist::run_train(comm, cfg);
  if (comm.is_root()) {
    std::cerr << s.table() << "\n";
    if (!s.up_to_date) log::info("wrote ", cfg.model.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
