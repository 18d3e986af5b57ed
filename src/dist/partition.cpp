#include "sarscale/dist/partition.hpp"

#include <algorithm>
#include <string>

#include "sarscale/core/error.hpp"

namespace sarscale::dist {

Range block_range(std::size_t n, int parts, int part) {
  if (parts <= 0 || part < 0 || part >= parts) throw Error("block_range: bad part index");
  const std::size_t p = static_cast<std::size_t>(parts), k = static_cast<std::size_t>(part);
  const std::size_t base = n / p, extra = n % p;
  const std::size_t begin = k * base + std::min(k, extra);
  return {begin, begin + base + (k < extra ? 1 : 0)};
}

std::vector<std::size_t> weighted_boundaries(const std::vector<std::uint64_t>& weights, int parts) {
  if (parts <= 0) throw Error("weighted_boundaries: parts must be positive");
  const std::size_t n = weights.size();
  // prefix[i] = total weight of items [0, i); long double keeps k*W/parts exact enough
  // for archives of many terabytes.
  std::vector<unsigned long long> prefix(n + 1, 0);
  for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + std::max<std::uint64_t>(weights[i], 1);
  const long double total = static_cast<long double>(prefix[n]);

  std::vector<std::size_t> bounds(static_cast<std::size_t>(parts) + 1, 0);
  bounds[static_cast<std::size_t>(parts)] = n;
  std::size_t i = 0;
  for (int k = 1; k < parts; ++k) {
    const long double target = total * k / parts;
    // First boundary index whose prefix reaches the target; then pick the closer neighbour.
    while (i < n && static_cast<long double>(prefix[i]) < target) ++i;
    std::size_t b = i;
    if (b > 0 && target - prefix[b - 1] < static_cast<long double>(prefix[b]) - target) --b;
    b = std::max(b, bounds[static_cast<std::size_t>(k - 1)]);  // boundaries never go backwards
    bounds[static_cast<std::size_t>(k)] = b;
  }
  return bounds;
}

Range weighted_range(const std::vector<std::uint64_t>& weights, int parts, int part) {
  if (part < 0 || part >= parts) throw Error("weighted_range: bad part index");
  const auto b = weighted_boundaries(weights, parts);
  return {b[static_cast<std::size_t>(part)], b[static_cast<std::size_t>(part) + 1]};
}

std::vector<SceneTile> plan_scene_tiles(const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes,
                                        std::int64_t tile_rows, std::int64_t tile_cols) {
  if (tile_rows <= 0 || tile_cols <= 0) throw Error("plan_scene_tiles: the tile size must be positive");
  std::vector<SceneTile> tiles;
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    const auto [rows, cols] = sizes[s];
    if (rows <= 0 || cols <= 0) throw Error("plan_scene_tiles: scene " + std::to_string(s) + " has no pixels");
    for (std::int64_t r = 0; r < rows; r += tile_rows)
      for (std::int64_t c = 0; c < cols; c += tile_cols)
        tiles.push_back({s, r, c, std::min(tile_rows, rows - r), std::min(tile_cols, cols - c)});
  }
  return tiles;
}

Range tile_range(const std::vector<SceneTile>& tiles, int parts, int part) {
  std::vector<std::uint64_t> weights;
  weights.reserve(tiles.size());
  for (const SceneTile& t : tiles) weights.push_back(t.pixels());
  return weighted_range(weights, parts, part);
}

}  // namespace sarscale::dist
