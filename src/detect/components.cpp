#include "sarscale/detect/components.hpp"

#include <algorithm>
#include <optional>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <unordered_map>

#include "sarscale/core/error.hpp"

namespace sarscale::detect {
namespace {

class UnionFind {
 public:
  explicit UnionFind(std::size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), std::size_t{0}); }
  std::size_t find(std::size_t i) {
    while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];
    return i;
  }
  void join(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  std::vector<std::size_t> parent_;
};

bool row_major_less(const CfarDetection& a, const CfarDetection& b) {
  return a.row < b.row || (a.row == b.row && a.col < b.col);
}

// Joins each detection with its detected neighbours to the left and in the row above.
void link_neighbours(const std::vector<CfarDetection>& d, UnionFind& uf) {
  std::size_t prev_begin = 0, prev_end = 0;  // the previous row's detections
  for (std::size_t begin = 0; begin < d.size();) {
    std::size_t end = begin;
    while (end < d.size() && d[end].row == d[begin].row) ++end;
    const bool above = prev_end > prev_begin && d[prev_begin].row == d[begin].row - 1;
    std::size_t p = prev_begin;
    for (std::size_t i = begin; i < end; ++i) {
      if (i > begin && d[i - 1].col == d[i].col - 1) uf.join(i, i - 1);
      if (!above) continue;
      while (p < prev_end && d[p].col < d[i].col - 1) ++p;
      for (std::size_t q = p; q < prev_end && d[q].col <= d[i].col + 1; ++q) uf.join(i, q);
    }
    prev_begin = begin;
    prev_end = end;
    begin = end;
  }
}

// Whether a pixel lies on an edge of the core that another tile's core shares.
bool on_shared_edge(const CfarDetection& p, const Rect& core, std::int64_t scene_rows, std::int64_t scene_cols) {
  return (p.row == core.row0 && p.row > 0) || (p.row == core.row0 + core.rows - 1 && p.row < scene_rows - 1) ||
         (p.col == core.col0 && p.col > 0) || (p.col == core.col0 + core.cols - 1 && p.col < scene_cols - 1);
}

bool on_core_edge(const CfarDetection& p, const Rect& core) {
  return p.row == core.row0 || p.row == core.row0 + core.rows - 1 || p.col == core.col0 ||
         p.col == core.col0 + core.cols - 1;
}

bool overlap(const Rect& a, const Rect& b) {
  return a.row0 < b.row0 + b.rows && b.row0 < a.row0 + a.rows && a.col0 < b.col0 + b.cols && b.col0 < a.col0 + a.cols;
}

void check_tiles(const std::vector<TileComponents>& tiles) {
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    if (tiles[i].scene_rows != tiles[0].scene_rows || tiles[i].scene_cols != tiles[0].scene_cols)
      throw ConfigError("merge_components: the tiles come from scenes of different sizes");
    for (std::size_t j = i + 1; j < tiles.size(); ++j)
      if (tiles[i].core.rows > 0 && tiles[j].core.rows > 0 && overlap(tiles[i].core, tiles[j].core))
        throw ConfigError("merge_components: tiles " + std::to_string(i) + " and " + std::to_string(j) + " overlap");
  }
}

}  // namespace

