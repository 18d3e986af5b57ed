// Chip preprocessing chain (see preprocess.hpp for the definition of every step).
// Local statistics use separable running sums over a reflect-padded copy, so a window costs O(1) per
// pixel; the median uses nth_element on the window (windows are small).
#include "sarscale/features/preprocess.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>

#include "sarscale/core/error.hpp"
#include "local_stats.hpp"
#include "sarscale/features/segment.hpp"
#include "text.hpp"

namespace sarscale::features {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxWindow = 255;
constexpr double kRayleighCu = 0.5227232008770526;  // sqrt(4/pi - 1): speckle std/mean of 1-look amplitude

struct ParamSpec {
  const char* key;
  double fallback;  // NaN: required
  double lo, hi;    // inclusive range for numbers
  bool integer = false;
  bool odd = false;
  std::vector<std::pair<const char*, double>> words = {};  // named values (printed by name)
  bool numeric = true;                                     // numbers accepted besides the words
  // Printed by describe_chain only when it differs from the default: parameters added after
  // feature files and models were stored, whose canonical text (and fingerprint) must not change.
  bool quiet_default = false;
};

struct StepSpec {
  const char* name;
  std::vector<ParamSpec> params;
  bool square_pair = false;  // one positional value "N" or "NxM" sets the first two parameters
};

const std::vector<StepSpec>& step_specs() {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<const char*, double>> data = {{"amplitude", 0}, {"intensity", 1}};
  static const std::vector<StepSpec> specs = {
      {"db", {{"floor", -60, -1e6, 1e6}, {"scale", 20, 1e-6, 1e6}}},
      {"linear", {}},
      {"percentile", {{"lo", 1, 0, 100}, {"hi", 99, 0, 100}}},
      {"zscore", {}},
      {"crop", {{"rows", nan, 1, 1 << 20, true}, {"cols", nan, 1, 1 << 20, true}}, true},
      {"mean", {{"window", 3, 1, kMaxWindow, true, true}}},
      {"median", {{"window", 3, 1, kMaxWindow, true, true}}},
      {"lee",
       {{"window", 5, 1, kMaxWindow, true, true},
        {"looks", 1, 1e-3, 1e6},
        {"data", 0, 0, 0, true, false, data, false}}},
      {"frost", {{"window", 5, 1, kMaxWindow, true, true}, {"damping", 2, 0, 1e6}}},
      {"equalize", {{"bins", 256, 2, 1 << 16, true}}},
      {"multilook",
       {{"rows", 2, 1, 1 << 20, true},
        {"cols", 2, 1, 1 << 20, true},
        {"mode", 0, 0, 0, true, false, {{"mean", 0}, {"rms", 1}}, false}},
       true},
      {"mask",
       {{"method", 0, 0, 0, true, false, {{"otsu", 0}, {"cfar", 1}}, false},
        {"grow", 2, 0, 1024, true},
        {"reach", 16, 0, 1024, true},
        {"guard", 2, 0, 1024, true},
        {"train", 4, 1, 1024, true},
        {"pfa", 1e-3, 1e-300, 0.999999},
        {"data", 0, 0, 0, true, false, data, false},
        {"fill", -kInf, -1e30, 1e30, false, false, {{"min", -kInf}}, true},
        {"smooth", 1, 1, kMaxWindow, true, true, {}, true, true},
        {"keep", 0, 0, 0, true, false, {{"all", 0}, {"central", 1}}, false, true}}},
      {"power", {{"exponent", 2, 0.05, 20}}},
      {"pose",
       {{"smooth", 5, 1, kMaxWindow, true, true},
        {"turn", 1, 0, 0, true, false, {{"no", 0}, {"yes", 1}}, false, true}}},
      {"scale",
       {{"stat", 0, 0, 0, true, false, {{"mean", 0}, {"median", 1}, {"max", 2}, {"rms", 3}}, false},
        {"over", 0, 0, 0, true, false, {{"all", 0}, {"nonzero", 1}}, false}}},
  };
  return specs;
}

const StepSpec& find_spec(std::string_view name) {
  for (const StepSpec& s : step_specs())
    if (name == s.name) return s;
  throw ConfigError("preprocess chain: unknown step '" + std::string(name) +
                    "' (known: db, linear, percentile, zscore, crop, mean, median, lee, frost, equalize, "
                    "multilook, mask, power, pose, scale)");
}

const ParamSpec* find_param(const StepSpec& spec, std::string_view key) {
  for (const ParamSpec& p : spec.params)
    if (key == p.key) return &p;
  return nullptr;
}

using detail::box_sum;
using detail::format_number;
using detail::reflect;
using detail::trim;

double parse_value(const StepSpec& step, const ParamSpec& p, std::string_view token) {
  for (const auto& [word, value] : p.words)
    if (token == word) return value;
  double v = 0;
  auto res = std::from_chars(token.data(), token.data() + token.size(), v);
  if (!p.numeric || token.empty() || res.ec != std::errc() || res.ptr != token.data() + token.size() ||
      !std::isfinite(v)) {
    std::string expected;
    for (const auto& w : p.words) expected += (expected.empty() ? "" : "|") + std::string(w.first);
    if (p.numeric) expected += expected.empty() ? "a finite number" : " or a finite number";
    throw ConfigError("preprocess chain: bad value '" + std::string(token) + "' for " + step.name + "." + p.key +
                      " (expected " + expected + ")");
  }
  return v;
}

// Fills defaults and checks names and ranges. Throws ConfigError naming the step and key.
PreprocessStep normalise(const PreprocessStep& in) {
  const StepSpec& spec = find_spec(in.name);
  PreprocessStep out{in.name, {}};
  for (const auto& [key, value] : in.params)
    if (!find_param(spec, key))
      throw ConfigError("preprocess chain: unknown parameter '" + key + "' of step " + in.name);
  for (const ParamSpec& p : spec.params) {
    auto it = in.params.find(p.key);
    if (it == in.params.end()) {
      if (std::isnan(p.fallback))
        throw ConfigError("preprocess chain: step " + in.name + " needs parameter '" + p.key + "'");
      out.params[p.key] = p.fallback;
      continue;
    }
    const double v = it->second;
    bool is_word = false;
    for (const auto& w : p.words) is_word |= (v == w.second);
    const bool ok = is_word || (p.numeric && std::isfinite(v) && v >= p.lo && v <= p.hi &&
                                (!p.integer || v == std::floor(v)) && (!p.odd || std::fmod(v, 2) == 1));
    if (!ok)
      throw ConfigError("preprocess chain: " + in.name + "." + p.key + "=" + format_number(v) + " is out of range [" +
                        format_number(p.lo) + ", " + format_number(p.hi) + "]" + (p.integer ? ", integer" : "") +
                        (p.odd ? ", odd" : ""));
    out.params[p.key] = v;
  }
  if (in.name == "percentile" && !(out.params["lo"] < out.params["hi"]))
    throw ConfigError("preprocess chain: percentile needs lo < hi, got lo=" + format_number(out.params["lo"]) +
                      ", hi=" + format_number(out.params["hi"]));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Numerical helpers.

// Local mean and (population) variance over a w x w window. The global mean is subtracted first so
// the variance of flat regions does not drown in cancellation.
void local_moments(const float* in, int rows, int cols, int w, std::vector<double>& mean, std::vector<double>& var,
                   std::vector<double>& tmp) {
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  double offset = 0;
  for (std::size_t i = 0; i < n; ++i) offset += in[i];
  offset /= static_cast<double>(n);
  mean.resize(n);
  var.resize(n);
  std::vector<double>& centred = mean;  // reused: box_sum reads src fully into tmp before writing dst
  for (std::size_t i = 0; i < n; ++i) centred[i] = in[i] - offset;
  for (std::size_t i = 0; i < n; ++i) var[i] = centred[i] * centred[i];
  const double area = static_cast<double>(w) * w;
  box_sum(var.data(), rows, cols, w / 2, var.data(), tmp);
  box_sum(centred.data(), rows, cols, w / 2, mean.data(), tmp);
  for (std::size_t i = 0; i < n; ++i) {
    const double m = mean[i] / area;
    var[i] = std::max(0.0, var[i] / area - m * m);
    mean[i] = m + offset;
  }
}

}  // namespace

double otsu_threshold(const float* values, std::size_t count, int bins) {
  if (count == 0) throw ConfigError("otsu_threshold: no values");
  if (bins < 2) throw ConfigError("otsu_threshold: bins must be >= 2");
  const auto [lo_it, hi_it] = std::minmax_element(values, values + count);
  const double lo = *lo_it, hi = *hi_it;
  if (lo == hi) return lo;
  std::vector<double> hist(bins, 0.0), centres(bins), top(bins, -kInf);
  const double width = (hi - lo) / bins;
  for (std::size_t i = 0; i < count; ++i) {
    const int b = std::clamp(static_cast<int>((values[i] - lo) / (hi - lo) * bins), 0, bins - 1);
    hist[b] += 1;
    top[b] = std::max(top[b], static_cast<double>(values[i]));
  }
  for (int b = 0; b < bins; ++b) centres[b] = lo + (b + 0.5) * width;
  // skimage: variance12 = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:])**2, first argmax.
  std::vector<double> w2(bins), m2(bins);
  double acc_w = 0, acc_m = 0;
  for (int b = bins - 1; b >= 0; --b) {
    acc_w += hist[b];
    acc_m += hist[b] * centres[b];
    w2[b] = acc_w;
    m2[b] = acc_w > 0 ? acc_m / acc_w : 0;
  }
  double w1 = 0, s1 = 0, best = -1;
  int best_bin = 0;
  for (int b = 0; b + 1 < bins; ++b) {
    w1 += hist[b];
    s1 += hist[b] * centres[b];
    const double m1 = w1 > 0 ? s1 / w1 : 0;
    const double v = w1 * w2[b + 1] * (m1 - m2[b + 1]) * (m1 - m2[b + 1]);
    if (v > best) {
      best = v;
      best_bin = b;
    }
  }
  // The largest value of the lower class: skimage returns the bin centre, which lies below the values
  // in the upper half of that bin and would move them to the bright class.
  return *std::max_element(top.begin(), top.begin() + best_bin + 1);
}

std::vector<PreprocessStep> parse_chain(std::string_view text) {
  std::vector<PreprocessStep> chain;
  std::size_t pos = 0;
  const auto fail = [&](std::string_view token, const std::string& why) {
    throw ConfigError("preprocess chain: " + why + " at '" + std::string(token) + "' in \"" + std::string(text) + "\"");
  };
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(';', pos), text.size());
    std::string_view item = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (item.empty()) continue;
    std::size_t n = 0;
    while (n < item.size() && (std::isalnum(static_cast<unsigned char>(item[n])) || item[n] == '_')) ++n;
    const std::string_view name = item.substr(0, n);
    if (name.empty()) fail(item, "expected a step name");
    const StepSpec& spec = find_spec(name);
    PreprocessStep step{std::string(name), {}};
    std::string_view rest = trim(item.substr(n));
    if (!rest.empty()) {
      if (rest.front() != '(' || rest.back() != ')') fail(rest, "expected '(arguments)' after " + std::string(name));
      std::string_view args = trim(rest.substr(1, rest.size() - 2));
      std::size_t positional = 0;
      while (!args.empty()) {
        const std::size_t comma = std::min(args.find(','), args.size());
        const std::string_view arg = trim(args.substr(0, comma));
        args = comma < args.size() ? args.substr(comma + 1) : std::string_view();
        if (arg.empty()) fail(rest, "empty argument");
        const std::size_t eq = arg.find('=');
        if (eq != std::string_view::npos) {
          const std::string_view key = trim(arg.substr(0, eq));
          const ParamSpec* p = find_param(spec, key);
          if (!p) fail(arg, "unknown parameter of " + std::string(name));
          if (step.params.count(std::string(key))) fail(arg, "repeated parameter");
          step.params[std::string(key)] = parse_value(spec, *p, trim(arg.substr(eq + 1)));
          continue;
        }
        if (spec.square_pair && positional == 0 && arg.find('x') != std::string_view::npos) {  // "88x64"
          const std::size_t x = arg.find('x');
          step.params[spec.params[0].key] = parse_value(spec, spec.params[0], trim(arg.substr(0, x)));
          step.params[spec.params[1].key] = parse_value(spec, spec.params[1], trim(arg.substr(x + 1)));
          positional = 2;
          continue;
        }
        if (positional >= spec.params.size()) fail(arg, "too many arguments for " + std::string(name));
        const char* key = spec.params[positional].key;
        if (step.params.count(key)) fail(arg, "repeated parameter");
        step.params[key] = parse_value(spec, spec.params[positional], arg);
        ++positional;
      }
      // "crop(88)" is 88x88 unless the second size is given by name.
      if (spec.square_pair && positional == 1 && !step.params.count(spec.params[1].key))
        step.params[spec.params[1].key] = step.params[spec.params[0].key];
    }
    chain.push_back(normalise(step));
  }
  return chain;
}

