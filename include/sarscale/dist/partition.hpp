#pragma once
// Pure work-partitioning plans (no MPI): which contiguous slice of an ordered work list
// each rank takes. Contiguous slices keep the archive's order equal to the input order.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sarscale::dist {

struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
  bool empty() const { return end == begin; }
  bool operator==(const Range&) const = default;
};

// Splits [0, n) into `parts` contiguous ranges whose sizes differ by at most one
// (the first n % parts ranges get the extra item).
Range block_range(std::size_t n, int parts, int part);

// Splits the ordered items into `parts` contiguous ranges with balanced total weight
// (bytes, say). Returns parts+1 boundaries, boundaries[0] = 0, boundaries[parts] = n.
// Each boundary is placed where the running weight is closest to its share k*W/parts,
// so no part is off its share by more than half of one item's weight plus rounding.
// Zero-weight items count as weight 1 so that empty files are spread as well.
std::vector<std::size_t> weighted_boundaries(const std::vector<std::uint64_t>& weights, int parts);

// The range of part `part` from weighted_boundaries().
Range weighted_range(const std::vector<std::uint64_t>& weights, int parts, int part);

// A rectangle of one scene of a list of scenes: rows [row0, row0 + rows), cols [col0, col0 + cols).
struct SceneTile {
  std::size_t scene = 0;  // index into the list of scenes
  std::int64_t row0 = 0, col0 = 0, rows = 0, cols = 0;
  std::uint64_t pixels() const { return static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(cols); }
  bool operator==(const SceneTile&) const = default;
};

// Tiles of tile_rows x tile_cols covering every scene (sizes: rows, cols each), scenes in order
// and each scene's tiles row-major; the last row and column of tiles are smaller. Spreading
// tiles rather than whole scenes keeps every rank busy on a few large scenes, and bounds the
// memory of a rank by the tile size. Throws Error for a non-positive tile size or scene size.
std::vector<SceneTile> plan_scene_tiles(const std::vector<std::pair<std::int64_t, std::int64_t>>& sizes,
                                        std::int64_t tile_rows, std::int64_t tile_cols);

// Rank `part`'s share of the tiles: a contiguous range balanced by pixel count (weighted_range),
// so consecutive tiles of one scene stay on one rank where they can.
Range tile_range(const std::vector<SceneTile>& tiles, int parts, int part);

}  // namespace sarscale::dist
