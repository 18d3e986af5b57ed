// End-to-end training-set augmentation: `sarscale features --augment` (or `augment =` in the
// [features] section of a config file) at 1 and 3 ranks writes the same file (h5diff), whose
// first rows are those of a run without augmentation; `train` cross-validates over the slots'
// rows only (cv_rows) and records the augmentation, which `sarscale info MODEL` shows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "sarscale/io/feature_file.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

constexpr int kChips = 30;
constexpr const char* kChain = " --preprocess 'db(floor=-50); crop(24)' --blocks 'pixels(size=6); stats'";

std::vector<float> rows(const sarscale::io::FeatureReader& r, std::int64_t first, std::int64_t count) {
  std::vector<float> out(static_cast<std::size_t>(count * r.layout().dim));
  r.read_features(first, count, out.data(), sarscale::io::Transfer::independent);
  return out;
}

}  // namespace

TEST(AugmentCli, SameFileAtAnyRankCountAndRecordedInTheModel) {
  const fs::path dir = sarscale::test::scratch_dir("augment_cli_" + std::to_string(getpid()));
  run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (dir / "chips").string() + " --count " +
             std::to_string(kChips) + " --classes 3 --chip-size 32 --seed 4");
  const std::string archive = (dir / "train.h5").string();
  run_expect(sarscale_mpi(2) + " ingest --input " + (dir / "chips").string() + " --output " + archive +
             " --chip-size 32");
  std::ofstream(dir / "augment.ini") << "[features]\n"
                                        "augment = shift(2); crop(28, count=2)\n";

  const auto features = [&](int np, const std::string& output, const std::string& extra) {
    return last_json_line(run_expect(sarscale_mpi(np) + " features --archive " + archive + " --output " +
                                     (dir / output).string() + kChain + " --batch-chips 7 " + extra));
  };
  const std::string plain = features(1, "plain.h5", "");
  const std::string one = features(1, "aug.1.h5", "--augment 'shift(2); crop(28, count=2)'");
  const std::string three = features(3, "aug.3.h5", "--config " + (dir / "augment.ini").string());
  for (const std::string& js : {one, three}) {
    EXPECT_EQ(json_int(js, "rows"), kChips) << js;
    EXPECT_EQ(json_int(js, "augmented_rows"), kChips * 6) << js;
    EXPECT_EQ(json_int(js, "augmented_usable"), json_int(js, "usable") * 6) << js;
  }
  EXPECT_EQ(json_int(plain, "augmented_rows"), -1) << plain;  // absent without augmentation

  // 1 and 3 ranks: the same data, bit for bit.
  const std::string a = (dir / "aug.1.h5").string(), b = (dir / "aug.3.h5").string();
  for (const char* d : {"/features", "/label", "/flag", "/source_row", "/flagged"})
    run_expect("h5diff " + a + " " + b + " " + d + " " + d);
  // The slots' rows are those of the run without augmentation.
  const auto r = sarscale::io::FeatureReader::open(a, MPI_COMM_SELF);
  const auto p = sarscale::io::FeatureReader::open(dir / "plain.h5", MPI_COMM_SELF);
  ASSERT_EQ(r.layout().rows, kChips);
  EXPECT_EQ(r.layout().augmented_rows, kChips * 6);
  EXPECT_EQ(p.layout().augmented_rows, 0);
  EXPECT_EQ(rows(r, 0, kChips), rows(p, 0, kChips));
  EXPECT_EQ(r.attribute("augment"), "shift(pixels=2, directions=4); crop(size=28, count=2, seed=1)");
  EXPECT_EQ(r.attribute("fingerprint"), p.attribute("fingerprint"));
  const std::string info = last_json_line(run_expect(sarscale_binary() + " info --json " + a));
  EXPECT_EQ(json_int(info, "rows"), kChips) << info;
  EXPECT_EQ(json_int(info, "augmented_rows"), kChips * 6) << info;

  // train: every row trains, only the slots' usable rows are scored in the CV.
  const std::string model = (dir / "model.h5").string();
  const std::string trained = last_json_line(run_expect(sarscale_mpi(2) + " train --features " + a + " --model " +
                                                        model + " --grid 'C=1,4 gamma=auto' --folds 3"));
  EXPECT_EQ(json_int(trained, "cv_rows"), json_int(one, "usable")) << trained;
  EXPECT_EQ(json_int(trained, "augmented_rows"), json_int(one, "augmented_usable")) << trained;
  EXPECT_EQ(json_int(trained, "rows"), json_int(one, "usable") + json_int(one, "augmented_usable")) << trained;
  // The model says how it was trained, and `info` shows it.
  const std::string shown = run_expect(sarscale_binary() + " info " + model);
  EXPECT_NE(shown.find("augmentation"), std::string::npos) << shown;
  EXPECT_NE(shown.find("crop(size=28, count=2, seed=1)"), std::string::npos) << shown;
  const std::string shown_json = last_json_line(run_expect(sarscale_binary() + " info --json " + model));
  EXPECT_NE(shown_json.find("\"augmentation\""), std::string::npos) << shown_json;

  // evaluate on the augmented file reads the slots' rows only.
  const std::string report = (dir / "report").string();
  const std::string evaluated = last_json_line(
      run_expect(sarscale_binary() + " evaluate --features " + a + " --model " + model + " --report " + report));
  EXPECT_EQ(json_int(evaluated, "slots"), kChips) << evaluated;
  EXPECT_EQ(json_int(evaluated, "evaluated"), json_int(one, "usable")) << evaluated;

  // A crop the chain cannot read is a usage error.
  const std::string bad = run_expect(sarscale_binary() + " features --archive " + archive + " --output " +
                                         (dir / "bad.h5").string() + kChain + " --augment 'crop(20)'",
                                     2);
  EXPECT_NE(bad.find("crop(size=20"), std::string::npos) << bad;
}
