#pragma once
// Gabor filter bank with scikit-image's definitions (skimage.filters.gabor_kernel and
// skimage.filters.gabor with mode='reflect', version 0.19.3), evaluated by FFT convolution
// (FFTW, double precision) or direct spatial convolution, whichever is cheaper per filter.
// Features are pooled statistics of the response magnitudes |real + i imag|.
#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

namespace sarscale::features {

// Parameters of skimage.filters.gabor_kernel. Angles in radians, frequency in cycles/pixel.
// When sigma_x (sigma_y) is absent it is derived from bandwidth and frequency as scikit-image does.
struct GaborParams {
  double frequency = 0.1;
  double theta = 0;
  double bandwidth = 1;
  std::optional<double> sigma_x, sigma_y;
  double n_stds = 3;
  double offset = 0;
};

// A complex kernel, row-major, rows = 2*y0+1 and cols = 2*x0+1 (always odd); the origin is the
// centre sample. Values equal skimage's gabor_kernel(...).real / .imag.
struct GaborKernel {
  int rows = 0;
  int cols = 0;
  std::vector<double> real, imag;
};

// Throws ConfigError for frequency <= 0, bandwidth <= 0 (when it is used), sigma <= 0,
// n_stds < 0, non-finite values, or a kernel wider than kMaxGaborHalfSize on either side.
inline constexpr int kMaxGaborHalfSize = 4096;
GaborKernel gabor_kernel(const GaborParams& params);

enum class Convolution {
  kAuto,    // per filter, whichever of the two the cost model predicts to be faster
  kDirect,  // spatial convolution
  kFft,     // FFTW convolution of the reflect-padded image
};

// skimage.filters.gabor(image, ..., mode='reflect'): real and imag responses, rows x cols each,
// i.e. scipy.ndimage.convolve with half-sample symmetric borders (d c b a | a b c d | d c b a).
// A convenience for one image: FFT plans are made per call (use GaborBank for many chips).
void gabor_filter(const GaborKernel& kernel, const double* image, int rows, int cols, double* real, double* imag,
                  Convolution method = Convolution::kAuto);

struct GaborBankOptions {
  // Pooling grid: statistics over the whole chip and over grid x grid cells (0: whole chip only).
  // Cell boundaries are floor(k * rows / grid) (and likewise for columns).
  int grid = 2;
  Convolution method = Convolution::kAuto;
};

// The usual bank: every (frequency, orientation) pair, orientations k*pi/n for k = 0..n-1.
// Filter order: frequency-major, then orientation.
std::vector<GaborParams> gabor_bank_params(const std::vector<double>& frequencies, int orientations,
                                           double bandwidth = 1);

// A set of Gabor filters prepared once for one chip size: kernels, their spectra and the FFTW
// plans are made in the constructor (FFTW's planner is not thread-safe; it runs under a
// process-wide lock here). All const members are thread-safe.
class GaborBank {
 public:
  GaborBank(std::vector<GaborParams> filters, int rows, int cols, GaborBankOptions options = {});
  ~GaborBank();
  GaborBank(GaborBank&&) noexcept;
  GaborBank& operator=(GaborBank&&) noexcept;
  GaborBank(const GaborBank&) = delete;
  GaborBank& operator=(const GaborBank&) = delete;

  int rows() const;
  int cols() const;
  std::size_t filter_count() const;
  const GaborKernel& kernel(std::size_t filter) const;
  Convolution method(std::size_t filter) const;  // kDirect or kFft, as chosen for this filter

  // Per filter: mean and std (population, ddof=0) of |response| over the whole chip, then the same
  // pair for each grid cell in row-major order: filter_count() * 2 * (1 + grid*grid) values.
  std::size_t feature_length() const;

  // Scratch buffers for one thread (SIMD-aligned by fftw_malloc). Reuse one per thread.
  class Workspace {
   public:
    Workspace();
    ~Workspace();
    Workspace(Workspace&&) noexcept;
    Workspace& operator=(Workspace&&) noexcept;
    struct Buffers;

   private:
    friend class GaborBank;
    std::unique_ptr<Buffers> buffers_;
  };
  Workspace workspace() const;

  // Features of one rows x cols chip (row-major float32). Non-finite pixels make the features
  // non-finite (reject such chips upstream: sarscale::count_nonfinite).
  void features(const float* chip, float* out, Workspace& workspace) const;
  void features(const float* chip, float* out) const;  // allocates a workspace

  // Responses of one filter to one chip (what skimage.filters.gabor returns), rows*cols each.
  void responses(const float* chip, std::size_t filter, double* real, double* imag, Workspace& workspace) const;

  // `count` contiguous chips -> count * feature_length() values. OpenMP over chips with
  // `threads` threads (0: omp_get_max_threads(), i.e. OMP_NUM_THREADS). Each chip is computed
  // by one thread with the same plans and aligned buffers, so results are bitwise identical
  // for any thread count.
  void features_batch(const float* chips, std::size_t count, float* out, int threads = 0) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sarscale::features
