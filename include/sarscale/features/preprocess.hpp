#pragma once
// Chip preprocessing before feature extraction: a chain of steps applied in a declared order to a
// float32 rows x cols image (row-major). Steps may change the size (crop, multilook).
//
// Text form (what configs declare; whitespace is free, ';' separates steps, "name" alone or
// "name(args)"; args are key=value or positional, in the order listed below):
//   "db(floor=-40); crop(88); lee(window=5, looks=1); zscore"
// parse_chain() fills every parameter with its default, so describe_chain() prints the complete,
// canonical chain and parse_chain(describe_chain(c)) == c.
//
// Steps and parameters (default in brackets). Arithmetic is in double; borders are reflected
// half-sample symmetrically (d c b a | a b c d | d c b a, scipy.ndimage's 'reflect').
//   db(floor [-60], scale [20])       scale*log10(|x|), values below `floor` (absolute, in dB) set to
//                                      `floor`, so a zero pixel gives `floor` rather than -inf.
//                                      scale=20 for amplitude, 10 for intensity.
//   linear                             min-max to [0, 1].
//   percentile(lo [1], hi [99])       clip to the lo-th and hi-th percentiles (numpy's linear
//                                      interpolation) and map that range to [0, 1]. When both
//                                      percentiles are equal: 0 at or below, 1 above.
//   zscore                             mean 0, population std 1.
//   crop(rows, cols)                   centre crop (required; "crop(88)" = 88x88, "crop(88x64)");
//                                      offset (in - out) / 2 rounded down, as fit_to_size does.
//   mean(window [3])                   box filter, odd window.
//   median(window [3])                 median of the odd window x window neighbourhood.
//   lee(window [5], looks [1], data [amplitude])
//                                      Lee (1980) for multiplicative speckle: local mean m and
//                                      variance v over the window, Ci^2 = v/m^2, noise Cu = 1/sqrt(looks)
//                                      for intensity data, 0.5227/sqrt(looks) (= sqrt(4/pi-1), Rayleigh)
//                                      for amplitude data; out = m + k (x - m) with
//                                      k = max(0, (1 - Cu^2/Ci^2) / (1 + Cu^2)). Homogeneous areas
//                                      (Ci <= Cu) get the local mean, strong edges keep most of
//                                      their contrast. Meant for linear (not dB) data.
//   frost(window [5], damping [2])    Frost (1982): out = sum w x / sum w over the window,
//                                      w = exp(-damping * Ci^2 * d), d the Euclidean distance to the
//                                      centre pixel, Ci^2 = v/m^2 of the window: homogeneous areas
//                                      are averaged, edges (large Ci) keep the centre pixel.
//   equalize(bins [256])              histogram equalisation as skimage.exposure.equalize_hist:
//                                      cdf of a `bins`-bin histogram over [min, max], interpolated
//                                      at the bin centres; output in (0, 1].
//   multilook(rows [2], cols [2], mode [mean])
//                                      average non-overlapping rows x cols blocks (mode=rms:
//                                      sqrt of the mean square, i.e. incoherent multilook of
//                                      amplitude); leftover rows/columns at the bottom/right are
//                                      dropped. "multilook(2)" = 2x2.
//   mask(method [otsu], grow [2], reach [16], guard [2], train [4], pfa [0.001], data [amplitude],
//        fill [min])                   keeps the target and its shadow, sets every other pixel to
//                                      `fill` (min: the image minimum; or a number).
//        Target: pixels above Otsu's threshold of the image (method=otsu), or detected by a
//        cell-averaging CFAR (method=cfar) on intensity (x^2 when data=amplitude): a square
//        training ring `train` pixels wide outside a `guard` ring, threshold
//        N (pfa^(-1/N) - 1) * mean(ring) for N ring cells (exponential clutter). The target is
//        dilated by `grow` pixels (square neighbourhood).
//        Shadow: pixels at or below a second Otsu threshold computed on the pixels outside the
//        dilated target, and within `reach` pixels (square neighbourhood) of the dilated target;
//        reach=0 keeps no shadow. On clutter without a real shadow this keeps the darker half of
//        the clutter near the target (Otsu always splits); lower `reach` for such scenes.
//        A chip with no target pixel is flagged.
//        Also smooth [1] and keep [all|central] (see segment.hpp): thresholds on the smooth x smooth
//        box mean instead of single pixels, and only the central connected component of the target.
//        Both are printed in the canonical text only when not at their defaults.
//   power(exponent [2])               |x|^exponent (in [0.05, 20]): power(2) turns amplitude into
//                                      intensity, which weighs bright scatterers over clutter;
//                                      power(0.5) compresses them.
//   pose(smooth [5], turn [yes])      pose normalisation: the target (Otsu on the smooth x smooth
//                                      box mean, the central component, segment.hpp) is moved to
//                                      the chip centre and turned so that its major principal axis
//                                      (intensity-weighted) lies along the rows; bilinear,
//                                      edge-clamped. The axis has no direction: a target and its
//                                      180-degree turn stay distinct. No target: flagged.
//                                      turn=no only centres it (registration: chips cut where a
//                                      detector put them meet the model aligned as in training;
//                                      SAR's shadow direction stays where the radar put it).
//   scale(stat [mean], over [all])    divides the chip by one of its own statistics (mean, median,
//                                      max or rms of |x|), over every pixel or the non-zero ones
//                                      (after mask(fill=0): the target and its shadow). A per-chip
//                                      gain (calibration, processor, conversion) then cancels.
//                                      A zero statistic flags the chip.
//
// Unusable chips: apply() returns the reason ("" when usable) and writes zeros instead of NaN:
// NaN/Inf in the input, an all-zero or constant input, a step that finds the chip constant
// (linear, zscore, equalize, percentile after an earlier step), a mask with no target.
#include <array>
#include <cstddef>
#include <optional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sarscale/features/segment.hpp"