Candidate make_candidate(const std::vector<CfarDetection>& pixels) {
  Candidate c;
  if (pixels.empty()) return c;
  c.row_min = c.row_max = pixels[0].row;
  c.col_min = c.col_max = pixels[0].col;
  c.peak = pixels[0].value;
  c.peak_row = pixels[0].row;
  c.peak_col = pixels[0].col;
  c.max_score = pixels[0].score;
  c.min_log10_pfa = pixels[0].log10_pfa;
  double sum_r = 0, sum_c = 0, sum_x = 0, sum_xr = 0, sum_xc = 0, sum_bg = 0, sum_score = 0;
  for (const CfarDetection& p : pixels) {
    c.row_min = std::min(c.row_min, p.row);
    c.row_max = std::max(c.row_max, p.row);
    c.col_min = std::min(c.col_min, p.col);
    c.col_max = std::max(c.col_max, p.col);
    if (p.value > c.peak) {
      c.peak = p.value;
      c.peak_row = p.row;
      c.peak_col = p.col;
    }
    c.max_score = std::max(c.max_score, p.score);
    c.min_log10_pfa = std::min(c.min_log10_pfa, p.log10_pfa);
    sum_r += static_cast<double>(p.row);
    sum_c += static_cast<double>(p.col);
    sum_x += p.value;
    sum_xr += static_cast<double>(p.value) * static_cast<double>(p.row);
    sum_xc += static_cast<double>(p.value) * static_cast<double>(p.col);
    sum_bg += p.background;
    sum_score += p.score;
  }
  const auto n = static_cast<double>(pixels.size());
  c.area = static_cast<std::int64_t>(pixels.size());
  c.centroid_row = sum_r / n;
  c.centroid_col = sum_c / n;
  c.weighted_row = sum_x > 0 ? sum_xr / sum_x : c.centroid_row;
  c.weighted_col = sum_x > 0 ? sum_xc / sum_x : c.centroid_col;
  c.mean_intensity = sum_x / n;
  c.mean_background = sum_bg / n;
  c.contrast_db = 10 * std::log10(c.mean_intensity / c.mean_background);
  c.mean_score = sum_score / n;
  return c;
}

TileComponents find_components(const CfarTile& tile) {
  const std::vector<CfarDetection>& d = tile.detections;
  if (!std::is_sorted(d.begin(), d.end(), row_major_less))
    throw ConfigError("find_components: the detections are not in row-major order");
  UnionFind uf(d.size());
  link_neighbours(d, uf);
  // Pixels grouped by component, components in order of their first pixel, pixels row-major.
  std::vector<std::size_t> slot(d.size(), SIZE_MAX);
  std::vector<std::vector<CfarDetection>> groups;
  std::vector<bool> open;
  for (std::size_t i = 0; i < d.size(); ++i) {
    std::size_t& s = slot[uf.find(i)];
    if (s == SIZE_MAX) {
      s = groups.size();
      groups.emplace_back();
      open.push_back(false);
    }
    groups[s].push_back(d[i]);
    if (on_shared_edge(d[i], tile.core, tile.scene_rows, tile.scene_cols)) open[s] = true;
  }
  TileComponents out{tile.core, tile.scene_rows, tile.scene_cols, {}, {}};
  for (std::size_t s = 0; s < groups.size(); ++s) {
    if (open[s]) out.open.push_back(std::move(groups[s]));
    else out.closed.push_back(make_candidate(groups[s]));
  }
  return out;
}

std::vector<Candidate> merge_components(const std::vector<TileComponents>& tiles) {
  check_tiles(tiles);
  std::vector<Candidate> all;
  std::vector<const std::vector<CfarDetection>*> open;
  for (const TileComponents& t : tiles) {
    all.insert(all.end(), t.closed.begin(), t.closed.end());
    for (const auto& pixels : t.open) open.push_back(&pixels);
  }
  if (!open.empty()) {
    const std::int64_t cols = tiles[0].scene_cols;
    std::unordered_map<std::int64_t, std::size_t> edge_pixel;  // scene index -> open component
    for (std::size_t t = 0, g = 0; t < tiles.size(); ++t)
      for (const auto& pixels : tiles[t].open) {
        for (const CfarDetection& p : pixels)
          if (on_core_edge(p, tiles[t].core)) edge_pixel.emplace(p.row * cols + p.col, g);
        ++g;
      }
    UnionFind uf(open.size());
    for (const auto& [key, g] : edge_pixel) {
      const std::int64_t r = key / cols, c = key % cols;
      for (std::int64_t dr = -1; dr <= 1; ++dr)
        for (std::int64_t dc = -1; dc <= 1; ++dc) {
          if (c + dc < 0 || c + dc >= cols) continue;
          const auto it = edge_pixel.find((r + dr) * cols + c + dc);
          if (it != edge_pixel.end()) uf.join(g, it->second);
        }
    }
    std::vector<std::vector<CfarDetection>> joined(open.size());
    for (std::size_t g = 0; g < open.size(); ++g) {
      auto& into = joined[uf.find(g)];
      into.insert(into.end(), open[g]->begin(), open[g]->end());
    }
    for (auto& pixels : joined) {
      if (pixels.empty()) continue;
      std::sort(pixels.begin(), pixels.end(), row_major_less);
      all.push_back(make_candidate(pixels));
    }
  }
  std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    return a.peak_row < b.peak_row || (a.peak_row == b.peak_row && a.peak_col < b.peak_col);
  });
  return all;
}