std::string describe_chain(const std::vector<PreprocessStep>& chain) {
  std::string out;
  for (const PreprocessStep& step : chain) {
    const StepSpec& spec = find_spec(step.name);
    if (!out.empty()) out += "; ";
    out += step.name;
    if (spec.params.empty()) continue;
    std::string args;
    for (const ParamSpec& p : spec.params) {
      auto it = step.params.find(p.key);
      if (it == step.params.end() || (p.quiet_default && it->second == p.fallback)) continue;
      std::string value = format_number(it->second);
      for (const auto& w : p.words)
        if (it->second == w.second) value = w.first;
      args += (args.empty() ? "" : ", ") + std::string(p.key) + "=" + value;
    }
    out += "(" + args + ")";
  }
  return out;
}

Preprocessor::Preprocessor(std::vector<PreprocessStep> chain, int rows, int cols)
    : rows_(rows), cols_(cols), out_rows_(rows), out_cols_(cols) {
  if (rows < 1 || cols < 1)
    throw ConfigError("preprocess: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
  for (const PreprocessStep& step : chain) {
    PreprocessStep s = normalise(step);
    if (s.name == "crop" || s.name == "multilook") {
      const int r = static_cast<int>(s.params.at("rows")), c = static_cast<int>(s.params.at("cols"));
      if (r > out_rows_ || c > out_cols_)
        throw ConfigError("preprocess: " + describe_chain({s}) + " does not fit a " + std::to_string(out_rows_) + "x" +
                          std::to_string(out_cols_) + " image");
      out_rows_ = s.name == "crop" ? r : out_rows_ / r;
      out_cols_ = s.name == "crop" ? c : out_cols_ / c;
    }
    chain_.push_back(std::move(s));
  }
  a_.resize(static_cast<std::size_t>(rows) * cols);
  b_.resize(a_.size());
}

namespace {

struct Scratch {
  std::vector<double>& s1;
  std::vector<double>& s2;
  std::vector<double>& s3;
  std::vector<unsigned char>& m1;
  std::vector<unsigned char>& m2;
  SegmentScratch& segment;
  std::optional<std::array<double, 2>>& pose_centre;  // where the last pose step found the target
};

SegmentParams segment_params(const std::map<std::string, double>& p) {
  SegmentParams sp;
  sp.method = p.at("method") == 0 ? SegmentParams::Method::otsu : SegmentParams::Method::cfar;
  sp.grow = static_cast<int>(p.at("grow"));
  sp.reach = static_cast<int>(p.at("reach"));
  sp.guard = static_cast<int>(p.at("guard"));
  sp.train = static_cast<int>(p.at("train"));
  sp.pfa = p.at("pfa");
  sp.amplitude = p.at("data") == 0;
  sp.smooth = static_cast<int>(p.at("smooth"));
  sp.central = p.at("keep") == 1;
  return sp;
}

// Resamples the chip so that the target's centroid lands on the chip centre and its major axis
// on the row axis: out(r, c) = in(centroid + dr u + dc u_perp), bilinear, edge-clamped, with
// (dr, dc) the offset from the centre and u the axis direction.
void rotate_to_pose(const float* in, int rows, int cols, const TargetPose& pose, float* out) {
  const double ca = std::cos(pose.angle), sa = std::sin(pose.angle);
  const double r0 = (rows - 1) / 2.0, c0 = (cols - 1) / 2.0;
  const auto at = [&](int r, int c) {
    return static_cast<double>(in[static_cast<std::size_t>(std::clamp(r, 0, rows - 1)) * cols + std::clamp(c, 0, cols - 1)]);
  };
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const double dr = r - r0, dc = c - c0;
      const double y = pose.row + dr * ca - dc * sa, x = pose.col + dr * sa + dc * ca;
      const double fy = std::floor(y), fx = std::floor(x), wy = y - fy, wx = x - fx;
      const int iy = static_cast<int>(fy), ix = static_cast<int>(fx);
      const double v = (1 - wy) * ((1 - wx) * at(iy, ix) + wx * at(iy, ix + 1)) +
                       wy * ((1 - wx) * at(iy + 1, ix) + wx * at(iy + 1, ix + 1));
      out[static_cast<std::size_t>(r) * cols + c] = static_cast<float>(v);
    }
}

// The statistic `scale` divides by: over every pixel, or over the non-zero ones (after a mask with
// fill=0 these are the target and its shadow).
double scale_statistic(const float* in, std::size_t n, const std::map<std::string, double>& p,
                       std::vector<double>& values) {
  const bool nonzero = p.at("over") == 1;
  const int stat = static_cast<int>(p.at("stat"));
  if (stat == 1) {  // median (upper median for an even count)
    values.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (!nonzero || in[i] != 0.0f) values.push_back(std::fabs(static_cast<double>(in[i])));
    if (values.empty()) return 0.0;
    auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
    std::nth_element(values.begin(), mid, values.end());
    return *mid;
  }
  double acc = 0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (nonzero && in[i] == 0.0f) continue;
    const double v = std::fabs(static_cast<double>(in[i]));
    acc = stat == 2 ? std::max(acc, v) : acc + (stat == 3 ? v * v : v);
    ++count;
  }
  if (count == 0 || stat == 2) return acc;
  const double mean = acc / static_cast<double>(count);
  return stat == 3 ? std::sqrt(mean) : mean;
}

