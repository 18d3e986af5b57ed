#pragma once
// A small JSON value (objects keep insertion order) for machine-readable output:
// the ingest summary line, `info --json`, reports. Writing only; numbers that are not
// finite are written as null, as JSON has no NaN.
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace sarscale::json {

class Value {
 public:
  using Array = std::vector<Value>;
  using Object = std::vector<std::pair<std::string, Value>>;

  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  static Value object() { return Value(Object{}); }
  static Value array() { return Value(Array{}); }

  // Object access: appends the key when missing. Throws if not an object.
  Value& operator[](const std::string& key);
  // Array append. Throws if not an array.
  void push_back(Value v);

  bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  // Compact (indent < 0, one line) or pretty output.
  std::string dump(int indent = -1) const;

 private:
  void dump_to(std::string& out, int indent, int depth) const;
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Array, Object> v_;
};

// Escapes a string for inclusion in JSON (without the quotes). The result is always valid UTF-8:
// bytes that are not well-formed UTF-8 (file names are bytes) become \udcXX (Python's
// surrogateescape: json.loads(...).encode("utf-8", "surrogateescape") gives the bytes back).
std::string escape(const std::string& s);

}  // namespace sarscale::json