namespace sarscale::features {

struct PreprocessStep {
  std::string name;
  std::map<std::string, double> params;  // enumerated values are stored as their index (see describe)
  bool operator==(const PreprocessStep&) const = default;
};

// Throws ConfigError naming the offending token (unknown step or key, bad number, value out of range,
// missing required parameter). Empty text gives an empty chain (identity).
std::vector<PreprocessStep> parse_chain(std::string_view text);
// Canonical text; numbers printed exactly (shortest round-trip form). ConfigError for an unknown step.
std::string describe_chain(const std::vector<PreprocessStep>& chain);

// Otsu's threshold with skimage.filters.threshold_otsu(nbins=bins)'s histogram and split, but returning
// the largest value of the lower class (skimage returns that bin's centre, which can lie below values
// of the same bin): pixels strictly above it are the bright class, exactly as the histogram split them.
// Non-finite values must not be present. Returns the value itself for constant data.
double otsu_threshold(const float* values, std::size_t count, int bins = 256);

// The segmentation of a mask step (`mask_step`, e.g. "mask" for its defaults, or
// "mask(method=cfar)") on a rows x cols image, as that step computes it: one byte per pixel,
// 1 for the dilated target and its shadow (what the step keeps), 0 for the background. Empty
// when no target pixel is found. ConfigError when `mask_step` is not one mask step.
std::vector<unsigned char> target_shadow_mask(const float* image, int rows, int cols,
                                              std::string_view mask_step = "mask");

// A validated chain for one input size, with working memory allocated once. One per thread.
class Preprocessor {
 public:
  // Fills defaults and validates every step against the sizes it will see (ConfigError).
  Preprocessor(std::vector<PreprocessStep> chain, int rows, int cols);

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int out_rows() const { return out_rows_; }
  int out_cols() const { return out_cols_; }
  const std::vector<PreprocessStep>& chain() const { return chain_; }

  // `in` is rows x cols, `out` receives out_rows x out_cols values, always finite. Returns "" or
  // the reason the chip is unusable (then `out` is all zero).
  std::string apply(const float* in, float* out);
  // Where the chain's first pose step found the target in the last apply()'s input (row, col,
  // pixel indices of the input chip), when no earlier step changed the pixel grid (crop,
  // multilook): a detector reports the target there. Empty otherwise.
  const std::optional<std::array<double, 2>>& registration() const { return registration_; }

 private:
  std::vector<PreprocessStep> chain_;
  int rows_, cols_, out_rows_, out_cols_;
  std::vector<float> a_, b_;          // ping-pong images
  std::vector<double> s1_, s2_, s3_;  // scratch for local statistics
  std::vector<unsigned char> m1_, m2_;
  SegmentScratch segment_;
  std::optional<std::array<double, 2>> registration_;
};

}  // namespace sarscale::features
