#include "local_stats.hpp"

#include <algorithm>
#include <cstddef>

namespace sarscale::features::detail {

void box_sum(const double* src, int rows, int cols, int h, double* dst, std::vector<double>& tmp) {
  tmp.resize(static_cast<std::size_t>(rows) * cols + 2 * static_cast<std::size_t>(std::max(rows, cols) + 2 * h + 1));
  double* horiz = tmp.data();
  double* line = horiz + static_cast<std::size_t>(rows) * cols;
  for (int r = 0; r < rows; ++r) {
    const double* row = src + static_cast<std::size_t>(r) * cols;
    line[0] = 0;
    for (int j = -h; j < cols + h; ++j) line[j + h + 1] = line[j + h] + row[reflect(j, cols)];
    for (int c = 0; c < cols; ++c) horiz[static_cast<std::size_t>(r) * cols + c] = line[c + 2 * h + 1] - line[c];
  }
  for (int c = 0; c < cols; ++c) {
    line[0] = 0;
    for (int i = -h; i < rows + h; ++i)
      line[i + h + 1] = line[i + h] + horiz[static_cast<std::size_t>(reflect(i, rows)) * cols + c];
    for (int r = 0; r < rows; ++r) dst[static_cast<std::size_t>(r) * cols + c] = line[r + 2 * h + 1] - line[r];
  }
}

void dilate(std::vector<unsigned char>& mask, int rows, int cols, int r, std::vector<unsigned char>& tmp) {
  if (r == 0) return;
  tmp.assign(mask.size(), 0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      if (mask[static_cast<std::size_t>(i) * cols + j])
        for (int k = std::max(0, j - r); k <= std::min(cols - 1, j + r); ++k)
          tmp[static_cast<std::size_t>(i) * cols + k] = 1;
  std::fill(mask.begin(), mask.end(), 0);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      if (tmp[static_cast<std::size_t>(i) * cols + j])
        for (int k = std::max(0, i - r); k <= std::min(rows - 1, i + r); ++k)
          mask[static_cast<std::size_t>(k) * cols + j] = 1;
}

}  // namespace sarscale::features::detail
