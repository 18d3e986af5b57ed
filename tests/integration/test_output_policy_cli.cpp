// The output policy end to end (docs/user-guide.md, "Outputs: what sarscale writes, replaces,
// refuses"; issue 12 items 1, 2, 4, 8): no command writes over an input; an existing file of
// another kind is refused unless --overwrite; a failed run leaves what was there; a second run
// on an output that is being written is refused, naming the holder; output folders are checked
// before any work; the resume key covers missing inputs. At 1 and 2 ranks.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>

#include "sarscale/io/phoenix.hpp"
#include "random_data.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::json_int;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::write_blobs;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;               // scratch root shared by the suite
std::vector<fs::path> g_phx;  // the synthetic chips, sorted

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

class OutputPolicyCli : public ::testing::TestWithParam<int> {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("output_policy_cli_" + std::to_string(getpid()));
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (g_dir / "chips").string() +
               " --count 60 --classes 3 --seed 1 --chip-size 32");
    for (const auto& e : fs::recursive_directory_iterator(g_dir / "chips"))
      if (e.is_regular_file()) g_phx.push_back(e.path());
    std::sort(g_phx.begin(), g_phx.end());
    write_blobs(g_dir / "data.txt", 200, 1, 4);
    run_expect(sarscale_binary() + " train --data " + (g_dir / "data.txt").string() + " --model " +
               (g_dir / "data.model").string() + " --model-format libsvm --gamma 0.5");
  }
  int ranks() const { return GetParam(); }
  std::string sarscale() const { return sarscale_mpi(ranks()); }
  // A fresh folder per case and rank count.
  fs::path dir(const std::string& name) const {
    const fs::path d = g_dir / (name + "_np" + std::to_string(ranks()));
    fs::create_directories(d);
    return d;
  }
};

}  // namespace

// Item 1: every command that was found writing over its input now refuses (exit 2, naming the
// input), and the input is byte for byte what it was.
TEST_P(OutputPolicyCli, NoCommandWritesOverAnInput) {
  const fs::path d = dir("inputs");
  const fs::path chip = g_phx[7];
  const std::string chip_bytes = slurp(chip), data_bytes = slurp(g_dir / "data.txt");
  const std::string model_bytes = slurp(g_dir / "data.model");
  struct Case {
    std::string command, input;
  };
  const std::vector<Case> cases = {
      {" ingest --input " + chip.string() + " --output " + chip.string(), chip.string()},
      // An output path inside the input folder that is one of its chips.
      {" ingest --input " + (g_dir / "chips").string() + " --output " + chip.string(), chip.string()},
      {" train --data " + (g_dir / "data.txt").string() + " --model " + (g_dir / "data.txt").string(), "data.txt"},
      {" predict --data " + (g_dir / "data.txt").string() + " --model " + (g_dir / "data.model").string() +
           " --output " + (g_dir / "data.txt").string(),
       "data.txt"},
      {" predict --data " + (g_dir / "data.txt").string() + " --model " + (g_dir / "data.model").string() +
           " --output " + (g_dir / "data.model").string(),
       "data.model"},
      // Another spelling of the same file.
      {" predict --data " + (g_dir / "data.txt").string() + " --model " + (g_dir / "data.model").string() +
           " --output " + (g_dir / "." / "data.txt").string(),
       "data.txt"},
      {" convert --input " + (g_dir / "chips").string() + " --output " + (g_dir / "chips" / "png").string(),
       "inside the input folder"},
  };
  for (const auto& c : cases) {
    const std::string out = run_expect(sarscale() + c.command, 2);
    EXPECT_TRUE(has(out, "an input is never written over") || has(out, "inside the input folder")) << c.command << "\n"
                                                                                                  << out;
    EXPECT_TRUE(has(out, c.input)) << out;
  }
  EXPECT_EQ(slurp(chip), chip_bytes);
  EXPECT_EQ(slurp(g_dir / "data.txt"), data_bytes);
  EXPECT_EQ(slurp(g_dir / "data.model"), model_bytes);
  EXPECT_FALSE(fs::exists(g_dir / "chips" / "png"));

  // train --features F --model F and features over its own archive, with a real feature file.
  const fs::path archive = d / "a.h5", features = d / "a.features.h5";
  run_expect(sarscale() + " ingest --input " + (g_dir / "chips").string() + " --output " + archive.string() +
             " --chip-size 32");
  run_expect(sarscale() + " features --archive " + archive.string() + " --output " + features.string() +
             " --preprocess db --blocks 'pixels(size=8)'");
  const std::string features_bytes = slurp(features);
  const std::string train = run_expect(sarscale() + " train --features " + features.string() + " --model " +
                                           features.string(),
                                       2);
  EXPECT_TRUE(has(train, "it is the input --features " + features.string())) << train;
  EXPECT_EQ(slurp(features), features_bytes);
  const std::string over = run_expect(sarscale() + " features --archive " + archive.string() + " --output " +
                                          archive.string() + " --preprocess db --blocks 'pixels(size=8)'",
                                      2);
  EXPECT_TRUE(has(over, "it is the input --archive")) << over;
}

