// Options, configuration files and what the commands say about themselves, end to end through the
// binary (issue 12): usage errors exit 2 before any work, `info --json` is valid UTF-8 whatever the
// file names and lists the sources when asked, `convert` names its outputs once, `--help`
// describes every command's inputs, and `train --cascade` composes with a grid search.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>  // the chosen point's C and gamma, printed in full

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::json_number;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path scratch(const std::string& name) {
  return sarscale::test::scratch_dir("options_cli_" + name + "_" + std::to_string(getpid()));
}

// `rows` rows of three Gaussian classes (labels 1, 2, 3) in LIBSVM text, 6 features.
void write_three_classes(const fs::path& path, int rows, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::ofstream out(path);
  for (int r = 0; r < rows; ++r) {
    const int label = 1 + r % 3;
    out << label;
    for (int k = 1; k <= 6; ++k) out << ' ' << k << ':' << normal(rng) + (k == label ? 1.5 : 0.0);
    out << '\n';
  }
}

// Whether two files hold the same bytes (and both exist).
bool same_bytes(const fs::path& a, const fs::path& b) {
  return run_command("cmp -s " + a.string() + " " + b.string()) == 0;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

// Issue 12: `--eps 0` exited 1 after reading the data; `--shrinking 2`, `--threads -1` and
// `--folds 1000` on 60 rows were accepted; a misspelt section or `--config somedir/` was ignored.
// All are usage errors (exit 2) naming the culprit, at 2 ranks as at 1 (no rank left waiting).
TEST(OptionsCli, BadOptionsAndConfigsAreUsageErrors) {
  const fs::path dir = scratch("usage");
  const fs::path data = dir / "sixty.txt", model = dir / "m.h5";
  write_three_classes(data, 60, 1);
  const std::string train = sarscale_mpi(2) + " train --data " + data.string() + " --model " + model.string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --eps 0", "--eps 0 is out of range: it must be > 0"},
      {" --shrinking 2", "--shrinking 2 is out of range: it must be 0 or 1"},
      {" --threads -1", "--threads -1 is out of range"},
      {" --grid 'C=1,2' --folds 1000", "--folds 1000 is more than the 60 training samples"},
  };
  for (const auto& [options, message] : cases) {
    const std::string out = run_expect(train + options, 2);
    EXPECT_TRUE(contains(out, message)) << options << ":\n" << out;
  }
  EXPECT_FALSE(fs::exists(model));

  std::ofstream(dir / "misspelt.ini") << "[ingst]\nchip-size = 64\n";
  std::ofstream(dir / "unknown_top.ini") << "chip-sise = 64\n";
  fs::create_directories(dir / "configs");
  const std::string ingest = sarscale_binary() + " ingest --input " + data.string() + " --output " +
                             (dir / "a.h5").string() + " --config ";
  EXPECT_TRUE(contains(run_expect(ingest + (dir / "misspelt.ini").string(), 2), "unknown section [ingst]"));
  EXPECT_TRUE(contains(run_expect(ingest + (dir / "unknown_top.ini").string(), 2), "unknown option 'chip-sise'"));
  EXPECT_TRUE(contains(run_expect(ingest + (dir / "configs").string() + "/", 2), "is a directory"));
  EXPECT_FALSE(fs::exists(dir / "a.h5"));
}

// Issue 12: `sarscale --help` described predict as LIBSVM-only and info as archive-only.
TEST(OptionsCli, HelpNamesWhatEachCommandTakes) {
  const std::string help = run_expect(sarscale_binary() + " --help");
  EXPECT_TRUE(contains(help, "predict   apply a model to a chip archive, a scene (GeoTIFF class map) or LIBSVM"))
      << help;
  EXPECT_TRUE(contains(help, "info      summarise an archive, a feature file or a model file")) << help;
  EXPECT_TRUE(contains(help, "convert   export archive chips, Phoenix files or rasters (scenes)")) << help;
}

// Issue 12: `info --json` wrote the bytes of a non-UTF-8 file name raw (invalid JSON text), and
// `--sources --json` listed no sources. Stray bytes are escaped as \udcXX (surrogateescape).
TEST(OptionsCli, InfoJsonIsUtf8AndListsSources) {
  const fs::path dir = scratch("info");
  const std::string odd = "chips\xff\xfe";  // a Latin-1-era folder name: not UTF-8
  run_expect(sarscale_binary() + " synth --out '" + (dir / odd).string() +
             "' --count 4 --classes 2 --chip-size 32 --seed 3");
  const std::string archive = (dir / "a\xff\xfe.h5").string();
  run_expect(sarscale_binary() + " ingest --log-level warn --input '" + (dir / odd).string() + "' --output '" +
             archive + "'");
  const std::string json_cmd = sarscale_binary() + " info --json --sources '" + archive + "'";
  EXPECT_EQ(run_command(json_cmd + " | iconv -f UTF-8 -t UTF-8 >/dev/null"), 0) << "not valid UTF-8";
  std::string json;
  ASSERT_EQ(run_command(json_cmd, &json, false), 0) << json;
  EXPECT_TRUE(contains(json, "\"archive\": \"" + (dir / "a\\udcff\\udcfe.h5").string() + "\"")) << json;
  EXPECT_FALSE(contains(json, "\xff")) << json;
  EXPECT_EQ(json_int(json, "sources"), 4) << json;
  // One entry per source, each naming its file (escaped as well), format and chips.
  std::size_t listed = 0;
  for (auto at = json.find("{\"path\": "); at != std::string::npos; at = json.find("{\"path\": ", at + 1)) {
    const std::string entry = json.substr(at, json.find('}', at) - at);
    EXPECT_TRUE(contains(entry, "chips\\udcff\\udcfe/")) << entry;
    EXPECT_TRUE(contains(entry, "\"format\": \"MSTAR-Phoenix\"")) << entry;
    EXPECT_TRUE(contains(entry, "\"chips\": 1")) << entry;
    ++listed;
  }
  EXPECT_TRUE(contains(json, "\"source_files\": [")) << json;
  EXPECT_EQ(listed, 4u) << json;
  // Without --sources the list stays out (an archive may have millions of sources).
  std::string plain;
  ASSERT_EQ(run_command(sarscale_binary() + " info --json '" + archive + "'", &plain, false), 0);
  EXPECT_FALSE(contains(plain, "source_files")) << plain;
}

