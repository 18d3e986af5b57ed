#include "sarscale/app/parse.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

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

namespace {

double parse_number(const std::string& text, const std::string& whole) {
  double v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || res.ec != std::errc() || res.ptr != text.data() + text.size() || !std::isfinite(v))
    throw ConfigError("--roc-log10-pfa '" + whole + "': '" + text + "' is not a number");
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == sep) parts.emplace_back();
    else parts.back() += c;
  }
  return parts;
}

}  // namespace

std::vector<double> parse_roc_thresholds(const std::string& text) {
  std::vector<double> out;
  const auto range = split(text, ':');
  if (range.size() == 1) {
    for (const auto& item : split(text, ',')) out.push_back(parse_number(item, text));
  } else if (range.size() <= 3) {
    const double first = parse_number(range[0], text), last = parse_number(range[1], text);
    const double step = range.size() == 3 ? parse_number(range[2], text) : 1.0;
    if (!(step > 0) || last < first) throw ConfigError("--roc-log10-pfa '" + text + "': need first <= last and step > 0");
    if ((last - first) / step > 1000) throw ConfigError("--roc-log10-pfa '" + text + "': more than 1000 points");
    const auto n = static_cast<long>(std::floor((last - first) / step + 1e-9));
    for (long k = 0; k <= n; ++k) out.push_back(first + static_cast<double>(k) * step);
  } else {
    throw ConfigError("--roc-log10-pfa '" + text + "': give a,b,c or first:last[:step]");
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string join_command_line(const std::string& command, const std::vector<std::string>& args) {
  std::string out = "sarscale " + command;
  for (const auto& a : args) {
    const bool quote = a.find_first_of(" \t'\"*?$") != std::string::npos;
    out += quote ? " '" + a + "'" : " " + a;
  }
  return out;
}

bool parse_chip_on_box(const std::string& text) {
  if (text != "box" && text != "centroid") throw ConfigError("--chip-centre must be box or centroid, not '" + text + "'");
  return text == "box";
}

}  // namespace sarscale::app
