#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "sarscale/dist/partition.hpp"

using namespace sarscale::dist;

TEST(BlockRange, CoversAllItemsOnceWithSizesWithinOne) {
  for (std::size_t n : {0u, 1u, 7u, 100u})
    for (int parts : {1, 2, 3, 4, 7}) {
      std::size_t next = 0, lo = n, hi = 0;
      for (int p = 0; p < parts; ++p) {
        const Range r = block_range(n, parts, p);
        EXPECT_EQ(r.begin, next);
        next = r.end;
        lo = std::min(lo, r.size());
        hi = std::max(hi, r.size());
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(hi - lo, 1u);
    }
}

TEST(WeightedBoundaries, BalancesBytesNotCounts) {
  // One big file then many small ones: at 2 parts the big one stands alone.
  std::vector<std::uint64_t> w = {1000, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100};
  EXPECT_EQ(weighted_boundaries(w, 2), (std::vector<std::size_t>{0, 1, 11}));
}

TEST(WeightedBoundaries, EqualWeightsMatchBlockSplit) {
  std::vector<std::uint64_t> w(12, 5);
  EXPECT_EQ(weighted_boundaries(w, 3), (std::vector<std::size_t>{0, 4, 8, 12}));
  EXPECT_EQ(weighted_boundaries(w, 4), (std::vector<std::size_t>{0, 3, 6, 9, 12}));
}

TEST(WeightedBoundaries, MorePartsThanItemsGivesEmptyParts) {
  std::vector<std::uint64_t> w = {10, 10};
  const auto b = weighted_boundaries(w, 4);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b.front(), 0u);
  EXPECT_EQ(b.back(), 2u);
  for (std::size_t i = 1; i < b.size(); ++i) EXPECT_LE(b[i - 1], b[i]);
}

TEST(WeightedBoundaries, EveryPartWithinOneItemOfItsShare) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> size(1, 1 << 20);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::uint64_t> w(1 + trial * 13);
    for (auto& x : w) x = size(rng);
    const std::uint64_t total = std::accumulate(w.begin(), w.end(), std::uint64_t{0});
    const std::uint64_t biggest = *std::max_element(w.begin(), w.end());
    for (int parts : {1, 2, 3, 4, 5}) {
      const auto b = weighted_boundaries(w, parts);
      for (int p = 0; p < parts; ++p) {
        std::uint64_t mine = 0;
        for (std::size_t i = b[p]; i < b[p + 1]; ++i) mine += w[i];
        const double share = static_cast<double>(total) / parts;
        EXPECT_LE(std::abs(static_cast<double>(mine) - share), 1.0 * biggest + 1) << "trial " << trial;
      }
    }
  }
}

TEST(WeightedBoundaries, EmptyFilesStillSpread) {
  std::vector<std::uint64_t> w(8, 0);
  EXPECT_EQ(weighted_boundaries(w, 2), (std::vector<std::size_t>{0, 4, 8}));
}

TEST(WeightedRange, MatchesBoundaries) {
  std::vector<std::uint64_t> w = {3, 1, 4, 1, 5, 9, 2, 6};
  const auto b = weighted_boundaries(w, 3);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(weighted_range(w, 3, p), (Range{b[p], b[p + 1]}));
  EXPECT_THROW(weighted_range(w, 3, 3), std::exception);
}
