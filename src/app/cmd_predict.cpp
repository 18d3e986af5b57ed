#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <tuple>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/predict_stage.hpp"
#include "sarscale/dist/scene_predict.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/feature_width.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::app {

// Its options: for --help, and for checking configuration files against every command's.
po::options_description predict_options() {
  po::options_description desc(
      "sarscale predict: apply a model to a chip archive, to a whole scene (a GeoTIFF class map), or to "
      "LIBSVM/svmlight text data");
  // clang-format off
  desc.add_options()
    ("archive,a", po::value<std::string>(), "chip archive (the model's own feature chain is applied); --output is then a directory")
    ("scene,s", po::value<std::string>(), "a scene (anything GDAL reads), classified window by window into a dense GeoTIFF class map (--output); every window gets one of the model's classes, so ground is labelled a vehicle unless the model was trained with a 'clutter' class: to find targets, use `sarscale detect`")
    ("data,d", po::value<std::string>(), "LIBSVM/svmlight text data (.gz read directly)")
    ("model,m", po::value<std::string>(), "model: sarscale HDF5, or LIBSVM's text format")
    ("output,o", po::value<std::string>(), "archive: a directory; scene: the class map (GeoTIFF); data: predicted labels, one per line in input order (as svm-predict writes them)")
    ("probability", po::bool_switch(), "data: write probability estimates too (as svm-predict -b 1)")
    ("window", po::value<std::string>(), "scene: window H[xW] classified per map pixel (default: the model's chip size; other sizes are centre-cropped or padded to it)")
    ("stride", po::value<int>()->default_value(0), "scene: scene pixels per map pixel (0: a quarter of the window)")
    ("band", po::value<int>()->default_value(1), "scene: raster band (from 1)")
    ("calibration", po::value<std::string>()->default_value("none"), "scene: none|sigma0|beta0|gamma0 (where the product carries it)")
    ("fresh", po::bool_switch(), "archive: recompute OUT/features.h5 even when it already holds this archive's features")
    ("threads", po::value<int>()->default_value(0), "OpenMP threads (0: OMP_NUM_THREADS, else cores per rank)");
  // clang-format on
  add_overwrite_option(desc, "path at --output");
  return desc;
}

