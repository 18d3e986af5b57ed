// The ingest's reading plan (dist/ingest_plan.hpp): which slots each rank reads. Shares are
// contiguous and cover every slot once at any rank count; a scene is split only between rows of
// tiles; one large scene is spread over every rank, balanced by pixels; without scenes the
// probe's byte-balanced slices are kept.
#include <gtest/gtest.h>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/ingest_plan.hpp"

using namespace sarscale::dist;

namespace {

constexpr std::int64_t kStride = 128;

// Inputs in archive order, their first slots filled in.
std::vector<InputSlots> with_slots(std::vector<InputSlots> inputs) {
  std::int64_t next = 0;
  for (auto& in : inputs) {
    in.first_chip = next;
    next += in.chips;
  }
  return inputs;
}

InputSlots chip(std::int64_t side = 128) { return {0, 1, side, side, false, 1}; }
InputSlots rejected() { return {0, 0, 0, 0, false, 1}; }
// A scene tiled every kStride pixels (tiles of kStride too).
InputSlots scene(std::int64_t rows, std::int64_t cols) {
  const std::int64_t gr = (rows + kStride - 1) / kStride, gc = (cols + kStride - 1) / kStride;
  return {0, gr * gc, rows, cols, true, gc};
}

std::int64_t total_slots(const std::vector<InputSlots>& inputs) {
  return inputs.empty() ? 0 : inputs.back().first_chip + inputs.back().chips;
}

// The input holding slot `s`.
std::size_t input_of(const std::vector<InputSlots>& inputs, std::int64_t s) {
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (s >= inputs[i].first_chip && s < inputs[i].first_chip + inputs[i].chips) return i;
  return inputs.size();
}

// Pixels of the rows of tiles / whole inputs in slots [first, first + chips).
double pixels_of(const std::vector<InputSlots>& inputs, std::int64_t first, std::int64_t chips) {
  double px = 0;
  for (std::int64_t s = first; s < first + chips; ++s) {
    const InputSlots& in = inputs[input_of(inputs, s)];
    if (!in.tiled) {
      px += static_cast<double>(in.rows * in.cols);
      continue;
    }
    const std::int64_t grid_row = (s - in.first_chip) / in.grid_cols;
    px += static_cast<double>(std::min(kStride, in.rows - grid_row * kStride) * in.cols) / in.grid_cols;
  }
  return px;
}

}  // namespace

TEST(IngestPlan, SharesCoverEverySlotOnceAndSplitScenesOnlyBetweenRowsOfTiles) {
  const auto inputs = with_slots({chip(), scene(1000, 700), chip(200), rejected(), scene(300, 2000), chip()});
  const std::int64_t total = total_slots(inputs);
  ASSERT_EQ(total, 1 + 48 + 1 + 48 + 1);
  for (int parts = 1; parts <= 7; ++parts) {
    std::int64_t next = 0;
    for (int p = 0; p < parts; ++p) {
      const SlotShare s = scene_row_share(inputs, kStride, parts, p);
      if (s.chips == 0) continue;
      EXPECT_EQ(s.first_chip, next) << parts << " parts, part " << p;
      next = s.first_chip + s.chips;
      // Its inputs are exactly those holding its first and last slots.
      EXPECT_EQ(s.inputs.begin, input_of(inputs, s.first_chip));
      EXPECT_EQ(s.inputs.end, input_of(inputs, next - 1) + 1);
      // A share begins at an input's first slot or at a row of tiles of a scene.
      const InputSlots& in = inputs[s.inputs.begin];
      EXPECT_EQ((s.first_chip - in.first_chip) % in.grid_cols, 0) << parts << " parts, part " << p;
    }
    EXPECT_EQ(next, total) << parts << " parts";
  }
  EXPECT_EQ(scene_row_share(inputs, kStride, 1, 0), (SlotShare{{0, 6}, 0, total}));
}

TEST(IngestPlan, OneLargeSceneIsSpreadOverEveryRankByPixels) {
  // 32768 x 32768 pixels in tiles of 128: 256 rows of 256 tiles, beside two chips.
  const auto inputs = with_slots({chip(), scene(32768, 32768), chip()});
  for (int parts = 2; parts <= 4; ++parts) {
    const double share = pixels_of(inputs, 0, total_slots(inputs)) / parts;
    for (int p = 0; p < parts; ++p) {
      const SlotShare s = scene_row_share(inputs, kStride, parts, p);
      EXPECT_LE(s.inputs.begin, 1u);
      EXPECT_GE(s.inputs.end, 2u);  // every rank reads rows of the scene
      // Within a row of tiles (half at either end) of an equal share.
      EXPECT_NEAR(pixels_of(inputs, s.first_chip, s.chips), share, 128.0 * 32768 + 128 * 128)
          << parts << " parts, part " << p;
    }
  }
  // Two ranks: each reads 128 of the 256 rows of tiles (one also takes a chip).
  const SlotShare a = scene_row_share(inputs, kStride, 2, 0), b = scene_row_share(inputs, kStride, 2, 1);
  EXPECT_EQ(a.chips, 1 + 128 * 256);
  EXPECT_EQ(b.first_chip, 1 + 128 * 256);
  EXPECT_EQ(b.chips, 128 * 256 + 1);
}

TEST(IngestPlan, WithoutScenesTheProbedSlicesAreKeptWhole) {
  const auto inputs = with_slots({chip(), chip(), rejected(), chip(), chip(256)});
  EXPECT_EQ(whole_input_share(inputs, {1, 4}), (SlotShare{{1, 4}, 1, 2}));
  EXPECT_EQ(whole_input_share(inputs, {2, 3}), (SlotShare{{2, 3}, 2, 0}));
  EXPECT_EQ(whole_input_share(inputs, {3, 3}), (SlotShare{{3, 3}, 0, 0}));
  // Units of whole inputs balanced by pixels: the 256 x 256 chip weighs as four others.
  const auto mine = scene_row_share(inputs, kStride, 2, 1);
  EXPECT_EQ(mine, (SlotShare{{4, 5}, 3, 1}));
}

TEST(IngestPlan, ASceneWhoseTilesDisagreeWithItsSizeIsAnError) {
  auto inputs = with_slots({scene(1000, 700)});
  inputs[0].grid_cols = 5;  // 8 rows of 6 tiles, not of 5
  EXPECT_THROW(scene_row_share(inputs, kStride, 2, 0), sarscale::Error);
}
