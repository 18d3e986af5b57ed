#include "sarscale/core/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "sarscale/core/error.hpp"

namespace sarscale::json {

Value& Value::operator[](const std::string& key) {
  if (is_null()) v_ = Object{};
  auto* obj = std::get_if<Object>(&v_);
  if (!obj) throw Error("json: operator[] on a value that is not an object");
  for (auto& [k, v] : *obj)
    if (k == key) return v;
  obj->emplace_back(key, Value());
  return obj->back().second;
}

void Value::push_back(Value v) {
  if (is_null()) v_ = Array{};
  auto* arr = std::get_if<Array>(&v_);
  if (!arr) throw Error("json: push_back on a value that is not an array");
  arr->push_back(std::move(v));
}

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlong forms, no
// surrogates, at most U+10FFFF), or 0 when the byte there does not start one.
std::size_t utf8_sequence(const std::string& s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  const unsigned c = byte(i);
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return byte(k) >= lo && byte(k) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c == 0xE0) return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
  if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xF0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

}  // namespace

// Text is copied as is when it is UTF-8. A byte that is not part of well-formed UTF-8 (file
// names are bytes: a Latin-1 name, say) becomes \udcXX, as Python's "surrogateescape" writes
// it: the output stays valid UTF-8 and the original bytes can be recovered.
std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  char buf[8];
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = utf8_sequence(s, i);
    if (n == 0) {
      std::snprintf(buf, sizeof buf, "\\udc%02x", c);
      out += buf;
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

namespace {
void newline(std::string& out, int indent, int depth) {
  if (indent < 0) return;
  out += '\n';
  out.append(static_cast<size_t>(indent * depth), ' ');
}
}  // namespace

void Value::dump_to(std::string& out, int indent, int depth) const {
  if (std::holds_alternative<std::monostate>(v_)) {
    out += "null";
  } else if (auto* b = std::get_if<bool>(&v_)) {
    out += *b ? "true" : "false";
  } else if (auto* i = std::get_if<std::int64_t>(&v_)) {
    out += std::to_string(*i);
  } else if (auto* d = std::get_if<double>(&v_)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", *d);
      // Shortest form that round-trips keeps the output readable.
      for (int prec = 6; prec < 17; ++prec) {
        char shorter[32];
        std::snprintf(shorter, sizeof shorter, "%.*g", prec, *d);
        if (std::strtod(shorter, nullptr) == *d) {
          std::snprintf(buf, sizeof buf, "%s", shorter);
          break;
        }
      }
      out += buf;
    }
  } else if (auto* s = std::get_if<std::string>(&v_)) {
    out += '"';
    out += escape(*s);
    out += '"';
  } else if (auto* a = std::get_if<Array>(&v_)) {
    out += '[';
    for (size_t k = 0; k < a->size(); ++k) {
      if (k) out += indent < 0 ? ", " : ",";
      newline(out, indent, depth + 1);
      (*a)[k].dump_to(out, indent, depth + 1);
    }
    if (!a->empty()) newline(out, indent, depth);
    out += ']';
  } else if (auto* o = std::get_if<Object>(&v_)) {
    out += '{';
    for (size_t k = 0; k < o->size(); ++k) {
      if (k) out += indent < 0 ? ", " : ",";
      newline(out, indent, depth + 1);
      out += '"';
      out += escape((*o)[k].first);
      out += indent < 0 ? "\": " : "\": ";
      (*o)[k].second.dump_to(out, indent, depth + 1);
    }
    if (!o->empty()) newline(out, indent, depth);
    out += '}';
  }
}

std::string Value::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

}  // namespace sarscale::json
