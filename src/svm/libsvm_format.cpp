// LIBSVM's text formats (data and C-SVC models). The readers take whole texts (files are read,
// and gunzipped, into memory first; a share of a data file's rows streams through in chunks)
// and walk them line by line with std::from_chars: no locale, no streams, and every refusal
// names the file and line.
#include "sarscale/svm/libsvm_format.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "sarscale/core/error.hpp"

namespace sarscale::svm {

namespace detail {
// Largest rows x dim the readers will densify: a sparse file with a huge index (or a fuzzer's
// input) must give an InputError, not an attempt at terabytes. Tests and the fuzz harness call
// these with a smaller cap (they declare them themselves: this is not public API).
inline constexpr std::int64_t kMaxDenseValues = std::int64_t{1} << 31;
Dataset parse_libsvm_data_capped(std::string_view text, const std::string& where, int min_dim,
                                 std::int64_t max_dense_values);
SvmModel parse_libsvm_model_capped(std::string_view text, const std::string& where, int min_dim,
                                   std::int64_t max_dense_values);
}  // namespace detail

namespace {

// Feature indices above this are refused: no real data set comes near, and dim = max index
// decides the dense allocation.
constexpr std::int64_t kMaxIndex = 10'000'000;

// The element type of the support vectors (double; the code follows the header).
using SvValue = std::remove_cvref_t<decltype(std::declval<SvmModel>().support_vectors)>::value_type;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Lines of a text, numbered from 1; "\r\n" endings leave a '\r' that is_space() swallows.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    std::size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++number_;
    return true;
  }
  std::int64_t number() const { return number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::int64_t number_ = 0;
};

// Next whitespace-separated token of `rest` (consumed); false at the end.
bool next_token(std::string_view& rest, std::string_view& token) {
  std::size_t i = 0;
  while (i < rest.size() && is_space(rest[i])) ++i;
  if (i == rest.size()) {
    rest = {};
    return false;
  }
  std::size_t j = i;
  while (j < rest.size() && !is_space(rest[j])) ++j;
  token = rest.substr(i, j - i);
  rest = rest.substr(j);
  return true;
}

// A token for an error message: quoted, cut at 40 bytes, control and non-ASCII bytes escaped
// (fuzzed or binary input must still give a readable message).
std::string quote(std::string_view token) {
  constexpr std::size_t kShown = 40;
  std::string out = "'";
  for (std::size_t i = 0; i < token.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(token[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (token.size() > kShown) out += "...";
  return out + "'";
}

[[noreturn]] void fail(const std::string& where, std::int64_t line, const std::string& what) {
  throw InputError(where + ":" + std::to_string(line) + ": " + what);
}

// strtod accepts a leading '+' ("+1" labels are everywhere); from_chars does not.
std::string_view strip_plus(std::string_view t) {
  if (t.size() > 1 && t[0] == '+' && t[1] != '+' && t[1] != '-') return t.substr(1);
  return t;
}

enum class Num { ok, bad, not_finite, out_of_range };

// A whole token as a finite number, correctly rounded from the text. Magnitudes too small for
// the type become 0 or a subnormal, as strtod gives; magnitudes too large are refused.
template <typename T>
Num parse_real(std::string_view t, T& v) {
  t = strip_plus(t);
  const char* end = t.data() + t.size();
  const auto r = std::from_chars(t.data(), end, v);
  if (r.ec == std::errc::result_out_of_range && r.ptr == end) {
    long double wide = 0;
    const auto w = std::from_chars(t.data(), end, wide);
    if (w.ec == std::errc() && w.ptr == end && std::isfinite(wide) && std::fabs(wide) < 1) {
      v = static_cast<T>(wide);
      return Num::ok;
    }
    return Num::out_of_range;
  }
  if (r.ec != std::errc() || r.ptr != end || t.empty()) return Num::bad;
  return std::isfinite(v) ? Num::ok : Num::not_finite;
}

// A whole token as an integer of type T ('+' allowed, as %d allows it).
template <typename T>
bool parse_int(std::string_view t, T& v) {
  t = strip_plus(t);
  const char* end = t.data() + t.size();
  const auto r = std::from_chars(t.data(), end, v);
  return r.ec == std::errc() && r.ptr == end && !t.empty();
}

std::string number_problem(Num n, std::string_view token, const char* what) {
  switch (n) {
    case Num::not_finite:
      return std::string(what) + " " + quote(token) + " is not a finite number";
    case Num::out_of_range:
      return std::string(what) + " " + quote(token) + " is out of range";
    default:
      return std::string(what) + " " + quote(token) + " is not a number";
  }
}

// "index:value" with a 1-based index above `previous`; false when the token has no ':'.
template <typename T>
bool parse_pair(std::string_view token, std::int64_t previous, const std::string& where, std::int64_t line,
                std::int64_t& index, T& value) {
  const std::size_t colon = token.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view key = token.substr(0, colon);
  const std::string_view text = token.substr(colon + 1);
  // Digits only (no '+', no spaces; a '-' only to say why it is wrong); leading zeros are fine.
  const bool negative = key.size() > 1 && key[0] == '-';
  const std::string_view digits = negative ? key.substr(1) : key;
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    fail(where, line, "bad feature index in " + quote(token) + " (expected index:value)");
  const std::size_t first = digits.find_first_not_of('0');
  if (negative || first == std::string_view::npos)
    fail(where, line, "feature index in " + quote(token) + " is not positive: indices start at 1");
  if (digits.size() - first > 8 || !parse_int(digits.substr(first), index) || index > kMaxIndex)
    fail(where, line, "feature index in " + quote(token) + " is above the limit " + std::to_string(kMaxIndex));
  if (index <= previous)
    fail(where, line,
         "feature index " + std::to_string(index) + " after " + std::to_string(previous) +
             ": indices must be strictly increasing");
  const Num n = parse_real(text, value);
  if (n != Num::ok) fail(where, line, number_problem(n, text, ("value of feature " + std::to_string(index)).c_str()));
  return true;
}

void check_dense(const std::string& where, std::int64_t rows, std::int64_t dim, std::int64_t max_dense_values,
                 const char* what) {
  if (dim > 0 && rows > max_dense_values / dim)
    throw InputError(where + ": " + std::to_string(rows) + " " + what + " x " + std::to_string(dim) +
                     " features is too large to hold densely (limit " + std::to_string(max_dense_values) + " values)");
}

// The whole file, gunzipped when it is gzip (zlib reads plain files through unchanged).
std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path.string() + ": is a directory, not a file");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw InputError(path.string() + ": cannot open: " + std::strerror(errno));
  gzbuffer(file, 1 << 17);
  std::string text;
  std::size_t used = 0;
  constexpr unsigned kChunk = 1u << 20;
  for (;;) {
    if (text.size() < used + kChunk) text.resize(std::max<std::size_t>(2 * text.size(), used + kChunk));
    const int got = gzread(file, text.data() + used, kChunk);
    if (got > 0) {
      used += static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0) break;
    int code = 0;
    const std::string message = gzerror(file, &code);
    gzclose_r(file);
    if (code == Z_ERRNO) throw IoError(path.string() + ": read failed: " + std::strerror(errno));
    throw InputError(path.string() + ": corrupt or truncated gzip data (" + message + ")");
  }
  // gzread reports a stream cut short only through the close (Z_BUF_ERROR).
  const int closed = gzclose_r(file);
  if (closed == Z_BUF_ERROR) throw InputError(path.string() + ": truncated gzip data (unexpected end of file)");
  if (closed != Z_OK) throw IoError(path.string() + ": read failed (zlib error " + std::to_string(closed) + ")");
  text.resize(used);
  return text;
}

// Calls consume(buffer, last) with the file's (gunzipped) bytes: the unconsumed tail of the last
// call followed by the next chunk; consume returns how many leading bytes it used. `last` marks
// the final call, which must use everything.
template <typename Consume>
void for_each_chunk(const std::filesystem::path& path, Consume consume) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path.string() + ": is a directory, not a file");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw InputError(path.string() + ": cannot open: " + std::strerror(errno));
  struct Closer {
    gzFile f;
    ~Closer() {
      if (f) gzclose_r(f);
    }
  } closer{file};
  gzbuffer(file, 1 << 17);
  constexpr unsigned kChunk = 1u << 20;
  std::string buffer;
  for (;;) {
    const std::size_t kept = buffer.size();
    buffer.resize(kept + kChunk);
    const int got = gzread(file, buffer.data() + kept, kChunk);
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      if (code == Z_ERRNO) throw IoError(path.string() + ": read failed: " + std::strerror(errno));
      throw InputError(path.string() + ": corrupt or truncated gzip data (" + message + ")");
    }
    buffer.resize(kept + static_cast<std::size_t>(got));
    if (got == 0) {
      closer.f = nullptr;
      const int closed = gzclose_r(file);
      if (closed == Z_BUF_ERROR) throw InputError(path.string() + ": truncated gzip data (unexpected end of file)");
      if (closed != Z_OK) throw IoError(path.string() + ": read failed (zlib error " + std::to_string(closed) + ")");
      consume(std::string_view(buffer), true);
      return;
    }
    const std::size_t used = consume(std::string_view(buffer), false);
    buffer.erase(0, used);
  }
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// The shortest text that reads back as exactly `v` (so data survive a write/read round trip
// bit for bit; float32 values come out as their double expansion, e.g. 0.10000000149011612).
void append_shortest(std::string& out, double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// printf("%.<precision>g") in the C locale: to_chars with a precision is specified as exactly that.
void append_g(std::string& out, double v, int precision) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, precision);
  out.append(buf, r.ptr);
}

