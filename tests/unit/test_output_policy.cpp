// The output policy's pure parts (io/output_policy.hpp): inputs never written over, outputs of
// another kind refused unless --overwrite, folders checked first, atomic writes, locks.
#include "sarscale/io/output_policy.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale::io;

namespace {

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path scratch(const std::string& name) {
  return sarscale::test::scratch_dir("output_policy_" + name + "_" + std::to_string(getpid()));
}

OutputCheck check_of(const fs::path& p, OutputKind kind, bool create_parent = false) {
  return {p, "--output", std::move(kind), create_parent};
}

}  // namespace

TEST(OutputPolicy, AnInputIsNeverWrittenOverWhateverItsSpelling) {
  const fs::path dir = scratch("clash");
  write_text(dir / "data.txt", "1 1:0.5\n");
  fs::create_symlink(dir / "data.txt", dir / "link.txt");
  fs::create_directories(dir / "sub");
  const std::vector<RunInput> inputs = {{dir / "data.txt", "--data", false}};
  // The same file named directly, through "./" and "..", and through a symbolic link.
  for (const fs::path& out : {dir / "data.txt", dir / "." / "data.txt", dir / "sub" / ".." / "data.txt", dir / "link.txt"}) {
    const std::string why = input_clash(out, inputs);
    EXPECT_NE(why.find("it is the input --data " + (dir / "data.txt").string()), std::string::npos) << out << ": " << why;
  }
  EXPECT_EQ(input_clash(dir / "other.txt", inputs), "");
  EXPECT_EQ(input_clash(dir / "data.txt", {}), "");
}

TEST(OutputPolicy, NothingIsWrittenInsideAnInputFolderReadWhole) {
  const fs::path dir = scratch("tree");
  write_text(dir / "chips" / "a" / "1.phx", "x");
  const std::vector<RunInput> tree = {{dir / "chips", "--input", true}};
  EXPECT_NE(input_clash(dir / "chips" / "a" / "new.png", tree).find("inside the input folder --input"), std::string::npos);
  EXPECT_NE(input_clash(dir / "chips" / "new", tree).find("inside the input folder"), std::string::npos);
  EXPECT_NE(input_clash(dir / "chips", tree).find("it is the input"), std::string::npos);
  EXPECT_EQ(input_clash(dir / "chips-out", tree), "");  // a sibling whose name starts alike
  EXPECT_EQ(input_clash(dir / "out" / "x.png", tree), "");
  // A folder that is not read whole (ingest skips its own outputs inside it) only protects its files.
  const std::vector<RunInput> files = {{dir / "chips" / "a" / "1.phx", "--input", false}};
  EXPECT_EQ(input_clash(dir / "chips" / "a" / "new.h5", files), "");
  EXPECT_NE(input_clash(dir / "chips" / "a" / "1.phx", files).find("it is the input"), std::string::npos);
}

TEST(OutputPolicy, TheOutputFolderIsCheckedBeforeAnyWork) {
  const fs::path dir = scratch("folder");
  const OutputKind any{"file", [](const fs::path&) { return true; }, false};
  EXPECT_EQ(folder_problem(check_of(dir / "model.h5", any)), "");
  EXPECT_NE(folder_problem(check_of(dir / "missing" / "model.h5", any)).find("does not exist"), std::string::npos);
  EXPECT_EQ(folder_problem(check_of(dir / "missing" / "deeper" / "model.h5", any, true)), "");
  write_text(dir / "plain", "x");
  EXPECT_NE(folder_problem(check_of(dir / "plain" / "model.h5", any)).find("is not a folder"), std::string::npos);
  EXPECT_NE(folder_problem(check_of(dir / "plain" / "sub" / "model.h5", any, true)).find("cannot be made"),
            std::string::npos);
}

