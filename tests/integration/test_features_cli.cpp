// End-to-end tests of `sarscale features`: synth -> ingest -> features (train with --fit-pca from
// a config file, test with --pca-from), at 1 and 3 ranks; the output is checked with h5diff
// (HDF5's own tool) and the feature reader; usage errors exit with status 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <utility>

#include "sarscale/io/feature_file.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;

class FeaturesCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("features_cli_" + std::to_string(getpid()));
    for (const char* set : {"train", "test"}) {
      run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (g_dir / set).string() +
                 " --count 40 --classes 4 --chip-size 64 --seed " + (std::string(set) == "train" ? "1" : "2"));
      run_expect(sarscale_mpi(2) + " ingest --input " + (g_dir / set).string() + " --output " +
                 (g_dir / (std::string(set) + ".h5")).string() + " --chip-size 64");
    }
    std::ofstream(g_dir / "chain.ini")
        << "# a chain as users write it\n"
           "[features]\n"
           "preprocess = db(floor=-50); crop(48)\n"
           "blocks = hog(cell=8, block=2); gabor(frequencies=0.2, orientations=4); stats\n"
           "fit-pca = true\n"
           "pca-variance = 0.9\n";
  }
};

}  // namespace

TEST_F(FeaturesCli, TrainAndTestFeaturesAreIdenticalAtAnyRankCount) {
  std::string json[2];
  for (const int np : {1, 3}) {
    const fs::path train = g_dir / ("train." + std::to_string(np) + ".h5");
    const fs::path test = g_dir / ("test." + std::to_string(np) + ".h5");
    const std::string out =
        run_expect(sarscale_mpi(np) + " features --archive " + (g_dir / "train.h5").string() + " --output " +
                   train.string() + " --config " + (g_dir / "chain.ini").string() + " --batch-chips 6");
    json[np == 1 ? 0 : 1] = last_json_line(out);
    EXPECT_EQ(json_int(last_json_line(out), "rows"), 40) << out;
    EXPECT_EQ(json_int(last_json_line(out), "usable"), 40) << out;
    EXPECT_GT(json_int(last_json_line(out), "pca_components"), 1) << out;
    const std::string applied = run_expect(sarscale_mpi(np) + " features --archive " + (g_dir / "test.h5").string() +
                                           " --output " + test.string() + " --pca-from " + train.string());
    EXPECT_EQ(json_int(last_json_line(applied), "dim"), json_int(last_json_line(out), "dim")) << applied;
  }
  // Raw (per-chip) features: bitwise equal. The PCA fit may differ by rounding between rank
  // counts (merge order of the moments): within 1e-9 relative, and far less in practice.
  for (const char* set : {"train", "test"}) {
    const std::string a = (g_dir / (std::string(set) + ".1.h5")).string();
    const std::string b = (g_dir / (std::string(set) + ".3.h5")).string();
    run_expect("h5diff " + a + " " + b + " /raw_features /raw_features");
    run_expect("h5diff " + a + " " + b + " /label /label");
    run_expect("h5diff " + a + " " + b + " /flag /flag");
    run_expect("h5diff --relative=1e-9 " + a + " " + b + " /pca/eigenvalues /pca/eigenvalues");
    run_expect("h5diff --relative=1e-9 " + a + " " + b + " /pca/mean /pca/mean");
  }
  const auto r = sarscale::io::FeatureReader::open(g_dir / "test.3.h5", MPI_COMM_SELF);
  EXPECT_EQ(r.layout().raw_blocks.size(), 3u);
  EXPECT_EQ(r.layout().blocks.at(0).name, "pca");
  EXPECT_NE(r.attribute("chain").find("crop(rows=48, cols=48)"), std::string::npos) << r.attribute("chain");
  EXPECT_NE(r.attribute("pca_from").find("train.3.h5"), std::string::npos);

  // `info` recognises feature files.
  const std::string info =
      last_json_line(run_expect(sarscale_binary() + " info --json " + (g_dir / "test.3.h5").string()));
  EXPECT_EQ(json_int(info, "rows"), 40) << info;
  EXPECT_EQ(json_int(info, "usable"), 40) << info;
  EXPECT_EQ(json_int(info, "dim"), r.layout().dim) << info;
}

