#pragma once
// Simple feature blocks computed on a (preprocessed) chip, beside HOG and Gabor:
//
// pixels: the chip down-sampled to out_rows x out_cols by area averaging. Output pixel (i, j)
//   covers the input rectangle [i*R/r, (i+1)*R/r) x [j*C/c, (j+1)*C/c) (R x C input, r x c output,
//   real-valued boundaries); every input pixel contributes with the area of its overlap with that
//   rectangle, and the sum is divided by the rectangle's area. Integer factors give plain block
//   means; fractional factors weight the pixels cut by a boundary by their covered fraction
//   (what OpenCV's INTER_AREA does). With db, each mean m becomes max(20*log10(|m|), floor) (floor
//   in dB, so a zero mean gives `floor` rather than -inf). Averaging happens before the dB
//   conversion: a mean of linear amplitude is a multilook, a mean of dB values is not.
//   Output: out_rows * out_cols values, row-major. Arithmetic in double.
//
// stats: kStatsLength values, in this order (population moments, computed in double, two-pass):
//   0 mean
//   1 variance (population, ddof = 0)
//   2 skewness m3 / m2^1.5 (scipy.stats.skew, bias=True); 0 when the variance is 0
//   3 excess kurtosis m4 / m2^2 - 3 (scipy.stats.kurtosis, fisher=True, bias=True); 0 when the variance is 0
//   4 entropy, in bits, of a `bins`-bin histogram spanning [min, max] (bin floor((x-min)/(max-min)*bins),
//     the maximum in the last bin, as numpy.histogram); 0 for a constant chip
//   5 max ratio        (max - s) / (mean - s)
//   6 top-k ratio      (mean of the `topk` largest values - s) / (mean - s)
//   7 bright fraction  fraction of pixels strictly above mean + sigma * std
//   The peak ratios are meant for non-negative data (linear amplitude or intensity), where the
//   shift s is 0 and they are the usual max/mean and top-k mean/mean. When the chip has negative
//   values (dB, z-scores, where a mean near 0 would make the ratio meaningless) s is the chip
//   minimum. A ratio whose denominator is 0 (constant chip) is 1. Every value is finite for finite
//   input, constant chips included.
#include <array>
#include <cstddef>
#include <string_view>
#include <vector>

namespace sarscale::features {

struct PixelsParams {
  int rows = 16;  // output size
  int cols = 16;
  bool db = false;
  double floor = -60;  // dB, used when db

  // ConfigError: sizes outside 1..kMaxPixelsSize, non-finite floor.
  void validate() const;
};

inline constexpr int kMaxPixelsSize = 4096;

// Down-sampling for one input size; the overlap weights are computed once. compute() is const and
// allocation-free, so one instance may be shared by threads.
class PixelsBlock {
 public:
  // ConfigError when the parameters are invalid or the output is larger than the input (this block
  // only down-samples).
  PixelsBlock(const PixelsParams& params, int rows, int cols);

  const PixelsParams& params() const { return params_; }
  std::size_t length() const { return static_cast<std::size_t>(params_.rows) * params_.cols; }
  void compute(const float* image, float* out) const;

 private:
  struct Tap {
    int index;
    double weight;  // overlap fraction; the taps of one output sum to 1
  };
  // Taps of output row i are row_taps_[row_start_[i] .. row_start_[i+1]), likewise for columns.
  static void make_taps(int in, int out, std::vector<Tap>& taps, std::vector<std::size_t>& start);

  PixelsParams params_;
  int in_rows_, in_cols_;
  std::vector<Tap> row_taps_, col_taps_;
  std::vector<std::size_t> row_start_, col_start_;
};

struct StatsParams {
  int bins = 64;     // entropy histogram
  int topk = 16;     // pixels in the top-k mean (clamped to the chip size)
  double sigma = 3;  // bright fraction threshold in standard deviations

  // ConfigError: bins outside 2..65536, topk < 1, sigma negative or non-finite.
  void validate() const;
};

inline constexpr std::size_t kStatsLength = 8;
// Names of the stats values in output order.
const std::array<std::string_view, kStatsLength>& stats_names();

// Statistics of one rows x cols chip. The scratch vectors are reused (one set per thread).
class StatsBlock {
 public:
  StatsBlock(const StatsParams& params, int rows, int cols);  // validates (ConfigError)

  const StatsParams& params() const { return params_; }
  std::size_t length() const { return kStatsLength; }

  struct Scratch {
    std::vector<float> values;
    std::vector<std::size_t> histogram;
  };
  void compute(const float* image, float* out, Scratch& scratch) const;
  void compute(const float* image, float* out) const;  // allocates its scratch

 private:
  StatsParams params_;
  int rows_, cols_;
};

}  // namespace sarscale::features
