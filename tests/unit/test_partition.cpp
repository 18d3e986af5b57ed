#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/io/hdf5_util.hpp"

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

// The work left to a resumed run: runs of rows not done, cut into batches, within a rank's share.
TEST(PendingRuns, RunsOfRowsNotDoneCutIntoBatches) {
  using sarscale::io::h5::pending_runs;
  using Runs = std::vector<std::pair<std::int64_t, std::int64_t>>;
  const std::vector<std::uint8_t> none(10, 0);
  EXPECT_EQ(pending_runs(none, 0, 10, 4), (Runs{{0, 4}, {4, 4}, {8, 2}}));
  EXPECT_EQ(pending_runs({}, 3, 5, 10), (Runs{{3, 5}}));  // no record: everything is left
  //                                    0  1  2  3  4  5  6  7  8  9
  const std::vector<std::uint8_t> some{1, 1, 0, 0, 0, 1, 0, 1, 1, 0};
  EXPECT_EQ(pending_runs(some, 0, 10, 2), (Runs{{2, 2}, {4, 1}, {6, 1}, {9, 1}}));
  EXPECT_EQ(pending_runs(some, 3, 4, 8), (Runs{{3, 2}, {6, 1}}));  // only the share [3, 7)
  EXPECT_TRUE(pending_runs(std::vector<std::uint8_t>(6, 1), 0, 6, 3).empty());
  EXPECT_TRUE(pending_runs(some, 4, 0, 3).empty());
  // Every row not done is in exactly one run, and no run holds a done row or exceeds the batch.
  std::vector<std::uint8_t> random(1000);
  unsigned x = 7;
  for (auto& d : random) d = ((x = x * 1103515245u + 12345u) >> 16) % 3 == 0;
  std::vector<int> seen(random.size(), 0);
  for (const auto& [first, count] : pending_runs(random, 100, 800, 16)) {
    EXPECT_LE(count, 16);
    for (std::int64_t i = first; i < first + count; ++i) ++seen[static_cast<std::size_t>(i)];
  }
  for (std::size_t i = 0; i < random.size(); ++i)
    EXPECT_EQ(seen[i], i >= 100 && i < 900 && !random[i] ? 1 : 0) << i;
}

TEST(SceneTiles, CoverEveryPixelOnceInSceneThenRowMajorOrder) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> sizes{{5, 7}, {4, 4}};
  const auto tiles = plan_scene_tiles(sizes, 2, 3);
  // Scene 0: 3 tile rows (2, 2, 1) x 3 tile cols (3, 3, 1); scene 1: 2 x 2 (2 x 3 and 2 x 1).
  ASSERT_EQ(tiles.size(), 9u + 4u);
  EXPECT_EQ(tiles[0], (SceneTile{0, 0, 0, 2, 3}));
  EXPECT_EQ(tiles[2], (SceneTile{0, 0, 6, 2, 1}));
  EXPECT_EQ(tiles[8], (SceneTile{0, 4, 6, 1, 1}));
  EXPECT_EQ(tiles[9], (SceneTile{1, 0, 0, 2, 3}));
  EXPECT_EQ(tiles[12], (SceneTile{1, 2, 3, 2, 1}));
  for (std::size_t s = 0; s < sizes.size(); ++s) {
    std::vector<int> hits(static_cast<std::size_t>(sizes[s].first * sizes[s].second), 0);
    for (const auto& t : tiles)
      if (t.scene == s)
        for (std::int64_t r = t.row0; r < t.row0 + t.rows; ++r)
          for (std::int64_t c = t.col0; c < t.col0 + t.cols; ++c) ++hits[static_cast<std::size_t>(r * sizes[s].second + c)];
    for (const int h : hits) EXPECT_EQ(h, 1);
  }
  EXPECT_THROW(plan_scene_tiles(sizes, 0, 3), sarscale::Error);
  EXPECT_THROW(plan_scene_tiles({{0, 4}}, 2, 2), sarscale::Error);
}

TEST(SceneTiles, RanksShareTilesByPixelsContiguously) {
  // One large scene and two small ones: the large one's tiles are split over the ranks.
  const auto tiles = plan_scene_tiles({{1000, 1000}, {100, 100}, {100, 100}}, 250, 250);
  ASSERT_EQ(tiles.size(), 16u + 2u);
  std::size_t next = 0;
  for (int part = 0; part < 3; ++part) {
    const Range r = tile_range(tiles, 3, part);
    EXPECT_EQ(r.begin, next);
    next = r.end;
    std::uint64_t pixels = 0;
    for (std::size_t i = r.begin; i < r.end; ++i) pixels += tiles[i].pixels();
    EXPECT_NEAR(static_cast<double>(pixels), 1.02e6 / 3, 62500.0 / 2 + 1) << "part " << part;
  }
  EXPECT_EQ(next, tiles.size());
}
