#include "sarscale/app/parse.hpp"

#include <charconv>

#include "sarscale/core/error.hpp"

namespace sarscale::app {

std::pair<int, int> parse_size(const std::string& text, const std::string& option) {
  auto number = [&](std::string_view s) {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v <= 0)
      throw ConfigError(option + ": '" + text + "' is not a size (N or HxW, positive integers)");
    return v;
  };
  const auto x = text.find('x');
  if (x == std::string::npos) {
    const int n = number(text);
    return {n, n};
  }
  return {number(std::string_view(text).substr(0, x)), number(std::string_view(text).substr(x + 1))};
}

std::string join_command_line(const std::string& command, const std::vector<std::string>& args) {
  std::string out = "sarscale " + command;
  for (const auto& a : args) {
    const bool quote = a.find_first_of(" \t'\"*?$") != std::string::npos;
    out += quote ? " '" + a + "'" : " " + a;
  }
  return out;
}

}  // namespace sarscale::app