// ---- model header ----------------------------------------------------------------------------

struct HeaderLine {
  std::int64_t line = 0;
  std::vector<std::string_view> values;
};

// The keywords svm_save_model writes (in its order); values follow on the same line.
enum Key { svm_type, kernel_type, degree, gamma, coef0, nr_class, total_sv, rho, label, prob_a, prob_b, nr_sv, kKeys };
constexpr const char* kKeyNames[kKeys] = {"svm_type", "kernel_type", "degree", "gamma", "coef0", "nr_class",
                                          "total_sv", "rho",         "label",  "probA", "probB", "nr_sv"};

class Header {
 public:
  Header(const std::string& where, std::int64_t sv_line) : where_(where), sv_line_(sv_line) {}
  std::optional<HeaderLine> lines[kKeys];

  bool has(Key k) const { return lines[k].has_value(); }
  const HeaderLine& need(Key k) const {
    if (!lines[k]) fail(where_, sv_line_, std::string("the model header has no '") + kKeyNames[k] + "' line");
    return *lines[k];
  }
  std::string_view one(Key k) const {
    const HeaderLine& h = need(k);
    if (h.values.size() != 1)
      fail(where_, h.line, std::string(kKeyNames[k]) + " needs one value, found " + std::to_string(h.values.size()));
    return h.values[0];
  }
  template <typename T>
  T integer(Key k, T min) const {
    const std::string_view t = one(k);
    T v{};
    if (!parse_int(t, v))
      fail(where_, need(k).line, std::string(kKeyNames[k]) + " " + quote(t) + " is not a 32-bit integer");
    if (v < min)
      fail(where_, need(k).line,
           std::string(kKeyNames[k]) + " " + quote(t) + " must be at least " + std::to_string(min));
    return v;
  }
  double real(Key k) const {
    const std::string_view t = one(k);
    double v = 0;
    const Num n = parse_real(t, v);
    if (n != Num::ok) fail(where_, need(k).line, number_problem(n, t, kKeyNames[k]));
    return v;
  }
  // All values of line k, which must number exactly `count`.
  std::vector<double> reals(Key k, std::int64_t count, const char* count_name) const {
    const HeaderLine& h = need(k);
    check_count(k, count, count_name);
    std::vector<double> out(h.values.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      const Num n = parse_real(h.values[i], out[i]);
      if (n != Num::ok) fail(where_, h.line, number_problem(n, h.values[i], kKeyNames[k]));
    }
    return out;
  }
  std::vector<std::int32_t> ints(Key k, std::int64_t count, const char* count_name) const {
    const HeaderLine& h = need(k);
    check_count(k, count, count_name);
    std::vector<std::int32_t> out(h.values.size());
    for (std::size_t i = 0; i < out.size(); ++i)
      if (!parse_int(h.values[i], out[i]))
        fail(where_, h.line, std::string(kKeyNames[k]) + " " + quote(h.values[i]) + " is not a 32-bit integer");
    return out;
  }

