// End-to-end acquisition-shift validation: synth -> ingest -> features -> train. train's JSON,
// its CV table and the model carry both accuracies and their gap; `--shift-validation none`
// leaves the output as it was (no new keys, the same CV table and model); the point chosen by
// `--select-by cv|shifted` follows the rule on the reported table; bad options are usage errors;
// the pipeline's summary (JSON and summary.md) shows CV, shifted and held-out accuracies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <regex>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

// On these chips the CV accuracy prefers (32, 0.002) and the shifted one (4, 0.0227).
constexpr const char* kGrid = " --grid 'C=0.5,4,32,256 gamma=0.002,0.0227,0.1' --folds 3";
constexpr const char* kShift = " --shift-validation 'gain(db=4); shift(2); speckle'";

struct Point {
  double C, gamma, cv, shifted, gap;
};

// The grid of train's JSON line, in grid order.
std::vector<Point> grid_of(const std::string& json) {
  static const std::regex entry(
      R"re(\{"C": ([^,]+), "gamma": ([^,]+), "cv_accuracy": ([^,]+)(, "shifted_accuracy": ([^,]+), "gap": ([^,]+))?, "seconds")re");
  std::vector<Point> out;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), entry); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out.push_back({std::stod(m[1]), std::stod(m[2]), std::stod(m[3]), m[5].matched ? std::stod(m[5]) : -1.0,
                   m[6].matched ? std::stod(m[6]) : 0.0});
  }
  return out;
}

// The last "key": number of a JSON line (top-level members follow train's grid), -1 when absent.
double number(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const auto at = json.rfind(needle);
  return at == std::string::npos ? -1.0 : std::strtod(json.c_str() + at + needle.size(), nullptr);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(ShiftValidationCli, TrainReportsBothAccuraciesAndNoneChangesNothing) {
  const fs::path dir = sarscale::test::scratch_dir("shift_validation_cli_" + std::to_string(getpid()));
  run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (dir / "chips").string() +
             " --count 36 --classes 3 --chip-size 32 --seed 6");
  const std::string archive = (dir / "train.h5").string(), features = (dir / "train.features.h5").string();
  run_expect(sarscale_mpi(2) + " ingest --input " + (dir / "chips").string() + " --output " + archive +
             " --chip-size 32");
  run_expect(sarscale_mpi(2) + " features --archive " + archive + " --output " + features +
             " --preprocess 'db(floor=-50); crop(24)' --blocks 'pixels(size=6); stats' --fit-pca");
  const auto train = [&](const std::string& model, const std::string& extra, int status = 0) {
    return run_expect(sarscale_mpi(2) + " train --features " + features + " --model " + (dir / model).string() +
                          kGrid + extra,
                      status);
  };

  // Both accuracies per grid point and for the chosen one, with their gap.
  const std::string out = train("cv.h5", kShift);
  const std::string js = last_json_line(out);
  const std::vector<Point> grid = grid_of(js);
  ASSERT_EQ(grid.size(), 12u) << js;
  const Point* best_cv = &grid[0];
  for (const Point& p : grid) {
    EXPECT_GE(p.shifted, 0.0) << js;
    EXPECT_NEAR(p.gap, p.cv - p.shifted, 1e-12);
    if (p.cv > best_cv->cv) best_cv = &p;
  }
  EXPECT_EQ(number(js, "C"), best_cv->C) << js;  // --select-by cv (default): the CV table's best
  EXPECT_EQ(number(js, "gamma"), best_cv->gamma) << js;
  EXPECT_EQ(number(js, "shifted_accuracy"), best_cv->shifted) << js;
  EXPECT_NEAR(number(js, "shift_gap"), best_cv->cv - best_cv->shifted, 1e-12) << js;
  EXPECT_NE(js.find("\"select_by\": \"cv\""), std::string::npos) << js;
  EXPECT_NE(js.find("\"spec\": \"speckle(support=0.01); gain(db=4, clip=0); shift(pixels=2)\""), std::string::npos)
      << js;
  EXPECT_NE(out.find("CV accuracy       shifted        gap"), std::string::npos) << out;
  EXPECT_NE(out.find("shifted validation: speckle(support=0.01); gain(db=4, clip=0); shift(pixels=2) (seed 1)"),
            std::string::npos)
      << out;
  EXPECT_TRUE(fs::exists(dir / "cv.shifted.features.h5"));
  const std::string info = run_expect(sarscale_binary() + " info " + (dir / "cv.h5").string());
  EXPECT_NE(info.find("shifted_accuracy"), std::string::npos) << info;
  EXPECT_NE(info.find("shift_validation"), std::string::npos) << info;

  // --select-by shifted: the best shifted accuracy (ties: the better CV), on the same table.
  const std::string js_shifted = last_json_line(train("shifted.h5", kShift + std::string(" --select-by shifted")));
  const std::vector<Point> grid_shifted = grid_of(js_shifted);
  ASSERT_EQ(grid_shifted.size(), grid.size());
  const Point* best_shifted = &grid_shifted[0];
  for (std::size_t q = 0; q < grid.size(); ++q) {
    EXPECT_EQ(grid_shifted[q].cv, grid[q].cv);  // deterministic: the same table
    EXPECT_EQ(grid_shifted[q].shifted, grid[q].shifted);
    const Point& p = grid_shifted[q];
    if (std::pair{p.shifted, p.cv} > std::pair{best_shifted->shifted, best_shifted->cv}) best_shifted = &p;
  }
  EXPECT_EQ(number(js_shifted, "C"), best_shifted->C) << js_shifted;
  EXPECT_EQ(number(js_shifted, "gamma"), best_shifted->gamma) << js_shifted;
  EXPECT_NE(js_shifted.find("\"select_by\": \"shifted\""), std::string::npos) << js_shifted;
  // Here the two rules disagree, so the choice visibly follows --select-by.
  EXPECT_NE(std::pair(best_cv->C, best_cv->gamma), std::pair(best_shifted->C, best_shifted->gamma)) << js_shifted;

  // none: no new keys, the same CV table, the same model.
  const std::string js_none = last_json_line(train("none.h5", " --shift-validation none"));
  for (const char* key : {"\"shifted_accuracy\"", "\"shift_gap\"", "\"shift_validation\"", "\"select_by\"", "\"gap\""})
    EXPECT_EQ(js_none.find(key), std::string::npos) << key << " in " << js_none;
  const std::vector<Point> grid_none = grid_of(js_none);
  ASSERT_EQ(grid_none.size(), grid.size());
  for (std::size_t q = 0; q < grid.size(); ++q) EXPECT_EQ(grid_none[q].cv, grid[q].cv);
  EXPECT_EQ(number(js_none, "C"), best_cv->C);
  run_expect("h5diff " + (dir / "cv.h5").string() + " " + (dir / "none.h5").string() + " /svm /svm");
  EXPECT_FALSE(fs::exists(dir / "none.shifted.features.h5"));

  // Usage errors name what is wrong.
  EXPECT_NE(train("bad.h5", " --shift-validation 'gain(db=x)'", 2).find("'x'"), std::string::npos);
  EXPECT_NE(run_expect(sarscale_binary() + " train --features " + features + " --model " + (dir / "bad.h5").string() +
                           kGrid + " --select-by best",
                       2)
                .find("--select-by"),
            std::string::npos);
  EXPECT_NE(run_expect(sarscale_binary() + " train --features " + features + " --model " + (dir / "bad.h5").string() +
                           " --shift-validation gain",
                       2)
                .find("--grid"),
            std::string::npos);
}

