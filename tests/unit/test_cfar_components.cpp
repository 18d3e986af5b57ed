// Candidates from CFAR detections (detect/components.hpp): 8-connected components against a
// brute-force flood fill, and tiles merged across their borders against the untiled scene.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <tuple>

#include "cfar_reference.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/detect/components.hpp"

namespace sarscale::detect {
namespace {

// A tile whose detections are the set pixels of `mask` inside `core`, with made-up per-pixel values.
CfarTile tile_from_mask(const std::vector<std::uint8_t>& mask, std::int64_t rows, std::int64_t cols, const Rect& core) {
  CfarTile t;
  t.core = core;
  t.scene_rows = rows;
  t.scene_cols = cols;
  for (std::int64_t r = core.row0; r < core.row0 + core.rows; ++r)
    for (std::int64_t c = core.col0; c < core.col0 + core.cols; ++c)
      if (mask[static_cast<std::size_t>(r * cols + c)]) {
        const float value = 1.0f + static_cast<float>((r * 7 + c * 13) % 17) / 3.0f;
        t.detections.push_back({r, c, value, 40, 0.1 + 0.01 * static_cast<double>(c % 5), 0.5, 0.3 * static_cast<double>(r % 4)});
      }
  return t;
}

// Bit for bit equal (field by field: the struct has padding).
bool same(const Candidate& a, const Candidate& b) {
  auto fields = [](const Candidate& c) {
    return std::make_tuple(c.area, c.row_min, c.col_min, c.row_max, c.col_max, c.centroid_row, c.centroid_col,
                           c.weighted_row, c.weighted_col, c.peak, c.peak_row, c.peak_col, c.mean_intensity,
                           c.mean_background, c.contrast_db, c.mean_score, c.max_score);
  };
  return fields(a) == fields(b);
}

// Flood fill (8-connectivity) of the detected pixels: the components' pixel lists.
std::vector<std::vector<CfarDetection>> flood_fill(const CfarTile& t) {
  const std::int64_t rows = t.scene_rows, cols = t.scene_cols;
  std::vector<int> at(static_cast<std::size_t>(rows * cols), -1);
  for (std::size_t i = 0; i < t.detections.size(); ++i)
    at[static_cast<std::size_t>(t.detections[i].row * cols + t.detections[i].col)] = static_cast<int>(i);
  std::vector<bool> seen(t.detections.size(), false);
  std::vector<std::vector<CfarDetection>> out;
  for (std::size_t s = 0; s < t.detections.size(); ++s) {
    if (seen[s]) continue;
    std::vector<std::size_t> stack{s};
    seen[s] = true;
    out.emplace_back();
    while (!stack.empty()) {
      const CfarDetection d = t.detections[stack.back()];
      stack.pop_back();
      out.back().push_back(d);
      for (std::int64_t dr = -1; dr <= 1; ++dr)
        for (std::int64_t dc = -1; dc <= 1; ++dc) {
          const std::int64_t r = d.row + dr, c = d.col + dc;
          if (r < 0 || c < 0 || r >= rows || c >= cols) continue;
          const int j = at[static_cast<std::size_t>(r * cols + c)];
          if (j >= 0 && !seen[static_cast<std::size_t>(j)]) {
            seen[static_cast<std::size_t>(j)] = true;
            stack.push_back(static_cast<std::size_t>(j));
          }
        }
    }
  }
  return out;
}

TEST(CfarComponents, MatchFloodFillOnCfarDetections) {
  cfar_test::Scene s = cfar_test::gamma_clutter(120, 90, 1, 1.0, 17);
  cfar_test::add_target(s, 30, 30, 6, 9, 40);
  cfar_test::add_target(s, 0, 0, 3, 3, 40);
  CfarParams p;
  p.guard = 2;
  p.background = 3;
  p.pfa = 0.05;  // many false alarms, some of them touching
  const CfarTile tile = Cfar(p).run(s.whole(), {0, 0, s.rows, s.cols}, 2);
  const std::vector<Candidate> found = candidates(tile);
  const auto reference = flood_fill(tile);
  ASSERT_EQ(found.size(), reference.size());
  std::size_t multi = 0;
  for (const auto& pixels : reference) {
    // peak: the largest value, the first in row-major order among equals
    CfarDetection peak = pixels[0];
    double sum_r = 0, sum_c = 0, sum_x = 0, sum_xr = 0;
    std::int64_t r0 = pixels[0].row, r1 = r0, c0 = pixels[0].col, c1 = c0;
    for (const CfarDetection& d : pixels) {
      if (d.value > peak.value || (d.value == peak.value && (d.row < peak.row || (d.row == peak.row && d.col < peak.col)))) peak = d;
      sum_r += static_cast<double>(d.row);
      sum_c += static_cast<double>(d.col);
      sum_x += d.value;
      sum_xr += d.value * static_cast<double>(d.row);
      r0 = std::min(r0, d.row), r1 = std::max(r1, d.row), c0 = std::min(c0, d.col), c1 = std::max(c1, d.col);
    }
    multi += pixels.size() > 1;
    const auto it = std::find_if(found.begin(), found.end(), [&](const Candidate& c) {
      return c.peak_row == peak.row && c.peak_col == peak.col;
    });
    ASSERT_NE(it, found.end()) << "no candidate with peak (" << peak.row << ", " << peak.col << ")";
    const auto n = static_cast<double>(pixels.size());
    EXPECT_EQ(it->area, static_cast<std::int64_t>(pixels.size()));
    EXPECT_EQ(it->row_min, r0);
    EXPECT_EQ(it->row_max, r1);
    EXPECT_EQ(it->col_min, c0);
    EXPECT_EQ(it->col_max, c1);
    EXPECT_NEAR(it->centroid_row, sum_r / n, 1e-9);
    EXPECT_NEAR(it->centroid_col, sum_c / n, 1e-9);
    EXPECT_NEAR(it->weighted_row, sum_xr / sum_x, 1e-9);
    EXPECT_NEAR(it->mean_intensity, sum_x / n, 1e-9 * sum_x / n);
  }
  EXPECT_GT(multi, 5u);  // the test exercises real merging, not just single pixels
  EXPECT_TRUE(std::is_sorted(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
    return a.peak_row < b.peak_row || (a.peak_row == b.peak_row && a.peak_col < b.peak_col);
  }));
}

// Shapes cut by tile borders: across an edge, through a corner by a diagonal step only, a U whose
// arms meet only in another tile, a line crossing many tiles. Every tiling gives the untiled result.
TEST(CfarComponents, TargetsCutByTilesAreOneCandidate) {
  const std::int64_t rows = 64, cols = 64;
  std::vector<std::uint8_t> mask(rows * cols, 0);
  auto set = [&](std::int64_t r, std::int64_t c) { mask[static_cast<std::size_t>(r * cols + c)] = 1; };
  for (int r = 14; r < 18; ++r)
    for (int c = 3; c < 6; ++c) set(r, c);   // across the row-16 edge
  set(15, 15), set(16, 16), set(17, 17), set(14, 14);  // diagonal through the corner (16, 16)
  for (int r = 20; r < 31; ++r) set(r, 40), set(r, 46);  // U: two arms in one tile ...
  for (int c = 40; c <= 46; ++c) set(33, c);             // ... joined below the row-32 edge
  set(31, 40), set(32, 40), set(31, 46), set(32, 46);
  for (int c = 0; c < 64; ++c) set(50 + (c % 2), c);     // a zig-zag line across every column tile
  set(0, 63), set(63, 0), set(47, 47);                   // scene corners, a tile corner alone
  std::mt19937_64 rng(5);
  for (int i = 0; i < 300; ++i) set(static_cast<std::int64_t>(rng() % rows), static_cast<std::int64_t>(rng() % cols));

  const std::vector<Candidate> whole = candidates(tile_from_mask(mask, rows, cols, {0, 0, rows, cols}));
  std::vector<std::pair<std::int64_t, std::int64_t>> tilings = {{16, 16}, {1, 64}, {64, 1}, {7, 5}, {32, 32}};
  for (int i = 0; i < 5; ++i) tilings.emplace_back(1 + rng() % 20, 1 + rng() % 20);
  for (const auto& [th, tw] : tilings) {
    std::vector<TileComponents> tiles;
    for (std::int64_t r0 = 0; r0 < rows; r0 += th)
      for (std::int64_t c0 = 0; c0 < cols; c0 += tw)
        tiles.push_back(find_components(tile_from_mask(mask, rows, cols, {r0, c0, std::min(th, rows - r0), std::min(tw, cols - c0)})));
    std::shuffle(tiles.begin(), tiles.end(), rng);  // the order tiles arrive in does not matter
    const std::vector<Candidate> merged = merge_components(tiles);
    ASSERT_EQ(merged.size(), whole.size()) << th << "x" << tw << " tiles";
    for (std::size_t i = 0; i < whole.size(); ++i) ASSERT_TRUE(same(merged[i], whole[i])) << th << "x" << tw << " candidate " << i;
  }
  // The shapes above are single candidates.
  auto with_peak_box = [&](std::int64_t r0, std::int64_t c0, std::int64_t r1, std::int64_t c1) {
    return std::any_of(whole.begin(), whole.end(), [&](const Candidate& c) {
      return c.row_min <= r0 && c.col_min <= c0 && c.row_max >= r1 && c.col_max >= c1;
    });
  };
  EXPECT_TRUE(with_peak_box(14, 14, 17, 17));
  EXPECT_TRUE(with_peak_box(20, 40, 33, 46));
  EXPECT_TRUE(with_peak_box(50, 0, 51, 63));
}

TEST(CfarComponents, CfarTilesMergeToTheWholeScene) {
  cfar_test::Scene s = cfar_test::gamma_clutter(96, 80, 1, 1.0, 23);
  for (std::int64_t r : {0, 23, 24, 47, 70})
    for (std::int64_t c : {5, 19, 39, 60}) cfar_test::add_target(s, r - 2, c - 2, 5, 4, 50);  // on tile borders
  CfarParams p;
  p.guard = 3;
  p.background = 4;
  p.pfa = 1e-3;
  const Cfar cfar(p);
  const std::vector<Candidate> whole = candidates(cfar.run(s.whole(), {0, 0, s.rows, s.cols}, 1));
  ASSERT_GT(whole.size(), 15u);
  for (const auto& [th, tw] : std::vector<std::pair<std::int64_t, std::int64_t>>{{24, 20}, {13, 11}, {96, 7}}) {
    std::vector<TileComponents> tiles;
    for (std::int64_t r0 = 0; r0 < s.rows; r0 += th)
      for (std::int64_t c0 = 0; c0 < s.cols; c0 += tw)
        tiles.push_back(find_components(cfar.run(s.whole(), {r0, c0, std::min(th, s.rows - r0), std::min(tw, s.cols - c0)}, 2)));
    const std::vector<Candidate> merged = merge_components(tiles);
    ASSERT_EQ(merged.size(), whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) ASSERT_TRUE(same(merged[i], whole[i])) << "candidate " << i;
  }
}

// What a rank sends to the merging rank: packed and unpacked tiles merge to the same candidates.
TEST(CfarComponents, PackedTilesMergeAlike) {
  cfar_test::Scene s = cfar_test::gamma_clutter(60, 70, 1, 1.0, 31);
  cfar_test::add_target(s, 28, 33, 5, 5, 50);  // across the tiles' shared corner
  CfarParams p;
  p.guard = 4;  // the target stays out of its own pixels' rings
  p.background = 2;
  p.pfa = 1e-2;
  const Cfar cfar(p);
  std::vector<TileComponents> tiles, unpacked;
  for (std::int64_t r0 : {0, 30})
    for (std::int64_t c0 : {0, 35}) {
      tiles.push_back(find_components(cfar.run(s.whole(), {r0, c0, 30, 35}, 1)));
      const std::vector<std::uint8_t> bytes = pack_components(tiles.back());
      unpacked.push_back(unpack_components(bytes.data(), bytes.size()));
      EXPECT_THROW(unpack_components(bytes.data(), bytes.size() - 1), InputError);
      EXPECT_THROW(unpack_components(bytes.data() + 8, bytes.size() - 8), InputError);
    }
  const std::vector<Candidate> a = merge_components(tiles), b = merge_components(unpacked);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 10u);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same(a[i], b[i])) << i;
  std::size_t open = 0;
  for (const TileComponents& t : unpacked) open += t.open.size();
  EXPECT_GT(open, 3u);  // the target is open in all four tiles, at least
  EXPECT_TRUE(std::any_of(b.begin(), b.end(), [](const Candidate& c) {  // and one candidate after the merge
    return c.row_min < 30 && c.row_max >= 30 && c.col_min < 35 && c.col_max >= 35;
  }));
}

