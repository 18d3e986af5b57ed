#pragma once
// Which chip slots of an ingest each rank reads (pure, no MPI). Inputs that are one chip each
// (MSTAR chips, small rasters) go whole to one rank; a scene cut into tiles is split into its
// rows of tiles (dist::plan_scene_tiles), so the tiles of one large scene are spread over every
// rank. Every rank's share is a contiguous run of slots: the archive's chip order (inputs in
// order, then tile order) does not depend on who reads what.
#include <cstdint>
#include <vector>

#include "sarscale/dist/partition.hpp"

namespace sarscale::dist {

// What the agreed ingest plan knows of one input.
struct InputSlots {
  std::int64_t first_chip = 0;  // its first slot in the archive
  std::int64_t chips = 0;       // its slots; 0 for an input rejected before reading
  std::int64_t rows = 0, cols = 0;  // raster size in pixels (the weight of the work)
  bool tiled = false;               // a scene cut into tiles
  std::int64_t grid_cols = 1;       // tiles across a scene
};

// A rank's share: the slots [first_chip, first_chip + chips) of the inputs [inputs.begin,
// inputs.end) (the first and last may be shared with neighbouring ranks).
struct SlotShare {
  Range inputs;
  std::int64_t first_chip = 0;
  std::int64_t chips = 0;
  bool operator==(const SlotShare&) const = default;
};

// Rank `part`'s share when the work is split into units balanced by pixel count
// (dist::tile_range): one unit per usable input that is not tiled, and one per row of tiles of
// a tiled scene (scene rows a multiple of `stride_rows`, the tile step, so each unit yields
// whole chips). Throws Error when a scene's tile grid disagrees with its size and stride.
SlotShare scene_row_share(const std::vector<InputSlots>& inputs, std::int64_t stride_rows, int parts, int part);

// Rank `part`'s share when inputs are split whole: the inputs of `slice`, all their slots.
SlotShare whole_input_share(const std::vector<InputSlots>& inputs, Range slice);

}  // namespace sarscale::dist
