// Cell-averaging CFAR: box sums of the valid ring cells in exact 128-bit fixed point: cumulative
// column sums down the rows (a box's column sum is the difference of two), then prefix sums along
// each row, so O(1) per pixel. Integer sums are exact (and may wrap modulo 2^128: differences are
// still exact), so a window's sum does not depend on where the sums started: tiles and thread
// blocks agree bit for bit with the whole scene.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <vector>

#include "cfar_kernels.hpp"
#include "sarscale/core/error.hpp"

namespace sarscale::detect::detail {
namespace {

__extension__ typedef unsigned __int128 u128;  // GCC/Clang builtin; -Wpedantic flags a plain use
__extension__ typedef __int128 i128;

constexpr double kTwo62 = 4611686018427387904.0;
constexpr double kTwo63 = 9223372036854775808.0;
constexpr double kIntensityScale = 1152921504606846976.0;  // 2^60: intensity quantum 8.7e-19
constexpr double kDbScale = 1099511627776.0;               // 2^40: dB quantum 9.1e-13

// x * 2^60 rounded to an integer, for 0 <= x <= kMaxIntensity (2^44); a function of x alone.
inline u128 intensity_fixed(float x) {
  const double d = static_cast<double>(x) * kIntensityScale;  // exact: a power-of-two scaling
  if (d < kTwo62) return static_cast<u128>(static_cast<std::int64_t>(d + 0.5));  // rounded half up
  // d >= 2^62 is an integer (24 significant bits): split it at bit 63, exactly
  const double hi = std::floor(d / kTwo63);
  return (static_cast<u128>(static_cast<std::int64_t>(hi)) << 63) + static_cast<u128>(static_cast<std::int64_t>(d - hi * kTwo63));
}

// A deterministic conversion of an exact sum (|v| < 2^126) to double: two signed 64-bit halves.
inline double fixed_to_double(u128 bits) {
  const auto v = static_cast<i128>(bits);
  const auto hi = static_cast<std::int64_t>(v >> 63);
  const auto lo = static_cast<std::int64_t>(static_cast<std::uint64_t>(v) & 0x7fffffffffffffffULL);
  return static_cast<double>(hi) * kTwo63 + static_cast<double>(lo);
}

inline std::int64_t db_fixed(float x, float floor) {
  return std::llrint(10.0 * std::log10(static_cast<double>(x < floor ? floor : x)) * kDbScale);
}

[[noreturn]] void too_bright(std::int64_t row, std::int64_t col, float x) {
  std::ostringstream msg;
  msg << "CFAR: pixel (row " << row << ", col " << col << ") has intensity " << x
      << ", above the largest the exact CFAR sums hold (" << kMaxIntensity << "); scale the scene down";
  throw InputError(msg.str());
}

// Fixed-point terms of one pixel: intensity (gamma model), or the dB value and its square.
struct GammaTerms {
  static constexpr int kChannels = 1;
  float nodata, floor;
  void operator()(float x, u128* t) const { t[0] = intensity_fixed(x); }
};
struct DbTerms {
  static constexpr int kChannels = 2;
  float nodata, floor;
  void operator()(float x, u128* t) const {
    const std::int64_t y = db_fixed(x, floor);
    t[0] = static_cast<u128>(static_cast<i128>(y));
    t[1] = static_cast<u128>(static_cast<i128>(y) * y);
  }
};

// One thread's state for a block of rows: cumulative column sums of the terms down the rows
// since the block's first ring row, kept for the last 2R + 2 rows (a ring buffer), so that a box's
// column sum is the difference of two of them; and the boxes' prefix sums along the current row,
// padded by R on both sides so that no window needs clipping. All integer sums wrap modulo 2^128
// (counts 2^32): their differences are exact.
template <class Terms>
class CaBlock {
 public:
  static constexpr int C = Terms::kChannels;

