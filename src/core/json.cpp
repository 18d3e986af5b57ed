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

std::string escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
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
          char buf[8];
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
