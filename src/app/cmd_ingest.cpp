#include <omp.h>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/ingest.hpp"

namespace sarscale::app {

namespace {

// "Cargo,Tanker, Other Type" -> {"Cargo", "Tanker", "Other Type"} (spaces inside names are kept).
std::vector<std::string> split_classes(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    std::string item = text.substr(pos, end - pos);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    out.push_back(item);
    pos = end + 1;
  }
  return out;
}

}  // namespace

// Its options: for --help, and for checking configuration files against every command's.
po::options_description ingest_options() {
  po::options_description desc("sarscale ingest: SAR files to one parallel HDF5 chip archive");
  // clang-format off
  desc.add_options()
    ("input,i", po::value<std::vector<std::string>>()->multitoken(),
     "files, directories (recursive) and glob patterns, any mix")
    ("input-list", po::value<std::string>(), "file with one input per line (# comments)")
    ("output,o", po::value<std::string>(), "archive to write (HDF5)")
    ("labels", po::value<std::string>()->default_value("auto"),
     "auto|header|dirname|none|regex:RE  (auto: Phoenix TargetType, else the parent directory)")
    ("chip-size", po::value<std::string>()->default_value("128"), "chip size H[xW]; other sizes are centre-cropped or padded")
    ("tile-size", po::value<int>()->default_value(0), "scene window edge in pixels (0: the chip size)")
    ("tile-stride", po::value<int>()->default_value(0), "scene window step in pixels (0: the tile size)")
    ("tiling", po::value<std::string>()->default_value("auto"),
     "auto|always|never (auto: rasters over twice the chip size are scenes, cut into tiles)")
    ("calibration", po::value<std::string>()->default_value("none"), "none|sigma0|beta0|gamma0 (where the product carries it)")
    ("band", po::value<int>()->default_value(1), "raster band of GDAL inputs (from 1)")
    ("bands", po::value<std::string>(),
     "several bands per chip: all | numbers (1,2) | names (vh,vv); every input must give the same ones")
    ("band-names", po::value<std::string>(),
     "names of the inputs' bands, one naming per band count: 'vh,vv|vv' (default: polarisation, description, b1..)")
    ("classes", po::value<std::string>(),
     "keep only inputs labelled with one of these (comma-separated); the others are rejected with their label")
    ("batch-mb", po::value<int>()->default_value(64), "per-rank buffer between collective writes, MiB")
    ("strict", po::bool_switch(), "fail the run if any input is rejected")
    ("progress", po::bool_switch(), "progress bar on stderr (default: when stderr is a terminal)");
  // clang-format on
  add_resume_options(desc, "archive");
  add_overwrite_option(desc, "file at --output");
  return desc;
}

int cmd_ingest(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = ingest_options();
  po::positional_options_description pos;
  pos.add("input", -1);
  const auto vm = parse_command(cl, "sarscale ingest --input PATH... --output ARCHIVE.h5 [options]", desc, &pos);
  if (!vm) return 0;

  dist::IngestConfig cfg;
  if (vm->count("input")) cfg.inputs = (*vm)["input"].as<std::vector<std::string>>();
  if (vm->count("input-list")) cfg.input_list = (*vm)["input-list"].as<std::string>();
  if (vm->count("output")) cfg.output = (*vm)["output"].as<std::string>();
  cfg.threads = omp_get_max_threads();  // OMP_NUM_THREADS, else the node's cores shared among its ranks
  cfg.labels = dist::LabelRule::parse((*vm)["labels"].as<std::string>());
  std::tie(cfg.chip_rows, cfg.chip_cols) = parse_size((*vm)["chip-size"].as<std::string>(), "--chip-size");
  cfg.tile_size = (*vm)["tile-size"].as<int>();
  cfg.tile_stride = (*vm)["tile-stride"].as<int>();
  cfg.tiling = dist::parse_tiling((*vm)["tiling"].as<std::string>());
  cfg.calibration = io::parse_calibration((*vm)["calibration"].as<std::string>());
  if (vm->count("bands") && !(*vm)["band"].defaulted())
    throw ConfigError("--band and --bands exclude each other (--bands N picks one band, named)");
  cfg.bands =
      io::BandSelection::parse(vm->count("bands") ? (*vm)["bands"].as<std::string>() : "", (*vm)["band"].as<int>(),
                               vm->count("band-names") ? (*vm)["band-names"].as<std::string>() : "");
  if (vm->count("classes")) cfg.classes = split_classes((*vm)["classes"].as<std::string>());
  const int batch_mb = (*vm)["batch-mb"].as<int>();
  cfg.batch_bytes = static_cast<std::size_t>(batch_mb) << 20;
  cfg.strict = (*vm)["strict"].as<bool>();
  cfg.progress = (*vm)["progress"].as<bool>();
  const ResumeOptions resume = resume_options(*vm);
  cfg.checkpoint_seconds = resume.checkpoint_seconds;
  cfg.refuse_changed = resume.refuse_changed;
  cfg.fresh = resume.fresh;
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  cfg.parameters = describe(*vm);

  const dist::IngestSummary s = dist::run_ingest(comm, cfg);
  if (comm.is_root()) {
    for (const auto& [path, why] : s.rejects) log::warn("rejected ", path, ": ", why);
    log::info("ingested ", s.ingested_inputs, " of ", s.discovered, " inputs (", s.rejected_inputs, " rejected) as ",
              s.chips, " chips into ", cfg.output.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
