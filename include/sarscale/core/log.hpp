#pragma once
// Minimal leveled logging to stderr, prefixed with the MPI rank the process set at start.
// Thread-safe (one write per message). No MPI calls: the rank is just a number here.
#include <sstream>
#include <string>
#include <string_view>

namespace sarscale::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, quiet = 4 };

void set_level(Level level);
Level level();
Level parse_level(std::string_view name);  // "debug|info|warn|error|quiet"; throws ConfigError
void set_rank(int rank, int size);         // prefix "[r/n]" when size > 1

void write(Level level, std::string_view message);

template <typename... Args>
void emit(Level lvl, const Args&... args) {
  if (lvl < level()) return;
  std::ostringstream os;
  (os << ... << args);
  write(lvl, os.str());
}
template <typename... Args>
void debug(const Args&... a) {
  emit(Level::debug, a...);
}
template <typename... Args>
void info(const Args&... a) {
  emit(Level::info, a...);
}
template <typename... Args>
void warn(const Args&... a) {
  emit(Level::warn, a...);
}
template <typename... Args>
void error(const Args&... a) {
  emit(Level::error, a...);
}

}  // namespace sarscale::log