namespace {

static_assert(std::is_trivially_copyable_v<Candidate> && std::is_trivially_copyable_v<CfarDetection>);
constexpr std::uint64_t kPackMagic = 0x31706d6f63746473ULL;  // "sdtcomp1"

template <class T>
void put(std::vector<std::uint8_t>& out, const T* items, std::size_t count) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(items);
  out.insert(out.end(), bytes, bytes + count * sizeof(T));
}

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  template <class T>
  void get(T* items, std::size_t count) {
    if (count > (size_ - at_) / sizeof(T)) throw InputError("unpack_components: the buffer ends early");
    std::memcpy(static_cast<void*>(items), data_ + at_, count * sizeof(T));
    at_ += count * sizeof(T);
  }
  std::uint64_t word() {
    std::uint64_t v = 0;
    get(&v, 1);
    return v;
  }
  bool done() const { return at_ == size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_, at_ = 0;
};

}  // namespace

std::vector<std::uint8_t> pack_components(const TileComponents& t) {
  std::vector<std::uint8_t> out;
  const std::int64_t head[6] = {t.core.row0, t.core.col0, t.core.rows, t.core.cols, t.scene_rows, t.scene_cols};
  const std::uint64_t counts[3] = {kPackMagic, t.closed.size(), t.open.size()};
  put(out, counts, 3);
  put(out, head, 6);
  put(out, t.closed.data(), t.closed.size());
  for (const auto& pixels : t.open) {
    const std::uint64_t n = pixels.size();
    put(out, &n, 1);
    put(out, pixels.data(), pixels.size());
  }
  return out;
}

TileComponents unpack_components(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  if (in.word() != kPackMagic) throw InputError("unpack_components: not a packed tile");
  const std::uint64_t closed = in.word(), open = in.word();
  std::int64_t head[6];
  in.get(head, 6);
  TileComponents t{{head[0], head[1], head[2], head[3]}, head[4], head[5], {}, {}};
  if (closed > size / sizeof(Candidate) || open > size / sizeof(std::uint64_t))
    throw InputError("unpack_components: the buffer ends early");
  t.closed.resize(closed);
  in.get(t.closed.data(), closed);
  t.open.resize(open);
  for (auto& pixels : t.open) {
    const std::uint64_t n = in.word();
    if (n > size / sizeof(CfarDetection)) throw InputError("unpack_components: the buffer ends early");
    pixels.resize(n);
    in.get(pixels.data(), n);
  }
  if (!in.done()) throw InputError("unpack_components: trailing bytes after the packed tile");
  return t;
}

namespace {

// `into` grows to hold `c` too (see cluster_candidates).
void absorb(Candidate& into, const Candidate& c) {
  const auto na = static_cast<double>(into.area), nb = static_cast<double>(c.area), n = na + nb;
  const double wa = into.mean_intensity * na, wb = c.mean_intensity * nb;
  into.weighted_row = (into.weighted_row * wa + c.weighted_row * wb) / (wa + wb);
  into.weighted_col = (into.weighted_col * wa + c.weighted_col * wb) / (wa + wb);
  into.centroid_row = (into.centroid_row * na + c.centroid_row * nb) / n;
  into.centroid_col = (into.centroid_col * na + c.centroid_col * nb) / n;
  into.mean_intensity = (wa + wb) / n;
  into.mean_background = (into.mean_background * na + c.mean_background * nb) / n;
  into.mean_score = (into.mean_score * na + c.mean_score * nb) / n;
  into.contrast_db = 10 * std::log10(into.mean_intensity / into.mean_background);
  into.max_score = std::max(into.max_score, c.max_score);
  into.min_log10_pfa = std::min(into.min_log10_pfa, c.min_log10_pfa);
  const bool brighter = c.peak > into.peak || (c.peak == into.peak && (c.peak_row < into.peak_row ||
                                                                       (c.peak_row == into.peak_row && c.peak_col < into.peak_col)));
  if (brighter) into.peak = c.peak, into.peak_row = c.peak_row, into.peak_col = c.peak_col;
  into.row_min = std::min(into.row_min, c.row_min), into.col_min = std::min(into.col_min, c.col_min);
  into.row_max = std::max(into.row_max, c.row_max), into.col_max = std::max(into.col_max, c.col_max);
  into.area += c.area;
}

}  // namespace

