#include "test_support.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

namespace sarscale::test {

std::optional<std::filesystem::path> shared_dir() {
  const char* env = std::getenv("SARSCALE_SHARED_DIR");
  std::filesystem::path p = env && *env ? env : "../shared";
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) return std::nullopt;
  return std::filesystem::canonical(p, ec);
}

std::filesystem::path scratch_dir(const std::string& name) {
  const char* base = std::getenv("SARSCALE_TEST_TMP");
  std::filesystem::path root = base && *base ? base : std::filesystem::temp_directory_path() / "sarscale-tests";
  // The process id keeps concurrent ctest jobs apart; all ranks of an MPI test must agree on
  // the name, so MPI tests pass a name that is already unique (see mpi_main.cpp).
  std::filesystem::path dir = root / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string sarscale_binary() {
  const char* env = std::getenv("SARSCALE_BINARY");
  return env && *env ? env : "sarscale";
}

int run_command(const std::string& command, std::string* output, bool merge_stderr) {
  const std::string full = command + (merge_stderr ? " 2>&1" : "");
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0)
    if (output) output->append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace sarscale::test
