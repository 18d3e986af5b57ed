#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/output_guard.hpp"
#include "sarscale/dist/synth_stage.hpp"

namespace sarscale::app {

namespace {

// What `synth --kind chips` makes: a folder holding only class folders.
bool only_folders_inside(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (!e.is_directory(ec)) return false;
  return !ec;
}

}  // namespace

// Its options: for --help, and for checking configuration files against every command's.
po::options_description synth_options() {
  po::options_description desc("sarscale synth: synthetic SAR chips (MSTAR Phoenix files) or scenes (GeoTIFF)");
  const synth::ChipSynthConfig chip_defaults;  // the jitters' defaults: those of the library
  // clang-format off
  desc.add_options()
    ("kind", po::value<std::string>()->default_value("chips"), "chips|scene")
    ("out,o", po::value<std::string>(), "chips: output directory (one folder per class); scene: the GeoTIFF")
    ("count", po::value<long long>()->default_value(1000), "chips: number of chips")
    ("classes", po::value<int>()->default_value(10), "number of target classes")
    ("seed", po::value<unsigned long long>()->default_value(1), "random seed (same seed, same bytes, any rank count)")
    ("chip-size", po::value<int>()->default_value(128), "chips: rows = columns")
    ("depression", po::value<double>()->default_value(17.0), "depression angle, degrees (1..89): shadow length, layover")
    ("gain-db", po::value<double>()->default_value(0.0),
     "calibration gain on the whole image, dB (-40..40): magnitude x 10^(G/20); recorded as SynthGainDb "
     "(chips) / SARSCALE_SYNTH_GAIN_DB (scenes)")
    ("clutter-db", po::value<double>()->default_value(0.0),
     "clutter level relative to the default, dB (-40..40): median clutter magnitude x 10^(C/20)")
    ("clutter-jitter-db", po::value<double>()->default_value(chip_defaults.clutter_jitter_db),
     "chips: each chip's clutter level varies uniformly within +-this, dB (0..20)")
    ("centre-jitter", po::value<double>()->default_value(chip_defaults.centre_jitter_px),
     "chips: each target's centre moves uniformly within +-this many pixels in rows and columns (0..chip-size/4)")
    ("target-gain-jitter-db", po::value<double>()->default_value(chip_defaults.variation.gain_jitter_db),
     "chips and scenes: each target's overall return varies uniformly within +-this, dB (0..20)")
    ("width", po::value<int>()->default_value(4096), "scene: columns")
    ("height", po::value<int>()->default_value(4096), "scene: rows")
    ("targets", po::value<int>()->default_value(16), "scene: embedded targets")
    ("distractors", po::value<int>(),
     "scene: clutter discretes a plain threshold takes for targets (bright points, building corners, edges, "
     "tree lines), listed in the truth table as kind clutter; default: as many as --targets; 0: none")
    ("pixel-type", po::value<std::string>()->default_value("float32"), "scene: float32 (magnitude) | cint16 (complex)");
  // clang-format on
  add_overwrite_option(desc, "path at --out");
  return desc;
}

int cmd_synth(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = synth_options();
  const auto vm = parse_command(cl, "sarscale synth --kind chips|scene --out PATH [options]", desc);
  if (!vm) return 0;
  if (!vm->count("out")) throw ConfigError("--out is required");
  const std::string kind = (*vm)["kind"].as<std::string>();
  const std::string out = (*vm)["out"].as<std::string>();
  const auto seed = static_cast<std::uint64_t>((*vm)["seed"].as<unsigned long long>());
  const int classes = (*vm)["classes"].as<int>();
  const auto depression = static_cast<float>((*vm)["depression"].as<double>());
  const auto gain_db = static_cast<float>((*vm)["gain-db"].as<double>());
  const auto clutter_db = static_cast<float>((*vm)["clutter-db"].as<double>());
  const auto target_gain_jitter_db = static_cast<float>((*vm)["target-gain-jitter-db"].as<double>());

  // The output policy: chips go into a folder of class folders, a scene over an earlier
  // synthetic scene (and its targets table); anything else there is refused unless --overwrite.
  std::vector<io::OutputCheck> outputs;
  if (kind == "chips") {
    outputs.push_back({out, "--out", {"folder of synthetic chips (class folders)", only_folders_inside, true}, true});
  } else if (kind == "scene") {
    outputs.push_back({out, "--out", io::geotiff_kind("sarscale synthetic scene", "SARSCALE_SYNTH_SEED"), true});
    outputs.push_back({dist::scene_targets_path(out), "--out (its targets table)",
                       io::text_kind("synthetic scene's targets table", "index,class_index,"), true});
  }
  const dist::OutputGuard guard = dist::OutputGuard::claim(comm, outputs, {}, (*vm)["overwrite"].as<bool>(),
                                                           join_command_line(cl.command, cl.args));
  dist::SynthSummary s;
  if (kind == "chips") {
    if (vm->count("distractors")) throw ConfigError("--distractors applies to --kind scene, not to chips");
    synth::ChipSynthConfig cfg;
    cfg.seed = seed;
    cfg.num_classes = classes;
    cfg.chip_size = (*vm)["chip-size"].as<int>();
    cfg.depression_deg = depression;
    cfg.gain_db = gain_db;
    cfg.clutter_level_db = clutter_db;
    cfg.clutter_jitter_db = static_cast<float>((*vm)["clutter-jitter-db"].as<double>());
    cfg.centre_jitter_px = static_cast<float>((*vm)["centre-jitter"].as<double>());
    cfg.variation.gain_jitter_db = target_gain_jitter_db;
    s = dist::synth_chips(comm, out, (*vm)["count"].as<long long>(), cfg);
    if (comm.is_root()) log::info("wrote ", s.files, " Phoenix chips of ", classes, " classes under ", out);
  } else if (kind == "scene") {
    synth::SceneSynthConfig cfg;
    cfg.seed = seed;
    cfg.num_classes = classes;
    cfg.width = (*vm)["width"].as<int>();
    cfg.height = (*vm)["height"].as<int>();
    cfg.targets = (*vm)["targets"].as<int>();
    cfg.distractors = vm->count("distractors") ? (*vm)["distractors"].as<int>() : cfg.targets;
    cfg.depression_deg = depression;
    cfg.gain_db = gain_db;
    cfg.clutter_level_db = clutter_db;
    cfg.variation.gain_jitter_db = target_gain_jitter_db;
    for (const char* chips_only : {"clutter-jitter-db", "centre-jitter"})
      if (!(*vm)[chips_only].defaulted())
        throw ConfigError(std::string("--") + chips_only + " applies to --kind chips, not to scenes");
    const std::string type = (*vm)["pixel-type"].as<std::string>();
    if (type == "cint16")
      cfg.pixels = synth::ScenePixels::complex_int16;
    else if (type == "float32")
      cfg.pixels = synth::ScenePixels::float32;
    else
      throw ConfigError("--pixel-type: '" + type + "' is not float32 or cint16");
    s = dist::synth_scene(comm, out, cfg);
    if (comm.is_root())
      log::info("wrote a ", cfg.width, "x", cfg.height, " ", type, " scene with ", cfg.targets, " targets and ",
                cfg.distractors, " distractors to ", out,
                " (ground truth: ", dist::scene_targets_path(out).string(), ")");
  } else {
    throw ConfigError("--kind: '" + kind + "' is not chips or scene");
  }
  if (comm.is_root()) std::cout << s.to_json().dump() << std::endl;
  return 0;
}

}  // namespace sarscale::app