// Item 2: a file that is not an earlier output of the command is refused unless --overwrite,
// and survives; the command's own earlier output is replaced as before.
TEST_P(OutputPolicyCli, AFileOfAnotherKindIsReplacedOnlyWithOverwrite) {
  const fs::path d = dir("kind");
  const fs::path notes = d / "notes.txt", archive = d / "a.h5";
  spit(notes, "my notes\n");
  const std::string ingest = sarscale() + " ingest --input " + (g_dir / "chips").string() + " --chip-size 32 --output ";
  std::string out = run_expect(ingest + notes.string(), 2);
  EXPECT_TRUE(has(out, "is not a sarscale archive")) << out;
  EXPECT_TRUE(has(out, "--overwrite")) << out;
  EXPECT_EQ(slurp(notes), "my notes\n");

  // train onto an archive (HDF5, but not a model), and a LIBSVM model onto notes.
  run_expect(ingest + archive.string());
  const auto archive_bytes = slurp(archive);
  out = run_expect(sarscale() + " train --data " + (g_dir / "data.txt").string() + " --model " + archive.string(), 2);
  EXPECT_TRUE(has(out, "is not a sarscale model")) << out;
  EXPECT_EQ(slurp(archive), archive_bytes);
  out = run_expect(sarscale() + " train --data " + (g_dir / "data.txt").string() + " --model " + notes.string() +
                       " --model-format libsvm",
                   2);
  EXPECT_TRUE(has(out, "is not a LIBSVM model")) << out;
  out = run_expect(sarscale() + " predict --data " + (g_dir / "data.txt").string() + " --model " +
                       (g_dir / "data.model").string() + " --output " + notes.string(),
                   2);
  EXPECT_TRUE(has(out, "is not a file of predicted labels")) << out;
  out = run_expect(sarscale() + " evaluate --features " + archive.string() + " --model " +
                       (g_dir / "data.model").string() + " --report " + notes.string(),
                   2);
  EXPECT_TRUE(has(out, "it exists and is not a folder")) << out;
  EXPECT_EQ(slurp(notes), "my notes\n");

  // The command's own earlier output is replaced; --overwrite replaces anything.
  const fs::path pred = d / "labels.txt";
  for (int k = 0; k < 2; ++k)
    run_expect(sarscale() + " predict --data " + (g_dir / "data.txt").string() + " --model " +
               (g_dir / "data.model").string() + " --output " + pred.string());
  EXPECT_FALSE(fs::exists(pred.string() + ".part"));
  const std::string ok = last_json_line(run_expect(ingest + notes.string() + " --overwrite"));
  EXPECT_EQ(json_int(ok, "chips"), 60) << ok;
  EXPECT_EQ(run_command(sarscale_binary() + " info " + notes.string()), 0);
}

// Item 2: an ingest that fails under --strict on a chip found bad while being read leaves the
// good archive that was at the output path, untouched, and no in-progress file.
TEST_P(OutputPolicyCli, AFailedStrictIngestLeavesTheArchiveThatWasThere) {
  const fs::path d = dir("strict");
  const fs::path archive = d / "good.h5";
  run_expect(sarscale() + " ingest --input " + (g_dir / "chips").string() + " --chip-size 32 --output " +
             archive.string());
  const std::string before = slurp(archive);
  const auto mtime = fs::last_write_time(archive);
  // A chip whose header is fine and whose pixels hold a NaN: found only while reading.
  std::string nan = slurp(g_phx.front());
  const sarscale::io::PhoenixHeader h = sarscale::io::read_phoenix_header(g_phx.front());
  const unsigned char quiet_nan_be[4] = {0x7f, 0xc0, 0x00, 0x00};
  std::memcpy(nan.data() + h.data_offset() + 4 * 100, quiet_nan_be, 4);
  spit(d / "in" / "nan.phx", nan);
  fs::copy_file(g_phx.back(), d / "in" / "ok.phx");
  const std::string out = run_expect(sarscale() + " ingest --strict --chip-size 32 --input " + (d / "in").string() +
                                         " --output " + archive.string(),
                                     1);
  EXPECT_TRUE(has(out, "failed while being read")) << out;
  EXPECT_TRUE(has(out, archive.string() + " was not written")) << out;
  EXPECT_EQ(slurp(archive), before);
  EXPECT_EQ(fs::last_write_time(archive), mtime);
  EXPECT_FALSE(fs::exists(archive.string() + ".part"));
  EXPECT_FALSE(fs::exists(archive.string() + ".lock"));
  EXPECT_EQ(run_command(sarscale_binary() + " info " + archive.string()), 0);
}