std::vector<Candidate> cluster_candidates(const std::vector<Candidate>& candidates, int gap) {
  if (gap < 0 || candidates.size() < 2) return candidates;
  // Boxes sorted by top row: a box can only join those starting at most gap rows below its bottom.
  std::vector<std::size_t> order(candidates.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return candidates[a].row_min < candidates[b].row_min || (candidates[a].row_min == candidates[b].row_min && a < b);
  });
  UnionFind uf(candidates.size());
  for (std::size_t x = 0; x < order.size(); ++x) {
    const Candidate& a = candidates[order[x]];
    for (std::size_t y = x + 1; y < order.size(); ++y) {
      const Candidate& b = candidates[order[y]];
      if (b.row_min > a.row_max + gap) break;
      if (b.col_min <= a.col_max + gap && a.col_min <= b.col_max + gap) uf.join(order[x], order[y]);
    }
  }
  // Members join their group in the input (peak) order, so the sums do not depend on the sort.
  std::vector<std::optional<Candidate>> groups(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    auto& g = groups[uf.find(i)];
    if (g) absorb(*g, candidates[i]);
    else g = candidates[i];
  }
  std::vector<Candidate> out;
  for (auto& g : groups)
    if (g) out.push_back(*g);
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return a.peak_row < b.peak_row || (a.peak_row == b.peak_row && a.peak_col < b.peak_col);
  });
  return out;
}

PixelIndex chip_centre(const Candidate& object, bool on_box) {
  if (on_box)
    return {std::lround(0.5 * static_cast<double>(object.row_min + object.row_max)),
            std::lround(0.5 * static_cast<double>(object.col_min + object.col_max))};
  return {std::lround(object.weighted_row), std::lround(object.weighted_col)};
}

std::vector<std::size_t> suppress_duplicates(const std::vector<ScoredPosition>& positions, double radius) {
  std::vector<std::size_t> by(positions.size(), kNotSuppressed);
  if (!(radius > 0) || positions.size() < 2) return by;
  std::vector<std::size_t> order(positions.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return positions[a].score > positions[b].score; });
  // Kept positions bucketed on a grid of `radius` cells: a neighbour within radius lies in the
  // 3 x 3 cells around a position.
  const auto cell = [&](double v) { return static_cast<std::int64_t>(std::floor(v / radius)); };
  std::unordered_map<std::int64_t, std::vector<std::size_t>> kept;
  const auto key = [](std::int64_t r, std::int64_t c) { return (r << 32) ^ (c & 0xffffffff); };
  for (const std::size_t i : order) {
    const ScoredPosition& p = positions[i];
    const std::int64_t r = cell(p.row), c = cell(p.col);
    std::size_t winner = kNotSuppressed;
    for (std::int64_t dr = -1; dr <= 1 && winner == kNotSuppressed; ++dr)
      for (std::int64_t dc = -1; dc <= 1 && winner == kNotSuppressed; ++dc) {
        const auto it = kept.find(key(r + dr, c + dc));
        if (it == kept.end()) continue;
        for (const std::size_t j : it->second)
          if (std::hypot(positions[j].row - p.row, positions[j].col - p.col) <= radius) {
            winner = j;
            break;
          }
      }
    if (winner != kNotSuppressed) by[i] = winner;
    else kept[key(r, c)].push_back(i);
  }
  return by;
}

std::vector<Candidate> candidates(const CfarTile& tile) { return merge_components({find_components(tile)}); }

}  // namespace sarscale::detect