TEST(ShiftValidationCli, PipelineSummaryShowsCvShiftedAndHeldOut) {
  const fs::path dir = sarscale::test::scratch_dir("shift_validation_pipeline_" + std::to_string(getpid()));
  for (const auto& [set, seed] : {std::pair{"train", "6"}, std::pair{"test", "7"}})
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (dir / set).string() +
               " --count 30 --classes 3 --chip-size 32 --seed " + seed);
  std::ofstream(dir / "p.ini") << "[ingest]\nchip-size = 32\n"
                                  "[features]\npreprocess = db(floor=-50); crop(24)\n"
                                  "blocks = pixels(size=6); stats\nfit-pca = true\n"
                                  "[train]\ngrid = C=1,8 gamma=auto\nfolds = 3\n"
                                  "shift-validation = gain(db=3); shift(1)\nselect-by = shifted\n";
  const std::string out = run_expect(sarscale_mpi(2) + " pipeline --config " + (dir / "p.ini").string() +
                                     " --train " + (dir / "train").string() + " --test " + (dir / "test").string() +
                                     " --out " + (dir / "out").string());
  const std::string js = last_json_line(out);
  const auto at = js.find("\"validation\": ");
  ASSERT_NE(at, std::string::npos) << js;
  const std::string v = js.substr(at);
  for (const char* key : {"cv_accuracy", "shifted_accuracy", "test_accuracy"}) {
    EXPECT_GE(number(v, key), 0.0) << key << " in " << js;
    EXPECT_LE(number(v, key), 1.0) << key << " in " << js;
  }
  EXPECT_NE(v.find("\"select_by\": \"shifted\""), std::string::npos) << js;
  EXPECT_NEAR(number(v, "shift_gap"), number(v, "cv_accuracy") - number(v, "shifted_accuracy"), 1e-12);
  const std::string md = read_text(dir / "out" / "summary.md");
  EXPECT_NE(md.find("gap (CV - shifted)"), std::string::npos) << md;
  EXPECT_NE(md.find("held-out test set"), std::string::npos) << md;
  EXPECT_NE(md.find("gain(db=3, clip=0); shift(pixels=1) (seed 1)"), std::string::npos) << md;
  // The evaluate report is as it always was.
  EXPECT_EQ(read_text(dir / "out" / "report" / "report.md").find("shifted"), std::string::npos);
}