// Item 4: while a run holds an output's lock, another run on it is refused (exit 1) with a
// message naming the holder, and changes nothing; a lock left by a run that is gone is taken
// over with a warning.
TEST_P(OutputPolicyCli, ASecondRunOnALockedOutputIsRefusedNamingTheHolder) {
  const fs::path d = dir("lock");
  const fs::path archive = d / "a.h5", lock = d / "a.h5.lock", ready = d / "held";
  // flock(1) holds the lock file as another process would (the holder's text written first).
  spit(lock, "otherhost 4242 sarscale ingest --output a.h5\n");
  // -o: the command does not inherit the lock, so ending flock(1) (by its pid) releases it.
  const std::string holder = "flock -o " + lock.string() + " sh -c 'echo $$ > " + (d / "child").string() +
                             "; touch " + ready.string() + "; exec sleep 60'";
  ASSERT_EQ(run_command(holder + " >/dev/null 2>&1 & echo $! > " + (d / "pid").string()), 0);
  for (int i = 0; i < 500 && !fs::exists(ready); ++i) usleep(10000);
  ASSERT_TRUE(fs::exists(ready)) << "flock(1) did not take the lock";
  const std::string ingest = sarscale() + " ingest --input " + (g_dir / "chips").string() + " --chip-size 32 --output " +
                             archive.string();
  const std::string out = run_expect(ingest, 1);
  EXPECT_TRUE(has(out, "another run is writing it (otherhost 4242 sarscale ingest --output a.h5")) << out;
  EXPECT_FALSE(fs::exists(archive));
  EXPECT_FALSE(fs::exists(archive.string() + ".part"));
  const std::string train = run_expect(sarscale() + " train --data " + (g_dir / "data.txt").string() + " --model " +
                                           archive.string(),
                                       1);
  EXPECT_TRUE(has(train, "another run is writing it")) << train;
  run_command("kill $(cat " + (d / "pid").string() + ") $(cat " + (d / "child").string() + ")");
  for (int i = 0; i < 500 && run_command("flock -n " + lock.string() + " true") != 0; ++i) usleep(10000);

  // The holder is gone: its lock file stays, and the next run takes it over.
  ASSERT_TRUE(fs::exists(lock));
  const std::string taken = run_expect(ingest);
  EXPECT_TRUE(has(taken, "taking over the lock " + lock.string())) << taken;
  EXPECT_FALSE(fs::exists(lock));
  EXPECT_EQ(json_int(last_json_line(taken), "chips"), 60) << taken;
}

// Item 4: "up to date" is never reported from an output that does not read: a complete archive
// from the same inputs and options that has lost a dataset is written again.
TEST_P(OutputPolicyCli, AnOutputThatDoesNotReadIsNeverUpToDate) {
  const fs::path d = dir("unreadable");
  const fs::path archive = d / "a.h5";
  const std::string ingest = sarscale() + " ingest --input " + (g_dir / "chips").string() + " --chip-size 32 --output " +
                             archive.string();
  run_expect(ingest);
  {
    const hid_t f = H5Fopen(archive.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "/chips/valid", H5P_DEFAULT), 0);
    H5Fclose(f);
  }
  ASSERT_NE(run_command(sarscale_binary() + " info " + archive.string()), 0);
  const std::string again = run_expect(ingest);
  EXPECT_FALSE(has(last_json_line(again), "\"up_to_date\": true")) << again;
  EXPECT_TRUE(has(again, "cannot be read")) << again;
  EXPECT_EQ(json_int(last_json_line(again), "chips"), 60) << again;
  EXPECT_EQ(run_command(sarscale_binary() + " info " + archive.string()), 0);
}

