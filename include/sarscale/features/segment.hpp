#pragma once
// Target and shadow segmentation of one chip: what the preprocessing step `mask` keeps, also used
// where a chip's background must be told from its target (acquisition-shift validation).
//
// Target: pixels above Otsu's threshold of the chip (method otsu), or detected by a cell-averaging
// CFAR on intensity (method cfar: a square training ring `train` pixels wide outside a `guard`
// ring, threshold N (pfa^(-1/N) - 1) * mean(ring), exponential clutter). With smooth > 1 the
// thresholds see the smooth x smooth box mean of the chip instead of its pixels: single-look speckle
// puts isolated clutter pixels above any global threshold, a local mean does not. With
// central = true only one 8-connected component of the target is kept: the one with the largest
// size / (1 + (d / 20)^2), d the distance in pixels of its centroid from the chip centre (MSTAR-like
// chips are centred on their target, and bright clutter discretes lie off centre).
// The target is then dilated by `grow` pixels (square neighbourhood).
// Shadow: pixels at or below a second Otsu threshold of the (smoothed) values outside the dilated
// target, within `reach` pixels of it (reach 0: no shadow).
#include <string>
#include <vector>

namespace sarscale::features {

struct SegmentParams {
  enum class Method { otsu, cfar };
  Method method = Method::otsu;
  int grow = 2;
  int reach = 16;
  int guard = 2;  // cfar
  int train = 4;  // cfar
  double pfa = 1e-3;
  bool amplitude = true;  // cfar: the chip holds amplitudes (squared to intensity) rather than intensities
  int smooth = 1;         // odd window; 1 = threshold the pixels themselves
  bool central = false;
};

// Working memory for segment_chip, reusable across chips (one per thread).
struct SegmentScratch {
  std::vector<double> d1, d2, d3, d4;
  std::vector<unsigned char> m1;
  std::vector<int> labels, stack;
};

// Fills `target` (dilated) and `keep` (target + shadow) with rows * cols 0/1 values. Returns "" or
// why nothing was segmented ("no target pixel found"). `in` must be finite.
std::string segment_chip(const float* in, int rows, int cols, const SegmentParams& params,
                         std::vector<unsigned char>& target, std::vector<unsigned char>& keep, SegmentScratch& scratch);

// The target's pose: the intensity-weighted centroid (row, col) of the central target component
// (segment_chip with `params`, grow and reach ignored) and the angle in radians, in (-pi/2, pi/2],
// of its major principal axis measured from the row (range) axis towards the column axis.
// found = false when no target pixel is found.
struct TargetPose {
  bool found = false;
  double row = 0, col = 0;
  double angle = 0;
};
TargetPose target_pose(const float* in, int rows, int cols, SegmentParams params, SegmentScratch& scratch);

}  // namespace sarscale::features