TEST_F(FeaturesCli, UsageErrorsExitWithStatusTwo) {
  const std::string bin = sarscale_binary() + " features ";
  const std::string archive = " --archive " + (g_dir / "train.h5").string();
  std::string out = run_expect(bin + archive + " --blocks 'hog(cel=8)'", 2);
  EXPECT_NE(out.find("cel"), std::string::npos) << out;
  out = run_expect(bin + archive + " --fit-pca --pca-from x.h5", 2);
  EXPECT_NE(out.find("exclude"), std::string::npos) << out;
  out = run_expect(bin + archive + " --whiten", 2);
  EXPECT_NE(out.find("need --fit-pca"), std::string::npos) << out;
  out = run_expect(bin + " --archive " + (g_dir / "missing.h5").string(), 1);
  EXPECT_NE(out.find("no such file"), std::string::npos) << out;
  out = run_expect(bin + archive + " --pca-from " + (g_dir / "train.h5").string(), 1);
  EXPECT_NE(out.find("not a sarscale feature file"), std::string::npos) << out;
}

// The shipped MSTAR chain (configs/mstar10-soc.ini) parses, runs on raw Phoenix magnitudes and
// separates the synthetic classes, and its [train] section drives a grid search.
TEST_F(FeaturesCli, ShippedMstarConfigTrainsAModel) {
  const std::string config = std::string(SARSCALE_SOURCE_DIR) + "/configs/mstar10-soc.ini";
  const fs::path features = g_dir / "soc.features.h5", model = g_dir / "soc.model.h5";
  run_expect(sarscale_mpi(2) + " features --archive " + (g_dir / "train.h5").string() + " --output " +
             features.string() + " --config " + config);
  const std::string out = last_json_line(run_expect(sarscale_mpi(2) + " train --features " + features.string() +
                                                    " --model " + model.string() + " --config " + config));
  const auto at = out.find("\"cv_accuracy\": ", out.rfind("\"gamma\""));
  ASSERT_NE(at, std::string::npos) << out;
  const double cv = std::stod(out.substr(at + 15));
  EXPECT_GT(cv, 0.6) << out;  // 4 classes: chance is 0.25
  EXPECT_TRUE(fs::exists(model));
}

// evaluate: the model's chain applied to a test archive, a report with every chip accounted for,
// and the features reused when they match the model.
TEST_F(FeaturesCli, EvaluateReportsEveryChip) {
  const std::string config = std::string(SARSCALE_SOURCE_DIR) + "/configs/mstar10-soc.ini";
  const fs::path features = g_dir / "eval.train.features.h5", model = g_dir / "eval.model.h5",
                 report = g_dir / "report";
  run_expect(sarscale_mpi(2) + " features --archive " + (g_dir / "train.h5").string() + " --output " +
             features.string() + " --config " + config);
  run_expect(sarscale_mpi(2) + " train --features " + features.string() + " --model " + model.string() + " --config " +
             config);
  for (const int np : {3, 1}) {  // the second run reuses report/features.h5
    const std::string out =
        last_json_line(run_expect(sarscale_mpi(np) + " evaluate --archive " + (g_dir / "test.h5").string() +
                                  " --model " + model.string() + " --report " + report.string()));
    EXPECT_EQ(json_int(out, "slots"), 40) << out;
    EXPECT_EQ(json_int(out, "evaluated") + json_int(out, "flagged_chips") + json_int(out, "invalid_slots") +
                  json_int(out, "unlabelled") + json_int(out, "unknown_class"),
              40)
        << out;
    const auto at = out.find("\"accuracy\": ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(std::stod(out.substr(at + 12)), 0.6) << out;  // 4 classes
  }
  for (const char* f : {"report.json", "report.md", "predictions.csv", "features.h5", "confusion.png"})
    EXPECT_TRUE(fs::exists(report / f)) << f;
  std::ifstream csv(report / "predictions.csv");
  std::string line;
  int lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 41);  // header + one per chip
  // A feature file computed differently (the default chain) is refused.
  const fs::path other = g_dir / "eval.other.features.h5";
  run_expect(sarscale_binary() + " features --archive " + (g_dir / "test.h5").string() + " --output " + other.string());
  const std::string refused = run_expect(sarscale_binary() + " evaluate --features " + other.string() + " --model " +
                                             model.string() + " --report " + (g_dir / "r2").string(),
                                         2);
  EXPECT_NE(refused.find("another chain"), std::string::npos) << refused;
}