TEST(OutputPolicy, OnlyAnEarlierOutputOfTheSameKindIsReplacedWithoutOverwrite) {
  const fs::path dir = scratch("kind");
  write_text(dir / "notes.txt", "my notes\n");
  write_text(dir / "empty.txt", "");
  write_text(dir / "old.model", "svm_type c_svc\nkernel_type rbf\n");
  write_text(dir / "old.pred", "1\n-1\n");
  write_text(dir / "prob.pred", "labels 1 -1\n1 0.8 0.2\n");
  const OutputKind model = libsvm_model_kind(), pred = libsvm_predictions_kind();
  const std::string refused = kind_problem(check_of(dir / "notes.txt", model), false);
  EXPECT_NE(refused.find("is not a LIBSVM model"), std::string::npos) << refused;
  EXPECT_NE(refused.find("--overwrite"), std::string::npos) << refused;
  EXPECT_EQ(kind_problem(check_of(dir / "notes.txt", model), true), "");
  EXPECT_EQ(kind_problem(check_of(dir / "empty.txt", model), false), "");  // nothing to lose
  EXPECT_EQ(kind_problem(check_of(dir / "old.model", model), false), "");
  EXPECT_EQ(kind_problem(check_of(dir / "absent", model), false), "");
  EXPECT_EQ(kind_problem(check_of(dir / "old.pred", pred), false), "");
  EXPECT_EQ(kind_problem(check_of(dir / "prob.pred", pred), false), "");
  EXPECT_NE(kind_problem(check_of(dir / "old.model", pred), false), "");
  EXPECT_NE(kind_problem(check_of(dir / "notes.txt", pred), false), "");
  // A file where a folder goes, and a folder where a file goes.
  const OutputKind report = folder_kind("report folder", {"report.json"});
  EXPECT_NE(kind_problem(check_of(dir / "notes.txt", report), false).find("not a folder"), std::string::npos);
  EXPECT_NE(kind_problem(check_of(dir, model), false).find("is a folder"), std::string::npos);
  fs::create_directories(dir / "empty_dir");
  fs::create_directories(dir / "report");
  write_text(dir / "report" / "report.json", "{}");
  EXPECT_EQ(kind_problem(check_of(dir / "empty_dir", report), false), "");
  EXPECT_EQ(kind_problem(check_of(dir / "report", report), false), "");
  EXPECT_NE(kind_problem(check_of(dir, report), false).find("is not a report folder"), std::string::npos);
  // All three checks at once name the option and the path first.
  const std::string all = output_problem(check_of(dir / "notes.txt", model), {}, false);
  EXPECT_EQ(all.rfind("--output " + (dir / "notes.txt").string() + ": ", 0), 0u) << all;
}

TEST(OutputPolicy, AtomicWritesLeaveWhatWasThereWhenTheyFail) {
  const fs::path dir = scratch("atomic");
  const fs::path out = dir / "pred.txt";
  write_file_atomically(out, "1\n2\n");
  EXPECT_EQ(read_text(out), "1\n2\n");
  EXPECT_FALSE(fs::exists(partial_path(out)));
  write_file_atomically(out, "3\n");
  EXPECT_EQ(read_text(out), "3\n");
  // The temporary name cannot be written (a folder is in its way): the old content stays.
  fs::create_directories(partial_path(out));
  EXPECT_THROW(write_file_atomically(out, "4\n"), sarscale::IoError);
  EXPECT_EQ(read_text(out), "3\n");
  EXPECT_EQ(partial_path(out), fs::path(out.string() + ".part"));
}

TEST(OutputPolicy, ALockNamesItsHolderAndIsTakenOverWhenTheHolderIsGone) {
  const fs::path dir = scratch("lock");
  const fs::path out = dir / "a.h5";
  std::string problem;
  {
    OutputLock first = OutputLock::acquire(out, "sarscale ingest -o a.h5", problem);
    ASSERT_TRUE(first.held()) << problem;
    EXPECT_EQ(problem, "");
    const std::string text = read_text(lock_path(out));
    EXPECT_NE(text.find(" " + std::to_string(getpid()) + " sarscale ingest -o a.h5"), std::string::npos) << text;
    // A second holder (another open file description: as another process) is refused, by name.
    OutputLock second = OutputLock::acquire(out, "sarscale ingest again", problem);
    EXPECT_FALSE(second.held());
    EXPECT_NE(problem.find("another run is writing it"), std::string::npos) << problem;
    EXPECT_NE(problem.find(std::to_string(getpid()) + " sarscale ingest -o a.h5"), std::string::npos) << problem;
    EXPECT_TRUE(fs::exists(lock_path(out)));  // the refused run left the holder's file alone
  }
  EXPECT_FALSE(fs::exists(lock_path(out)));  // released: removed
  // A lock file whose holder died (its flock went with it) is taken over.
  write_text(lock_path(out), "elsewhere 99999 sarscale train\n");
  OutputLock taken = OutputLock::acquire(out, "sarscale features", problem);
  EXPECT_TRUE(taken.held()) << problem;
  EXPECT_NE(read_text(lock_path(out)).find("sarscale features"), std::string::npos);
}
