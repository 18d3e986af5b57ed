#include "test_support.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "sarscale/core/error.hpp"

namespace sarscale::test {

std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

namespace {
std::string setting(const char* name, const char* fallback) {
  const char* env = std::getenv(name);
  return env && *env ? env : fallback;
}
}  // namespace

void prepare_environment() {
  // Open MPI refuses root unless told; tests run as root in containers and CI.
  if (geteuid() == 0) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
}

std::optional<std::filesystem::path> shared_dir() {
  std::filesystem::path p = setting("SARSCALE_SHARED_DIR", SARSCALE_DEFAULT_SHARED_DIR);
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) return std::nullopt;
  return std::filesystem::canonical(p, ec);
}

namespace {
// Scratch directories of this process, removed at exit unless SARSCALE_KEEP_TEST_FILES is set.
std::vector<std::filesystem::path>& scratch_dirs() {
  static std::vector<std::filesystem::path> dirs;
  return dirs;
}
void remove_scratch_dirs() {
  const char* keep = std::getenv("SARSCALE_KEEP_TEST_FILES");
  if (keep && *keep) return;
  std::error_code ec;
  for (const auto& d : scratch_dirs()) std::filesystem::remove_all(d, ec);
}
}  // namespace

std::filesystem::path scratch_dir(const std::string& name) {
  const char* base = std::getenv("SARSCALE_TEST_TMP");
  std::filesystem::path root = base && *base ? base : std::filesystem::temp_directory_path() / "sarscale-tests";
  // The process id keeps concurrent ctest jobs apart; all ranks of an MPI test must agree on
  // the name, so MPI tests pass a name that is already unique (see mpi_main.cpp).
  std::filesystem::path dir = root / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  if (scratch_dirs().empty()) std::atexit(remove_scratch_dirs);
  scratch_dirs().push_back(dir);
  return dir;
}

std::string sarscale_binary() { return setting("SARSCALE_BINARY", SARSCALE_DEFAULT_BINARY); }

std::string sarscale_mpi(int ranks) {
  return setting("SARSCALE_MPIEXEC", SARSCALE_DEFAULT_MPIEXEC) + " --oversubscribe -np " + std::to_string(ranks) + " " +
         sarscale_binary();
}

std::string run_expect(const std::string& command, int expect) {
  // stdout and stderr apart: mpirun forwards the ranks' streams in chunks, and a stderr line can
  // land inside a long stdout line (a JSON summary) when both go to one pipe.
  char name[] = "/tmp/sarscale-test-stderr-XXXXXX";
  const int fd = mkstemp(name);
  if (fd >= 0) close(fd);
  std::string out;
  const int rc = run_command("(" + command + ") 2>" + name, &out, false);
  std::ifstream in(name);
  const std::string err{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::remove(name);
  EXPECT_EQ(rc, expect) << command << "\n" << out << err;
  return out + err;
}

std::string kill_one_rank_when(const std::string& command, const std::string& ready, int timeout_s) {
  const std::string script = "(exec " + command + ") >/dev/null 2>&1 & job=$!; n=0; " +
                             "until " + ready + "; do " +
                             "  kill -0 $job 2>/dev/null || { wait $job; echo ended; exit 0; }; " +
                             "  n=$((n+1)); [ $n -gt " + std::to_string(timeout_s * 100) +
                             " ] && { kill -9 $job; echo timeout; exit 0; }; sleep 0.01; done; " +
                             "rank=$(pgrep -P $job | sort -n | tail -1); " +
                             "[ -n \"$rank\" ] && kill -9 $rank; wait $job; echo killed";
  std::string out;
  run_command(script, &out);
  const auto end = out.find_last_not_of(" \n");
  const auto start = out.find_last_of('\n', end);
  return out.substr(start == std::string::npos ? 0 : start + 1, end == std::string::npos ? 0 : end - (start == std::string::npos ? 0 : start + 1) + 1);
}

std::string last_json_line(const std::string& output) {
  std::string last;
  std::size_t start = 0;
  while (start < output.size()) {
    const auto end = output.find('\n', start);
    const std::string line = output.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty() && line.front() == '{') last = line;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return last;
}

long long json_int(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": ";
  const auto at = json.find(needle);
  if (at == std::string::npos) return -1;
  return std::strtoll(json.c_str() + at + needle.size(), nullptr, 10);
}

double json_number(const std::string& json, const std::string& key, bool last) {
  const std::string needle = "\"" + key + "\": ";
  const auto at = last ? json.rfind(needle) : json.find(needle);
  if (at == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(json.c_str() + at + needle.size(), nullptr);
}

std::vector<double> json_numbers(const std::string& json, const std::string& key) {
  const std::string needle = "\"" + key + "\": [";
  const auto at = json.find(needle);
  if (at == std::string::npos) return {};
  std::vector<double> out;
  const char* p = json.c_str() + at + needle.size();
  while (*p && *p != ']') {
    char* end = nullptr;
    out.push_back(std::strtod(p, &end));
    if (end == p) return {};  // not a number: not an array of numbers
    p = end;
    while (*p == ',' || *p == ' ') ++p;
  }
  return out;
}

int run_command(const std::string& command, std::string* output, bool merge_stderr) {
  // A process that initialised MPI (a singleton, or one rank of mpirun) carries Open MPI /
  // PMIx variables that make a child mpirun fail silently: drop them for the child.
  static const std::string scrub =
      "for v in $(env | awk -F= '/^(OMPI_|PMIX_|ORTE_|OPAL_)/{print $1}'); do "
      "case $v in OMPI_ALLOW_RUN_AS_ROOT*) ;; *) unset $v;; esac; done; ";
  const std::string full = scrub + "(" + command + ")" + (merge_stderr ? " 2>&1" : "");
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0)
    if (output) output->append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no ConfigError";
}

}  // namespace sarscale::test
