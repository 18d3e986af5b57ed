// Killed jobs and resumption, end to end: an MPI job loses one rank to SIGKILL in the middle of
// its work, the same command is run again, and the result must equal an uninterrupted run's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "random_data.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::kill_one_rank_when;
using sarscale::test::last_json_line;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::write_blobs;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// h5diff exit status for each dataset: the content written, not attributes (which hold the
// command line, and so the output's own name).
void expect_same_datasets(const fs::path& a, const fs::path& b, const std::vector<std::string>& datasets) {
  for (const auto& d : datasets)
    EXPECT_EQ(sarscale::test::run_command("h5diff " + a.string() + " " + b.string() + " " + d + " " + d), 0)
        << d << " differs between " << a << " and " << b;
}

// The labels `sarscale predict --data` gives the held-out rows DIR/test.txt with DIR/MODEL.
std::string predicted_labels(const fs::path& dir, const std::string& model) {
  const fs::path out = dir / (model + ".out");
  run_expect(sarscale_binary() + " predict --data " + (dir / "test.txt").string() + " --model " +
             (dir / model).string() + " --output " + out.string());
  return slurp(out);
}

const std::vector<std::string> kArchiveDatasets = {"/chips/magnitude", "/chips/phase", "/chips/label",
                                                   "/chips/valid",     "/chips/meta",  "/sources",
                                                   "/rejects",         "/class_names", "/progress/done"};

// Synthetic 64x64 chips, plus one truncated copy (rejected) among them.
fs::path make_chips(const fs::path& dir, int count) {
  run_expect(sarscale_mpi(2) + " synth --out " + (dir / "chips").string() + " --count " + std::to_string(count) +
             " --chip-size 64 --seed 5");
  fs::path first;
  for (const auto& e : fs::recursive_directory_iterator(dir / "chips"))
    if (e.is_regular_file() && (first.empty() || e.path() < first)) first = e.path();
  const fs::path bad = first.parent_path() / ("truncated_" + first.filename().string());
  fs::copy_file(first, bad);
  fs::resize_file(bad, fs::file_size(bad) / 2);
  return dir / "chips";
}

}  // namespace

// ingest: one rank killed after some batches were checkpointed; the archive left behind is
// refused by readers; the rerun (at another rank count) writes only what is missing and gives
// the archive of an uninterrupted run, every input once; a third run has nothing to do.
TEST(ResumeCli, IngestResumesAfterARankIsKilled) {
  const fs::path dir = sarscale::test::scratch_dir("resume_ingest_" + std::to_string(getpid()));
  const fs::path chips = make_chips(dir, 2400);
  const std::string options = " --input " + chips.string() + " --chip-size 64 --batch-mb 1 --checkpoint-seconds 0";
  const std::string whole_json =
      last_json_line(run_expect(sarscale_mpi(2) + " ingest --output " + (dir / "whole.h5").string() + options));
  ASSERT_EQ(sarscale::test::json_int(whole_json, "rejected"), 1) << whole_json;

  const fs::path archive = dir / "resumed.h5", log = dir / "killed.log";
  const std::string ingest = " ingest --output " + archive.string() + options;
  const std::string outcome =
      kill_one_rank_when(sarscale_mpi(2) + ingest + " 2>" + log.string(), "grep -qs 'round 4 ' " + log.string());
  ASSERT_EQ(outcome, "killed") << "the ingest ended before its 4th checkpoint: make the data larger";
  // Half-written under its in-progress name: the archive itself does not exist yet (readers say
  // where the unfinished run is), and readers refuse the in-progress file.
  EXPECT_FALSE(fs::exists(archive));
  const std::string missing = run_expect(sarscale_binary() + " info " + archive.string(), 1);
  EXPECT_NE(missing.find("a run that did not finish left " + archive.string() + ".part"), std::string::npos)
      << missing;
  const std::string info = run_expect(sarscale_binary() + " info " + archive.string() + ".part", 1);
  EXPECT_NE(info.find("incomplete"), std::string::npos) << info;
  EXPECT_NE(info.find(" of 2400 chip slots are on disk: re-run the same command to resume"), std::string::npos) << info;

  const std::string rerun = run_expect(sarscale_mpi(3) + ingest);
  const std::string json = last_json_line(rerun);
  EXPECT_NE(rerun.find("resuming " + archive.string()), std::string::npos) << rerun;
  EXPECT_FALSE(fs::exists(archive.string() + ".part"));  // renamed into place once complete
  EXPECT_GT(sarscale::test::json_int(json, "resumed_chips"), 0) << json;
  EXPECT_LT(sarscale::test::json_int(json, "resumed_chips"), 2400) << json;
  EXPECT_EQ(sarscale::test::json_int(json, "chips"), 2400) << json;
  EXPECT_EQ(sarscale::test::json_int(json, "rejected"), 1) << json;
  EXPECT_EQ(sarscale::test::json_int(json, "ingested") + 1, sarscale::test::json_int(json, "discovered")) << json;
  expect_same_datasets(dir / "whole.h5", archive, kArchiveDatasets);

  // Unchanged inputs and options: nothing to do (and the archive is not touched).
  const auto mtime = fs::last_write_time(archive);
  const std::string again = last_json_line(run_expect(sarscale_mpi(2) + ingest));
  EXPECT_NE(again.find("\"up_to_date\": true"), std::string::npos) << again;
  EXPECT_EQ(sarscale::test::json_int(again, "chips"), 2400) << again;
  EXPECT_EQ(sarscale::test::json_int(again, "rejected"), 1) << again;
  EXPECT_EQ(fs::last_write_time(archive), mtime);
}

