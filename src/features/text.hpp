#pragma once
// Small text helpers shared by the parsers of the features layer (preprocessing chains and
// feature-chain descriptions). Private to the layer: not installed.
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>

namespace sarscale::features::detail {

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Shortest text that reads back as exactly `v` (canonical descriptions compare as strings).
inline std::string format_number(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

}  // namespace sarscale::features::detail
