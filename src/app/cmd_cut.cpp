#include <omp.h>

#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/cut_stage.hpp"

namespace sarscale::app {

// Its options: for --help, and for checking configuration files against every command's.
po::options_description cut_options() {
  po::options_description desc(
      "sarscale cut: training chips for a discriminator, cut from scenes with ground truth into a chip archive "
      "(classes: the truth's target classes and clutter)");
  const detect::CfarParams cfar;
  // clang-format off
  desc.add_options()
    ("scene", po::value<std::vector<std::string>>()->multitoken(),
     "scenes: files, folders (recursive), glob patterns; magnitude (float) or complex rasters")
    ("truth", po::value<std::vector<std::string>>()->multitoken(),
     "truth files (CSV or vector, docs/detection.md); <stem>_targets.csv belongs to scene <stem>.*, other files "
     "go by their scene column (none: every scene)")
    ("output,o", po::value<std::string>(), "chip archive to write (HDF5)")
    ("chip", po::value<int>()->default_value(128), "chip rows = columns (the model chain's chip size)")
    ("band", po::value<int>()->default_value(1), "raster band of the scenes (from 1)")
    ("clutter-per-scene", po::value<int>()->default_value(8),
     "clutter chips at random background positions per scene, a chip's half-width or more from every target")
    ("false-alarms", po::value<bool>()->default_value(true),
     "clutter chips at the CFAR prescreener's candidates that are not near a truth target")
    ("max-false-alarms", po::value<int>()->default_value(50), "per scene; more candidates than that: picks spread evenly from the strongest to the weakest")
    ("target-chips", po::value<std::string>()->default_value("objects"),
     "where chips of truth objects are centred: truth (their truth position) | objects (each prescreener object on "
     "them, where detect centres its chips) | both")
    ("pfa", po::value<double>()->default_value(cfar.pfa), "prescreener: false-alarm probability per pixel (gamma clutter); as detect's --pfa")
    ("cluster-gap", po::value<int>()->default_value(8), "prescreener objects: as detect's --cluster-gap")
    ("chip-centre", po::value<std::string>()->default_value("centroid"), "chips on objects: as detect's --chip-centre (centroid|box)")
    ("guard", po::value<int>()->default_value(cfar.guard), "prescreener: guard radius, pixels")
    ("background", po::value<int>()->default_value(cfar.background), "prescreener: background ring width, pixels")
    ("seed", po::value<unsigned long long>()->default_value(1), "random background positions (with each scene's name)");
  // clang-format on
  add_overwrite_option(desc, "file at --output");
  return desc;
}

int cmd_cut(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = cut_options();
  const auto vm = parse_command(
      cl, "sarscale cut --scene SCENE... --truth TRUTH... --output CHIPS.h5 [--chip 128] [options]", desc);
  if (!vm) return 0;
  dist::CutConfig cfg;
  if (vm->count("scene")) cfg.scenes = (*vm)["scene"].as<std::vector<std::string>>();
  if (vm->count("truth"))
    for (const auto& t : (*vm)["truth"].as<std::vector<std::string>>()) cfg.truth.emplace_back(t);
  if (!vm->count("output")) throw ConfigError("--output is required");
  cfg.output = (*vm)["output"].as<std::string>();
  cfg.chip = (*vm)["chip"].as<int>();
  cfg.band = (*vm)["band"].as<int>();
  cfg.clutter_per_scene = (*vm)["clutter-per-scene"].as<int>();
  cfg.false_alarms = (*vm)["false-alarms"].as<bool>();
  cfg.max_false_alarms = (*vm)["max-false-alarms"].as<int>();
  cfg.cfar.pfa = (*vm)["pfa"].as<double>();
  cfg.cfar.guard = (*vm)["guard"].as<int>();
  cfg.cfar.background = (*vm)["background"].as<int>();
  cfg.target_chips = dist::parse_target_chips((*vm)["target-chips"].as<std::string>());
  cfg.cluster_gap = (*vm)["cluster-gap"].as<int>();
  cfg.chip_on_box = parse_chip_on_box((*vm)["chip-centre"].as<std::string>());
  cfg.seed = static_cast<std::uint64_t>((*vm)["seed"].as<unsigned long long>());
  cfg.threads = omp_get_max_threads();  // OMP_NUM_THREADS, else the node's cores shared among its ranks
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  cfg.parameters = describe(*vm);

  const dist::CutSummary s = dist::run_cut(comm, cfg);
  if (comm.is_root()) {
    for (const auto& [path, why] : s.rejects) log::warn("rejected ", path, ": ", why);
    for (const auto& f : s.unused_truth_files) log::warn("truth file ", f, " belongs to none of the scenes: unused");
    if (s.counts.truth_outside > 0)
      log::warn(s.counts.truth_outside, " truth object(s) lie outside their scene: not cut");
    log::info("cut ", s.chips, " chips (", s.counts.targets, " targets, ",
              s.counts.truth_clutter + s.counts.background + s.counts.false_alarms, " clutter) from ", s.cut_scenes,
              " of ", s.scenes, " scenes into ", cfg.output.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
