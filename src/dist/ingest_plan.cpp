#include "sarscale/dist/ingest_plan.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "sarscale/core/error.hpp"

namespace sarscale::dist {

namespace {

// One unit of reading work: the rectangle it covers (for its pixel weight) and its slots.
struct Unit {
  SceneTile area;  // area.scene: the input index
  std::int64_t first_chip = 0, chips = 0;
};

std::vector<Unit> reading_units(const std::vector<InputSlots>& inputs, std::int64_t stride_rows) {
  // The scenes' rows of tiles: plan_scene_tiles with tiles one stride high and as wide as the
  // widest scene, so each of its tiles is one whole row of chip tiles.
  std::vector<std::pair<std::int64_t, std::int64_t>> sizes;
  std::int64_t widest = 1;
  for (const InputSlots& in : inputs)
    if (in.tiled && in.chips > 0) {
      sizes.emplace_back(in.rows, in.cols);
      widest = std::max(widest, in.cols);
    }
  const std::vector<SceneTile> rows = plan_scene_tiles(sizes, stride_rows, widest);

  std::vector<Unit> units;
  std::size_t scene = 0, row = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const InputSlots& in = inputs[i];
    if (in.chips <= 0) continue;  // rejected: nothing to read
    if (!in.tiled) {
      units.push_back({{i, 0, 0, in.rows, in.cols}, in.first_chip, in.chips});
      continue;
    }
    std::int64_t grid_row = 0;
    for (; row < rows.size() && rows[row].scene == scene; ++row, ++grid_row) {
      SceneTile area = rows[row];
      area.scene = i;
      units.push_back({area, in.first_chip + grid_row * in.grid_cols, in.grid_cols});
    }
    if (in.grid_cols <= 0 || grid_row * in.grid_cols != in.chips)
      throw Error("ingest plan: input " + std::to_string(i) + " has " + std::to_string(in.chips) +
                  " tiles, not the " + std::to_string(grid_row) + " rows of " + std::to_string(in.grid_cols) +
                  " that its size and tile stride give");
    ++scene;
  }
  return units;
}

}  // namespace

SlotShare scene_row_share(const std::vector<InputSlots>& inputs, std::int64_t stride_rows, int parts, int part) {
  const std::vector<Unit> units = reading_units(inputs, stride_rows);
  std::vector<SceneTile> areas;
  areas.reserve(units.size());
  for (const Unit& u : units) areas.push_back(u.area);
  const Range mine = tile_range(areas, parts, part);
  if (mine.empty()) return {};
  const Unit& first = units[mine.begin];
  const Unit& last = units[mine.end - 1];
  return {{first.area.scene, last.area.scene + 1}, first.first_chip, last.first_chip + last.chips - first.first_chip};
}

SlotShare whole_input_share(const std::vector<InputSlots>& inputs, Range slice) {
  SlotShare share{slice, 0, 0};
  if (slice.empty()) return share;
  share.first_chip = inputs[slice.begin].first_chip;
  for (std::size_t i = slice.begin; i < slice.end; ++i) share.chips += inputs[i].chips;
  return share;
}

}  // namespace sarscale::dist