TEST(CfarComponents, RefusesOverlappingTiles) {
  const std::vector<std::uint8_t> mask(100, 1);
  const TileComponents a = find_components(tile_from_mask(mask, 10, 10, {0, 0, 6, 10}));
  const TileComponents b = find_components(tile_from_mask(mask, 10, 10, {5, 0, 5, 10}));
  EXPECT_THROW(merge_components({a, b}), ConfigError);
  CfarTile unsorted = tile_from_mask(mask, 10, 10, {0, 0, 10, 10});
  std::swap(unsorted.detections[0], unsorted.detections[1]);
  EXPECT_THROW(find_components(unsorted), ConfigError);
}

}  // namespace
}  // namespace sarscale::detect

namespace sarscale::detect {

TEST(CfarComponents, ClusterJoinsNearbyCandidatesIntoOneObject) {
  // Three components of one "vehicle" (the first two 3 pixels apart, the third 8 rows below the
  // second's box)
  // and one far away.
  const auto make = [](std::int64_t r, std::int64_t c, std::int64_t area, float peak, double pfa) {
    Candidate k;
    k.area = area;
    k.row_min = r, k.row_max = r + 1, k.col_min = c, k.col_max = c + 1;
    k.centroid_row = k.weighted_row = static_cast<double>(r) + 0.5;
    k.centroid_col = k.weighted_col = static_cast<double>(c) + 0.5;
    k.peak = peak, k.peak_row = r, k.peak_col = c;
    k.mean_intensity = peak, k.mean_background = 1, k.contrast_db = 10 * std::log10(peak);
    k.min_log10_pfa = pfa;
    return k;
  };
  const std::vector<Candidate> parts = {make(10, 10, 4, 100, -7), make(10, 15, 4, 300, -9), make(19, 17, 2, 50, -6),
                                        make(200, 200, 1, 80, -8)};
  const auto objects = cluster_candidates(parts, 8);
  ASSERT_EQ(objects.size(), 2u);
  const Candidate& v = objects[0];
  EXPECT_EQ(v.area, 10);
  EXPECT_EQ(v.row_min, 10);
  EXPECT_EQ(v.row_max, 20);
  EXPECT_EQ(v.col_min, 10);
  EXPECT_EQ(v.col_max, 18);
  EXPECT_EQ(v.peak, 300.0f);
  EXPECT_EQ(v.peak_col, 15);
  EXPECT_EQ(v.min_log10_pfa, -9);
  // Intensity-weighted over every pixel: weights mean x area = 400, 1200, 100.
  EXPECT_DOUBLE_EQ(v.weighted_row, (10.5 * 400 + 10.5 * 1200 + 19.5 * 100) / 1700);
  EXPECT_DOUBLE_EQ(v.weighted_col, (10.5 * 400 + 15.5 * 1200 + 17.5 * 100) / 1700);
  EXPECT_DOUBLE_EQ(v.mean_intensity, 170);
  EXPECT_EQ(objects[1].area, 1);
  // A gap of 7 leaves the third component apart (8 rows below the second's box); -1: no clustering.
  EXPECT_EQ(cluster_candidates(parts, 7).size(), 3u);
  EXPECT_EQ(cluster_candidates(parts, -1).size(), 4u);
}

}  // namespace sarscale::detect