// Issue 12: `convert` of scene.tif wrote scene.tif.tif. The output keeps the input's name and gets
// the format's extension only when the name lacks it (scene.tif.png is the PNG of scene.tif); an output that would be the input itself,
// or that of another input of the same run, is refused with the reason.
TEST(OptionsCli, ConvertNamesOutputsOnceAndNeverOverTheInput) {
  const fs::path dir = scratch("convert");
  const fs::path scene = dir / "scene.tif";
  run_expect(sarscale_binary() + " synth --kind scene --out " + scene.string() +
             " --width 300 --height 300 --targets 0 --seed 4");
  run_expect(sarscale_binary() + " convert --input " + scene.string() + " --output " + (dir / "tif").string() +
             " --format gtiff");
  EXPECT_TRUE(fs::exists(dir / "tif" / "scene.tif"));
  EXPECT_FALSE(fs::exists(dir / "tif" / "scene.tif.tif"));
  run_expect(sarscale_binary() + " convert --input " + scene.string() + " --output " + (dir / "png").string());
  EXPECT_TRUE(fs::exists(dir / "png" / "scene.tif.png"));
  // Phoenix names keep their numeric suffix (HB03787.000 and .001 are different files).
  run_expect(sarscale_binary() + " synth --out " + (dir / "chips").string() + " --count 2 --classes 1 --chip-size 32");
  run_expect(sarscale_binary() + " convert --input " + (dir / "chips").string() + " --output " + (dir / "chip_png").string());
  std::size_t phoenix_pngs = 0;
  for (const auto& e : fs::directory_iterator(dir / "chip_png")) {
    EXPECT_EQ(e.path().extension(), ".png");
    EXPECT_NE(e.path().stem().extension(), "") << e.path();  // NAME.<suffix>.png
    ++phoenix_pngs;
  }
  EXPECT_EQ(phoenix_pngs, 2u);

  fs::copy_file(scene, dir / "scene.before");
  const std::string own_dir = run_expect(
      sarscale_binary() + " convert --input " + scene.string() + " --output " + dir.string() + " --format gtiff", 1);
  EXPECT_TRUE(contains(own_dir, "is the input itself")) << own_dir;
  EXPECT_TRUE(same_bytes(scene, dir / "scene.before"));
}

// Issue 12: `sbatch jobs/train.sbatch CONFIG OUT -- --cascade` with a config holding a grid failed
// ("--grid with --cascade is not supported"). The grid search now runs as without --cascade and
// the chosen point is trained by the cascade: the same point, CV accuracy and model as the
// cascade given that point by hand.
TEST(OptionsCli, CascadeComposesWithAGridSearch) {
  const fs::path dir = scratch("cascade_grid");
  const fs::path data = dir / "train.txt";
  write_three_classes(data, 150, 2);
  const std::string train = sarscale_mpi(2) + " train --data " + data.string();
  const std::string grid = " --grid 'C=0.5,8 gamma=0.05,1' --folds 3";
  const std::string plain = last_json_line(run_expect(train + " --model " + (dir / "plain.h5").string() + grid));
  const std::string cascaded =
      last_json_line(run_expect(train + " --model " + (dir / "grid_cascade.h5").string() + grid + " --cascade"));
  const double C = json_number(plain, "C", true), gamma = json_number(plain, "gamma", true);
  EXPECT_EQ(json_number(cascaded, "C", true), C) << cascaded;
  EXPECT_EQ(json_number(cascaded, "gamma", true), gamma) << cascaded;
  EXPECT_EQ(json_number(cascaded, "cv_accuracy", true), json_number(plain, "cv_accuracy", true)) << cascaded;
  std::ostringstream point;
  point.precision(17);
  point << " --C " << C << " --gamma " << gamma;
  const std::string by_hand =
      last_json_line(run_expect(train + " --model " + (dir / "cascade.h5").string() + point.str() + " --cascade"));
  EXPECT_EQ(json_int(cascaded, "total_sv"), json_int(by_hand, "total_sv")) << cascaded << "\n" << by_hand;
  for (const char* m : {"grid_cascade", "cascade"})
    run_expect(sarscale_binary() + " predict --data " + data.string() + " --model " + (dir / (std::string(m) + ".h5")).string() +
               " --output " + (dir / (std::string(m) + ".pred")).string());
  EXPECT_TRUE(same_bytes(dir / "grid_cascade.pred", dir / "cascade.pred"));
  EXPECT_GT(fs::file_size(dir / "cascade.pred"), 0u);
}
