#pragma once
// Counter-based random draws of the features layer: a draw is a pure function of its inputs
// (seed, chip index, operation, ...), so it is the same on any rank and thread. Private to the
// layer: not installed.
#include <cstdint>

namespace sarscale::features::detail {

// splitmix64's finaliser (Steele, Lea and Flood 2014): a bijection of 64-bit words whose outputs
// for consecutive inputs are statistically independent.
inline std::uint64_t mix(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 53 random bits.
inline double unit_interval(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// Uniform integer in [0, span] (span < 2^31) from the high 32 bits: no modulo bias worth the name.
inline int uniform_int(std::uint64_t h, int span) {
  return static_cast<int>(((h >> 32) * (static_cast<std::uint64_t>(span) + 1)) >> 32);
}

}  // namespace sarscale::features::detail