  CaBlock(const Cfar& cfar, const Terms& terms, const SceneWindow& w, const Rect& core, BlockOutput& out)
      : cfar_(cfar), terms_(terms), w_(w), core_(core), out_(out), h_{cfar.halo(), cfar.params().guard} {
    const std::int64_t vc0 = core.col0 - w.origin_col;
    col_lo_ = std::max<std::int64_t>(0, vc0 - h_[0]);
    width_ = static_cast<std::size_t>(std::min(w.cols, vc0 + core.cols + h_[0]) - col_lo_);
    slots_ = static_cast<std::size_t>(2 * h_[0] + 2);
    for (int ch = 0; ch < C; ++ch) down_[ch].assign(slots_ * width_, 0);
    ndown_.assign(slots_ * width_, 0);
    for (int b = 0; b < 2; ++b) {
      for (int ch = 0; ch < C; ++ch) pre_[b][ch].assign(width_ + 1 + 2 * static_cast<std::size_t>(h_[0]), 0);
      npre_[b].assign(width_ + 1 + 2 * static_cast<std::size_t>(h_[0]), 0);
    }
  }

  void run(std::int64_t row_begin, std::int64_t row_end) {
    const std::int64_t vr0 = row_begin - w_.origin_row;
    // the slot of row vr0 - R - 1 holds zeros: where the cumulative sums start
    for (std::int64_t vr = vr0 - h_[0]; vr <= vr0 + h_[0]; ++vr) load(vr);
    for (std::int64_t r = row_begin; r < row_end; ++r) {
      const std::int64_t vr = r - w_.origin_row;
      prefix(vr);
      judge_row(r);
      if (r + 1 < row_end) load(vr + 1 + h_[0]);  // its slot held row vr - R - 1, no longer needed
    }
  }

 private:
  std::size_t slot(std::int64_t vr) const { return static_cast<std::size_t>(vr + h_[0] + 1) % slots_ * width_; }

  // Cumulative sums of window row vr: those of row vr - 1 plus its terms (none outside the window).
  void load(std::int64_t vr) {
    const std::size_t s = slot(vr), p = slot(vr - 1);
    if (vr < 0 || vr >= w_.rows) {
      for (int ch = 0; ch < C; ++ch) std::copy_n(down_[ch].begin() + static_cast<std::ptrdiff_t>(p), width_, down_[ch].begin() + static_cast<std::ptrdiff_t>(s));
      std::copy_n(ndown_.begin() + static_cast<std::ptrdiff_t>(p), width_, ndown_.begin() + static_cast<std::ptrdiff_t>(s));
      return;
    }
    const float* row = w_.data + vr * w_.stride + col_lo_;
    u128 t[C];
    for (std::size_t j = 0; j < width_; ++j) {
      const float x = row[j];
      const bool ok = valid_pixel(x, terms_.nodata);
      if (ok && C == 1 && x > kMaxIntensity) too_bright(w_.origin_row + vr, w_.origin_col + col_lo_ + static_cast<std::int64_t>(j), x);
      if (ok) terms_(x, t);
      for (int ch = 0; ch < C; ++ch) down_[ch][s + j] = down_[ch][p + j] + (ok ? t[ch] : 0);
      ndown_[s + j] = ndown_[p + j] + ok;
    }
  }

  // pre[b][R + k] = sum over columns [0, k) of box b's column sums for row vr, constant beyond
  // both ends.
  void prefix(std::int64_t vr) {
    const auto pad = static_cast<std::size_t>(h_[0]);
    for (int b = 0; b < 2; ++b) {
      const std::size_t top = slot(vr - h_[b] - 1), bottom = slot(vr + h_[b]);
      for (int ch = 0; ch < C; ++ch) {
        u128* p = pre_[b][ch].data();
        const u128 *lo = down_[ch].data() + top, *hi = down_[ch].data() + bottom;
        for (std::size_t j = 0; j < width_; ++j) p[pad + j + 1] = p[pad + j] + (hi[j] - lo[j]);
        std::fill(p + pad + width_ + 1, p + pre_[b][ch].size(), p[pad + width_]);
      }
      std::uint32_t* p = npre_[b].data();
      const std::uint32_t *lo = ndown_.data() + top, *hi = ndown_.data() + bottom;
      for (std::size_t j = 0; j < width_; ++j) p[pad + j + 1] = p[pad + j] + (hi[j] - lo[j]);
      std::fill(p + pad + width_ + 1, p + npre_[b].size(), p[pad + width_]);
    }
  }

