#include "sarscale/features/segment.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "local_stats.hpp"
#include "sarscale/features/preprocess.hpp"

namespace sarscale::features {
namespace {

// The values the thresholds see: the chip, or its smooth x smooth box mean.
const float* threshold_source(const float* in, int rows, int cols, int smooth, SegmentScratch& s,
                              std::vector<float>& smoothed) {
  if (smooth <= 1) return in;
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  s.d1.assign(in, in + n);
  detail::box_sum(s.d1.data(), rows, cols, smooth / 2, s.d1.data(), s.d2);
  smoothed.resize(n);
  const double area = static_cast<double>(smooth) * smooth;
  for (std::size_t i = 0; i < n; ++i) smoothed[i] = static_cast<float>(s.d1[i] / area);
  return smoothed.data();
}

void cfar_target(const float* in, int rows, int cols, const SegmentParams& p, std::vector<unsigned char>& target,
                 SegmentScratch& s) {
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  s.d1.resize(n);
  for (std::size_t i = 0; i < n; ++i) s.d1[i] = p.amplitude ? static_cast<double>(in[i]) * in[i] : in[i];
  s.d3.resize(n);
  s.d4.resize(n);
  detail::box_sum(s.d1.data(), rows, cols, p.guard + p.train, s.d3.data(), s.d2);
  detail::box_sum(s.d1.data(), rows, cols, p.guard, s.d4.data(), s.d2);
  const double cells = std::pow(2.0 * (p.guard + p.train) + 1, 2) - std::pow(2.0 * p.guard + 1, 2);
  const double alpha = std::pow(p.pfa, -1.0 / cells) - 1.0;  // threshold = alpha * ring sum
  for (std::size_t i = 0; i < n; ++i) target[i] = s.d1[i] > alpha * (s.d3[i] - s.d4[i]);
}

// Keeps the 8-connected component of `target` closest to the centre for its size (see segment.hpp).
void keep_central_component(std::vector<unsigned char>& target, int rows, int cols, SegmentScratch& s) {
  s.labels.assign(target.size(), 0);
  int best_label = 0;
  double best_score = -1;
  int label = 0;
  for (std::size_t start = 0; start < target.size(); ++start) {
    if (!target[start] || s.labels[start]) continue;
    ++label;
    double count = 0, sum_r = 0, sum_c = 0;
    s.stack.assign(1, static_cast<int>(start));
    s.labels[start] = label;
    while (!s.stack.empty()) {
      const int at = s.stack.back();
      s.stack.pop_back();
      const int r = at / cols, c = at % cols;
      count += 1;
      sum_r += r;
      sum_c += c;
      for (int dr = -1; dr <= 1; ++dr)
        for (int dc = -1; dc <= 1; ++dc) {
          const int rr = r + dr, cc = c + dc;
          if (rr < 0 || rr >= rows || cc < 0 || cc >= cols) continue;
          const int next = rr * cols + cc;
          if (target[static_cast<std::size_t>(next)] && !s.labels[static_cast<std::size_t>(next)]) {
            s.labels[static_cast<std::size_t>(next)] = label;
            s.stack.push_back(next);
          }
        }
    }
    const double dr = sum_r / count - (rows - 1) / 2.0, dc = sum_c / count - (cols - 1) / 2.0;
    const double score = count / (1.0 + (dr * dr + dc * dc) / 400.0);
    if (score > best_score) {  // first (lowest pixel index) component wins ties
      best_score = score;
      best_label = label;
    }
  }
  for (std::size_t i = 0; i < target.size(); ++i) target[i] = s.labels[i] == best_label;
}

}  // namespace

std::string segment_chip(const float* in, int rows, int cols, const SegmentParams& p,
                         std::vector<unsigned char>& target, std::vector<unsigned char>& keep, SegmentScratch& s) {
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  target.assign(n, 0);
  std::vector<float> smoothed;
  const float* values = threshold_source(in, rows, cols, p.smooth, s, smoothed);
  if (p.method == SegmentParams::Method::otsu) {
    const double t = otsu_threshold(values, n);
    for (std::size_t i = 0; i < n; ++i) target[i] = values[i] > t;
  } else {
    cfar_target(values, rows, cols, p, target, s);
  }
  if (std::find(target.begin(), target.end(), 1) == target.end()) {
    keep.assign(n, 0);
    return "no target pixel found";
  }
  if (p.central) keep_central_component(target, rows, cols, s);
  detail::dilate(target, rows, cols, p.grow, s.m1);
  keep = target;
  if (p.reach > 0) {
    std::vector<float> rest;
    for (std::size_t i = 0; i < n; ++i)
      if (!target[i]) rest.push_back(values[i]);
    if (!rest.empty()) {
      const double dark = otsu_threshold(rest.data(), rest.size());
      std::vector<unsigned char> near = target;
      detail::dilate(near, rows, cols, p.reach, s.m1);
      for (std::size_t i = 0; i < n; ++i) keep[i] |= static_cast<unsigned char>(near[i] && values[i] <= dark);
    }
  }
  return "";
}

TargetPose target_pose(const float* in, int rows, int cols, SegmentParams params, SegmentScratch& scratch) {
  params.grow = 0;
  params.reach = 0;
  params.central = true;
  std::vector<unsigned char> target, keep;
  TargetPose pose;
  if (!segment_chip(in, rows, cols, params, target, keep, scratch).empty()) return pose;
  double w = 0, sr = 0, sc = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * cols + c;
      if (!target[i]) continue;
      const double v = std::fabs(static_cast<double>(in[i]));
      w += v;
      sr += v * r;
      sc += v * c;
    }
  if (!(w > 0)) return pose;
  pose.row = sr / w;
  pose.col = sc / w;
  double crr = 0, ccc = 0, crc = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * cols + c;
      if (!target[i]) continue;
      const double v = std::fabs(static_cast<double>(in[i])), dr = r - pose.row, dc = c - pose.col;
      crr += v * dr * dr;
      ccc += v * dc * dc;
      crc += v * dr * dc;
    }
  // Major axis of the 2x2 covariance [[crr, crc], [crc, ccc]]: angle from the row axis.
  pose.angle = 0.5 * std::atan2(2 * crc, crr - ccc);
  pose.found = true;
  return pose;
}

}  // namespace sarscale::features
