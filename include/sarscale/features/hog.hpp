#pragma once
// Histogram of Oriented Gradients exactly as scikit-image 0.19.3 defines it
// (skimage.feature.hog(image, ..., feature_vector=True), single channel):
//   - optional sqrt of every pixel (transform_sqrt);
//   - central differences in the input's precision (float32 chips: float32, as skimage keeps the
//     dtype), zero on the first/last row (d/drow) and first/last column (d/dcol) of the image;
//   - unsigned orientation rad2deg(arctan2(g_row, g_col)) % 180, hard binning into bins
//     [180/n * i, 180/n * (i+1)) (boundaries in float32, as in _hoghistogram.pyx);
//   - per cell and bin, the gradient magnitudes summed into a float32 accumulator in row-major
//     pixel order, divided by the cell area (again as _hoghistogram.pyx does);
//   - n_cells = size // pixels_per_cell (leftover pixels on the bottom/right are dropped), blocks
//     of cells with a stride of one cell, each normalised (eps = 1e-5) by L1, L1-sqrt, L2 or L2-Hys
//     (clip at 0.2, renormalise);
//   - output order (block_row, block_col, cell_row_in_block, cell_col_in_block, orientation).
// Matches ../shared/reference/hog_skimage.h5 to <= 2e-16 (see tests/unit/test_hog.cpp).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sarscale::features {

enum class HogBlockNorm { kL1, kL1Sqrt, kL2, kL2Hys };

// skimage's names: "L1", "L1-sqrt", "L2", "L2-Hys". parse throws ConfigError for anything else.
std::string_view to_string(HogBlockNorm norm);
HogBlockNorm parse_hog_block_norm(std::string_view name);

struct HogParams {
  int orientations = 9;
  int cell_rows = 8;  // pixels_per_cell
  int cell_cols = 8;
  int block_rows = 3;  // cells_per_block
  int block_cols = 3;
  HogBlockNorm norm = HogBlockNorm::kL2Hys;
  bool transform_sqrt = false;

  // Throws ConfigError: orientations outside 1..kMaxHogOrientations, cell sizes outside
  // 1..kMaxHogCellSize, block sizes outside 1..kMaxHogBlockCells.
  void validate() const;
  // e.g. "hog(orientations=9, pixels_per_cell=8x8, cells_per_block=3x3, block_norm=L2-Hys, transform_sqrt=false)"
  std::string describe() const;
};

inline constexpr int kMaxHogOrientations = 360;
inline constexpr int kMaxHogCellSize = 4096;
inline constexpr int kMaxHogBlockCells = 64;

// Length of the feature vector for a rows x cols image. Validates the parameters; throws
// ConfigError when the image is smaller than one block (as skimage raises ValueError) or the
// dimensions are not positive.
std::size_t hog_length(const HogParams& params, int rows, int cols);

// HOG for one image size, with all working memory allocated once: compute() allocates nothing.
// One instance per thread: compute() uses the instance's scratch buffers.
class HogExtractor {
 public:
  HogExtractor(const HogParams& params, int rows, int cols);  // validates (ConfigError)
  ~HogExtractor();
  HogExtractor(HogExtractor&&) noexcept;
  HogExtractor& operator=(HogExtractor&&) noexcept;
  HogExtractor(const HogExtractor&) = delete;
  HogExtractor& operator=(const HogExtractor&) = delete;

  const HogParams& params() const;
  int rows() const;
  int cols() const;
  std::size_t length() const;  // == hog_length(params, rows, cols)

  // `image` is rows x cols, row-major; `out` receives length() values. With transform_sqrt the
  // first call of each precision allocates the square-rooted image once.
  // Float32 input reproduces skimage on a float32 array (float32 gradients and output); float64
  // input reproduces skimage on a float64 array. Non-finite pixels give NaN in the features of
  // every block that contains them (skimage does the same). With transform_sqrt a negative pixel
  // throws InputError (skimage would silently produce NaN).
  void compute(const float* image, float* out);
  void compute(const double* image, double* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot conveniences (allocate a HogExtractor per call).
void hog(const HogParams& params, const float* image, int rows, int cols, float* out);
void hog(const HogParams& params, const double* image, int rows, int cols, double* out);

// HOG of `count` chips stored contiguously (chip i at chips + i * rows * cols) into
// out + i * hog_length(params, rows, cols). OpenMP over chips, one HogExtractor per thread; the
// thread count is OpenMP's default (OMP_NUM_THREADS / omp_get_max_threads()) unless `threads` > 0.
// Results do not depend on the thread count (each chip is computed by one thread, identically).
// Errors from any chip (InputError for negative pixels with transform_sqrt) are rethrown after the
// parallel region; the first chip's error by index wins.
void hog_batch(const HogParams& params, const float* chips, std::size_t count, int rows, int cols, float* out,
               int threads = 0);

}  // namespace sarscale::features