  void judge_row(std::int64_t r) {
    const std::int64_t vr = r - w_.origin_row, vc0 = core_.col0 - w_.origin_col;
    const float* row = w_.data + vr * w_.stride;
    const std::int64_t idx0 = (r - core_.row0) * core_.cols;
    const std::int64_t R = h_[0], g = h_[1];
    for (std::int64_t c = 0; c < core_.cols; ++c) {
      const std::int64_t vc = vc0 + c, j = vc - col_lo_ + R;  // j: index of column vc in pre (padded)
      const auto at = [&](std::int64_t k) { return static_cast<std::size_t>(k); };
      const auto n = static_cast<int>((npre_[0][at(j + R + 1)] - npre_[0][at(j - R)]) - (npre_[1][at(j + g + 1)] - npre_[1][at(j - g)]));
      const float x = row[vc];
      if (n < cfar_.min_cells() || !valid_pixel(x, terms_.nodata)) continue;
      u128 s[C];
      for (int ch = 0; ch < C; ++ch)
        s[ch] = (pre_[0][ch][at(j + R + 1)] - pre_[0][ch][at(j - R)]) - (pre_[1][ch][at(j + g + 1)] - pre_[1][ch][at(j - g)]);
      judge(idx0 + c, r, vc + w_.origin_col, x, n, s);
    }
  }

  void judge(std::int64_t idx, std::int64_t r, std::int64_t c, float x, int n, const u128* s) {
    if constexpr (C == 1) {
      const double ring = fixed_to_double(s[0]) / kIntensityScale;
      const double tau = cfar_.factor(n) * ring;
      const bool hit = x > tau;
      if (!hit && !out_.scores) {
        ++out_.tested;
        return;
      }
      record(cfar_, out_, idx, r, c, x, n, ring / n, tau, 10 * std::log10(x / tau), x / ring, hit);
    } else {
      const double sum = fixed_to_double(s[0]) / kDbScale;
      const double sum_sq = fixed_to_double(s[1]) / (kDbScale * kDbScale);
      const double mean = sum / n;
      const double var = std::max(0.0, (sum_sq - sum * mean) / (n - 1));
      const double sd = std::sqrt(var), thr = mean + cfar_.factor(n) * sd;
      const double y = static_cast<double>(db_fixed(x, terms_.floor)) / kDbScale;
      const double own = sd > 0 ? (y - mean) / sd : (y > mean ? HUGE_VAL : -HUGE_VAL);
      record(cfar_, out_, idx, r, c, x, n, std::pow(10.0, mean / 10), std::pow(10.0, thr / 10), y - thr, own, y > thr);
    }
  }

  const Cfar& cfar_;
  const Terms terms_;
  const SceneWindow& w_;
  const Rect core_;
  BlockOutput& out_;
  const std::int64_t h_[2];  // radius of the outer box, of the guard box
  std::int64_t col_lo_ = 0;  // first window column any ring of the block touches
  std::size_t width_ = 0, slots_ = 0;
  std::vector<u128> down_[C];          // cumulative column sums, ring buffer of 2R + 2 rows
  std::vector<std::uint32_t> ndown_;   // cumulative valid counts, likewise
  std::vector<u128> pre_[2][C];
  std::vector<std::uint32_t> npre_[2];
};

}  // namespace

void ca_block(const Cfar& cfar, const SceneWindow& w, const Rect& core, std::int64_t row_begin,
              std::int64_t row_end, BlockOutput& out) {
  if (row_begin >= row_end) return;
  const CfarParams& p = cfar.params();
  if (p.model == ClutterModel::gamma) CaBlock<GammaTerms>(cfar, GammaTerms{p.nodata, p.db_floor}, w, core, out).run(row_begin, row_end);
  else CaBlock<DbTerms>(cfar, DbTerms{p.nodata, p.db_floor}, w, core, out).run(row_begin, row_end);
}

}  // namespace sarscale::detect::detail
