// Acquisition shift (see acquisition_shift.hpp): the text form and the perturbation of one chip.
#include "sarscale/features/acquisition_shift.hpp"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "sarscale/core/error.hpp"
#include "sarscale/features/augment.hpp"
#include "sarscale/features/preprocess.hpp"
#include "counter_hash.hpp"
#include "fftw_util.hpp"
#include "text.hpp"

namespace sarscale::features {
namespace {

using detail::format_number;
using detail::mix;
using detail::parse_whole;

constexpr const char* kWhat = "shift validation";
constexpr long long kMaxPixels = 1 << 20;
constexpr double kMaxDb = 60;

const std::vector<detail::OpSyntax>& syntaxes() {
  // In ShiftOp::Kind order.
  static const std::vector<detail::OpSyntax> s = {
      {"speckle", {"support"}}, {"clutter", {"db"}}, {"gain", {"db", "clip"}}, {"shift", {"pixels"}}};
  return s;
}

// The draws of operation `op` on chip `index`: counter k of this stream is mix(base ^ k).
std::uint64_t stream(std::uint64_t seed, std::uint64_t index, ShiftOp::Kind op) {
  return mix(mix(mix(seed) ^ index) ^ static_cast<std::uint64_t>(op));
}

// A uniform draw in [-db, db].
double symmetric_db(std::uint64_t base, double db) { return db * (2.0 * detail::unit_interval(mix(base)) - 1.0); }

// The in-band frequencies of one axis: the profile, smoothed by a circular 3-bin mean, at or
// above `fraction` of its peak.
std::vector<char> in_band(const std::vector<double>& profile, double fraction) {
  const std::size_t n = profile.size();
  std::vector<double> smooth(n);
  for (std::size_t k = 0; k < n; ++k)
    smooth[k] = (profile[(k + n - 1) % n] + profile[k] + profile[(k + 1) % n]) / 3.0;
  const double peak = *std::max_element(smooth.begin(), smooth.end());
  std::vector<char> keep(n);
  for (std::size_t k = 0; k < n; ++k) keep[k] = smooth[k] >= fraction * peak ? 1 : 0;
  return keep;
}

}  // namespace

// The speckle's FFTs for one chip size: planned once (the planner is not thread-safe), executed
// by any thread on its own fftw_malloc'ed buffer (new-array execution).
struct AcquisitionShift::Plans {
  fftw_plan forward = nullptr, inverse = nullptr;
  Plans(int rows, int cols) {
    detail::ComplexBuffer scratch = detail::allocate_complex(static_cast<std::size_t>(rows) * cols);
    std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
    // FFTW_ESTIMATE: the same plan (hence the same bits) on every run, unlike measured plans.
    forward = fftw_plan_dft_2d(rows, cols, scratch.get(), scratch.get(), FFTW_FORWARD, FFTW_ESTIMATE);
    inverse = fftw_plan_dft_2d(rows, cols, scratch.get(), scratch.get(), FFTW_BACKWARD, FFTW_ESTIMATE);
    if (!forward || !inverse) {
      release();
      throw IoError("shift validation: FFTW could not plan a " + std::to_string(rows) + "x" + std::to_string(cols) +
                    " transform");
    }
  }
  ~Plans() {
    std::lock_guard<std::mutex> lock(detail::fftw_planner_mutex());
    release();
  }
  void release() {
    if (forward) fftw_destroy_plan(forward);
    if (inverse) fftw_destroy_plan(inverse);
    forward = inverse = nullptr;
  }
};

bool AcquisitionShiftSpec::has(ShiftOp::Kind kind) const {
  return std::any_of(ops.begin(), ops.end(), [&](const ShiftOp& op) { return op.kind == kind; });
}

std::string describe(const ShiftOp& op) {
  switch (op.kind) {
    case ShiftOp::Kind::speckle:
      return "speckle(support=" + format_number(op.support) + ")";
    case ShiftOp::Kind::clutter:
      return "clutter(db=" + format_number(op.db) + ")";
    case ShiftOp::Kind::gain:
      return "gain(db=" + format_number(op.db) + ", clip=" + format_number(op.clip) + ")";
    case ShiftOp::Kind::shift:
      break;
  }
  return "shift(pixels=" + std::to_string(op.pixels) + ")";
}

std::string describe(const AcquisitionShiftSpec& spec) {
  std::string out;
  for (const ShiftOp& op : spec.ops) out += (out.empty() ? "" : "; ") + describe(op);
  return out.empty() ? "none" : out;
}

AcquisitionShiftSpec parse_acquisition_shift(std::string_view text) {
  AcquisitionShiftSpec spec;
  if (detail::trim(text) == "none") return spec;
  for (detail::OpText& item : detail::split_ops(text, syntaxes(), kWhat, false)) {
    ShiftOp op;
    op.kind = static_cast<ShiftOp::Kind>(item.syntax - syntaxes().data());
    if (spec.has(op.kind)) detail::fail_at(kWhat, text, item.item, "repeated operation");
    const auto real = [&](const char* key, double fallback, double lo, double hi, bool open_lo) {
      const auto it = item.args.find(key);
      if (it == item.args.end()) return fallback;
      double v = 0;
      if (!parse_whole(it->second, v) || !std::isfinite(v) || v < lo || v > hi || (open_lo && v == lo))
        detail::fail_at(kWhat, text, it->second,
                        std::string("expected a number in ") + (open_lo ? "(" : "[") + format_number(lo) + ", " +
                            format_number(hi) + "] for " + item.syntax->name + "." + key);
      return v;
    };
    op.db = real("db", op.kind == ShiftOp::Kind::gain ? 2.0 : 0.0, 0, kMaxDb, false);
    op.clip = real("clip", 0, 0, 1e30, false);
    op.support = real("support", 0.01, 0, 1, true);
    if (const auto it = item.args.find("pixels"); it != item.args.end()) {
      if (!parse_whole(it->second, op.pixels) || op.pixels < 0 || op.pixels > kMaxPixels)
        detail::fail_at(kWhat, text, it->second,
                        "expected an integer in 0.." + std::to_string(kMaxPixels) + " for shift.pixels");
    } else {
      op.pixels = op.kind == ShiftOp::Kind::shift ? 1 : 0;
    }
    spec.ops.push_back(op);
  }
  std::sort(spec.ops.begin(), spec.ops.end(), [](const ShiftOp& a, const ShiftOp& b) { return a.kind < b.kind; });
  return spec;
}

void validate(const AcquisitionShiftSpec& spec, int rows, int cols) {
  if (rows < 1 || cols < 1)
    throw ConfigError("shift validation: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
  for (const ShiftOp& op : spec.ops)
    if (op.kind == ShiftOp::Kind::shift && (op.pixels >= rows || op.pixels >= cols))
      throw ConfigError("shift validation: " + describe(op) + " moves the content out of " + std::to_string(rows) +
                        "x" + std::to_string(cols) + " chips");
}

AcquisitionShift::AcquisitionShift(AcquisitionShiftSpec spec, std::uint64_t seed, int rows, int cols)
    : spec_(std::move(spec)), seed_(seed), rows_(rows), cols_(cols) {
  validate(spec_, rows, cols);
  if (spec_.has(ShiftOp::Kind::speckle)) plans_ = std::make_unique<Plans>(rows, cols);
}

AcquisitionShift::~AcquisitionShift() = default;

ShiftOutcome AcquisitionShift::apply(Image& chip, std::uint64_t index) const {
  if (chip.rows != rows_ || chip.cols != cols_ || chip.magnitude.size() != chip.pixels() ||
      (chip.has_phase() && chip.phase.size() != chip.pixels()))
    throw Error("shift validation: a " + std::to_string(chip.rows) + "x" + std::to_string(chip.cols) +
                " chip (or planes of another size) given to a perturbation of " + std::to_string(rows_) + "x" +
                std::to_string(cols_) + " chips");
  return apply(chip.magnitude.data(), chip.has_phase() ? chip.phase.data() : nullptr, index);
}

namespace {

// A new speckle realisation of z = m e^{i phase} (see the header): m and phase are replaced.
ShiftOutcome::Speckle redraw_speckle(float* m, float* phase, int rows, int cols, double support, std::uint64_t base,
                                     fftw_plan forward, fftw_plan inverse) {
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  if (std::all_of(phase, phase + n, [&](float p) { return p == phase[0]; }))
    return ShiftOutcome::Speckle::constant_phase;
  detail::ComplexBuffer z = detail::allocate_complex(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::complex<double> v = std::polar(static_cast<double>(m[k]), static_cast<double>(phase[k]));
    z[k][0] = v.real();
    z[k][1] = v.imag();
  }
  fftw_execute_dft(forward, z.get(), z.get());
  std::vector<double> row_profile(static_cast<std::size_t>(rows), 0.0), col_profile(static_cast<std::size_t>(cols), 0.0);
  for (int u = 0; u < rows; ++u)
    for (int v = 0; v < cols; ++v) {
      const fftw_complex& s = z[static_cast<std::size_t>(u) * cols + v];
      const double power = s[0] * s[0] + s[1] * s[1];
      row_profile[static_cast<std::size_t>(u)] += power;
      col_profile[static_cast<std::size_t>(v)] += power;
    }
  const std::vector<char> keep_rows = in_band(row_profile, support), keep_cols = in_band(col_profile, support);
  const auto all = [](const std::vector<char>& k) { return std::all_of(k.begin(), k.end(), [](char c) { return c; }); };
  if (all(keep_rows) && all(keep_cols)) return ShiftOutcome::Speckle::whole_band;

  double energy_in = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double psi = 2.0 * std::numbers::pi * detail::unit_interval(mix(base ^ k));
    z[k][0] = m[k] * std::cos(psi);
    z[k][1] = m[k] * std::sin(psi);
    energy_in += static_cast<double>(m[k]) * m[k];
  }
  fftw_execute_dft(forward, z.get(), z.get());
  for (int u = 0; u < rows; ++u)
    for (int v = 0; v < cols; ++v)
      if (!keep_rows[static_cast<std::size_t>(u)] || !keep_cols[static_cast<std::size_t>(v)]) {
        fftw_complex& s = z[static_cast<std::size_t>(u) * cols + v];
        s[0] = s[1] = 0.0;
      }
  fftw_execute_dft(inverse, z.get(), z.get());
  double energy_out = 0;
  for (std::size_t k = 0; k < n; ++k) energy_out += z[k][0] * z[k][0] + z[k][1] * z[k][1];
  // The same mean intensity as the chip's (the inverse transform's factor n cancels here).
  const double scale = energy_out > 0 ? std::sqrt(energy_in / energy_out) : 0.0;
  for (std::size_t k = 0; k < n; ++k) {
    m[k] = static_cast<float>(scale * std::hypot(z[k][0], z[k][1]));
    double a = std::atan2(z[k][1], z[k][0]);
    if (a < 0) a += 2.0 * std::numbers::pi;
    phase[k] = static_cast<float>(a);
  }
  return ShiftOutcome::Speckle::redrawn;
}

// Multiplies the background (outside kClutterSegmentation's target and shadow) by `factor`.
void scale_background(float* m, int rows, int cols, double factor) {
  const std::vector<unsigned char> keep = target_shadow_mask(m, rows, cols, kClutterSegmentation);
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  for (std::size_t k = 0; k < n; ++k)
    if (keep.empty() || !keep[k]) m[k] = static_cast<float>(m[k] * factor);
}

// Moves the content of one plane by (dr, dc), edge-replicated.
void move_plane(float* plane, int rows, int cols, int dr, int dc) {
  std::vector<float> moved(static_cast<std::size_t>(rows) * cols);
  extract_window(plane, rows, cols, AugmentWindow{-dr, -dc, rows, cols}, moved.data());
  std::copy(moved.begin(), moved.end(), plane);
}

}  // namespace

ShiftOutcome AcquisitionShift::apply(float* magnitude, float* phase_or_null, std::uint64_t index) const {
  ShiftOutcome out;
  const std::size_t n = static_cast<std::size_t>(rows_) * cols_;
  // Non-finite pixels: left as they are, for the feature chain to flag with its own reason.
  if (!std::all_of(magnitude, magnitude + n, [](float v) { return std::isfinite(v); })) return out;
  if (const float low = *std::min_element(magnitude, magnitude + n); low < 0) {
    out.reason = "shift validation: negative magnitude " + format_number(low) +
                 ": the perturbation needs linear amplitudes (not dB)";
    return out;
  }
  for (const ShiftOp& op : spec_.ops) {
    const std::uint64_t base = stream(seed_, index, op.kind);
    switch (op.kind) {
      case ShiftOp::Kind::speckle:
        out.speckle = phase_or_null ? redraw_speckle(magnitude, phase_or_null, rows_, cols_, op.support, base,
                                                     plans_->forward, plans_->inverse)
                                    : ShiftOutcome::Speckle::no_phase;
        break;
      case ShiftOp::Kind::clutter:
        out.clutter_db = symmetric_db(base, op.db);
        scale_background(magnitude, rows_, cols_, std::pow(10.0, out.clutter_db / 20.0));
        break;
      case ShiftOp::Kind::gain: {
        out.gain_db = symmetric_db(base, op.db);
        const double factor = std::pow(10.0, out.gain_db / 20.0);
        for (std::size_t k = 0; k < n; ++k) {
          const double v = magnitude[k] * factor;
          magnitude[k] = static_cast<float>(op.clip > 0 ? std::min(v, op.clip) : v);
        }
        break;
      }
      case ShiftOp::Kind::shift:
        out.shift_rows = detail::uniform_int(mix(base ^ 0), 2 * op.pixels) - op.pixels;
        out.shift_cols = detail::uniform_int(mix(base ^ 1), 2 * op.pixels) - op.pixels;
        if (out.shift_rows == 0 && out.shift_cols == 0) break;
        move_plane(magnitude, rows_, cols_, out.shift_rows, out.shift_cols);
        if (phase_or_null) move_plane(phase_or_null, rows_, cols_, out.shift_rows, out.shift_cols);
        break;
    }
  }
  return out;
}

}  // namespace sarscale::features