namespace sarscale::detect {

TEST(CfarComponents, ChipCentreIsTheBoxCentreOrTheWeightedCentroidRounded) {
  Candidate c;
  c.row_min = 10, c.row_max = 13, c.col_min = 20, c.col_max = 20;
  c.weighted_row = 11.4, c.weighted_col = 20.5;
  EXPECT_EQ(chip_centre(c, true).row, 12);  // 11.5 rounds away from zero
  EXPECT_EQ(chip_centre(c, true).col, 20);
  EXPECT_EQ(chip_centre(c, false).row, 11);
  EXPECT_EQ(chip_centre(c, false).col, 21);
}

// The best-scoring position of a group is kept; the others name it; far ones stay; ties keep
// the lower index; radius 0 suppresses nothing.
TEST(CfarComponents, SuppressDuplicatesKeepsTheBestOfEachNeighbourhood) {
  const std::vector<ScoredPosition> p = {{100, 100, 0.7}, {110, 105, 0.9}, {130, 100, 0.8},
                                         {500, 500, 0.1}, {505, 500, 0.1}, {100, 124.9, 0.2}};
  const std::vector<std::size_t> by = suppress_duplicates(p, 24);
  EXPECT_EQ(by[1], kNotSuppressed);  // the best
  EXPECT_EQ(by[0], 1u);              // 11.2 from it
  EXPECT_EQ(by[2], 1u);              // 20.6 from it
  EXPECT_EQ(by[3], kNotSuppressed);  // tie: the lower index wins
  EXPECT_EQ(by[4], 3u);
  EXPECT_EQ(by[5], 1u);              // 22.4 from the best (24.9 from the suppressed first one)
  EXPECT_EQ(suppress_duplicates(p, 0), std::vector<std::size_t>(p.size(), kNotSuppressed));
  // Against brute force on a random field: kept ones are farther than the radius from each other,
  // every suppressed one lies within it of its keeper, which scores at least as high.
  std::vector<ScoredPosition> field;
  std::uint64_t x = 88172645463325252ull;
  const auto next = [&] { x ^= x << 13, x ^= x >> 7, x ^= x << 17; return static_cast<double>(x % 100000) / 100.0; };
  for (int i = 0; i < 400; ++i) field.push_back({next(), next(), next()});
  const auto res = suppress_duplicates(field, 30);
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (res[i] != kNotSuppressed) {
      EXPECT_EQ(res[res[i]], kNotSuppressed);
      EXPECT_LE(std::hypot(field[i].row - field[res[i]].row, field[i].col - field[res[i]].col), 30.0);
      EXPECT_GE(field[res[i]].score, field[i].score);
      continue;
    }
    for (std::size_t j = i + 1; j < field.size(); ++j)
      if (res[j] == kNotSuppressed)
        EXPECT_GT(std::hypot(field[i].row - field[j].row, field[i].col - field[j].col), 30.0);
  }
}

}  // namespace sarscale::detect
