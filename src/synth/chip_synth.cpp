#include "sarscale/synth/chip_synth.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "sarscale/core/error.hpp"
#include "sarscale/synth/scene_synth.hpp"

namespace sarscale::synth {

namespace {

// Stream purposes of a chip (with seed and index they key independent generators).
constexpr std::uint64_t kChipPoseStream = 0xc41b;
constexpr std::uint64_t kChipJitterStream = 0xc41c;
constexpr std::uint64_t kChipClutterStream = 0xc41d;
// Bumped whenever the generator's output changes for the same (config, index).
constexpr int kSynthModelVersion = 1;

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool finite_in(float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; }

}  // namespace

ImagingGeometry ChipSynthConfig::geometry() const {
  return ImagingGeometry::square(depression_deg, pixel_spacing_m, resolution_m);
}

void ChipSynthConfig::validate() const {
  if (chip_size < 8 || chip_size > 4096)
    throw ConfigError("chip size must be within 8..4096 pixels, got " + std::to_string(chip_size));
  if (num_classes < 1) throw ConfigError("number of classes must be >= 1, got " + std::to_string(num_classes));
  geometry().validate();
  if (!finite_in(clutter_median, 1e-6f, 1e3f)) throw ConfigError("clutter median must be within 1e-6..1e3");
  if (!finite_in(clutter_jitter_db, 0, 20)) throw ConfigError("clutter jitter must be within 0..20 dB");
  if (!finite_in(texture_shape_min, 0.1f, 1e6f) || !finite_in(texture_shape_max, texture_shape_min, 1e6f))
    throw ConfigError("clutter texture shapes must satisfy 0.1 <= min <= max");
  if (!finite_in(centre_jitter_px, 0, static_cast<float>(chip_size) / 4))
    throw ConfigError("centre jitter must be within 0..chip_size/4 pixels");
  if (!finite_in(shadow_db, -60, 0)) throw ConfigError("shadow attenuation must be within -60..0 dB");
  if (!finite_in(gain_db, -40, 40)) throw ConfigError("gain must be within -40..40 dB, got " + std::to_string(gain_db));
  if (!finite_in(clutter_level_db, -40, 40))
    throw ConfigError("clutter level must be within -40..40 dB, got " + std::to_string(clutter_level_db));
  variation.validate();
}

std::vector<std::string> synth_class_names(int num_classes) {
  if (num_classes < 1) throw ConfigError("number of classes must be >= 1, got " + std::to_string(num_classes));
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(num_classes));
  for (int c = 0; c < num_classes; ++c) names.push_back(target_class_name(c));
  return names;
}

std::filesystem::path synth_chip_relative_path(const ChipSynthConfig& cfg, std::int64_t index) {
  if (index < 0) throw ConfigError("chip index must be >= 0, got " + std::to_string(index));
  if (cfg.num_classes < 1) throw ConfigError("number of classes must be >= 1");
  const std::string name = target_class_name(static_cast<int>(index % cfg.num_classes));
  char file[64];
  std::snprintf(file, sizeof file, "_SYN%07lld.phx", static_cast<long long>(index));
  return std::filesystem::path(name) / (upper(name) + file);
}