// ingest of one scene whose rows of tiles are shared by the ranks: a rank killed after some
// checkpoints; the rerun at another rank count (so other rows per rank) writes only the missing
// slots and gives the archive of an uninterrupted run.
TEST(ResumeCli, SceneIngestResumesAfterARankIsKilled) {
  const fs::path dir = sarscale::test::scratch_dir("resume_scene_ingest_" + std::to_string(getpid()));
  run_expect(sarscale_mpi(2) + " synth --kind scene --out " + (dir / "in" / "scene.tif").string() +
             " --width 4096 --height 2048 --targets 8 --seed 9");
  const std::string options = " --input " + (dir / "in").string() + " --chip-size 64 --batch-mb 1 --checkpoint-seconds 0";
  const std::string whole_json =
      last_json_line(run_expect(sarscale_mpi(2) + " ingest --output " + (dir / "whole.h5").string() + options));
  ASSERT_EQ(sarscale::test::json_int(whole_json, "chips"), 2048) << whole_json;

  const fs::path archive = dir / "resumed.h5", log = dir / "killed.log";
  const std::string ingest = " ingest --output " + archive.string() + options;
  const std::string outcome =
      kill_one_rank_when(sarscale_mpi(2) + ingest + " 2>" + log.string(), "grep -qs 'round 4 ' " + log.string());
  ASSERT_EQ(outcome, "killed") << "the ingest ended before its 4th checkpoint: make the scene larger";
  const std::string json = last_json_line(run_expect(sarscale_mpi(3) + ingest));
  EXPECT_GT(sarscale::test::json_int(json, "resumed_chips"), 0) << json;
  EXPECT_LT(sarscale::test::json_int(json, "resumed_chips"), 2048) << json;
  EXPECT_EQ(sarscale::test::json_int(json, "chips"), 2048) << json;
  // The three ranks read the scene's missing tiles, each once, and nothing else.
  const auto pixels = sarscale::test::json_numbers(json, "scene_pixels_read");
  ASSERT_EQ(pixels.size(), 3u) << json;
  double read = 0;
  for (double px : pixels) read += px;
  EXPECT_EQ(read, (2048.0 - static_cast<double>(sarscale::test::json_int(json, "resumed_chips"))) * 64 * 64) << json;
  std::vector<std::string> datasets = kArchiveDatasets;  // the scene is magnitude alone: no phase dataset
  datasets.erase(std::find(datasets.begin(), datasets.end(), "/chips/phase"));
  expect_same_datasets(dir / "whole.h5", archive, datasets);
}

