// Operation lists of the features layer's text forms (see text.hpp).
#include "text.hpp"

#include <algorithm>

#include "sarscale/core/error.hpp"

namespace sarscale::features::detail {

void fail_at(const std::string& what, std::string_view text, std::string_view token, const std::string& why) {
  throw ConfigError(what + ": " + why + " at '" + std::string(token) + "' in \"" + std::string(text) + "\"");
}

std::vector<OpText> split_ops(std::string_view text, const std::vector<OpSyntax>& syntaxes, const std::string& what,
                              bool parentheses_required) {
  std::vector<OpText> ops;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(';', pos), text.size());
    OpText op;
    op.item = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (op.item.empty()) continue;
    std::size_t n = 0;
    while (n < op.item.size() && std::isalpha(static_cast<unsigned char>(op.item[n]))) ++n;
    const std::string_view name = op.item.substr(0, n);
    std::string known;
    for (const OpSyntax& s : syntaxes) {
      known += (known.empty() ? "" : ", ") + std::string(s.name);
      if (name == s.name) op.syntax = &s;
    }
    if (!op.syntax) fail_at(what, text, op.item, "unknown operation '" + std::string(name) + "' (known: " + known + ")");
    const std::string_view rest = trim(op.item.substr(n));
    if (rest.empty() && !parentheses_required) {
      ops.push_back(op);
      continue;
    }
    if (rest.size() < 2 || rest.front() != '(' || rest.back() != ')')
      fail_at(what, text, op.item, std::string("expected '(arguments)' after ") + op.syntax->name);
    std::string_view list = trim(rest.substr(1, rest.size() - 2));
    std::size_t positional = 0;
    while (!list.empty()) {
      const std::size_t comma = std::min(list.find(','), list.size());
      const std::string_view arg = trim(list.substr(0, comma));
      list = comma < list.size() ? list.substr(comma + 1) : std::string_view();
      if (arg.empty()) fail_at(what, text, rest, "empty argument");
      const std::size_t eq = arg.find('=');
      std::string key;
      const std::vector<const char*>& keys = op.syntax->keys;
      if (eq == std::string_view::npos) {
        if (positional >= keys.size())
          fail_at(what, text, arg, std::string("too many arguments for ") + op.syntax->name);
        key = keys[positional++];
      } else {
        key = std::string(trim(arg.substr(0, eq)));
        if (std::find_if(keys.begin(), keys.end(), [&](const char* k) { return key == k; }) == keys.end())
          fail_at(what, text, arg, std::string("unknown parameter of ") + op.syntax->name);
      }
      const std::string_view value = trim(eq == std::string_view::npos ? arg : arg.substr(eq + 1));
      if (!op.args.emplace(key, value).second) fail_at(what, text, arg, "repeated parameter");
    }
    ops.push_back(op);
  }
  return ops;
}

}  // namespace sarscale::features::detail