// Item 8: inputs that discovery rejects (a missing path) are part of the resume key, so another
// missing path is a new run with its own rejects; an empty --input is refused with a reason.
TEST_P(OutputPolicyCli, TheResumeKeyCoversMissingInputs) {
  const fs::path d = dir("missing");
  const fs::path archive = d / "g.h5";
  const std::string base = sarscale() + " ingest --chip-size 32 --output " + archive.string() + " --input " +
                           g_phx.front().string() + " ";
  run_expect(base + (d / "nonexistentA").string());
  const std::string second = run_expect(base + (d / "nonexistentB").string());
  EXPECT_FALSE(has(last_json_line(second), "\"up_to_date\": true")) << second;
  const std::string info = run_expect(sarscale_binary() + " info --json " + archive.string());
  EXPECT_TRUE(has(info, "nonexistentB")) << info;
  EXPECT_FALSE(has(info, "nonexistentA")) << info;
  const std::string again = run_expect(base + (d / "nonexistentB").string());
  EXPECT_TRUE(has(last_json_line(again), "\"up_to_date\": true")) << again;

  const std::string empty = run_expect(sarscale() + " ingest --output " + archive.string() + " --input " +
                                           g_phx.front().string() + " ''",
                                       2);
  EXPECT_TRUE(has(empty, "--input: an empty path")) << empty;
}

// "Check every output path before the work": a model or predictions folder that does not exist
// fails at once (exit 2), before the grid search.
TEST_P(OutputPolicyCli, OutputFoldersAreCheckedBeforeAnyWork) {
  const fs::path missing = g_dir / "no_such_folder";
  const auto t0 = std::chrono::steady_clock::now();
  const std::string train = run_expect(sarscale() + " train --data " + (g_dir / "data.txt").string() + " --model " +
                                           (missing / "m.h5").string() + " --grid 'C=1,2,4,8 gamma=0.1,0.5,1' --folds 5",
                                       2);
  EXPECT_TRUE(has(train, "--model " + (missing / "m.h5").string() + ": its folder")) << train;
  EXPECT_TRUE(has(train, "does not exist")) << train;
  EXPECT_FALSE(has(train, "CV accuracy")) << train;  // no grid search ran
  const std::string predict = run_expect(sarscale() + " predict --data " + (g_dir / "data.txt").string() +
                                             " --model " + (g_dir / "data.model").string() + " --output " +
                                             (missing / "p.txt").string(),
                                         2);
  EXPECT_TRUE(has(predict, "does not exist")) << predict;
  EXPECT_FALSE(fs::exists(missing));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 20.0);
}

// The other writers follow the same policy: synth, predict --archive and --scene, pipeline
// (checked before any model, scene or input is read, so any existing paths do as inputs).
TEST_P(OutputPolicyCli, EveryOtherWriterRefusesAFileOfAnotherKind) {
  const fs::path d = dir("writers");
  const fs::path notes = d / "notes.txt";
  spit(notes, "my notes\n");
  const std::string model = (g_dir / "data.model").string(), data = (g_dir / "data.txt").string();
  spit(d / "p.ini", "[ingest]\nchip-size = 32\n");
  const std::string config = (d / "p.ini").string();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" synth --kind chips --count 3 --out " + notes.string(), "it exists and is not a folder"},
      {" synth --kind scene --width 300 --height 300 --out " + notes.string(), "is not a sarscale synthetic scene"},
      {" predict --archive " + data + " --model " + model + " --output " + notes.string(),
       "it exists and is not a folder"},
      {" predict --scene " + data + " --model " + model + " --output " + notes.string(),
       "is not a sarscale class map"},
      {" predict --archive " + data + " --model " + model + " --output " + d.string(),
       "is not a folder of sarscale predictions"},
      {" pipeline --config " + config + " --train " + (g_dir / "chips").string() + " --out " + notes.string(),
       "it exists and is not a folder"},
      {" pipeline --config " + config + " --train " + (g_dir / "chips").string() + " --out " +
           (g_dir / "chips" / "out").string(),
       "inside the input folder --train"},
  };
  for (const auto& [command, why] : cases) {
    const std::string out = run_expect(sarscale() + command, 2);
    EXPECT_TRUE(has(out, why)) << command << "\n" << out;
  }
  EXPECT_EQ(slurp(notes), "my notes\n");
  EXPECT_FALSE(fs::exists(g_dir / "chips" / "out"));
  // An earlier output of the same command is replaced: synth into its own folder again.
  const fs::path chips = d / "chips";
  for (int k = 0; k < 2; ++k) run_expect(sarscale() + " synth --count 3 --classes 3 --chip-size 32 --out " + chips.string());
  EXPECT_FALSE(fs::exists(chips.string() + ".lock"));
}

INSTANTIATE_TEST_SUITE_P(Ranks, OutputPolicyCli, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& info) { return "np" + std::to_string(info.param); });