std::string constant_reason(const char* step, double value) {
  return std::string(step) + ": chip is constant (value " + format_number(value) + ")";
}

// Applies one step; `rows`/`cols` are updated for size-changing steps. Returns "" or a reason.
std::string apply_step(const PreprocessStep& step, const float* in, int& rows, int& cols, float* out, Scratch& s) {
  const auto& p = step.params;
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  const std::string& name = step.name;
  if (name == "db") {
    const double floor = p.at("floor"), scale = p.at("scale");
    for (std::size_t i = 0; i < n; ++i) {
      const double a = std::fabs(static_cast<double>(in[i]));
      out[i] = static_cast<float>(a > 0 ? std::max(floor, scale * std::log10(a)) : floor);
    }
    return "";
  }
  if (name == "linear" || name == "zscore" || name == "percentile") {
    const auto [lo_it, hi_it] = std::minmax_element(in, in + n);
    if (*lo_it == *hi_it) return constant_reason(name.c_str(), *lo_it);
    double lo = *lo_it, hi = *hi_it;
    if (name == "zscore") {
      double mean = 0;
      for (std::size_t i = 0; i < n; ++i) mean += in[i];
      mean /= static_cast<double>(n);
      double ss = 0;
      for (std::size_t i = 0; i < n; ++i) ss += (in[i] - mean) * (in[i] - mean);
      const double sd = std::sqrt(ss / static_cast<double>(n));
      if (!(sd > 0)) return constant_reason(name.c_str(), mean);
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>((in[i] - mean) / sd);
      return "";
    }
    if (name == "percentile") {
      s.s1.assign(in, in + n);
      std::sort(s.s1.begin(), s.s1.end());
      const auto percentile = [&](double q) {
        const double idx = q / 100.0 * static_cast<double>(n - 1);
        const std::size_t k = static_cast<std::size_t>(idx);
        const double frac = idx - static_cast<double>(k);
        return k + 1 < n ? s.s1[k] + frac * (s.s1[k + 1] - s.s1[k]) : s.s1[k];
      };
      lo = percentile(p.at("lo"));
      hi = percentile(p.at("hi"));
      if (lo == hi) {  // the limit of the mapping as the range closes
        for (std::size_t i = 0; i < n; ++i) out[i] = in[i] > hi ? 1.0f : 0.0f;
        return "";
      }
    }
    for (std::size_t i = 0; i < n; ++i)
      out[i] = static_cast<float>((std::clamp<double>(in[i], lo, hi) - lo) / (hi - lo));
    return "";
  }
  if (name == "crop") {
    const int r = static_cast<int>(p.at("rows")), c = static_cast<int>(p.at("cols"));
    const int r0 = (rows - r) / 2, c0 = (cols - c) / 2;
    for (int i = 0; i < r; ++i)
      std::copy_n(in + static_cast<std::size_t>(r0 + i) * cols + c0, c, out + static_cast<std::size_t>(i) * c);
    rows = r;
    cols = c;
    return "";
  }
  if (name == "multilook") {
    const int a = static_cast<int>(p.at("rows")), b = static_cast<int>(p.at("cols"));
    const bool rms = p.at("mode") == 1;
    const int orows = rows / a, ocols = cols / b;
    for (int i = 0; i < orows; ++i)
      for (int j = 0; j < ocols; ++j) {
        double acc = 0;
        for (int u = 0; u < a; ++u)
          for (int v = 0; v < b; ++v) {
            const double x = in[static_cast<std::size_t>(i * a + u) * cols + j * b + v];
            acc += rms ? x * x : x;
          }
        acc /= static_cast<double>(a) * b;
        out[static_cast<std::size_t>(i) * ocols + j] = static_cast<float>(rms ? std::sqrt(acc) : acc);
      }
    rows = orows;
    cols = ocols;
    return "";
  }
  if (name == "mean" || name == "lee") {
    const int w = static_cast<int>(p.at("window"));
    local_moments(in, rows, cols, w, s.s1, s.s2, s.s3);
    if (name == "mean") {
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(s.s1[i]);
      return "";
    }
    const double looks = p.at("looks");
    const double cu = (p.at("data") == 1 ? 1.0 : kRayleighCu) / std::sqrt(looks);
    const double cu2 = cu * cu;
    for (std::size_t i = 0; i < n; ++i) {
      const double m = s.s1[i], v = s.s2[i];
      // Cu^2 / Ci^2 = Cu^2 m^2 / v, written so that m = 0 needs no division by m.
      const double k = v > 0 ? std::max(0.0, (1.0 - cu2 * m * m / v) / (1.0 + cu2)) : 0.0;
      out[i] = static_cast<float>(m + k * (in[i] - m));
    }
    return "";
  }
  if (name == "median" || name == "frost") {
    const int w = static_cast<int>(p.at("window")), h = w / 2;
    const int pc = cols + 2 * h;
    s.s3.resize(static_cast<std::size_t>(rows + 2 * h) * pc);
    for (int i = -h; i < rows + h; ++i)
      for (int j = -h; j < cols + h; ++j)
        s.s3[static_cast<std::size_t>(i + h) * pc + j + h] =
            in[static_cast<std::size_t>(reflect(i, rows)) * cols + reflect(j, cols)];
    const double* pad = s.s3.data();
    if (name == "median") {
      // A sorted copy of the window slides along each row: w removals and w insertions per step
      // instead of a selection over w*w values.
      std::vector<float> window;
      window.reserve(static_cast<std::size_t>(w) * w);
      const std::size_t mid = static_cast<std::size_t>(w) * w / 2;
      for (int i = 0; i < rows; ++i) {
        window.clear();
        for (int u = 0; u < w; ++u)
          for (int v = 0; v < w; ++v)
            window.push_back(static_cast<float>(pad[static_cast<std::size_t>(i + u) * pc + v]));
        std::sort(window.begin(), window.end());
        for (int j = 0; j < cols; ++j) {
          if (j > 0)
            for (int u = 0; u < w; ++u) {
              const double* row = pad + static_cast<std::size_t>(i + u) * pc;
              // Replace `outgoing` by `incoming` in the sorted window. Positions by counting (branch-free,
              // vectorisable): the comparisons of a binary search on speckle are unpredictable.
              const float outgoing = static_cast<float>(row[j - 1]);
              const float incoming = static_cast<float>(row[j + w - 1]);
              std::ptrdiff_t out_at = 0, in_at = 0;
              for (float x : window) {
                out_at += x < outgoing;
                in_at += x <= incoming;
              }
              in_at -= outgoing <= incoming;  // position among the values that stay
              float* sorted = window.data();
              if (in_at >= out_at) {
                std::copy(sorted + out_at + 1, sorted + in_at + 1, sorted + out_at);
              } else {
                std::copy_backward(sorted + in_at, sorted + out_at, sorted + out_at + 1);
              }
              sorted[in_at] = incoming;
            }
          out[static_cast<std::size_t>(i) * cols + j] = window[mid];
        }
      }
      return "";
    }
    std::vector<double> mean, var;  // moments of the window (Frost's Ci)
    local_moments(in, rows, cols, w, mean, var, s.s2);
    // The weight depends on the distance only: sum the pixels per distinct distance, then one exp each.
    std::vector<double> class_dist;
    std::vector<int> class_of(static_cast<std::size_t>(w) * w), class_count;
    for (int u = 0; u < w; ++u)
      for (int v = 0; v < w; ++v) {
        const double d = std::hypot(u - h, v - h);
        const auto it = std::find(class_dist.begin(), class_dist.end(), d);
        class_of[static_cast<std::size_t>(u) * w + v] = static_cast<int>(it - class_dist.begin());
        if (it == class_dist.end()) {
          class_dist.push_back(d);
          class_count.push_back(0);
        }
        ++class_count[class_of[static_cast<std::size_t>(u) * w + v]];
      }
    std::vector<double> class_sum(class_dist.size());
    const double damping = p.at("damping");
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) {
        const std::size_t c = static_cast<std::size_t>(i) * cols + j;
        const double m = mean[c], v = var[c];
        const double ci2 = v > 0 ? (m != 0 ? v / (m * m) : kInf) : 0.0;
        std::fill(class_sum.begin(), class_sum.end(), 0.0);
        for (int u = 0; u < w; ++u)
          for (int t = 0; t < w; ++t)
            class_sum[class_of[static_cast<std::size_t>(u) * w + t]] +=
                pad[static_cast<std::size_t>(i + u) * pc + j + t];
        double sw = 0, swx = 0;
        for (std::size_t k = 0; k < class_dist.size(); ++k) {
          // The centre weight is 1 and damping 0 means a plain mean (both avoid inf * 0).
          const double wt = (class_dist[k] == 0 || damping == 0) ? 1.0 : std::exp(-damping * ci2 * class_dist[k]);
          sw += wt * class_count[k];
          swx += wt * class_sum[k];
        }
        out[c] = static_cast<float>(swx / sw);
      }
    return "";
  }
  if (name == "equalize") {
    const int bins = static_cast<int>(p.at("bins"));
    const auto [lo_it, hi_it] = std::minmax_element(in, in + n);
    const double lo = *lo_it, hi = *hi_it;
    if (lo == hi) return constant_reason("equalize", lo);
    std::vector<double>& cdf = s.s1;
    cdf.assign(bins, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      cdf[std::clamp(static_cast<int>((in[i] - lo) / (hi - lo) * bins), 0, bins - 1)] += 1;
    for (int b = 1; b < bins; ++b) cdf[b] += cdf[b - 1];
    for (double& c : cdf) c /= static_cast<double>(n);
    const double width = (hi - lo) / bins, first = lo + 0.5 * width;
    for (std::size_t i = 0; i < n; ++i) {
      const double pos = (in[i] - first) / width;  // np.interp at the bin centres, clamped at the ends
      if (pos <= 0) {
        out[i] = static_cast<float>(cdf[0]);
      } else if (pos >= bins - 1) {
        out[i] = static_cast<float>(cdf[bins - 1]);
      } else {
        const int k = static_cast<int>(pos);
        out[i] = static_cast<float>(cdf[k] + (pos - k) * (cdf[k + 1] - cdf[k]));
      }
    }
    return "";
  }
  if (name == "mask") {
    const std::string why = segment_chip(in, rows, cols, segment_params(p), s.m2, s.m1, s.segment);
    if (!why.empty()) return "mask: " + why;
    const double fill = p.at("fill") == -kInf ? static_cast<double>(*std::min_element(in, in + n)) : p.at("fill");
    for (std::size_t i = 0; i < n; ++i) out[i] = s.m1[i] ? in[i] : static_cast<float>(fill);
    return "";
  }
  if (name == "pose") {
    SegmentParams sp;
    sp.smooth = static_cast<int>(p.at("smooth"));
    TargetPose pose = target_pose(in, rows, cols, sp, s.segment);
    if (!pose.found) return "pose: no target pixel found";
    s.pose_centre = std::array<double, 2>{pose.row, pose.col};
    if (p.at("turn") == 0) pose.angle = 0;  // moved to the centre, not turned
    rotate_to_pose(in, rows, cols, pose, out);
    return "";
  }
  if (name == "power") {  // |x|^p: the zeros stay zero, no sign is kept
    const double e = p.at("exponent");
    // The common exponents without std::pow (10x its speed; these are the definitions).
    const auto raise = [e](double a) {
      if (e == 2) return a * a;
      if (e == 1.5) return a * std::sqrt(a);
      if (e == 0.5) return std::sqrt(a);
      return std::pow(a, e);
    };
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(raise(std::fabs(static_cast<double>(in[i]))));
    return "";
  }
  if (name == "scale") {
    const double by = scale_statistic(in, n, p, s.s1);
    if (!(by > 0) || !std::isfinite(by))
      return "scale: the chip's statistic to divide by (" + describe_chain({step}) + ") is " + format_number(by) +
             ", not a positive number";
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i] / by);
    return "";
  }
  throw ConfigError("preprocess: unknown step '" + name + "'");
}

}  // namespace

