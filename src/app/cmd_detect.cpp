#include <algorithm>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/detect_stage.hpp"

namespace sarscale::app {

po::options_description detect_options() {
  po::options_description desc(
      "sarscale detect: find targets in whole scenes (CFAR prescreen, clutter discrimination, classification), "
      "tiles spread over every rank; detections as CSV and GeoJSON, quick-looks, summary (docs/detection.md)");
  // clang-format off
  desc.add_options()
    ("input,i", po::value<std::vector<std::string>>()->multitoken(), "scenes (anything GDAL reads), folders of scenes, globs")
    ("model,m", po::value<std::string>(), "chip model (sarscale HDF5) with a 'clutter' class, trained on chips cut from scenes (sarscale cut)")
    ("output,o", po::value<std::string>(), "output folder: detections.csv, detections.geojson, quicklook/, summary.json, tiles/")
    ("prescreen-only", po::bool_switch(), "no model: every CFAR candidate is a detection")
    ("no-discrimination", po::bool_switch(), "accept a model without a 'clutter' class: every candidate gets a vehicle class")
    ("cfar", po::value<std::string>()->default_value("ca"), "ca (cell averaging) | os (order statistic, exponential clutter)")
    ("clutter-model", po::value<std::string>()->default_value("gamma"), "gamma (L-look intensity) | gaussian-db")
    ("pfa", po::value<double>()->default_value(1e-6), "false-alarm probability per tested pixel under the clutter model")
    ("looks", po::value<double>()->default_value(1.0), "gamma: equivalent number of looks")
    ("os-rank", po::value<double>()->default_value(0.75), "os: k = ceil(os-rank * ring cells)")
    ("guard", po::value<int>()->default_value(4), "guard radius, pixels")
    ("background", po::value<int>()->default_value(8), "background ring width, pixels")
    ("guard-m", po::value<double>()->default_value(0.0), "guard radius in metres (from each scene's geotransform; overrides --guard)")
    ("background-m", po::value<double>()->default_value(0.0), "background ring width in metres (overrides --background)")
    ("pixels", po::value<std::string>()->default_value("auto"), "what the band holds: auto|amplitude|intensity|db (auto: intensity when calibrated, dB when the band or file name says so, else amplitude)")
    ("band", po::value<int>()->default_value(1), "raster band (from 1); complex bands give their magnitude")
    ("calibration", po::value<std::string>()->default_value("none"), "none|sigma0|beta0|gamma0 (where the product carries it)")
    ("tile", po::value<int>()->default_value(1024), "tile size in pixels (a multiple of 64): the unit of work and of memory per rank")
    ("cluster-gap", po::value<int>()->default_value(8), "components whose boxes come within this many pixels are one object (a vehicle's scatterers); -1: none")
    ("chip-centre", po::value<std::string>()->default_value("centroid"), "where the classifier's chip is centred: centroid (the object's intensity-weighted centroid) | box (its box centre); as the model's training chips were cut (cut --chip-centre)")
    ("search", po::value<int>()->default_value(0), "also classify the 3x3 grid of chips this many pixels apart around each object and keep the one least like clutter (0: the centre chip alone; for models trained on chips not cut where detect looks)")
    ("suppress-radius", po::value<double>()->default_value(24.0), "a declared target this many pixels or less from a more target-like one is reported as its duplicate, not as a target (a vehicle split into several objects); 0: none")
    ("min-area", po::value<std::int64_t>()->default_value(1), "drop candidates of fewer pixels")
    ("max-area", po::value<std::int64_t>()->default_value(0), "drop candidates of more pixels (0: no limit)")
    ("quicklook-size", po::value<int>()->default_value(1024), "longest side of each quick-look PNG (0: none); the rank that merged a scene writes its quick-look, about 0.3 s per 1024^2 PNG")
    ("fresh", po::bool_switch(), "ignore the tiles an earlier run logged in OUTPUT/tiles")
    ("threads", po::value<int>()->default_value(0), "OpenMP threads per rank (0: OMP_NUM_THREADS, else cores per rank)");
  // clang-format on
  add_overwrite_option(desc, "folder at --output");
  return desc;
}

namespace {

detect::CfarParams cfar_params(const po::variables_map& vm) {
  detect::CfarParams p;
  const std::string method = vm["cfar"].as<std::string>(), model = vm["clutter-model"].as<std::string>();
  if (method != "ca" && method != "os") throw ConfigError("--cfar must be ca or os, not '" + method + "'");
  if (model != "gamma" && model != "gaussian-db")
    throw ConfigError("--clutter-model must be gamma or gaussian-db, not '" + model + "'");
  p.method = method == "ca" ? detect::CfarMethod::cell_averaging : detect::CfarMethod::order_statistic;
  p.model = model == "gamma" ? detect::ClutterModel::gamma : detect::ClutterModel::gaussian_db;
  p.pfa = vm["pfa"].as<double>();
  p.looks = vm["looks"].as<double>();
  p.os_rank = vm["os-rank"].as<double>();
  p.guard = vm["guard"].as<int>();
  p.background = vm["background"].as<int>();
  return p;
}

}  // namespace

int cmd_detect(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = detect_options();
  const auto vm = parse_command(cl, "sarscale detect --input SCENE|DIR... --model M.h5 --output DIR", desc);
  if (!vm) return 0;
  dist::DetectConfig cfg;
  if (vm->count("input")) cfg.inputs = (*vm)["input"].as<std::vector<std::string>>();
  if (vm->count("model")) cfg.model = (*vm)["model"].as<std::string>();
  if (vm->count("output")) cfg.output = (*vm)["output"].as<std::string>();
  cfg.prescreen_only = (*vm)["prescreen-only"].as<bool>();
  cfg.no_discrimination = (*vm)["no-discrimination"].as<bool>();
  cfg.cfar = cfar_params(*vm);
  cfg.guard_m = (*vm)["guard-m"].as<double>();
  cfg.background_m = (*vm)["background-m"].as<double>();
  cfg.pixels = dist::parse_pixel_quantity((*vm)["pixels"].as<std::string>());
  cfg.band = (*vm)["band"].as<int>();
  cfg.calibration = io::parse_calibration((*vm)["calibration"].as<std::string>());
  cfg.tile = (*vm)["tile"].as<int>();
  cfg.cluster_gap = (*vm)["cluster-gap"].as<int>();
  cfg.chip_on_box = parse_chip_on_box((*vm)["chip-centre"].as<std::string>());
  cfg.search = (*vm)["search"].as<int>();
  cfg.suppress_radius = (*vm)["suppress-radius"].as<double>();
  cfg.min_area = (*vm)["min-area"].as<std::int64_t>();
  cfg.max_area = (*vm)["max-area"].as<std::int64_t>();
  cfg.quicklook_size = (*vm)["quicklook-size"].as<int>();
  cfg.fresh = (*vm)["fresh"].as<bool>();
  cfg.threads = (*vm)["threads"].as<int>();
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  const dist::DetectSummary s = dist::run_detect(comm, cfg);
  if (comm.is_root()) {
    const auto searched = std::count_if(s.scenes.begin(), s.scenes.end(), [](const auto& e) { return e.rejected.empty(); });
    log::info("detect: ", s.detections, " detections (", s.targets, " targets) in ", searched, " scene(s), ",
              s.rejected.size(), " input(s) rejected: ", (cfg.output / "detections.csv").string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
