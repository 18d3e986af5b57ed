#pragma once
// Helpers for tests: where ../shared is, scratch directories, the sarscale binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sarscale::test {

// Called by the test mains before anything else: lets Open MPI run as root.
void prepare_environment();

// ../shared beside the project (SARSCALE_SHARED_DIR), or nullopt when it is absent.
std::optional<std::filesystem::path> shared_dir();

// A path under ../shared, or GTEST_SKIP()s the calling test with a clear message.
#define SARSCALE_REQUIRE_SHARED(var, relative)                                               \
  std::filesystem::path var;                                                                 \
  do {                                                                                       \
    auto sarscale_shared_ = ::sarscale::test::shared_dir();                                  \
    if (!sarscale_shared_ || !std::filesystem::exists(*sarscale_shared_ / (relative)))       \
      GTEST_SKIP() << "../shared/" << (relative)                                             \
                   << " is absent (set SARSCALE_SHARED_DIR); this test needs the real data"; \
    var = *sarscale_shared_ / (relative);                                                    \
  } while (0)

// A fresh, empty directory under the build tree's test scratch area, removed at exit
// unless SARSCALE_KEEP_TEST_FILES is set. `name` keeps concurrent tests apart (ctest runs
// each case as its own process, possibly in parallel: add the pid when a suite shares a name).
std::filesystem::path scratch_dir(const std::string& name);

// The sarscale executable under test (SARSCALE_BINARY), for tests that run the CLI.
std::string sarscale_binary();

// "mpirun --oversubscribe -np N sarscale" (the MPI launcher CMake found), for CLI tests.
std::string sarscale_mpi(int ranks);

// Runs a shell command, returns its exit status; stdout (and stderr when merge_stderr)
// is captured into *output when given.
int run_command(const std::string& command, std::string* output = nullptr, bool merge_stderr = true);

// Runs a command, recording a test failure with its output when the exit status differs
// from `expect`; returns the output (stdout and stderr).
std::string run_expect(const std::string& command, int expect = 0);

// Runs `command` (an mpirun line; its output is discarded) in the background and SIGKILLs one of
// its ranks (the newest child of mpirun) as soon as the shell condition `ready` holds (e.g.
// "test -e out/model.h5.checkpoint"), polled every 10 ms, then waits for the job to end.
// Returns "killed", "ended" (the job finished before `ready` held) or "timeout".
std::string kill_one_rank_when(const std::string& command, const std::string& ready, int timeout_s = 120);

// The message of the ConfigError that `f` throws, or "(no ConfigError)" (for tests of messages).
std::string config_error_of(const std::function<void()>& f);

// The last line of `output` that looks like a JSON object ("" when none).
std::string last_json_line(const std::string& output);

// The integer value of "key": N in a one-line JSON object (-1 when absent).
long long json_int(const std::string& json, const std::string& key);

// The message of the ConfigError that f throws, or "no ConfigError" (other exceptions pass).
std::string message_of(const std::function<void()>& f);
// The number value of "key": X in JSON text, at its first occurrence or, with `last`, its last
// (a top-level key written after nested objects that use the same name); NaN when absent.
double json_number(const std::string& json, const std::string& key, bool last = false);

// The numbers of "key": [a, b, ...] at its first occurrence (empty when absent).
std::vector<double> json_numbers(const std::string& json, const std::string& key);

}  // namespace sarscale::test