// predict on an archive: one line per chip, the same classes as evaluate finds, at any rank count.
TEST_F(FeaturesCli, PredictArchiveAgreesWithEvaluate) {
  const std::string config = std::string(SARSCALE_SOURCE_DIR) + "/configs/mstar10-soc.ini";
  const fs::path features = g_dir / "pred.train.features.h5", model = g_dir / "pred.model.h5";
  run_expect(sarscale_mpi(2) + " features --archive " + (g_dir / "train.h5").string() + " --output " +
             features.string() + " --config " + config);
  run_expect(sarscale_mpi(2) + " train --features " + features.string() + " --model " + model.string() + " --C 4");
  run_expect(sarscale_mpi(2) + " evaluate --archive " + (g_dir / "test.h5").string() + " --model " + model.string() +
             " --report " + (g_dir / "pred_eval").string());
  const auto column = [](const fs::path& csv, int field) {
    std::ifstream in(csv);
    std::string line;
    std::vector<std::string> out;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::string cell;
      bool quoted = false;
      for (const char ch : line) {
        if (ch == '"')
          quoted = !quoted;
        else if (ch == ',' && !quoted)
          cells.push_back(std::exchange(cell, {}));
        else
          cell += ch;
      }
      cells.push_back(cell);
      out.push_back(cells.at(static_cast<std::size_t>(field)));
    }
    return out;
  };
  const auto evaluated = column(g_dir / "pred_eval" / "predictions.csv", 2);
  for (const int np : {1, 3}) {
    const fs::path out = g_dir / ("pred_" + std::to_string(np));
    const std::string json =
        last_json_line(run_expect(sarscale_mpi(np) + " predict --archive " + (g_dir / "test.h5").string() +
                                  " --model " + model.string() + " --output " + out.string()));
    EXPECT_EQ(json_int(json, "predicted"), 40) << json;
    EXPECT_EQ(column(out / "predictions.csv", 4), evaluated) << np << " ranks";
    EXPECT_TRUE(fs::exists(out / "predictions.h5"));
  }
}

// pipeline: every stage in one job, a report at the end; a second run reuses every stage, and a
// changed test input reruns only the stages that depend on it.
TEST_F(FeaturesCli, PipelineRunsAndReusesStages) {
  const std::string config = std::string(SARSCALE_SOURCE_DIR) + "/configs/mstar10-soc.ini";
  const fs::path out = g_dir / "pipe";
  const std::string cmd = sarscale_mpi(2) + " pipeline --config " + config + " --train " + (g_dir / "train").string() +
                          " --test " + (g_dir / "test").string() + " --out " + out.string();
  const auto reused = [](const std::string& json) {
    std::string flags;
    for (auto at = json.find("\"reused\": "); at != std::string::npos; at = json.find("\"reused\": ", at + 1))
      flags += json.compare(at + 10, 4, "true") == 0 ? 'R' : 'r';
    return flags;
  };
  EXPECT_EQ(reused(last_json_line(run_expect(cmd))), "rrrrr");
  EXPECT_TRUE(fs::exists(out / "report" / "report.json"));
  EXPECT_TRUE(fs::exists(out / "report" / "confusion.png"));
  EXPECT_EQ(reused(last_json_line(run_expect(cmd))), "RRRRR");
  fs::path one_test_file;
  for (const auto& e : fs::recursive_directory_iterator(g_dir / "test"))
    if (e.is_regular_file()) one_test_file = e.path();
  fs::last_write_time(one_test_file, fs::last_write_time(one_test_file) + std::chrono::seconds(5));
  EXPECT_EQ(reused(last_json_line(run_expect(cmd))), "RRRrr");
  // --force recomputes every stage: none of them may find its output up to date.
  const std::string forced = run_expect(cmd + " --force");
  EXPECT_EQ(reused(last_json_line(forced)), "rrrrr");
  EXPECT_EQ(forced.find("nothing to do"), std::string::npos) << forced;
  EXPECT_EQ(reused(last_json_line(run_expect(cmd))), "RRRRR");
}

