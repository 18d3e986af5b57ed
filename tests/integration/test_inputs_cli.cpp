// Inputs and results that look valid but are not (issue 12, part V), end to end: a JPEG cut in
// half, a model applied to data of another width, stale features of another archive, a mistyped
// test or training path, an empty archive to evaluate, empty folders deep in an input tree.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// 60 chips of 3 classes (the issue's `synth --kind chips --count 60 --classes 3 --seed 1`), their
// archive, 256 pixel features and a model of them.
class InputsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("inputs_cli_" + std::to_string(getpid()));
    const std::string d = g_dir.string() + "/";
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + d + "chips --count 60 --classes 3 --seed 1");
    run_expect(sarscale_mpi(2) + " ingest --input " + d + "chips --output " + d + "chips.h5");
    run_expect(sarscale_mpi(2) + " features --archive " + d + "chips.h5 --output " + d +
               "chips.features.h5 --preprocess 'db(floor=-50); crop(64)' --blocks 'pixels(size=16)'");
    run_expect(sarscale_mpi(2) + " train --features " + d + "chips.features.h5 --model " + d + "model.h5 --C 4");
    std::ofstream(g_dir / "pipeline.ini") << "[features]\npreprocess = db(floor=-50); crop(64)\n"
                                             "blocks = pixels(size=16)\n[train]\nC = 4\n";
  }
};

}  // namespace

// Item 3: a JPEG cut in half is rejected with libjpeg's warning as the reason, and fails --strict
// before anything is written; a whole JPEG still ingests.
TEST_F(InputsCli, JpegCutInHalfIsARejectAndFailsStrict) {
  SARSCALE_REQUIRE_SHARED(jpeg, "data/mstar10-train/2S1/hb19377.jpeg");
  const fs::path dir = g_dir / "cut";
  fs::create_directories(dir);
  ASSERT_EQ(run_command("head -c 1955 " + jpeg.string() + " > " + (dir / "t.jpg").string()), 0);
  const std::string strict = run_expect(
      sarscale_binary() + " ingest --input " + (dir / "t.jpg").string() + " --output " + (dir / "x.h5").string() +
          " --strict",
      1);
  EXPECT_TRUE(contains(strict, "Premature end of JPEG file")) << strict;
  EXPECT_FALSE(fs::exists(dir / "x.h5"));
  fs::copy_file(jpeg, dir / "whole.jpeg");
  const std::string lenient = run_expect(sarscale_binary() + " ingest --input " + dir.string() + " --output " +
                                         (dir / "y.h5").string());
  EXPECT_EQ(json_int(last_json_line(lenient), "ingested"), 1) << lenient;
  EXPECT_EQ(json_int(last_json_line(lenient), "rejected"), 1) << lenient;
  EXPECT_TRUE(contains(run_expect(sarscale_binary() + " info " + (dir / "y.h5").string() + " --json"),
                       "Premature end of JPEG file"));
}

// Item 5: heart_scale (13 features) against the 256-feature chip model is refused (it exited 0
// with "Accuracy = 44.4%"); LIBSVM data with a few extra features are predicted as svm-predict
// does (the extra features enter the RBF distance, they are not dropped).
TEST_F(InputsCli, PredictRefusesDataOfAnotherWidthAndMatchesSvmPredict) {
  SARSCALE_REQUIRE_SHARED(heart, "data/libsvm-benchmarks/heart_scale.gz");
  const std::string refused = run_expect(sarscale_binary() + " predict --data " + heart.string() + " --model " +
                                             (g_dir / "model.h5").string() + " --output " +
                                             (g_dir / "heart.pred").string(),
                                         1);
  EXPECT_TRUE(contains(refused, "features up to index 13, the model 256 features")) << refused;
  EXPECT_FALSE(contains(refused, "Accuracy")) << refused;

  if (run_command("command -v svm-predict >/dev/null") != 0) GTEST_SKIP() << "svm-predict (libsvm-tools) is absent";
  const fs::path text = g_dir / "heart.txt", wider = g_dir / "heart_wider.txt", model = g_dir / "heart.model";
  ASSERT_EQ(run_command("gzip -dc " + heart.string() + " > " + text.string()), 0);
  // Every 25th row gains feature 14 = 4, which no support vector has: svm-predict adds 16 to those
  // rows' RBF distances (kernel values x e^-8), which flips some of their labels.
  ASSERT_EQ(run_command("awk '{ if (NR % 25 == 0) print $0 \" 14:4\"; else print }' " + text.string() + " > " +
                        wider.string()),
            0);
  run_expect(sarscale_binary() + " train --data " + text.string() + " --model " + model.string() +
             " --model-format libsvm --C 1 --gamma 0.5");
  run_expect(sarscale_binary() + " predict --data " + wider.string() + " --model " + model.string() + " --output " +
             (g_dir / "ours.pred").string());
  run_expect("svm-predict " + wider.string() + " " + model.string() + " " + (g_dir / "libsvm.pred").string());
  EXPECT_EQ(slurp(g_dir / "ours.pred"), slurp(g_dir / "libsvm.pred"));
  run_expect("svm-predict " + text.string() + " " + model.string() + " " + (g_dir / "plain.pred").string());
  EXPECT_NE(slurp(g_dir / "libsvm.pred"), slurp(g_dir / "plain.pred")) << "feature 14 changed no prediction";
}

