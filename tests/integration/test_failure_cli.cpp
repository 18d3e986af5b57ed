// One failure path under MPI, end to end (issue 12, items 9 and 10): a disk that fills up on one
// rank only (an LD_PRELOAD write wrapper, tests/support/enospc_preload.c) or on all of them (a real
// 2 MB tmpfs, when the test may mount one), and a job stopped by SIGTERM. Every case must end
// every rank within seconds, with the failing rank's message ("No space left on device" and the
// file), a non-zero exit status, and no MPI_Abort (the ranks agree and end cleanly).
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "test_support.hpp"

namespace fs = std::filesystem;
using sarscale::test::run_command;
using sarscale::test::run_expect;
using sarscale::test::sarscale_mpi;

namespace {

fs::path g_dir;

struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr
  double seconds = 0;
};

// Runs `command` with the write wrapper set up by `env` (VAR=value ...), under a 120 s timeout.
Outcome run_with(const std::string& env, const std::string& command) {
  const auto t0 = std::chrono::steady_clock::now();
  Outcome o;
  o.status = run_command(env + " timeout 120 " + command, &o.output);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

// The environment that fills the disk for writes to `file` after `after` bytes, on `ranks`
// (comma-separated; "" for every rank).
std::string full_disk(const fs::path& file, const std::string& ranks, long long after) {
  return "LD_PRELOAD=" SARSCALE_ENOSPC_PRELOAD " SARSCALE_ENOSPC_PATH=" + file.string() + " SARSCALE_ENOSPC_RANKS=" +
         ranks + " SARSCALE_ENOSPC_AFTER=" + std::to_string(after);
}

// Lines of sarscale's that report an error ("sarscale ingest: error: ...", "sarscale[1]: error: ...").
int error_reports(const std::string& output) {
  int n = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    n += line.rfind("sarscale", 0) == 0 && line.find("error") != std::string::npos ? 1 : 0;
  return n;
}

// The job ended (no timeout: exit 124), with exit status 1, the disk-full message naming `file`
// reported once, in well under a minute, and through the agreed path rather than MPI_Abort.
void expect_disk_full_failure(const Outcome& o, const fs::path& file) {
  EXPECT_EQ(error_reports(o.output), 1) << o.output;
  EXPECT_EQ(o.status, 1) << o.output;
  EXPECT_NE(o.output.find("No space left on device"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find(file.string()), std::string::npos) << o.output;
  EXPECT_LT(o.seconds, 60.0) << o.output;
  EXPECT_EQ(o.output.find("MPI_ABORT"), std::string::npos) << o.output;
  EXPECT_EQ(o.output.find("Segmentation"), std::string::npos) << o.output;
}

class FailureCli : public ::testing::TestWithParam<int> {
 protected:
  static void SetUpTestSuite() {
    g_dir = sarscale::test::scratch_dir("failure_cli_" + std::to_string(getpid()));
    run_expect(sarscale_mpi(2) + " synth --kind chips --out " + (g_dir / "chips").string() +
               " --count 60 --classes 3 --chip-size 64 --seed 1");
    run_expect(sarscale_mpi(2) + " ingest --input " + (g_dir / "chips").string() + " --output " +
               (g_dir / "chips.h5").string() + " --chip-size 64");
    std::ofstream(g_dir / "chain.ini") << "[features]\npreprocess = db(floor=-50)\nblocks = pixels(size=16); stats\n";
    run_expect(sarscale_mpi(2) + " features --archive " + (g_dir / "chips.h5").string() + " --output " +
               (g_dir / "chips.features.h5").string() + " --config " + (g_dir / "chain.ini").string());
  }
  int ranks() const { return GetParam(); }
  fs::path out(const std::string& name) const {
    const fs::path dir = g_dir / ("np" + std::to_string(ranks()));
    fs::create_directories(dir);
    return dir / name;
  }
};

}  // namespace

// Item 9: the pixels of one rank meet a full disk while the others write theirs; before the fix
// rank 0 hung in H5Fclose (the writer's destructor) and the others in MPI_Allreduce.
TEST_P(FailureCli, IngestEndsEveryRankWhenOneRankFindsTheDiskFull) {
  for (const int failing : {0, ranks() - 1}) {
    const fs::path archive = out("ingest." + std::to_string(failing) + ".h5");
    const Outcome o = run_with(full_disk(archive, std::to_string(failing), 100000),
                               sarscale_mpi(ranks()) + " ingest --input " + (g_dir / "chips").string() +
                                   " --output " + archive.string() + " --chip-size 64");
    SCOPED_TRACE("failing rank " + std::to_string(failing));
    expect_disk_full_failure(o, archive);
  }
}

// Feature rows go collectively (MPI-IO picks the ranks that write), so the disk fills for every
// rank: whichever rank meets it, every rank must end.
TEST_P(FailureCli, FeaturesEndEveryRankWhenTheDiskIsFull) {
  const fs::path features = out("features.h5");
  const Outcome o = run_with(full_disk(features, "", 20000),
                             sarscale_mpi(ranks()) + " features --archive " + (g_dir / "chips.h5").string() +
                                 " --output " + features.string() + " --config " + (g_dir / "chain.ini").string());
  expect_disk_full_failure(o, features);
}

// The model is written by rank 0 alone; the other ranks must learn of its failure.
TEST_P(FailureCli, TrainEndsEveryRankWhenRankZeroCannotWriteTheModel) {
  const fs::path model = out("model.h5");
  const Outcome o = run_with(full_disk(model, "0", 2000), sarscale_mpi(ranks()) + " train --features " +
                                                              (g_dir / "chips.features.h5").string() + " --model " +
                                                              model.string() + " --C 4");
  expect_disk_full_failure(o, model);
}

// Item 10: after a write failed on a full disk, HDF5 1.10 keeps the file that failed to close in its
// tables and crashed in H5F__close_cb when MPI_Finalize shut it down (exit status 139).
TEST_P(FailureCli, AFailedCloseDoesNotCrashAtFinalize) {
  const fs::path archive = out("finalize.h5");
  const std::string ingest = " ingest --input " + (g_dir / "chips").string() + " --output " + archive.string() +
                             " --chip-size 64";
  for (const int np : {1, ranks()}) {
    const Outcome o = run_with(full_disk(archive, "", 100000), sarscale_mpi(np) + ingest);
    SCOPED_TRACE(std::to_string(np) + " rank(s)");
    expect_disk_full_failure(o, archive);
  }
}

// A real full file system: a 2 MB tmpfs for an archive of about 1 MB per 60 chips of 128x128 x 2.
TEST_P(FailureCli, IngestIntoAFullTmpfsEndsWithTheMessage) {
  const fs::path mount_point = out("tmpfs");
  fs::create_directories(mount_point);
  if (geteuid() != 0 || mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=2m") != 0)
    GTEST_SKIP() << "cannot mount a 2 MB tmpfs here (needs root): the simulated full disk covers the failure path";
  const fs::path archive = mount_point / "chips.h5";
  const Outcome o =
      run_with("", sarscale_mpi(ranks()) + " ingest --input " + (g_dir / "chips").string() + " --output " +
                       archive.string() + " --chip-size 128");
  // And again, with the damaged output still there (item 10: a segfault in MPI_Finalize).
  const Outcome again =
      run_with("", sarscale_mpi(ranks()) + " ingest --input " + (g_dir / "chips").string() + " --output " +
                       archive.string() + " --chip-size 128");
  umount2(mount_point.c_str(), MNT_DETACH);
  expect_disk_full_failure(o, archive);
  EXPECT_NE(again.status, 0) << again.output;
  EXPECT_NE(again.status, 139) << again.output;
  EXPECT_LT(again.seconds, 60.0) << again.output;
  EXPECT_EQ(again.output.find("Segmentation"), std::string::npos) << again.output;
}

// SIGTERM (scancel, a time limit, mpirun passing on Ctrl-C) while the ranks wait on each other:
// each rank says so, and the job ends at once with a non-zero status.
TEST_P(FailureCli, SigtermEndsTheJobWithAMessage) {
  const fs::path archive = out("stalled.h5"), log = out("stalled.log");
  // The last rank stalls in its first write to the archive, the others wait for it in a collective.
  const std::string env = "LD_PRELOAD=" SARSCALE_ENOSPC_PRELOAD " SARSCALE_STALL_PATH=" + archive.string() +
                          " SARSCALE_ENOSPC_RANKS=" + std::to_string(ranks() - 1);
  const std::string job = "env " + env + " " + sarscale_mpi(ranks()) + " ingest --input " +
                          (g_dir / "chips").string() + " --output " + archive.string() + " --chip-size 64";
  const auto t0 = std::chrono::steady_clock::now();
  // Start the job, wait until the archive exists (the ranks are inside the stage), then SIGTERM
  // every rank (what Slurm does), and collect the job's status (124: it did not end).
  const fs::path script = out("stalled.sh");
  std::ofstream(script) << job << " >" << log.string() << " 2>&1 &\n"
                        << "job=$!\n"
                        << "for i in $(seq 600); do [ -e " << archive.string() << " ] && break; sleep 0.05; done\n"
                        << "sleep 1\n"
                        << "pkill -TERM -P $job\n"
                        << "for i in $(seq 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done\n"
                        << "if kill -0 $job 2>/dev/null; then kill -9 $job; exit 124; fi\n"
                        << "wait $job\n";
  const int status = run_command("bash " + script.string());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream in(log);
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(status, 0) << output;
  EXPECT_NE(status, 124) << "the job did not end after SIGTERM:\n" << output;
  EXPECT_NE(output.find("interrupted (SIGTERM)"), std::string::npos) << output;
  EXPECT_LT(seconds, 60.0) << output;
}

INSTANTIATE_TEST_SUITE_P(Ranks, FailureCli, ::testing::Values(2, 3),
                         [](const ::testing::TestParamInfo<int>& info) { return "np" + std::to_string(info.param); });
