#pragma once
// Pure work-partitioning plans (no MPI): which contiguous slice of an ordered work list
// each rank takes. Contiguous slices keep the archive's order equal to the input order.
#include <cstddef>
#include <cstdint>
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

}  // namespace sarscale::dist