// Item 7 and the training path: a test or training path that names nothing fails at once, with
// the path, before any stage runs (it exited 0 with "accuracy 0% on 0 of 0 chips", or failed
// late in features); evaluate on an archive without a chip fails too.
TEST_F(InputsCli, MistypedPathsAndEmptyArchivesAreErrors) {
  const std::string d = g_dir.string() + "/";
  const auto t0 = std::chrono::steady_clock::now();
  const std::string test = run_expect(sarscale_mpi(2) + " pipeline --config " + d + "pipeline.ini --train " + d +
                                          "chips --test /data/mstar10-test-absent --out " + d + "p1",
                                      2);
  EXPECT_TRUE(contains(test, "--test: nothing to ingest; /data/mstar10-test-absent: no such file or directory"))
      << test;
  EXPECT_FALSE(fs::exists(g_dir / "p1" / "train.h5"));  // nothing ran
  const std::string train = run_expect(
      sarscale_mpi(2) + " pipeline --config " + d + "pipeline.ini --train /nonexistent --out " + d + "p2", 2);
  EXPECT_TRUE(contains(train, "--train: nothing to ingest; /nonexistent: no such file or directory")) << train;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);

  // An archive of no chip (its only input rejected), evaluated at 1 and 2 ranks.
  fs::create_directories(g_dir / "bad");
  std::ofstream(g_dir / "bad" / "broken.phx") << "not a chip";
  run_expect(sarscale_binary() + " ingest --input " + d + "bad --output " + d + "empty.h5");
  for (const int np : {1, 2}) {
    const std::string out = run_expect(sarscale_mpi(np) + " evaluate --archive " + d + "empty.h5 --model " + d +
                                           "model.h5 --report " + d + "empty_report" + std::to_string(np),
                                       1);
    EXPECT_TRUE(contains(out, "nothing to evaluate: " + d + "empty.h5 holds 0 chip slots")) << out;
    EXPECT_FALSE(fs::exists(g_dir / ("empty_report" + std::to_string(np)) / "report.json"));
  }
}

// Empty folders deep in an input tree are rejects ("empty directory"), so that ingested +
// rejected = discovered still holds and nothing vanishes silently.
TEST_F(InputsCli, EmptyFoldersDeepInATreeAreCountedAsRejects) {
  const fs::path tree = g_dir / "tree";
  fs::create_directories(tree / "a" / "b" / "empty");
  fs::create_directories(tree / "c" / "also-empty");
  fs::path chip;
  for (const auto& e : fs::recursive_directory_iterator(g_dir / "chips"))
    if (e.is_regular_file()) chip = e.path();
  fs::copy_file(chip, tree / "a" / "chip.phx");
  const std::string out =
      run_expect(sarscale_binary() + " ingest --input " + tree.string() + " --output " + (g_dir / "tree.h5").string());
  EXPECT_EQ(json_int(last_json_line(out), "discovered"), 3) << out;
  EXPECT_EQ(json_int(last_json_line(out), "ingested"), 1) << out;
  EXPECT_EQ(json_int(last_json_line(out), "rejected"), 2) << out;
  const std::string info = run_expect(sarscale_binary() + " info " + (g_dir / "tree.h5").string() + " --json");
  EXPECT_TRUE(contains(info, (tree / "a" / "b" / "empty").string())) << info;
  EXPECT_TRUE(contains(info, (tree / "c" / "also-empty").string())) << info;
}

