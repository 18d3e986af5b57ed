#include <cstdio>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/convert.hpp"

namespace sarscale::app {

// Its options: for --help, and for checking configuration files against every command's.
po::options_description convert_options() {
  po::options_description desc("sarscale convert: Phoenix files, rasters or archive chips to PNG or GeoTIFF");
  // clang-format off
  desc.add_options()
    ("input,i", po::value<std::vector<std::string>>()->multitoken(), "archives, Phoenix files, rasters, directories, globs")
    ("output,o", po::value<std::string>(), "output directory")
    ("format", po::value<std::string>()->default_value("png"), "png (8-bit preview) | gtiff (float32)")
    ("scale", po::value<std::string>()->default_value("db"), "png: db | linear")
    ("percentiles", po::value<std::string>()->default_value("1,99"), "png: clip at these percentiles")
    ("limit", po::value<long long>()->default_value(-1), "at most this many chips per archive (-1: all)");
  // clang-format on
  return desc;
}

int cmd_convert(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = convert_options();
  po::positional_options_description pos;
  pos.add("input", -1);
  const auto vm = parse_command(cl, "sarscale convert --input PATH... --output DIR --format png|gtiff", desc, &pos);
  if (!vm) return 0;

  dist::ConvertConfig cfg;
  if (vm->count("input")) cfg.inputs = (*vm)["input"].as<std::vector<std::string>>();
  if (vm->count("output")) cfg.output_dir = (*vm)["output"].as<std::string>();
  const std::string format = (*vm)["format"].as<std::string>(), scale = (*vm)["scale"].as<std::string>();
  if (format == "png")
    cfg.format = dist::ConvertConfig::Format::png;
  else if (format == "gtiff")
    cfg.format = dist::ConvertConfig::Format::gtiff;
  else
    throw ConfigError("--format: '" + format + "' is not png or gtiff");
  if (scale != "db" && scale != "linear") throw ConfigError("--scale: '" + scale + "' is not db or linear");
  cfg.db = scale == "db";
  const std::string pct = (*vm)["percentiles"].as<std::string>();
  if (std::sscanf(pct.c_str(), "%lf,%lf", &cfg.percentiles.first, &cfg.percentiles.second) != 2)
    throw ConfigError("--percentiles: '" + pct + "' is not LO,HI");
  cfg.limit = (*vm)["limit"].as<long long>();
  cfg.command_line = join_command_line(cl.command, cl.args);

  const dist::ConvertSummary s = dist::run_convert(comm, cfg);
  if (comm.is_root()) {
    for (const auto& [in, why] : s.failed) log::warn("not converted ", in, ": ", why);
    log::info("wrote ", s.written, " file(s) to ", cfg.output_dir.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return s.failed.empty() ? 0 : 1;
}

}  // namespace sarscale::app
