#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/parse.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/dist/features_stage.hpp"

namespace sarscale::app {

// Its options: for --help, and for checking configuration files against every command's.
po::options_description features_options() {
  po::options_description desc("sarscale features: preprocessing and feature blocks for every chip of an archive");
  // clang-format off
  desc.add_options()
    ("archive,a", po::value<std::string>(), "chip archive written by `sarscale ingest`")
    ("output,o", po::value<std::string>(), "feature file to write (default: ARCHIVE's stem + .features.h5, beside it)")
    ("planes", po::value<std::string>(),
     "planes of multi-band chips, e.g. \"vh, vv, ratio=vh/vv\" (archive band names; default: band 1 alone)")
    ("preprocess", po::value<std::string>(),
     "preprocessing steps, e.g. \"db(floor=-40); crop(88); lee(window=5)\" (default: db; see docs/features.md)")
    ("blocks", po::value<std::string>(),
     "feature blocks in order, e.g. \"hog(cell=8, block=2); gabor(grid=2); pixels(size=16); stats\" (default: hog; stats)")
    ("augment", po::value<std::string>(),
     "training-set augmentation: copies of every chip appended after the slots' rows, e.g. "
     "\"shift(2); shift(4, directions=8); crop(112, count=4)\" (see docs/feature-format.md)")
    ("fit-pca", po::bool_switch(), "fit standardisation + PCA on this archive's usable chips and store it")
    ("pca-from", po::value<std::string>(), "apply the chain and PCA stored in this feature file (e.g. the training set's)")
    ("pca-components", po::value<int>()->default_value(0), "keep this many components (0: see --pca-variance)")
    ("pca-variance", po::value<double>()->default_value(0.0),
     "keep the fewest components explaining this fraction of variance, in (0, 1] (both 0: keep all)")
    ("whiten", po::bool_switch(), "scale components to unit variance")
    ("no-standardise", po::bool_switch(), "do not divide features by their standard deviation before PCA")
    ("threads", po::value<int>()->default_value(0), "OpenMP threads per rank (0: OMP_NUM_THREADS, else cores per rank)")
    ("batch-chips", po::value<long long>()->default_value(0), "chips per rank per collective read (0: about 64 MiB)")
    ("progress", po::bool_switch(), "progress bar on stderr (default: when stderr is a terminal)");
  // clang-format on
  add_resume_options(desc, "feature file");
  add_overwrite_option(desc, "file at --output");
  return desc;
}

int cmd_features(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = features_options();
  const auto vm = parse_command(cl, "sarscale features --archive ARCHIVE.h5 [--output FEATURES.h5] [options]", desc);
  if (!vm) return 0;

  dist::FeaturesConfig cfg;
  if (vm->count("archive")) cfg.archive = (*vm)["archive"].as<std::string>();
  if (vm->count("output")) cfg.output = (*vm)["output"].as<std::string>();
  if (vm->count("planes")) cfg.planes = (*vm)["planes"].as<std::string>();
  if (vm->count("preprocess")) cfg.preprocess = (*vm)["preprocess"].as<std::string>();
  if (vm->count("blocks")) cfg.blocks = (*vm)["blocks"].as<std::string>();
  if (vm->count("augment")) cfg.augment = (*vm)["augment"].as<std::string>();
  cfg.fit_pca = (*vm)["fit-pca"].as<bool>();
  if (vm->count("pca-from")) cfg.pca_from = (*vm)["pca-from"].as<std::string>();
  cfg.pca.components = (*vm)["pca-components"].as<int>();
  cfg.pca.explained_variance = (*vm)["pca-variance"].as<double>();
  cfg.pca.whiten = (*vm)["whiten"].as<bool>();
  cfg.pca.standardise = !(*vm)["no-standardise"].as<bool>();
  const bool pca_options =
      cfg.pca.components != 0 || cfg.pca.explained_variance != 0 || cfg.pca.whiten || !cfg.pca.standardise;
  if (pca_options && !cfg.fit_pca)
    throw ConfigError("--pca-components, --pca-variance, --whiten and --no-standardise need --fit-pca" +
                      std::string(cfg.pca_from ? " (--pca-from applies the stored model as fitted)" : ""));
  cfg.threads = (*vm)["threads"].as<int>();
  cfg.batch_chips = (*vm)["batch-chips"].as<long long>();
  cfg.progress = (*vm)["progress"].as<bool>();
  const ResumeOptions resume = resume_options(*vm);
  cfg.checkpoint_seconds = resume.checkpoint_seconds;
  cfg.refuse_changed = resume.refuse_changed;
  cfg.fresh = resume.fresh;
  cfg.overwrite = (*vm)["overwrite"].as<bool>();
  cfg.command_line = join_command_line(cl.command, cl.args);
  cfg.parameters = describe(*vm);

  const dist::FeaturesSummary s = dist::run_features(comm, cfg);
  if (comm.is_root()) {
    for (const auto& [reason, n] : s.flag_reasons) log::warn(n, " chip(s) flagged unusable: ", reason);
    if (s.invalid_slots > 0) log::warn(s.invalid_slots, " archive slot(s) marked invalid by ingest were skipped");
    if (s.augmented_flagged > 0)
      log::warn(s.augmented_flagged, " augmented cop(ies) of usable chips flagged unusable (see /flagged)");
    if (s.augmented_rows > 0)
      log::info("augmentation ", s.augment, ": ", s.augmented_rows, " rows after the slots (", s.augmented_usable,
                " usable)");
    log::info("wrote ", s.rows, " feature rows (", s.usable, " usable) of dimension ", s.dim,
              s.pca_components > 0 ? " (PCA of " + std::to_string(s.raw_dim) + ")" : std::string(), " to ",
              s.output.string());
    std::cout << s.to_json().dump() << std::endl;
  }
  return 0;
}

}  // namespace sarscale::app