// Incremental training: `train --warm-start OLD --archive NEW` (a chip archive: its features are
// computed with the old model's chain and PCA), with the old training features re-checked
// through the path the model records, equals a full retrain on old + new chips.
TEST_F(FeaturesCli, WarmStartEqualsAFullRetrain) {
  // A fixed chain without augmentation (warm starts take one row per chip), not the shipped one.
  const std::string chain = " --preprocess 'linear; db(floor=-48); crop(64)' --blocks 'pixels(size=16)' --fit-pca";
  const fs::path dir = g_dir / "warm";
  fs::create_directories(dir);
  run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (dir / "new").string() +
             " --count 24 --classes 4 --chip-size 64 --seed 5");
  run_expect(sarscale_mpi(2) + " ingest --input " + (dir / "new").string() + " --output " +
             (dir / "new.h5").string() + " --chip-size 64");
  run_expect(sarscale_mpi(2) + " ingest --input " + (g_dir / "train").string() + " " + (dir / "new").string() +
             " --output " + (dir / "both.h5").string() + " --chip-size 64");
  const std::string params = " --C 4 --gamma 0.0078125";
  run_expect(sarscale_mpi(2) + " features --archive " + (g_dir / "train.h5").string() + " --output " +
             (dir / "old.features.h5").string() + chain);
  run_expect(sarscale_binary() + " train --features " + (dir / "old.features.h5").string() + " --model " +
             (dir / "old.model.h5").string() + params);
  const std::string warm =
      last_json_line(run_expect(sarscale_binary() + " train --warm-start " + (dir / "old.model.h5").string() +
                                " --archive " + (dir / "new.h5").string() + " --model " + (dir / "warm.h5").string()));
  EXPECT_GT(json_int(warm, "warm_support_vectors"), 0) << warm;
  EXPECT_NE(warm.find("old.features.h5"), std::string::npos) << warm;  // the old rows were re-checked
  EXPECT_TRUE(fs::exists(dir / "warm.features.h5"));
  run_expect(sarscale_mpi(2) + " features --archive " + (dir / "both.h5").string() + " --output " +
             (dir / "both.features.h5").string() + " --pca-from " + (dir / "old.features.h5").string());
  const std::string full = last_json_line(run_expect(sarscale_binary() + " train --features " +
                                                     (dir / "both.features.h5").string() + " --model " +
                                                     (dir / "full.h5").string() + params));
  EXPECT_NEAR(static_cast<double>(json_int(warm, "total_sv")), static_cast<double>(json_int(full, "total_sv")),
              0.01 * static_cast<double>(json_int(full, "total_sv")) + 1)
      << warm << "\n" << full;
  const auto predicted = [&](const std::string& model) {
    const fs::path out = dir / ("pred_" + model);
    run_expect(sarscale_binary() + " predict --archive " + (g_dir / "test.h5").string() + " --model " +
               (dir / (model + ".h5")).string() + " --output " + out.string());
    std::ifstream in(out / "predictions.csv");
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(predicted("warm"), predicted("full"));  // 40 chips: 99.5% agreement means all
  // A grid search or other features with a warm start are refused with a reason.
  const std::string grid = run_expect(sarscale_binary() + " train --warm-start " + (dir / "old.model.h5").string() +
                                          " --archive " + (dir / "new.h5").string() + " --model " +
                                          (dir / "x.h5").string() + " --grid C=1,2",
                                      2);
  EXPECT_NE(grid.find("--grid"), std::string::npos) << grid;
}
