// Killed jobs and resumption, end to end: an MPI job loses one rank to SIGKILL in the middle of
// its work, the same command is run again, and the result must equal an uninterrupted run's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::kill_one_rank_when;
using sarscale::test::last_json_line;
using sarscale::test::run_expect;
using sarscale::test::sarscale_binary;
using sarscale::test::sarscale_mpi;

namespace {

// Two overlapping Gaussian classes in LIBSVM text: many support vectors, several cascade passes.
void write_blobs(const fs::path& path, int rows, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::ofstream out(path);
  for (int r = 0; r < rows; ++r) {
    const int label = r % 2 ? 1 : -1;
    out << label;
    for (int k = 1; k <= 8; ++k) out << ' ' << k << ':' << normal(rng) + (k <= 2 ? 0.9 * label : 0.0);
    out << '\n';
  }
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

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
  std::string predicted[2];
  int k = 0;
  for (const char* m : {"whole.model", "resumed.model"}) {
    run_expect(sarscale_binary() + " predict --data " + (dir / "test.txt").string() + " --model " + (dir / m).string() +
               " --output " + (dir / (std::string(m) + ".out")).string());
    predicted[k++] = slurp(dir / (std::string(m) + ".out"));
  }
  EXPECT_EQ(predicted[0], predicted[1]);
  const auto header_value = [](const std::string& text, const std::string& key) {
    const auto at = text.find("\n" + key + " ");
    return at == std::string::npos ? std::string() : text.substr(at + key.size() + 2, text.find('\n', at + 1) - at - key.size() - 2);
  };
  const std::string a = slurp(dir / "whole.model"), b = slurp(dir / "resumed.model");
  EXPECT_EQ(header_value(a, "total_sv"), header_value(b, "total_sv"));
  EXPECT_NEAR(std::stod(header_value(a, "rho")), std::stod(header_value(b, "rho")), 1e-6);
}