// ingest over an archive from other options: refused under --refuse-changed, replaced otherwise;
// a damaged (truncated) file is no longer recognisably an archive: refused unless --overwrite
// (the output policy), then replaced, never resumed.
TEST(ResumeCli, IngestReplacesOrRefusesAChangedOrDamagedArchive) {
  const fs::path dir = sarscale::test::scratch_dir("resume_changed_" + std::to_string(getpid()));
  const fs::path chips = make_chips(dir, 200);
  const fs::path archive = dir / "a.h5";
  const std::string base = sarscale_mpi(2) + " ingest --input " + chips.string() + " --output " + archive.string();
  run_expect(base + " --chip-size 64");
  const std::string refused = run_expect(base + " --chip-size 48 --refuse-changed", 2);
  EXPECT_NE(refused.find("was written from other inputs or options"), std::string::npos) << refused;
  const std::string replaced = run_expect(base + " --chip-size 48");
  EXPECT_NE(replaced.find("it is replaced"), std::string::npos) << replaced;
  EXPECT_NE(run_expect(sarscale_binary() + " info " + archive.string()).find("48x48"), std::string::npos);

  fs::resize_file(archive, fs::file_size(archive) / 3);
  const std::string refused_damaged = run_expect(base + " --chip-size 48", 2);
  EXPECT_NE(refused_damaged.find("is not a sarscale archive"), std::string::npos) << refused_damaged;
  const std::string damaged = run_expect(base + " --chip-size 48 --overwrite");
  EXPECT_NE(damaged.find("it is replaced"), std::string::npos) << damaged;
  EXPECT_EQ(sarscale::test::json_int(last_json_line(damaged), "resumed_chips"), 0) << damaged;
  EXPECT_EQ(sarscale::test::json_int(last_json_line(damaged), "chips"), 200) << damaged;
}

// features with a PCA fit and augmentation: one rank killed mid first pass; the rerun computes
// only the missing chips and writes the same rows, flags, source rows and PCA model.
TEST(ResumeCli, FeaturesResumeAfterARankIsKilled) {
  const fs::path dir = sarscale::test::scratch_dir("resume_features_" + std::to_string(getpid()));
  const fs::path chips = make_chips(dir, 1200);
  const fs::path archive = dir / "chips.h5";
  run_expect(sarscale_mpi(2) + " ingest --input " + chips.string() + " --chip-size 64 --output " + archive.string());
  const std::string options = " --archive " + archive.string() +
                              " --preprocess db --blocks 'hog(cell=8,block=2); stats' --fit-pca --pca-components 12"
                              " --augment 'shift(2)' --batch-chips 16 --checkpoint-seconds 0";
  run_expect(sarscale_mpi(2) + " features --output " + (dir / "whole.h5").string() + options);

  const fs::path out = dir / "resumed.h5", log = dir / "killed.log";
  const std::string features = " features --output " + out.string() + options;
  const std::string outcome =
      kill_one_rank_when(sarscale_mpi(2) + features + " 2>" + log.string(), "grep -qs 'round 6 ' " + log.string());
  ASSERT_EQ(outcome, "killed") << "the features run ended before its 6th checkpoint: make the data larger";
  EXPECT_EQ(run_command(sarscale_binary() + " info " + out.string()), 1) << "an incomplete feature file is refused";

  const std::string rerun = run_expect(sarscale_mpi(2) + features);
  const std::string json = last_json_line(rerun);
  EXPECT_GT(sarscale::test::json_int(json, "resumed_chips"), 0) << rerun;
  EXPECT_EQ(sarscale::test::json_int(json, "rows"), 1200) << json;  // the truncated input has no slot
  expect_same_datasets(dir / "whole.h5", out,
                       {"/features", "/raw_features", "/label", "/flag", "/source_row", "/flagged", "/pca/mean",
                        "/pca/scale", "/pca/components", "/pca/eigenvalues"});
  const std::string again = last_json_line(run_expect(sarscale_mpi(2) + features));
  EXPECT_NE(again.find("\"up_to_date\": true"), std::string::npos) << again;
  EXPECT_EQ(sarscale::test::json_int(again, "usable"), sarscale::test::json_int(json, "usable")) << again;
}

