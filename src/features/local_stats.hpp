#pragma once
// Window arithmetic shared by the preprocessing steps and the target segmentation. Private to the
// features layer: not installed. Borders are reflected half-sample symmetrically (scipy's 'reflect').
#include <vector>

namespace sarscale::features::detail {

// Half-sample symmetric reflection of any index into [0, n).
inline int reflect(int i, int n) {
  const int period = 2 * n;
  int m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

// Windowed sums over (2h+1) x (2h+1) with reflected borders, separable running sums: O(1) per pixel.
// dst may alias src.
void box_sum(const double* src, int rows, int cols, int h, double* dst, std::vector<double>& tmp);

// Square dilation (Chebyshev radius r) of a 0/1 mask, separable.
void dilate(std::vector<unsigned char>& mask, int rows, int cols, int r, std::vector<unsigned char>& tmp);

}  // namespace sarscale::features::detail