 private:
  void check_count(Key k, std::int64_t count, const char* count_name) const {
    const HeaderLine& h = need(k);
    if (static_cast<std::int64_t>(h.values.size()) != count)
      fail(where_, h.line,
           std::string(kKeyNames[k]) + " has " + std::to_string(h.values.size()) + " values, " + count_name +
               " needs " + std::to_string(count));
  }
  const std::string& where_;
  std::int64_t sv_line_;
};

}  // namespace

// ---- data ------------------------------------------------------------------------------------

namespace {

// The data reader, fed one line at a time (from a whole text or from a file read in chunks).
// Every line is validated and counts towards the dimension; the values of rows `keep` rejects
// are not stored (each rank of a distributed training keeps only its share).
class DataParser {
 public:
  DataParser(std::string where, int min_dim, std::int64_t max_dense_values, const RowFilter& keep)
      : where_(std::move(where)), min_dim_(min_dim), max_dense_values_(max_dense_values), keep_(keep) {
    if (min_dim < 0) throw ConfigError("parse_libsvm_data: min_dim " + std::to_string(min_dim) + " is negative");
  }
  void reserve(std::size_t rows, std::size_t pairs) {
    labels_.reserve(rows);
    row_end_.reserve(rows);
    index_.reserve(pairs);
    value_.reserve(pairs);
  }
  void line(std::string_view line, std::int64_t number) {
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::string_view rest = line, token;
    if (!next_token(rest, token)) return;  // blank or comment-only line
    double label = 0;
    const Num n = parse_real(token, label);
    if (n != Num::ok) fail(where_, number, number_problem(n, token, "label"));
    if (label != std::floor(label) || label < std::numeric_limits<std::int32_t>::min() ||
        label > std::numeric_limits<std::int32_t>::max())
      fail(where_, number, "label " + quote(token) + " is not an integer (only classification data are read)");
    const bool kept = !keep_ || keep_(rows_seen_);
    ++rows_seen_;
    std::int64_t previous = 0;
    while (next_token(rest, token)) {
      if (token.starts_with("qid:")) continue;  // svmlight's query id: irrelevant to classification
      std::int64_t idx = 0;
      double v = 0;
      if (!parse_pair(token, previous, where_, number, idx, v))
        fail(where_, number, "expected index:value, found " + quote(token));
      previous = idx;
      if (v == 0 || !kept) continue;
      index_.push_back(static_cast<std::int32_t>(idx - 1));
      value_.push_back(v);
    }
    max_index_ = std::max(max_index_, previous);
    if (!kept) return;
    labels_.push_back(static_cast<std::int32_t>(label));
    row_end_.push_back(static_cast<std::int64_t>(index_.size()));
  }
  Dataset finish() {
    Dataset data;
    data.rows = static_cast<std::int64_t>(labels_.size());
    data.dim = static_cast<int>(std::max<std::int64_t>(max_index_, min_dim_));
    check_dense(where_, data.rows, data.dim, max_dense_values_, "rows");
    data.x.assign(static_cast<std::size_t>(data.rows) * static_cast<std::size_t>(data.dim), 0.0);
    std::int64_t k = 0;
    for (std::int64_t r = 0; r < data.rows; ++r) {
      double* row = data.x.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(data.dim);
      for (; k < row_end_[static_cast<std::size_t>(r)]; ++k)
        row[index_[static_cast<std::size_t>(k)]] = value_[static_cast<std::size_t>(k)];
    }
    data.labels = std::move(labels_);
    return data;
  }

