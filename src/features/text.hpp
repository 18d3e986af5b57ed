#pragma once
// Small text helpers shared by the parsers of the features layer (preprocessing chains,
// feature-chain descriptions, augmentation and acquisition-shift specs). Private to the layer:
// not installed.
#include <cctype>
#include <charconv>
#include <map>
#include <string>
#include <string_view>
#include <vector>

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

// The whole token as a number of type T (no sign for unsigned types, no trailing text).
template <typename T>
bool parse_whole(std::string_view token, T& v) {
  const auto res = std::from_chars(token.data(), token.data() + token.size(), v);
  return !token.empty() && res.ec == std::errc() && res.ptr == token.data() + token.size();
}

// An operation's name and its parameters' keys, in positional order.
struct OpSyntax {
  const char* name;
  std::vector<const char*> keys;
};

// One item of an operation list: "name(args)" (or "name" alone when parentheses are optional).
struct OpText {
  std::string_view item;  // the whole item, for messages
  const OpSyntax* syntax = nullptr;
  std::map<std::string, std::string_view> args;  // by key; positional arguments named in order
};

// ConfigError "<what>: <why> at '<token>' in \"<text>\"".
[[noreturn]] void fail_at(const std::string& what, std::string_view text, std::string_view token,
                          const std::string& why);

// Splits "name(a, key=b); name(...)" into its operations: unknown names and keys, too many or
// repeated arguments, empty arguments and missing parentheses (when required) are ConfigErrors
// (fail_at with `what`). Empty items are skipped.
std::vector<OpText> split_ops(std::string_view text, const std::vector<OpSyntax>& syntaxes, const std::string& what,
                              bool parentheses_required);

}  // namespace sarscale::features::detail
