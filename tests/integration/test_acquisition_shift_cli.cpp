// The acquisition shift (issue 11): MSTAR's 17 deg training and 15 deg test sets differ in
// absolute level, depression angle (shadows, layover), speckle and target position. Synthetic
// sets reproduce that: training at 17 deg, a test set at 15 deg with a 1.5 dB calibration gain
// and a 17 deg test set without the shift (each its own seed: other speckle, azimuths, serials,
// positions). The shipped chain, configs/mstar10-soc.ini read as it is now (the test follows
// whatever it holds), must keep its accuracy across the shift; a chain keyed on absolute level
// (dB with a fixed floor, no per-chip normalisation) must lose it, which shows the test can fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::json_number;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_mpi;

namespace {

constexpr int kClasses = 10;
constexpr int kPerClass = 30;  // per set: 300 chips, ~30 s for the whole test on 2 cores
constexpr int kChips = kClasses * kPerClass;

// Margins, from hand runs of this very protocol over 6 seed triples at 30 chips per class (and
// 5 at 25), with the shipped chain `linear; db(floor=-48); crop(64)` + `pixels(size=16)`:
//   shipped   17 deg 87.3-91.3%, 15 deg + 1.5 dB 83.0-91.3%: it loses -0.6..4.4 points (-0.6..7.6
//             at 25 per class), the cost of the depression change plus sampling noise (one test
//             set of 300 chips: +-2 points); the gain alone costs nothing (per-chip min-max).
//   absolute  17 deg 83.7-90.3%, 15 deg + 1.5 dB 50.3-59.7%: it loses 24-38 points, nearly all
//             to the gain (1.5 dB alone: 24-33 points; 15 deg alone: 1-9).
// So "holds" is within 10 points and "fails" is a loss of at least 15: a gap on both sides.
constexpr double kShippedHolds = 0.10;   // shipped: shifted >= unshifted - this
constexpr double kAbsoluteLoses = 0.15;  // absolute: shifted <= unshifted - this
constexpr double kUsable = 0.75;         // either chain without the shift: a working classifier (chance: 0.10)

const char* kAbsoluteFeatures =
    "[features]\n"
    "# keyed on absolute level: a fixed dB floor and no per-chip normalisation\n"
    "preprocess = db(floor=-60); crop(64)\n"
    "blocks = pixels(size=16)\n"
    "fit-pca = true\n";

// An INI file as (section, its text), in order; "" is the part before the first section.
std::vector<std::pair<std::string, std::string>> ini_sections(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> sections{{"", ""}};
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '[') sections.emplace_back(line.substr(1, line.find(']') - 1), "");
    sections.back().second += line + "\n";
  }
  return sections;
}

struct Accuracy {
  double unshifted = 0, shifted = 0;
};

// Trains the chain of `config` on `train` and evaluates it on both test sets, in one output
// directory: the second run reuses the trained model (the pipeline's stamps) and tests anew.
Accuracy run_chain(const fs::path& config, const fs::path& dir, const std::string& name) {
  Accuracy a;
  for (const char* test : {"test17", "test15_gain"}) {
    const std::string out = last_json_line(run_expect(
        sarscale_mpi(2) + " pipeline --config " + config.string() + " --train " + (dir / "train17").string() +
        " --test " + (dir / test).string() + " --out " + (dir / name).string() + " --log-level warn"));
    std::ifstream in(dir / name / "report" / "report.json");
    const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(json_int(report, "slots"), kChips) << name << " on " << test << ": " << report.substr(0, 300);
    EXPECT_EQ(json_int(report, "evaluated"), kChips) << name << " on " << test;
    (std::string(test) == "test17" ? a.unshifted : a.shifted) = json_number(report, "accuracy");
    ::testing::Test::RecordProperty(name + "_" + test, std::to_string(json_number(report, "accuracy")));
    if (std::string(test) == "test15_gain")  // the model of the first run, not a new one
      EXPECT_NE(out.find("\"stage\": \"train\", \"reused\": true"), std::string::npos) << out;
  }
  return a;
}

}  // namespace

TEST(AcquisitionShiftCli, ShippedChainHoldsAndAnAbsoluteLevelChainFails) {
  const fs::path shipped = fs::path(SARSCALE_SOURCE_DIR) / "configs" / "mstar10-soc.ini";
  const auto sections = ini_sections(shipped);
  std::map<std::string, std::string> by_name(sections.begin(), sections.end());
  ASSERT_TRUE(by_name.count("features") && by_name.count("train"))
      << shipped << " has no [features] or [train] section: the pipeline would not run the chain under test";

  const fs::path dir = sarscale::test::scratch_dir("acquisition_shift_" + std::to_string(getpid()));
  // The foil: the shipped configuration with its [features] section replaced.
  {
    std::ofstream out(dir / "absolute.ini");
    for (const auto& [section, text] : sections) out << (section == "features" ? kAbsoluteFeatures : text);
  }
  const std::string count = " --count " + std::to_string(kChips) + " --classes " + std::to_string(kClasses);
  run_expect(sarscale_mpi(2) + " synth --out " + (dir / "train17").string() + count + " --seed 101");
  run_expect(sarscale_mpi(2) + " synth --out " + (dir / "test17").string() + count + " --seed 102");
  run_expect(sarscale_mpi(2) + " synth --out " + (dir / "test15_gain").string() + count +
             " --seed 103 --depression 15 --gain-db 1.5");

  const Accuracy ship = run_chain(shipped, dir, "shipped");
  std::cout << "shipped chain [features]:\n"
            << by_name["features"] << "  17 deg: " << ship.unshifted << ", 15 deg + 1.5 dB: " << ship.shifted << "\n";
  EXPECT_GE(ship.unshifted, kUsable);
  EXPECT_GE(ship.shifted, ship.unshifted - kShippedHolds)
      << "the shipped chain loses more than " << kShippedHolds << " to the acquisition shift";

  const Accuracy absolute = run_chain(dir / "absolute.ini", dir, "absolute");
  std::cout << "absolute-level chain: 17 deg: " << absolute.unshifted << ", 15 deg + 1.5 dB: " << absolute.shifted
            << "\n";
  EXPECT_GE(absolute.unshifted, kUsable) << "the foil must work without the shift";
  EXPECT_LE(absolute.shifted, absolute.unshifted - kAbsoluteLoses)
      << "a chain keyed on absolute level should fail under a 1.5 dB shift: the test could not catch one";
}