// train --cascade: one rank killed after a pass was checkpointed; the rerun continues from the
// checkpoint and writes the model an uninterrupted run writes (same predictions and support
// vectors), and the checkpoint is gone once the model is written.
TEST(ResumeCli, TrainingContinuesAfterARankIsKilledMidCascade) {
  const fs::path dir = sarscale::test::scratch_dir("resume_train_" + std::to_string(getpid()));
  write_blobs(dir / "train.txt", 16000, 1);
  write_blobs(dir / "test.txt", 4000, 2);
  const std::string options = " --C 1 --gamma 0.5 --cascade --gather-below 0 --cascade-tolerance 0 --threads 1";
  run_expect(sarscale_mpi(2) + " train --data " + (dir / "train.txt").string() + " --model " +
             (dir / "whole.model").string() + " --model-format libsvm" + options);

  const fs::path model = dir / "resumed.model", checkpoint = dir / "resumed.model.checkpoint";
  const std::string train = sarscale_mpi(2) + " train --data " + (dir / "train.txt").string() + " --model " +
                            model.string() + " --model-format libsvm" + options;
  // Killed once the cascade's first pass is in the checkpoint ("current_pair" is written then).
  const std::string outcome = kill_one_rank_when(train, "grep -qs current_pair " + checkpoint.string());
  ASSERT_EQ(outcome, "killed") << "the job ended before a pass was checkpointed: make the data larger";
  EXPECT_FALSE(fs::exists(model));
  EXPECT_TRUE(fs::exists(checkpoint));
  const std::string rerun = run_expect(train);
  EXPECT_NE(rerun.find("resuming from " + checkpoint.string()), std::string::npos) << rerun;
  EXPECT_FALSE(fs::exists(checkpoint));

  // The same model: predictions on held-out rows, support vectors and rho.
  EXPECT_EQ(predicted_labels(dir, "whole.model"), predicted_labels(dir, "resumed.model"));
  const auto header_value = [](const std::string& text, const std::string& key) {
    const auto at = text.find("\n" + key + " ");
    return at == std::string::npos ? std::string() : text.substr(at + key.size() + 2, text.find('\n', at + 1) - at - key.size() - 2);
  };
  const std::string a = slurp(dir / "whole.model"), b = slurp(dir / "resumed.model");
  EXPECT_EQ(header_value(a, "total_sv"), header_value(b, "total_sv"));
  EXPECT_NEAR(std::stod(header_value(a, "rho")), std::stod(header_value(b, "rho")), 1e-6);
}

// Every value of "key": N in a JSON line, in order.
std::vector<double> all_numbers(const std::string& json, const std::string& key) {
  std::vector<double> out;
  const std::string needle = "\"" + key + "\": ";
  for (auto at = json.find(needle); at != std::string::npos; at = json.find(needle, at + 1))
    out.push_back(std::stod(json.substr(at + needle.size())));
  return out;
}

