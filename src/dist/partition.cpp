#include "sarscale/dist/partition.hpp"

#include <algorithm>

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

}  // namespace sarscale::dist
