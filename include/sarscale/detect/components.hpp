#pragma once
// Candidates: the 8-connected components of CFAR detections (two detected pixels belong to one
// candidate when they touch by a side or a corner), with their statistics.
//
// Tiles: find_components() on each tile's CfarTile closes the components that do not touch an
// edge the tile shares with another tile; the others stay open and keep their pixels.
// merge_components() joins open components of different tiles whose pixels touch across a shared
// edge (union-find) and computes every statistic from the joined pixels in row-major order, which
// is the order a whole-scene run accumulates them in: a target cut by tile borders is one
// candidate, bit for bit as on the untiled scene. Candidates come sorted by peak position
// (row-major), which no tiling or thread count changes.
#include <cstdint>
#include <vector>

#include "sarscale/detect/cfar.hpp"

namespace sarscale::detect {

struct Candidate {
  std::int64_t area = 0;  // pixels
  std::int64_t row_min = 0, col_min = 0, row_max = 0, col_max = 0;  // bounding box, inclusive
  double centroid_row = 0, centroid_col = 0;  // geometric (mean of the pixel positions)
  double weighted_row = 0, weighted_col = 0;  // intensity-weighted
  float peak = 0;                             // largest intensity; the first in row-major order
  std::int64_t peak_row = 0, peak_col = 0;
  double mean_intensity = 0;
  double mean_background = 0;  // mean clutter level of its pixels' rings (the CFAR's background)
  double contrast_db = 0;      // 10 log10(mean_intensity / mean_background) (gamma/OS models)
  double mean_score = 0;       // mean CFAR score (dB above threshold)
  double max_score = 0;
  // The most significant pixel's log10 false-alarm probability (CfarDetection::log10_pfa): the
  // candidate still has that pixel at any Pfa with log10(Pfa) above it (ROC points in one pass).
  double min_log10_pfa = 0;
};

// The components of one tile: closed ones as candidates, open ones (touching an edge shared with
// a neighbouring tile) as their pixels in row-major order.
struct TileComponents {
  Rect core;
  std::int64_t scene_rows = 0;
  std::int64_t scene_cols = 0;
  std::vector<Candidate> closed;
  std::vector<std::vector<CfarDetection>> open;
};

// The statistics of one component from its pixels in row-major order.
Candidate make_candidate(const std::vector<CfarDetection>& pixels);

// Components of a tile's detections (its list must be row-major, as Cfar::run gives it).
TileComponents find_components(const CfarTile& tile);

// Every candidate of the tiles, whose cores must not overlap (together they should cover the
// scene, as a tiling does): open components joined across shared edges. Sorted by peak position.
std::vector<Candidate> merge_components(const std::vector<TileComponents>& tiles);

// A tile's components as one flat byte buffer, for the rank that merges (MPI sends bytes), and
// back. Native byte order and layout: the ranks of one job share them. unpack_components throws
// InputError for a buffer that is truncated or does not hold a packed TileComponents.
std::vector<std::uint8_t> pack_components(const TileComponents& tile);
TileComponents unpack_components(const std::uint8_t* data, std::size_t size);

// Objects: candidates whose bounding boxes come within `gap` pixels of each other (Chebyshev
// distance between the boxes), joined transitively. A vehicle at fine resolution is a handful of
// bright scatterers that the CFAR finds as separate components; the discriminator must see the
// vehicle, not each scatterer. A joined candidate has the union box, the summed area, the
// area-weighted means (intensity, background, score) and the intensity-weighted centroid of all its
// pixels, the brightest peak (the first in row-major order on ties) and the smallest log10 Pfa.
// gap < 0 leaves the candidates as they are. Sorted by peak position like merge_components, and a
// pure function of the candidates: tiled and untiled scenes give the same objects.
std::vector<Candidate> cluster_candidates(const std::vector<Candidate>& candidates, int gap);

// Where a classifier's chip is centred on an object (scene pixel indices): its bounding box's
// centre, or with on_box = false its intensity-weighted centroid, rounded half away from zero.
// `detect` centres its chips there and `cut` centres training chips there, so that a model
// learns vehicles as the prescreener will show them.
struct PixelIndex {
  std::int64_t row = 0, col = 0;
};
PixelIndex chip_centre(const Candidate& object, bool on_box);

// Duplicate suppression (non-maximum suppression) of declared targets: a vehicle can give
// several objects (scatterers farther apart than the cluster gap, a clutter hit on its
// footprint), each classified as that vehicle. Taking them by score (highest first; ties: the
// lower index), each position within `radius` pixels (Euclidean) of one already kept is
// suppressed by it. Returns, per position, the index of the one that suppressed it, or
// kNotSuppressed. radius <= 0 suppresses nothing. Pure; O(n log n + n k) for k kept nearby.
inline constexpr std::size_t kNotSuppressed = static_cast<std::size_t>(-1);
struct ScoredPosition {
  double row = 0, col = 0;
  double score = 0;
};
std::vector<std::size_t> suppress_duplicates(const std::vector<ScoredPosition>& positions, double radius);

// A whole scene (or a tile taken alone): find_components then merge_components.
std::vector<Candidate> candidates(const CfarTile& tile);

}  // namespace sarscale::detect
