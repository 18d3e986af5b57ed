#include "sarscale/core/log.hpp"

#include <atomic>
#include <cstdio>
#include <string>

#include "sarscale/core/error.hpp"

namespace sarscale::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::atomic<int> g_rank{0};
std::atomic<int> g_size{1};

const char* tag(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warning";
    case Level::error:
      return "error";
    default:
      return "";
  }
}
}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "quiet") return Level::quiet;
  throw ConfigError("unknown log level '" + std::string(name) + "' (debug|info|warn|error|quiet)");
}

void set_rank(int rank, int size) {
  g_rank = rank;
  g_size = size;
}

void write(Level lvl, std::string_view message) {
  std::string line = "sarscale";
  if (g_size > 1) line += "[" + std::to_string(g_rank) + "/" + std::to_string(g_size) + "]";
  line += ": ";
  if (lvl != Level::info) line += std::string(tag(lvl)) + ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);  // one call: lines from threads never interleave
}

}  // namespace sarscale::log