 private:
  std::string where_;
  int min_dim_;
  std::int64_t max_dense_values_;
  const RowFilter& keep_;
  std::vector<std::int32_t> labels_;
  std::vector<std::int64_t> row_end_;
  std::vector<std::int32_t> index_;
  std::vector<double> value_;
  std::int64_t max_index_ = 0, rows_seen_ = 0;
};

}  // namespace

Dataset detail::parse_libsvm_data_capped(std::string_view text, const std::string& where, int min_dim,
                                         std::int64_t max_dense_values) {
  const RowFilter all;
  DataParser parser(where, min_dim, max_dense_values, all);
  // Exact reservations from a cheap count (lines, ':'), so the parse never reallocates.
  parser.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1,
                 static_cast<std::size_t>(std::count(text.begin(), text.end(), ':')));
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) parser.line(line, lines.number());
  return parser.finish();
}

Dataset parse_libsvm_data(std::string_view text, const std::string& where, int min_dim) {
  return detail::parse_libsvm_data_capped(text, where, min_dim, detail::kMaxDenseValues);
}

Dataset read_libsvm_data(const std::filesystem::path& path, int min_dim, const RowFilter& keep) {
  if (!keep) return parse_libsvm_data(read_text(path), path.string(), min_dim);
  // A share of the rows: the file streams through in chunks, so only the kept rows are held.
  DataParser parser(path.string(), min_dim, detail::kMaxDenseValues, keep);
  std::int64_t number = 0;
  for_each_chunk(path, [&](std::string_view text, bool last) {
    // Complete lines of `text`; returns how many bytes were consumed (the rest waits for more).
    std::size_t pos = 0;
    for (;;) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) {
        if (!last || pos == text.size()) return last ? text.size() : pos;
        end = text.size();
      }
      parser.line(text.substr(pos, end - pos), ++number);
      pos = end + 1;
      if (pos >= text.size()) return text.size();
    }
  });
  return parser.finish();
}