std::vector<unsigned char> target_shadow_mask(const float* image, int rows, int cols, std::string_view mask_step) {
  const std::vector<PreprocessStep> steps = parse_chain(mask_step);
  if (steps.size() != 1 || steps[0].name != "mask")
    throw ConfigError("target_shadow_mask: '" + std::string(mask_step) + "' is not one mask step");
  std::vector<unsigned char> target, keep;
  SegmentScratch scratch;
  if (!segment_chip(image, rows, cols, segment_params(normalise(steps[0]).params), target, keep, scratch).empty())
    keep.clear();
  return keep;
}

std::string Preprocessor::apply(const float* in, float* out) {
  const std::size_t n = static_cast<std::size_t>(rows_) * cols_;
  const std::size_t n_out = static_cast<std::size_t>(out_rows_) * out_cols_;
  std::size_t nonfinite = 0, zeros = 0;
  for (std::size_t i = 0; i < n; ++i) {
    nonfinite += !std::isfinite(in[i]);
    zeros += in[i] == 0.0f;
  }
  registration_.reset();
  std::string reason;
  if (nonfinite > 0) {
    reason = "input has " + std::to_string(nonfinite) + " NaN/Inf pixel(s)";
  } else if (zeros == n) {
    reason = "input is all zero";
  } else if (std::all_of(in, in + n, [&](float v) { return v == in[0]; })) {
    reason = "input is constant (value " + format_number(in[0]) + ")";
  }
  if (reason.empty()) {
    std::copy_n(in, n, a_.data());
    int rows = rows_, cols = cols_;
    std::optional<std::array<double, 2>> pose_centre;
    Scratch scratch{s1_, s2_, s3_, m1_, m2_, segment_, pose_centre};
    bool input_frame = true;  // no step has changed the pixel grid yet
    for (const PreprocessStep& step : chain_) {
      reason = apply_step(step, a_.data(), rows, cols, b_.data(), scratch);
      if (!reason.empty()) break;
      if (pose_centre && input_frame && !registration_) registration_ = pose_centre;
      input_frame = input_frame && rows == rows_ && cols == cols_ && step.name != "pose";
      std::swap(a_, b_);
    }
    if (reason.empty()) {
      const std::size_t bad = static_cast<std::size_t>(std::count_if(
          a_.begin(), a_.begin() + static_cast<std::ptrdiff_t>(n_out), [](float v) { return !std::isfinite(v); }));
      if (bad > 0) reason = "output has " + std::to_string(bad) + " non-finite value(s) (overflow)";
    }
  }
  if (!reason.empty()) {
    std::fill_n(out, n_out, 0.0f);
    return reason;
  }
  std::copy_n(a_.data(), n_out, out);
  return "";
}

}  // namespace sarscale::features
