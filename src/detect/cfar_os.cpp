// Order-statistic CFAR: the k-th smallest valid ring cell by a Fenwick tree of counts over the
// ranks of the values in a slab of rows. Moving the ring one column along a row changes
// 2 (2R + 1) + 2 (2g + 1) cells (R = guard + background, g = guard), each an O(log M) update, and
// the k-th smallest is one O(log M) descent (M = valid pixels of the slab): O(R log M) per pixel.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <numeric>
#include <vector>

#include "cfar_kernels.hpp"
#include "sarscale/core/error.hpp"

namespace sarscale::detect::detail {
namespace {

constexpr std::int64_t kSlabRows = 32;  // core rows per slab: bounds the rank arrays' size

// Counts over ranks 0..size-1 with prefix sums and k-th smallest in O(log size).
class Fenwick {
 public:
  void reset(std::size_t size) {
    tree_.assign(size + 1, 0);
    top_ = 1;
    while (top_ * 2 <= size) top_ *= 2;
  }
  void add(std::size_t rank, int delta) {
    for (std::size_t i = rank + 1; i < tree_.size(); i += i & (~i + 1)) tree_[i] += delta;
  }
  // The rank of the k-th smallest (k >= 1) counted element.
  std::size_t kth(int k) const {
    std::size_t pos = 0;
    for (std::size_t step = top_; step; step >>= 1)
      if (pos + step < tree_.size() && tree_[pos + step] < k) {
        pos += step;
        k -= tree_[pos];
      }
    return pos;
  }

 private:
  std::vector<int> tree_;
  std::size_t top_ = 1;
};

// The valid pixels of a slab of window rows, ranked by value (ties by position: any tie order
// gives the same k-th value).
struct Slab {
  std::int64_t row_lo, row_hi, col_lo, col_hi;  // window coordinates
  std::vector<std::int32_t> rank;               // per slab pixel, -1 when invalid
  std::vector<float> sorted;                    // values by rank

  Slab(const SceneWindow& w, float nodata, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1)
      : row_lo(r0), row_hi(r1), col_lo(c0), col_hi(c1) {
    const std::int64_t width = c1 - c0;
    if ((r1 - r0) * width > std::numeric_limits<std::int32_t>::max())
      throw ConfigError("OS-CFAR: a slab of " + std::to_string(r1 - r0) + " x " + std::to_string(width) +
                        " pixels is too large; use narrower tiles");
    rank.assign(static_cast<std::size_t>((r1 - r0) * width), -1);
    std::vector<std::int32_t> order;
    for (std::int64_t r = r0; r < r1; ++r)
      for (std::int64_t c = c0; c < c1; ++c)
        if (valid_pixel(w.data[r * w.stride + c], nodata)) order.push_back(static_cast<std::int32_t>((r - r0) * width + (c - c0)));
    auto value = [&](std::int32_t i) { return w.data[(r0 + i / width) * w.stride + c0 + i % width]; };
    std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
      const float va = value(a), vb = value(b);
      return va < vb || (va == vb && a < b);
    });
    sorted.resize(order.size());
    for (std::size_t k = 0; k < order.size(); ++k) {
      rank[static_cast<std::size_t>(order[k])] = static_cast<std::int32_t>(k);
      sorted[k] = value(order[k]);
    }
  }
  // Adds (delta +1) or removes (-1) the valid cells of column vc, rows [r0, r1] (clipped).
  int column(Fenwick& fw, std::int64_t vc, std::int64_t r0, std::int64_t r1, int delta) const {
    if (vc < col_lo || vc >= col_hi) return 0;
    int changed = 0;
    for (std::int64_t r = std::max(r0, row_lo); r <= std::min(r1, row_hi - 1); ++r) {
      const std::int32_t k = rank[static_cast<std::size_t>((r - row_lo) * (col_hi - col_lo) + (vc - col_lo))];
      if (k < 0) continue;
      fw.add(static_cast<std::size_t>(k), delta);
      changed += delta;
    }
    return changed;
  }
};

struct OsRow {
  const Cfar& cfar;
  const SceneWindow& w;
  const Slab& slab;
  Fenwick& fw;

  // The ring of the pixel at (vr, vc), as a change of the tree by `delta` per cell.
  int whole_ring(std::int64_t vr, std::int64_t vc, int delta) const {
    const int h = cfar.halo(), g = cfar.params().guard;
    int n = 0;
    for (std::int64_t c = vc - h; c <= vc + h; ++c) {
      if (c < vc - g || c > vc + g) {
        n += slab.column(fw, c, vr - h, vr + h, delta);
      } else {
        n += slab.column(fw, c, vr - h, vr - g - 1, delta);
        n += slab.column(fw, c, vr + g + 1, vr + h, delta);
      }
    }
    return n;
  }
  // Moves the ring from (vr, vc - 1) to (vr, vc).
  int step(std::int64_t vr, std::int64_t vc) const {
    const int h = cfar.halo(), g = cfar.params().guard;
    const std::int64_t prev = vc - 1;
    return slab.column(fw, prev - h, vr - h, vr + h, -1) + slab.column(fw, prev + h + 1, vr - h, vr + h, +1) +
           slab.column(fw, prev - g, vr - g, vr + g, +1) + slab.column(fw, prev + g + 1, vr - g, vr + g, -1);
  }

  void run(const Rect& core, std::int64_t r, BlockOutput& out) const {
    const CfarParams& p = cfar.params();
    const std::int64_t vr = r - w.origin_row, vcore0 = core.col0 - w.origin_col, vcore1 = vcore0 + core.cols;
    const float* row = w.data + vr * w.stride;
    int n = whole_ring(vr, vcore0, +1);
    for (std::int64_t vc = vcore0; vc < vcore1; ++vc) {
      if (vc > vcore0) n += step(vr, vc);
      const float x = row[vc];
      if (!valid_pixel(x, p.nodata) || n < cfar.min_cells()) continue;
      const int k = std::clamp(static_cast<int>(std::ceil(p.os_rank * n)), 1, n);
      const double level = slab.sorted[fw.kth(k)];
      const double tau = cfar.factor(n) * level;
      const std::int64_t idx = (r - core.row0) * core.cols + (vc - vcore0);
      record(cfar, out, idx, r, vc + w.origin_col, x, n, level, tau, 10 * std::log10(x / tau), x / level, x > tau);
    }
    whole_ring(vr, vcore1 - 1, -1);  // leaves the tree empty for the next row
  }
};

}  // namespace

void os_block(const Cfar& cfar, const SceneWindow& w, const Rect& core, std::int64_t row_begin,
              std::int64_t row_end, BlockOutput& out) {
  const std::int64_t h = cfar.halo(), vcore0 = core.col0 - w.origin_col;
  const std::int64_t c0 = std::max<std::int64_t>(0, vcore0 - h), c1 = std::min(w.cols, vcore0 + core.cols + h);
  Fenwick fw;
  for (std::int64_t s = row_begin; s < row_end; s += kSlabRows) {
    const std::int64_t e = std::min(row_end, s + kSlabRows);
    const std::int64_t r0 = std::max<std::int64_t>(0, s - w.origin_row - h), r1 = std::min(w.rows, e - w.origin_row + h);
    const Slab slab(w, cfar.params().nodata, r0, r1, c0, c1);
    fw.reset(slab.sorted.size());
    const OsRow os{cfar, w, slab, fw};
    for (std::int64_t r = s; r < e; ++r) os.run(core, r, out);
  }
}

}  // namespace sarscale::detect::detail
