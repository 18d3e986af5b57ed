// Down-sampled pixels and chip statistics (definitions in blocks.hpp).
#include "sarscale/features/blocks.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "sarscale/core/error.hpp"

namespace sarscale::features {

void PixelsParams::validate() const {
  if (rows < 1 || rows > kMaxPixelsSize || cols < 1 || cols > kMaxPixelsSize)
    throw ConfigError("pixels block: size " + std::to_string(rows) + "x" + std::to_string(cols) + " is outside 1.." +
                      std::to_string(kMaxPixelsSize));
  if (!std::isfinite(floor)) throw ConfigError("pixels block: floor must be a finite number of dB");
}

PixelsBlock::PixelsBlock(const PixelsParams& params, int rows, int cols)
    : params_(params), in_rows_(rows), in_cols_(cols) {
  params_.validate();
  if (rows < 1 || cols < 1)
    throw ConfigError("pixels block: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
  if (params_.rows > rows || params_.cols > cols)
    throw ConfigError("pixels block: size " + std::to_string(params_.rows) + "x" + std::to_string(params_.cols) +
                      " is larger than the " + std::to_string(rows) + "x" + std::to_string(cols) +
                      " chip it would down-sample");
  make_taps(rows, params_.rows, row_taps_, row_start_);
  make_taps(cols, params_.cols, col_taps_, col_start_);
}

// Boundaries are kept as integers in units of 1/out pixel: output i spans [i*in, (i+1)*in) and input
// pixel k spans [k*out, (k+1)*out), so overlaps are exact and the weights of one output sum to 1.
void PixelsBlock::make_taps(int in, int out, std::vector<Tap>& taps, std::vector<std::size_t>& start) {
  taps.clear();
  start.assign(1, 0);
  for (long long i = 0; i < out; ++i) {
    const long long lo = i * in, hi = (i + 1) * in;
    for (long long k = lo / out; k * out < hi; ++k) {
      const long long overlap = std::min(hi, (k + 1) * out) - std::max(lo, k * out);
      if (overlap > 0) taps.push_back({static_cast<int>(k), static_cast<double>(overlap) / in});
    }
    start.push_back(taps.size());
  }
}

void PixelsBlock::compute(const float* image, float* out) const {
  for (int i = 0; i < params_.rows; ++i) {
    for (int j = 0; j < params_.cols; ++j) {
      double sum = 0;
      for (std::size_t r = row_start_[i]; r < row_start_[i + 1]; ++r) {
        const float* row = image + static_cast<std::size_t>(row_taps_[r].index) * in_cols_;
        double row_sum = 0;
        for (std::size_t c = col_start_[j]; c < col_start_[j + 1]; ++c)
          row_sum += col_taps_[c].weight * static_cast<double>(row[col_taps_[c].index]);
        sum += row_taps_[r].weight * row_sum;
      }
      if (params_.db) sum = std::max(20.0 * std::log10(std::abs(sum)), params_.floor);  // log10(0) = -inf
      out[static_cast<std::size_t>(i) * params_.cols + j] = static_cast<float>(sum);
    }
  }
}

void StatsParams::validate() const {
  if (bins < 2 || bins > 65536) throw ConfigError("stats block: bins=" + std::to_string(bins) + " is outside 2..65536");
  if (topk < 1) throw ConfigError("stats block: topk=" + std::to_string(topk) + " must be >= 1");
  if (!(sigma >= 0) || !std::isfinite(sigma)) throw ConfigError("stats block: sigma must be a finite number >= 0");
}

const std::array<std::string_view, kStatsLength>& stats_names() {
  static const std::array<std::string_view, kStatsLength> names = {
      "mean", "variance", "skewness", "kurtosis", "entropy", "max_ratio", "topk_ratio", "bright_fraction"};
  return names;
}

StatsBlock::StatsBlock(const StatsParams& params, int rows, int cols) : params_(params), rows_(rows), cols_(cols) {
  params_.validate();
  if (rows < 1 || cols < 1)
    throw ConfigError("stats block: chip size must be positive, got " + std::to_string(rows) + "x" +
                      std::to_string(cols));
}

void StatsBlock::compute(const float* image, float* out) const {
  Scratch scratch;
  compute(image, out, scratch);
}

void StatsBlock::compute(const float* image, float* out, Scratch& scratch) const {
  const std::size_t n = static_cast<std::size_t>(rows_) * cols_;
  double sum = 0, lo = image[0], hi = image[0];
  for (std::size_t i = 0; i < n; ++i) {
    const double v = image[i];
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double mean = sum / static_cast<double>(n);
  double m2 = 0, m3 = 0, m4 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = image[i] - mean, d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  m2 /= static_cast<double>(n);
  m3 /= static_cast<double>(n);
  m4 /= static_cast<double>(n);
  const double skewness = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0.0;
  const double kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;

  double entropy = 0;
  if (hi > lo) {
    scratch.histogram.assign(static_cast<std::size_t>(params_.bins), 0);
    const double scale = params_.bins / (hi - lo);
    for (std::size_t i = 0; i < n; ++i) {
      const auto bin = static_cast<std::size_t>((image[i] - lo) * scale);
      ++scratch.histogram[std::min(bin, scratch.histogram.size() - 1)];
    }
    for (std::size_t count : scratch.histogram) {
      if (count == 0) continue;
      const double p = static_cast<double>(count) / static_cast<double>(n);
      entropy -= p * std::log2(p);
    }
  }

  const double shift = lo < 0 ? lo : 0.0;  // see blocks.hpp: ratios of non-negative data
  const double denominator = mean - shift;
  const auto ratio = [&](double value) { return denominator > 0 ? (value - shift) / denominator : 1.0; };
  const std::size_t k = std::min(n, static_cast<std::size_t>(params_.topk));
  scratch.values.assign(image, image + n);
  std::nth_element(scratch.values.begin(), scratch.values.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   scratch.values.end(), std::greater<float>());
  double top_sum = 0;
  for (std::size_t i = 0; i < k; ++i) top_sum += scratch.values[i];
  const double top_mean = top_sum / static_cast<double>(k);

  const double threshold = mean + params_.sigma * std::sqrt(m2);
  std::size_t bright = 0;
  for (std::size_t i = 0; i < n; ++i) bright += image[i] > threshold;

  const double values[kStatsLength] = {
      mean,    m2,        skewness,        kurtosis,
      entropy, ratio(hi), ratio(top_mean), static_cast<double>(bright) / static_cast<double>(n)};
  for (std::size_t i = 0; i < kStatsLength; ++i) out[i] = static_cast<float>(values[i]);
}

}  // namespace sarscale::features