// Item 6: features cached in an output folder are reused only for the very archive they were
// computed from. A new archive of the same chip count under the old name gets its own
// predictions (they paired the new chips' paths with the old chips' predictions); one of another
// count neither hangs at 2 ranks nor fails at 1; a pipeline given a new --test reports on it, and
// --force recomputes the cached test features too.
TEST_F(InputsCli, CachedFeaturesOfAnotherArchiveAreNeverReused) {
  const std::string d = g_dir.string() + "/";
  run_expect(sarscale_mpi(2) + " synth --kind chips --out " + d + "other60 --count 60 --classes 3 --seed 7");
  run_expect(sarscale_mpi(2) + " synth --kind chips --out " + d + "other30 --count 30 --classes 3 --seed 8");
  for (const char* set : {"other60", "other30"})
    run_expect(sarscale_mpi(2) + " ingest --input " + d + set + " --output " + d + set + ".h5");
  const std::string predict = " predict --model " + d + "model.h5 --archive " + d + "x.h5 --output ";
  fs::copy_file(g_dir / "chips.h5", g_dir / "x.h5");
  run_expect(sarscale_mpi(2) + predict + d + "stale");
  for (const char* set : {"other60", "other30"}) {
    fs::copy_file(g_dir / (std::string(set) + ".h5"), g_dir / "x.h5", fs::copy_options::overwrite_existing);
    for (const int np : {1, 2}) {
      const std::string out = run_expect("timeout 120 " + sarscale_mpi(np) + predict + d + "stale");
      EXPECT_EQ(json_int(last_json_line(out), "rows"), std::string(set) == "other60" ? 60 : 30) << out;
    }
    run_expect(sarscale_mpi(2) + predict + d + "fresh_" + set);
    EXPECT_EQ(slurp(g_dir / "stale" / "predictions.csv"), slurp(g_dir / ("fresh_" + std::string(set)) / "predictions.csv"))
        << set;
  }

  // Another archive with the old one's path, size and modification time (a file system of coarse
  // time stamps, or `cp -p`): the archive's ingest key tells them apart.
  for (const char* set : {"setA", "setB"}) {
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + d + set + "/chips --count 60 --classes 3 --seed " +
               (std::string(set) == "setA" ? "1" : "7"));
    run_expect(sarscale_mpi(2) + " ingest --input " + d + set + "/chips --output " + d + set + ".h5");
  }
  ASSERT_EQ(fs::file_size(g_dir / "setA.h5"), fs::file_size(g_dir / "setB.h5"));
  fs::copy_file(g_dir / "setA.h5", g_dir / "y.h5");
  const std::string predict_y = " predict --model " + d + "model.h5 --archive " + d + "y.h5 --output ";
  run_expect(sarscale_mpi(2) + predict_y + d + "stale_y");
  const auto stamp = fs::last_write_time(g_dir / "y.h5");
  fs::copy_file(g_dir / "setB.h5", g_dir / "y.h5", fs::copy_options::overwrite_existing);
  fs::last_write_time(g_dir / "y.h5", stamp);
  run_expect(sarscale_mpi(2) + predict_y + d + "stale_y");
  run_expect(sarscale_mpi(2) + predict_y + d + "fresh_y");
  EXPECT_EQ(slurp(g_dir / "stale_y" / "predictions.csv"), slurp(g_dir / "fresh_y" / "predictions.csv"));

  // The pipeline: a new --test is ingested and evaluated; --force recomputes every stage.
  const std::string pipeline = sarscale_mpi(2) + " pipeline --config " + d + "pipeline.ini --train " + d +
                               "chips --out " + d + "pipe --test ";
  const auto evaluated = [&](const std::string& test, const std::string& extra = "") {
    run_expect(pipeline + d + test + extra);
    return json_int(slurp(g_dir / "pipe" / "report" / "report.json"), "evaluated");
  };
  EXPECT_EQ(evaluated("other60"), 60);
  EXPECT_EQ(evaluated("other30"), 30);
  const auto features = g_dir / "pipe" / "report" / "features.h5";
  const auto before = fs::last_write_time(features);
  EXPECT_EQ(evaluated("other30", " --force"), 30);
  EXPECT_NE(fs::last_write_time(features), before) << "--force reused the cached test features";
}