int cmd_predict(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = predict_options();
  const auto vm = parse_command(
      cl, "sarscale predict --archive A.h5 | --scene SCENE.tif | --data FILE  --model M --output OUT", desc);
  if (!vm) return 0;
  if (vm->count("archive") + vm->count("scene") + vm->count("data") > 1)
    throw ConfigError("--archive, --scene and --data exclude each other");
  if (vm->count("scene")) {
    dist::ScenePredictConfig cfg;
    cfg.scene = (*vm)["scene"].as<std::string>();
    if (vm->count("model")) cfg.model = (*vm)["model"].as<std::string>();
    if (vm->count("output")) cfg.output = (*vm)["output"].as<std::string>();
    if (vm->count("window"))
      std::tie(cfg.window_rows, cfg.window_cols) = parse_size((*vm)["window"].as<std::string>(), "--window");
    cfg.stride = (*vm)["stride"].as<int>();
    cfg.band = (*vm)["band"].as<int>();
    cfg.calibration = io::parse_calibration((*vm)["calibration"].as<std::string>());
    cfg.threads = (*vm)["threads"].as<int>();
    cfg.overwrite = (*vm)["overwrite"].as<bool>();
    cfg.command_line = join_command_line(cl.command, cl.args);
    const dist::ScenePredictSummary s = dist::run_predict_scene(comm, cfg);
    if (comm.is_root()) {
      log::info("classified ", s.classified, " of ", s.cells, " cells (", s.map_rows, "x", s.map_cols, ", ", s.nodata(),
                " no-data): ", s.output.string());
      std::cout << s.to_json().dump() << std::endl;
    }
    return 0;
  }
  if (vm->count("archive")) {
    dist::PredictConfig cfg;
    cfg.archive = (*vm)["archive"].as<std::string>();
    if (vm->count("model")) cfg.model = (*vm)["model"].as<std::string>();
    if (vm->count("output")) cfg.output_dir = (*vm)["output"].as<std::string>();
    cfg.threads = (*vm)["threads"].as<int>();
    cfg.fresh = (*vm)["fresh"].as<bool>();
    cfg.overwrite = (*vm)["overwrite"].as<bool>();
    cfg.command_line = join_command_line(cl.command, cl.args);
    const dist::PredictSummary s = dist::run_predict_archive(comm, cfg);
    if (comm.is_root()) {
      log::info("predicted ", s.predicted, " of ", s.rows, " chips (", s.flagged, " flagged, ", s.invalid_slots,
                " invalid): ", s.csv.string(), ", ", s.h5.string());
      std::cout << s.to_json().dump() << std::endl;
    }
    return 0;
  }
  for (const char* required : {"data", "model", "output"})
    if (!vm->count(required)) throw ConfigError(std::string("--") + required + " is required");
  const std::string data_path = (*vm)["data"].as<std::string>(), model_path = (*vm)["model"].as<std::string>();
  const std::string out_path = (*vm)["output"].as<std::string>();
  const bool probability = (*vm)["probability"].as<bool>();
  // The output policy, before reading anything: not over an input, in a folder that exists, and
  // over nothing but an earlier file of predicted labels unless --overwrite.
  const dist::OutputGuard guard = dist::OutputGuard::claim(
      comm, {{out_path, "--output", io::libsvm_predictions_kind(), false}},
      {{data_path, "--data", false}, {model_path, "--model", false}}, (*vm)["overwrite"].as<bool>(),
      join_command_line(cl.command, cl.args));
  if (!comm.is_root()) return 0;  // text data: one rank, OpenMP inside

  // HDF5: the model reader (it names an archive or feature file given by mistake); else LIBSVM text.
  svm::SvmModel model =
      io::is_hdf5_file(model_path) ? io::read_model_file(model_path).svm : svm::read_libsvm_model(model_path);
  svm::Dataset data = svm::read_libsvm_data(data_path);
  // Widths as svm-predict takes them (missing features are 0 on either side), unless the data
  // were plainly not made for this model (svm/feature_width.hpp).
  if (const std::string why = svm::width_mismatch(model, data, data_path); !why.empty()) throw InputError(why);
  if (data.dim > model.dim)
    log::info(data_path, ": features beyond the model's ", model.dim, " (up to ", data.dim,
              ") are 0 in every support vector, as svm-predict takes them");
  svm::pad_rows(data, model.dim);
  svm::pad_support_vectors(model, data.dim);
  const double* rows = data.x.data();
  if (probability && !model.has_probability())
    throw ConfigError("--probability: the model has no probability estimates (train with --probability)");
  const svm::Predictions p = svm::predict(model, rows, data.rows, probability, (*vm)["threads"].as<int>());

  std::ostringstream out;
  if (probability) {
    out << "labels";
    for (const auto l : model.labels) out << " " << l;
    out << "\n";
  }
  char buf[32];
  for (std::int64_t r = 0; r < data.rows; ++r) {
    out << p.labels[static_cast<std::size_t>(r)];
    if (probability)
      for (int c = 0; c < model.classes(); ++c) {
        std::snprintf(buf, sizeof buf, " %g", p.probabilities[static_cast<std::size_t>(r * model.classes() + c)]);
        out << buf;
      }
    out << "\n";
  }
  io::write_file_atomically(out_path, out.str());  // a failed run leaves what was there
  const double acc = svm::accuracy(p.labels, data.labels);
  const auto hits = static_cast<long long>(std::llround(acc * static_cast<double>(data.rows)));
  std::printf("Accuracy = %g%% (%lld/%lld) (classification)\n", 100.0 * acc, hits, static_cast<long long>(data.rows));
  return 0;
}

}  // namespace sarscale::app