void write_libsvm_data(std::ostream& out, const Dataset& data) {
  if (data.rows < 0 || data.dim < 0 ||
      data.x.size() != static_cast<std::size_t>(data.rows) * static_cast<std::size_t>(data.dim) ||
      data.labels.size() != static_cast<std::size_t>(data.rows))
    throw ConfigError("write_libsvm_data: x and labels do not hold rows x dim values");
  if (data.dim > kMaxIndex)
    throw ConfigError("write_libsvm_data: dim " + std::to_string(data.dim) + " is above the readers' limit " +
                      std::to_string(kMaxIndex));
  std::string buffer;
  for (std::int64_t r = 0; r < data.rows; ++r) {
    append_int(buffer, data.labels[static_cast<std::size_t>(r)]);
    const double* row = data.row(r);
    for (int j = 0; j < data.dim; ++j) {
      if (row[j] == 0) continue;
      if (!std::isfinite(row[j]))
        throw ConfigError("write_libsvm_data: row " + std::to_string(r) + ", feature " + std::to_string(j + 1) +
                          " is not finite");
      buffer += ' ';
      append_int(buffer, j + 1);
      buffer += ':';
      append_shortest(buffer, row[j]);
    }
    buffer += '\n';
    if (buffer.size() > (1u << 16)) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  if (!out) throw IoError("write_libsvm_data: the output stream failed");
}

// ---- models ----------------------------------------------------------------------------------

SvmModel detail::parse_libsvm_model_capped(std::string_view text, const std::string& where, int min_dim,
                                           std::int64_t max_dense_values) {
  if (min_dim < 0) throw ConfigError("parse_libsvm_model: min_dim " + std::to_string(min_dim) + " is negative");
  Lines lines(text);
  std::string_view line, token;

  // Header: "keyword values..." lines up to "SV" (svm_load_model reads tokens freely; we ask
  // for each keyword's values on its own line, which is what svm_save_model writes).
  std::optional<HeaderLine> found[kKeys];
  bool sv_seen = false;
  while (!sv_seen && lines.next(line)) {
    std::string_view rest = line;
    if (!next_token(rest, token)) continue;
    if (token == "SV") {
      if (next_token(rest, token)) fail(where, lines.number(), "unexpected " + quote(token) + " after 'SV'");
      sv_seen = true;
      break;
    }
    const auto* name =
        std::find_if(std::begin(kKeyNames), std::end(kKeyNames), [&](const char* k) { return token == k; });
    if (name == std::end(kKeyNames))
      fail(where, lines.number(), "unknown keyword " + quote(token) + " in the model header");
    const auto key = static_cast<Key>(name - std::begin(kKeyNames));
    if (found[key])
      fail(where, lines.number(),
           std::string("'") + *name + "' given twice (first on line " + std::to_string(found[key]->line) + ")");
    HeaderLine h;
    h.line = lines.number();
    while (next_token(rest, token)) h.values.push_back(token);
    found[key] = std::move(h);
  }
  const std::int64_t header_end = std::max<std::int64_t>(lines.number(), 1);
  if (!sv_seen) fail(where, header_end, "no 'SV' line: the model is truncated or not a LIBSVM model");
  Header header(where, header_end);
  for (int k = 0; k < kKeys; ++k) header.lines[k] = std::move(found[k]);

  const std::string_view type = header.one(svm_type);
  if (type != "c_svc") {
    const bool known = type == "nu_svc" || type == "one_class" || type == "epsilon_svr" || type == "nu_svr";
    fail(where, header.need(svm_type).line,
         std::string(known ? "svm_type " : "unknown svm_type ") + quote(type) + ": only C-SVC models are supported");
  }

  SvmModel model;
  const std::string_view kernel = header.one(kernel_type);
  if (kernel == "linear") {
    model.kernel.type = KernelType::linear;
  } else if (kernel == "polynomial") {
    model.kernel.type = KernelType::polynomial;
  } else if (kernel == "rbf") {
    model.kernel.type = KernelType::rbf;
  } else if (kernel == "sigmoid") {
    model.kernel.type = KernelType::sigmoid;
  } else {
    fail(where, header.need(kernel_type).line,
         std::string(kernel == "precomputed" ? "kernel_type " : "unknown kernel_type ") + quote(kernel) +
             ": only linear, polynomial, rbf and sigmoid kernels are supported");
  }
  // svm_save_model writes exactly the parameters its kernel uses; the others are read if present.
  const KernelType kt = model.kernel.type;
  if (kt == KernelType::polynomial || header.has(degree)) model.kernel.degree = header.integer<int>(degree, 0);
  if (kt != KernelType::linear || header.has(gamma)) {
    model.kernel.gamma = header.real(gamma);
    if (model.kernel.gamma < 0) fail(where, header.need(gamma).line, "gamma must not be negative");
  }
  if (kt == KernelType::polynomial || kt == KernelType::sigmoid || header.has(coef0))
    model.kernel.coef0 = header.real(coef0);

  const auto k = header.integer<std::int32_t>(nr_class, 1);
  const auto l = header.integer<std::int32_t>(total_sv, 0);
  const std::int64_t pairs = std::int64_t{k} * (k - 1) / 2;
  // Counts are checked against the tokens actually present before anything is sized by them.
  model.labels = header.ints(label, k, "nr_class");
  for (std::size_t i = 0; i < model.labels.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (model.labels[i] == model.labels[j])
        fail(where, header.need(label).line, "label " + std::to_string(model.labels[i]) + " appears twice");
  model.rho = header.reals(rho, pairs, "nr_class");
  if (header.has(prob_a) != header.has(prob_b))
    fail(where, header.need(header.has(prob_a) ? prob_a : prob_b).line, "probA and probB must come together");
  if (header.has(prob_a)) {
    model.prob_a = header.reals(prob_a, pairs, "nr_class");
    model.prob_b = header.reals(prob_b, pairs, "nr_class");
  }
  model.sv_count = header.ints(nr_sv, k, "nr_class");
  std::int64_t sum = 0;
  for (const std::int32_t c : model.sv_count) {
    if (c < 0) fail(where, header.need(nr_sv).line, "nr_sv has a negative count");
    sum += c;
  }
  if (sum != l)
    fail(where, header.need(nr_sv).line,
         "nr_sv adds up to " + std::to_string(sum) + " but total_sv is " + std::to_string(l));

  // SV section: one line per support vector, k-1 coefficients then index:value pairs.
  const int m = k - 1;
  std::vector<double> coef;          // per SV, m values
  std::vector<std::int64_t> sv_end;  // per SV, end of its pairs in index/value
  std::vector<std::int32_t> index;
  std::vector<SvValue> value;
  std::int64_t max_index = 0;
  while (lines.next(line)) {
    std::string_view rest = line;
    if (!next_token(rest, token)) continue;
    const auto sv = static_cast<std::int64_t>(sv_end.size());
    if (sv == l)
      fail(where, lines.number(), "more support vectors than total_sv " + std::to_string(l) + " (trailing text?)");
    for (int j = 0; j < m; ++j) {
      if (j > 0 && !next_token(rest, token)) token = {};
      if (token.empty() || token.find(':') != std::string_view::npos)
        fail(where, lines.number(),
             "support vector " + std::to_string(sv + 1) + " has " + std::to_string(j) + " coefficients, nr_class " +
                 std::to_string(k) + " needs " + std::to_string(m));
      double c = 0;
      const Num n = parse_real(token, c);
      if (n != Num::ok) fail(where, lines.number(), number_problem(n, token, "coefficient"));
      coef.push_back(c);
    }
    std::int64_t previous = 0;
    bool first = m > 0 ? next_token(rest, token) : true;  // with k = 1 the first token is a pair already
    for (; first; first = next_token(rest, token)) {
      std::int64_t idx = 0;
      SvValue v = 0;
      if (!parse_pair(token, previous, where, lines.number(), idx, v))
        fail(where, lines.number(),
             "expected index:value, found " + quote(token) + " (more than " + std::to_string(m) + " coefficients?)");
      previous = idx;
      if (v == 0) continue;
      index.push_back(static_cast<std::int32_t>(idx - 1));
      value.push_back(v);
    }
    max_index = std::max(max_index, previous);
    sv_end.push_back(static_cast<std::int64_t>(index.size()));
  }
  if (static_cast<std::int64_t>(sv_end.size()) < l)
    fail(where, std::max<std::int64_t>(lines.number(), 1),
         "truncated model: " + std::to_string(sv_end.size()) + " support vectors, total_sv says " + std::to_string(l));

  model.dim = static_cast<int>(std::max<std::int64_t>(max_index, min_dim));
  check_dense(where, l, model.dim, max_dense_values, "support vectors");
  model.support_vectors.assign(static_cast<std::size_t>(l) * static_cast<std::size_t>(model.dim), SvValue{0});
  model.sv_coef.resize(static_cast<std::size_t>(m) * static_cast<std::size_t>(l));
  std::int64_t p = 0;
  for (std::int64_t i = 0; i < l; ++i) {
    const auto row = static_cast<std::size_t>(i) * static_cast<std::size_t>(model.dim);
    for (; p < sv_end[static_cast<std::size_t>(i)]; ++p)
      model.support_vectors[row + static_cast<std::size_t>(index[static_cast<std::size_t>(p)])] =
          value[static_cast<std::size_t>(p)];
    for (int j = 0; j < m; ++j)
      model.sv_coef[static_cast<std::size_t>(j) * static_cast<std::size_t>(l) + static_cast<std::size_t>(i)] =
          coef[static_cast<std::size_t>(i) * static_cast<std::size_t>(m) + static_cast<std::size_t>(j)];
  }
  return model;
}

SvmModel parse_libsvm_model(std::string_view text, const std::string& where, int min_dim) {
  return detail::parse_libsvm_model_capped(text, where, min_dim, detail::kMaxDenseValues);
}

SvmModel read_libsvm_model(const std::filesystem::path& path, int min_dim) {
  return parse_libsvm_model(read_text(path), path.string(), min_dim);
}

std::string format_libsvm_model(const SvmModel& model) {
  // Sizes first: a bad model must give an error, never a read past an array.
  const auto fault = [](const std::string& what) { throw ConfigError("format_libsvm_model: " + what); };
  const std::int64_t k = model.classes();
  if (k < 1) fault("no classes");
  if (static_cast<std::int64_t>(model.sv_count.size()) != k) fault("sv_count does not have one count per label");
  std::int64_t l = 0;
  for (const std::int32_t c : model.sv_count) {
    if (c < 0) fault("negative sv_count");
    l += c;
  }
  const std::int64_t pairs = k * (k - 1) / 2;
  if (model.dim < 0 || model.dim > kMaxIndex) fault("dim " + std::to_string(model.dim) + " out of range");
  if (model.support_vectors.size() != static_cast<std::size_t>(l) * static_cast<std::size_t>(model.dim))
    fault("support_vectors does not hold total_sv x dim values");
  if (model.sv_coef.size() != static_cast<std::size_t>((k - 1) * l))
    fault("sv_coef does not hold (k-1) x total_sv values");
  if (static_cast<std::int64_t>(model.rho.size()) != pairs) fault("rho does not hold k(k-1)/2 values");
  if (model.prob_a.size() != model.prob_b.size() ||
      (!model.prob_a.empty() && static_cast<std::int64_t>(model.prob_a.size()) != pairs))
    fault("probA and probB must both be empty or both hold k(k-1)/2 values");
  const std::string kernel = to_string(model.kernel.type);
  if (kernel == "?") fault("unknown kernel type");
  const auto all_finite = [](const auto& v) {
    return std::all_of(v.begin(), v.end(), [](auto x) { return std::isfinite(x); });
  };
  if (!all_finite(model.rho) || !all_finite(model.sv_coef) || !all_finite(model.prob_a) || !all_finite(model.prob_b) ||
      !all_finite(model.support_vectors) || !std::isfinite(model.kernel.gamma) || !std::isfinite(model.kernel.coef0))
    fault("the model holds NaN or infinite values");

  // svm_save_model of LIBSVM 3.24, field by field.
  // Sized by the nonzeros, not by dim: support vectors are usually sparse.
  const auto nonzeros = static_cast<std::size_t>(
      std::count_if(model.support_vectors.begin(), model.support_vectors.end(), [](double v) { return v != 0; }));
  std::string out;
  out.reserve(512 + static_cast<std::size_t>(k) * 24 +
              (model.rho.size() + model.prob_a.size() + model.prob_b.size() + model.sv_coef.size()) * 25 +
              nonzeros * 24);
  const KernelType kt = model.kernel.type;
  out += "svm_type c_svc\nkernel_type ";
  out += kernel;
  out += '\n';
  if (kt == KernelType::polynomial) {
    out += "degree ";
    append_int(out, model.kernel.degree);
    out += '\n';
  }
  if (kt != KernelType::linear) {
    out += "gamma ";
    append_g(out, model.kernel.gamma, 17);
    out += '\n';
  }
  if (kt == KernelType::polynomial || kt == KernelType::sigmoid) {
    out += "coef0 ";
    append_g(out, model.kernel.coef0, 17);
    out += '\n';
  }
  out += "nr_class ";
  append_int(out, k);
  out += "\ntotal_sv ";
  append_int(out, l);
  const auto list = [&out](const char* name, const auto& values, bool real) {
    out += name;
    for (const auto v : values) {
      out += ' ';
      if (real)
        append_g(out, static_cast<double>(v), 17);
      else
        append_int(out, static_cast<std::int64_t>(v));
    }
    out += '\n';
  };
  out += '\n';
  list("rho", model.rho, true);
  list("label", model.labels, false);
  if (model.has_probability()) {
    list("probA", model.prob_a, true);
    list("probB", model.prob_b, true);
  }
  list("nr_sv", model.sv_count, false);
  out += "SV\n";
  for (std::int64_t i = 0; i < l; ++i) {
    for (std::int64_t j = 0; j + 1 < k; ++j) {
      append_g(out, model.sv_coef[static_cast<std::size_t>(j * l + i)], 17);
      out += ' ';
    }
    const SvValue* row =
        model.support_vectors.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(model.dim);
    for (int f = 0; f < model.dim; ++f) {
      if (row[f] == 0) continue;
      append_int(out, f + 1);
      out += ':';
      append_g(out, static_cast<double>(row[f]), 8);
      out += ' ';
    }
    out += '\n';
  }
  return out;
}

void write_libsvm_model(const std::filesystem::path& path, const SvmModel& model) {
  const std::string text = format_libsvm_model(model);
  // Written beside the target and renamed over it: a failed write leaves what was there.
  const std::filesystem::path part = path.string() + ".part";
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cannot write " + part.string() + ": " + std::strerror(errno));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  std::error_code ec;
  if (!out) {
    const int err = errno;
    std::filesystem::remove(part, ec);
    throw IoError("writing " + path.string() + " failed: " + std::strerror(err));
  }
  std::filesystem::rename(part, path, ec);
  if (ec) throw IoError("cannot rename " + part.string() + " to " + path.string() + ": " + ec.message());
}

}  // namespace sarscale::svm