// train --grid: one rank killed once the first (point, fold) jobs are checkpointed; the rerun, at
// another rank count, runs only the jobs still missing and ends with the CV table and the model
// of an uninterrupted run; the grid checkpoint files are gone once the model is written.
TEST(ResumeCli, GridSearchContinuesAfterARankIsKilled) {
  const fs::path dir = sarscale::test::scratch_dir("resume_grid_" + std::to_string(getpid()));
  write_blobs(dir / "train.txt", 2400, 4);
  write_blobs(dir / "test.txt", 600, 5);
  const std::string options = " --grid 'C=0.5,2,8 gamma=0.1,0.5' --folds 5 --threads 1";
  const auto train = [&](int np, const std::string& model) {
    return sarscale_mpi(np) + " train --data " + (dir / "train.txt").string() + " --model " + (dir / model).string() +
           options;
  };
  const std::string whole = last_json_line(run_expect(train(2, "whole.h5")));

  const fs::path model = dir / "resumed.h5";
  const std::string outcome =
      kill_one_rank_when(train(2, "resumed.h5"), "ls " + model.string() + ".grid-checkpoint.rank* >/dev/null 2>&1");
  ASSERT_EQ(outcome, "killed") << "the grid search ended before a job was checkpointed: make the data larger";
  EXPECT_FALSE(fs::exists(model));
  const std::string rerun = run_expect(train(3, "resumed.h5"));
  const auto at = rerun.find("resuming the grid search: ");
  ASSERT_NE(at, std::string::npos) << rerun;
  const int done = std::stoi(rerun.substr(at + 26));
  EXPECT_GT(done, 0) << rerun;
  EXPECT_LT(done, 30) << "the kill came after the whole grid: " << rerun;
  EXPECT_NE(rerun.find(" of 30 (point, fold) jobs done"), std::string::npos) << rerun;
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".grid-checkpoint"), std::string::npos) << e.path() << " left behind";

  // The same table (every point's CV accuracy), the same chosen point and the same model.
  const std::string resumed = last_json_line(rerun);
  EXPECT_EQ(all_numbers(resumed, "cv_accuracy"), all_numbers(whole, "cv_accuracy")) << whole << "\n" << resumed;
  EXPECT_EQ(all_numbers(resumed, "C"), all_numbers(whole, "C"));
  EXPECT_EQ(all_numbers(resumed, "gamma"), all_numbers(whole, "gamma"));
  EXPECT_EQ(sarscale::test::json_int(resumed, "total_sv"), sarscale::test::json_int(whole, "total_sv"));
  EXPECT_EQ(predicted_labels(dir, "whole.h5"), predicted_labels(dir, "resumed.h5"));
}

// train: a rerun with the same inputs and options leaves the HDF5 model alone; another option,
// changed training data or --fresh train again.
TEST(ResumeCli, TrainingRerunWithUnchangedInputsDoesNothing) {
  const fs::path dir = sarscale::test::scratch_dir("resume_train_again_" + std::to_string(getpid()));
  write_blobs(dir / "train.txt", 600, 3);
  const fs::path model = dir / "m.h5";
  const std::string train = sarscale_mpi(2) + " train --data " + (dir / "train.txt").string() + " --model " +
                            model.string() + " --gamma 0.5";
  const auto up_to_date = [](const std::string& out) {
    return last_json_line(out).find("\"up_to_date\": true") != std::string::npos;
  };
  EXPECT_FALSE(up_to_date(run_expect(train + " --C 1")));
  const auto written = fs::last_write_time(model);
  const std::string again = run_expect(train + " --C 1 --threads 1");  // threads do not shape the model
  EXPECT_TRUE(up_to_date(again)) << again;
  EXPECT_NE(again.find("nothing to do"), std::string::npos) << again;
  EXPECT_EQ(sarscale::test::json_int(last_json_line(again), "total_sv"),
            sarscale::test::json_int(last_json_line(run_expect(train + " --C 1 --fresh")), "total_sv"));
  EXPECT_NE(fs::last_write_time(model), written);
  EXPECT_FALSE(up_to_date(run_expect(train + " --C 2")));
  write_blobs(dir / "train.txt", 700, 3);  // new data under the same name
  EXPECT_FALSE(up_to_date(run_expect(train + " --C 2")));
}
