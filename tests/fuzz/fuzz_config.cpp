// libFuzzer harness for the INI config reader (app/options.hpp: `--config FILE.ini`). Each input
// is a config file, read through parse_command as every command reads it, with options of
// every kind the commands declare (text, integers, floating point, switches, lists, defaults,
// a required one). A bad file must be refused with a sarscale::ConfigError; what is accepted
// must give typed values that describe() can print.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "sarscale/app/options.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace {

using namespace sarscale;
using namespace sarscale::app;
namespace po = boost::program_options;

// One in-memory file for the whole run (no disk writes): rewritten for every input and read
// back through its /proc/self/fd path, as a config file is read.
int config_fd() {
  static const int fd = [] {
    const int f = ::memfd_create("sarscale-fuzz-config", 0);
    if (f < 0) throw std::runtime_error("memfd_create failed");
    return f;
  }();
  return fd;
}

void write_config(const std::uint8_t* bytes, std::size_t size) {
  const int fd = config_fd();
  if (::ftruncate(fd, 0) != 0) throw std::runtime_error("ftruncate failed");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, bytes + done, size - done, static_cast<off_t>(done));
    if (n <= 0) throw std::runtime_error("pwrite failed");
    done += static_cast<std::size_t>(n);
  }
}

void parse_as(const std::string& command, const std::vector<std::string>& args) {
  po::options_description desc("fuzz");
  // clang-format off
  desc.add_options()
    ("input,i", po::value<std::vector<std::string>>()->multitoken(), "inputs")
    ("output,o", po::value<std::string>(), "output")
    ("threads", po::value<int>()->default_value(0), "threads")
    ("seed", po::value<std::uint64_t>()->default_value(1), "seed")
    ("count", po::value<std::int64_t>(), "count")
    ("eps", po::value<double>()->default_value(0.001), "tolerance")
    ("strict", po::bool_switch(), "a switch")
    ("shrinking", po::value<int>()->default_value(1), "0 or 1")
    ("grid", po::value<std::string>(), "grid")
    ("tiling", po::value<std::string>()->default_value("auto"), "auto|never|always");
  // clang-format on
  add_resume_options(desc, "archive");
  const CommandLine cl{command, args, false};
  const auto vm = parse_command(cl, "fuzz", desc);
  if (!vm) return;
  for (const auto& line : describe(*vm))
    if (line.empty()) throw std::logic_error("describe() gave an empty line");
  (void)resume_options(*vm);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  write_config(bytes, size);
  const std::string path = "/proc/self/fd/" + std::to_string(config_fd());
  for (const char* command : {"ingest", "train"}) {
    try {
      parse_as(command, {"--config", path, "--log-level", "quiet"});
    } catch (const ConfigError&) {
    }
  }
  log::set_level(log::Level::quiet);
  return 0;
}