SynthChip synthesize_chip(const ChipSynthConfig& cfg, std::int64_t index) {
  cfg.validate();
  SynthChip chip;
  chip.index = index;
  chip.relative_path = synth_chip_relative_path(cfg, index);
  chip.class_index = static_cast<int>(index % cfg.num_classes);
  const auto idx = static_cast<std::uint64_t>(index);

  // Pose and conditions. The azimuth is rounded to the header's 6 decimals first so that the
  // image is rendered for exactly the TargetAz a reader sees.
  CounterRng pose_rng(stream_key(cfg.seed, idx, kChipPoseStream));
  const double az_micro = std::floor(pose_rng.uniform(0.0, 360.0) * 1e6);
  const std::string az_text = fmt("%.6f", az_micro / 1e6);
  chip.azimuth_deg = static_cast<float>(std::stod(az_text));
  const int variant = pose_rng.below(kSerialsPerClass);
  const double centre = 0.5 * cfg.chip_size;
  const TargetPose pose{centre + pose_rng.uniform(-cfg.centre_jitter_px, cfg.centre_jitter_px),
                        centre + pose_rng.uniform(-cfg.centre_jitter_px, cfg.centre_jitter_px), chip.azimuth_deg};
  const double clutter_db = pose_rng.uniform(-cfg.clutter_jitter_db, cfg.clutter_jitter_db);

  TargetModel model = make_target_model(chip.class_index, variant);
  CounterRng jitter_rng(stream_key(cfg.seed, idx, kChipJitterStream));
  jitter_target(model, jitter_rng, cfg.variation);
  chip.variant = variant;
  chip.target_row = pose.row;
  chip.target_col = pose.col;
  chip.class_name = model.class_name;
  chip.serial = model.serial;

  // Rayleigh speckle: median^2 = ln 2 * mean intensity. The level (a dB sum: + 0 is exact, so
  // the default output is unchanged) scales the whole clutter, the jitter each chip's.
  ClutterParams clutter;
  clutter.key = stream_key(cfg.seed, idx, kChipClutterStream);
  clutter.mean_intensity = static_cast<float>(cfg.clutter_median * cfg.clutter_median / std::log(2.0) *
                                              std::pow(10.0, (clutter_db + cfg.clutter_level_db) / 10.0));
  clutter.texture_shape = static_cast<float>(pose_rng.uniform(cfg.texture_shape_min, cfg.texture_shape_max));
  clutter.texture_cell_px = 2;

  Image& img = chip.image;
  img.rows = img.cols = cfg.chip_size;
  img.magnitude.resize(img.pixels());
  img.phase.resize(img.pixels());
  render_target_window(model, cfg.geometry(), pose, clutter, std::pow(10.0f, cfg.shadow_db / 20.0f),
                       PixelBox{0, 0, cfg.chip_size, cfg.chip_size}, img.magnitude.data(), img.phase.data());
  apply_gain_db(cfg.gain_db, img.magnitude);

  // Header: the fields a real MSTAR chip carries that mean something here, in MSTAR's order,
  // plus provenance. Sizes are filled in by write_phoenix.
  const double band_ghz = 0.299792458 * 1.2174 / (2.0 * cfg.resolution_m);
  auto& h = chip.header;
  h.fields = {
      {"PhoenixSigNum", "0001"},
      {"PhoenixHeaderCallingSequence", ""},
      {"HeaderVersionNumber", "2CM"},
      {"native_header_length", "0"},
      {"Filename", chip.relative_path.filename().string()},
      {"ParentScene", "synthetic"},
      {"Site", "synthetic"},
      {"NumberOfColumns", std::to_string(cfg.chip_size)},
      {"NumberOfRows", std::to_string(cfg.chip_size)},
      {"TargetType", chip.class_name},
      {"TargetSerNum", chip.serial},
      {"TargetAz", az_text},
      {"TargetRoll", "0.000000"},
      {"TargetPitch", "0.000000"},
      {"DesiredDepression", fmt("%g", cfg.depression_deg)},
      {"MeasuredDepression", fmt("%.6f", cfg.depression_deg)},
      {"RadarMode", "mode 5 - spot light"},
      {"RadarPosition", "bottom"},
      {"Range3dBWidth", fmt("%.6f", cfg.resolution_m)},
      {"CrossRange3dBWidth", fmt("%.6f", cfg.resolution_m)},
      {"DataCollectors", "sarscale synth"},
      {"SensorName", "sarscale synthetic X band"},
      {"Classification", "UNCLASSIFIED"},
      {"CenterFrequency", "9.60 GHz"},
      {"CrossRangeWeighting", "-35dB_raised_cosine"},
      {"RangeWeighting", "-35dB_raised_cosine"},
      {"Bandwidth", fmt("%.3f GHz", band_ghz)},
      {"RangeResolution", fmt("%.6f", cfg.resolution_m)},
      {"CrossRangeResolution", fmt("%.6f", cfg.resolution_m)},
      {"RangePixelSpacing", fmt("%.6f", cfg.pixel_spacing_m)},
      {"CrossRangePixelSpacing", fmt("%.6f", cfg.pixel_spacing_m)},
      {"Polarization", "HH"},
      {"SynthSeed", std::to_string(cfg.seed)},
      {"SynthIndex", std::to_string(index)},
      {"SynthClassIndex", std::to_string(chip.class_index)},
      {"SynthModelVersion", std::to_string(kSynthModelVersion)},
  };
  // Only when set, so that default chips keep their bytes; a reader takes absent as 0 dB.
  if (cfg.gain_db != 0) h.fields.emplace_back("SynthGainDb", fmt("%g", cfg.gain_db));
  if (cfg.clutter_level_db != 0) h.fields.emplace_back("SynthClutterDb", fmt("%g", cfg.clutter_level_db));
  return chip;
}

SynthChipFile write_synth_chip(const std::filesystem::path& out_dir, const ChipSynthConfig& cfg, std::int64_t index) {
  const SynthChip chip = synthesize_chip(cfg, index);
  SynthChipFile out;
  out.path = out_dir / chip.relative_path;
  out.class_index = chip.class_index;
  // Several ranks may create the same class directory at once: an existing one is fine.
  std::error_code ec;
  std::filesystem::create_directories(out.path.parent_path(), ec);
  if (ec && !std::filesystem::is_directory(out.path.parent_path()))
    throw IoError(out.path.parent_path().string() + ": cannot create directory: " + ec.message());
  out.bytes = io::write_phoenix(out.path, chip.header, chip.image);
  return out;
}

}  // namespace sarscale::synth
