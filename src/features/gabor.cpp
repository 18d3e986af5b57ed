// Gabor filtering as scikit-image 0.19.3 defines it (skimage/filters/_gabor.py): the kernel
// formula, and ndi.convolve(image, kernel, mode='reflect') for the responses. Two equivalent
// evaluation paths: direct spatial convolution of the reflect-padded image, and FFTW
// convolution of the same padded image (one forward FFT per chip, one inverse per filter;
// the complex kernel yields real and imag responses from a single complex inverse FFT).
#include "sarscale/features/gabor.hpp"

#include <fftw3.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <mutex>
#include <numbers>
#include <string>

#include "sarscale/core/error.hpp"
#include "fftw_util.hpp"

namespace sarscale::features {

namespace {

using detail::allocate_complex;
using detail::allocate_real;
using detail::ComplexBuffer;
using detail::fftw_planner_mutex;
using detail::RealBuffer;

void require(bool ok, const std::string& message) {
  if (!ok) throw ConfigError("gabor: " + message);
}

// Smallest n' >= n whose only prime factors are 2, 3, 5, 7 (sizes FFTW handles fastest).
int fft_friendly_size(int n) {
  for (int candidate = std::max(n, 1);; ++candidate) {
    int rest = candidate;
    for (int p : {2, 3, 5, 7})
      while (rest % p == 0) rest /= p;
    if (rest == 1) return candidate;
  }
}

// scipy.ndimage 'reflect' (half-sample symmetric) for any distance outside [0, n): the
// extension is periodic with period 2n, mirrored in every other period.
int reflect_index(long long i, int n) {
  const long long period = 2LL * n;
  long long m = i % period;
  if (m < 0) m += period;
  return static_cast<int>(m < n ? m : period - 1 - m);
}

// skimage.filters._gabor._sigma_prefactor, same evaluation order.
double sigma_prefactor(double b) {
  return 1.0 / std::numbers::pi * std::sqrt(std::log(2.0) / 2.0) * (std::pow(2.0, b) + 1) / (std::pow(2.0, b) - 1);
}

// Relative cost of the two paths per filter and chip, in units of one kernel tap of the direct
// loop. Measured with bench_gabor (128x128 chips, x86-64 baseline build): one complex inverse FFT
// of N points plus the spectrum product costs about 1.0 * N * log2(N) taps, so 3x3 kernels go
// direct and 5x5 and wider go through the FFT at that chip size.
constexpr double kFftCostPerPointLog = 1.0;

double direct_cost(const GaborKernel& k, int rows, int cols) {
  return static_cast<double>(k.rows) * k.cols * rows * cols;
}

double fft_cost(int fft_rows, int fft_cols) {
  const double n = static_cast<double>(fft_rows) * fft_cols;
  return kFftCostPerPointLog * n * std::log2(n);
}

// Everything that depends on the kernels and the image size, shared read-only by all threads.
struct Engine {
  int rows = 0, cols = 0;
  int pad_rows = 0, pad_cols = 0;        // reflect padding on each side (largest kernel half-size)
  int padded_rows = 0, padded_cols = 0;  // rows + 2 * pad_rows, cols + 2 * pad_cols
  int fft_rows = 0, fft_cols = 0;        // >= padded size: circular wrap never reaches the crop
  std::vector<GaborKernel> kernels;
  std::vector<GaborKernel> flipped;  // kernels rotated by 180 degrees (convolution as correlation)
  std::vector<Convolution> methods;
  std::vector<ComplexBuffer> spectra;       // per FFT filter: kernel spectrum / (fft_rows * fft_cols)
  std::vector<int> source_row, source_col;  // padded index -> image index (reflect)
  bool any_fft = false;
  fftw_plan forward = nullptr, inverse = nullptr;

  Engine(std::vector<GaborKernel> kernels_in, int rows_in, int cols_in, Convolution method);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  std::size_t fft_points() const { return static_cast<std::size_t>(fft_rows) * fft_cols; }
  std::size_t padded_points() const { return static_cast<std::size_t>(padded_rows) * padded_cols; }
};

Engine::Engine(std::vector<GaborKernel> kernels_in, int rows_in, int cols_in, Convolution method)
    : rows(rows_in), cols(cols_in), kernels(std::move(kernels_in)) {
  require(rows > 0 && cols > 0 && rows <= 65536 && cols <= 65536,
          "image size " + std::to_string(rows) + "x" + std::to_string(cols) + " is not in 1..65536");
  require(!kernels.empty(), "no filters given");
  for (const auto& k : kernels) {
    require(k.rows % 2 == 1 && k.cols % 2 == 1 && k.real.size() == static_cast<std::size_t>(k.rows) * k.cols &&
                k.imag.size() == k.real.size(),
            "a kernel must have odd sizes and rows*cols real and imag values");
    pad_rows = std::max(pad_rows, k.rows / 2);
    pad_cols = std::max(pad_cols, k.cols / 2);
  }
  padded_rows = rows + 2 * pad_rows;
  padded_cols = cols + 2 * pad_cols;
  fft_rows = fft_friendly_size(padded_rows);
  fft_cols = fft_friendly_size(padded_cols);

  source_row.resize(padded_rows);
  source_col.resize(padded_cols);
  for (int r = 0; r < padded_rows; ++r) source_row[r] = reflect_index(static_cast<long long>(r) - pad_rows, rows);
  for (int c = 0; c < padded_cols; ++c) source_col[c] = reflect_index(static_cast<long long>(c) - pad_cols, cols);

  const double fft_per_filter = fft_cost(fft_rows, fft_cols);
  for (const auto& k : kernels) {
    Convolution chosen = method;
    if (chosen == Convolution::kAuto)
      chosen = direct_cost(k, rows, cols) <= fft_per_filter ? Convolution::kDirect : Convolution::kFft;
    methods.push_back(chosen);
    any_fft = any_fft || chosen == Convolution::kFft;
    GaborKernel f = k;
    std::reverse(f.real.begin(), f.real.end());  // row-major reversal = 180 degree rotation
    std::reverse(f.imag.begin(), f.imag.end());
    flipped.push_back(std::move(f));
  }
  if (!any_fft) return;

  // In-place plans on SIMD-aligned buffers; every workspace buffer comes from fftw_malloc too,
  // so fftw_execute_dft on them uses the same codelets. FFTW_ESTIMATE: the plan (hence every
  // bit of the result) is the same on every run, unlike measured plans.
  const std::size_t n = fft_points();
  ComplexBuffer scratch = allocate_complex(n);
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    forward = fftw_plan_dft_2d(fft_rows, fft_cols, scratch.get(), scratch.get(), FFTW_FORWARD, FFTW_ESTIMATE);
    inverse = fftw_plan_dft_2d(fft_rows, fft_cols, scratch.get(), scratch.get(), FFTW_BACKWARD, FFTW_ESTIMATE);
  }
  if (!forward || !inverse) {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    if (forward) fftw_destroy_plan(forward);
    if (inverse) fftw_destroy_plan(inverse);
    throw IoError("gabor: FFTW could not plan a " + std::to_string(fft_rows) + "x" + std::to_string(fft_cols) +
                  " transform");
  }

  // Kernel spectra with the kernel centre at index (0, 0), wrapped: the circular convolution
  // at padded position (i + pad_rows, j + pad_cols) is then the response at (i, j).
  const double scale = 1.0 / static_cast<double>(n);
  spectra.resize(kernels.size());
  for (std::size_t f = 0; f < kernels.size(); ++f) {
    if (methods[f] != Convolution::kFft) continue;
    const GaborKernel& k = kernels[f];
    ComplexBuffer spectrum = allocate_complex(n);
    std::memset(spectrum.get(), 0, sizeof(fftw_complex) * n);
    const int half_r = k.rows / 2, half_c = k.cols / 2;
    for (int a = 0; a < k.rows; ++a) {
      const int r = (a - half_r + fft_rows) % fft_rows;
      for (int b = 0; b < k.cols; ++b) {
        const int c = (b - half_c + fft_cols) % fft_cols;
        const std::size_t src = static_cast<std::size_t>(a) * k.cols + b;
        spectrum[static_cast<std::size_t>(r) * fft_cols + c][0] = k.real[src] * scale;
        spectrum[static_cast<std::size_t>(r) * fft_cols + c][1] = k.imag[src] * scale;
      }
    }
    fftw_execute_dft(forward, spectrum.get(), spectrum.get());
    spectra[f] = std::move(spectrum);
  }
}

Engine::~Engine() {
  std::lock_guard<std::mutex> lock(fftw_planner_mutex());
  if (forward) fftw_destroy_plan(forward);
  if (inverse) fftw_destroy_plan(inverse);
}

}  // namespace

// Per-thread scratch: the padded image, its spectrum, one filter's product, the responses.
struct GaborBank::Workspace::Buffers {
  std::size_t padded_points = 0, fft_points = 0, pixels = 0;
  RealBuffer padded, real, imag;
  ComplexBuffer spectrum, product;

  bool fits(const Engine& e) const {
    return padded_points == e.padded_points() && fft_points == (e.any_fft ? e.fft_points() : 0) &&
           pixels == static_cast<std::size_t>(e.rows) * e.cols;
  }
  explicit Buffers(const Engine& e)
      : padded_points(e.padded_points()),
        fft_points(e.any_fft ? e.fft_points() : 0),
        pixels(static_cast<std::size_t>(e.rows) * e.cols),
        padded(allocate_real(padded_points)),
        real(allocate_real(pixels)),
        imag(allocate_real(pixels)) {
    if (fft_points) {
      spectrum = allocate_complex(fft_points);
      product = allocate_complex(fft_points);
    }
  }
};

namespace {

using Buffers = GaborBank::Workspace::Buffers;

// Reflect-pads the image into the workspace and, when any filter needs it, takes its spectrum.
template <typename Pixel>
void prepare(const Engine& e, const Pixel* image, Buffers& ws) {
  double* padded = ws.padded.get();
  for (int r = 0; r < e.padded_rows; ++r) {
    const Pixel* src = image + static_cast<std::size_t>(e.source_row[r]) * e.cols;
    double* dst = padded + static_cast<std::size_t>(r) * e.padded_cols;
    for (int c = 0; c < e.padded_cols; ++c) dst[c] = static_cast<double>(src[e.source_col[c]]);
  }
  if (!e.any_fft) return;
  fftw_complex* spectrum = ws.spectrum.get();
  std::memset(spectrum, 0, sizeof(fftw_complex) * ws.fft_points);
  for (int r = 0; r < e.padded_rows; ++r) {
    const double* src = padded + static_cast<std::size_t>(r) * e.padded_cols;
    fftw_complex* dst = spectrum + static_cast<std::size_t>(r) * e.fft_cols;
    for (int c = 0; c < e.padded_cols; ++c) dst[c][0] = src[c];
  }
  fftw_execute_dft(e.forward, spectrum, spectrum);
}

// Spatial path: out(i,j) = sum_{a,b} flipped(a,b) * padded(i + pad_rows - hr + a, j + pad_cols - hc + b).
// Blocks of kBlock output columns are accumulated in registers over all taps (one store per
// output; the fixed-length inner loop vectorises). Every output sums its taps in the same
// order, in the blocks and in the tail alike.
constexpr int kBlock = 8;

template <int Width>
inline void accumulate_taps(const double* window, const std::vector<std::ptrdiff_t>& offsets, const double* w_re,
                            const double* w_im, int width, double* out_re, double* out_im) {
  double re[Width] = {}, im[Width] = {};
  const int n = Width == 0 ? 0 : (width < Width ? width : Width);
  for (std::size_t t = 0; t < offsets.size(); ++t) {
    const double* s = window + offsets[t];
    const double wr = w_re[t], wi = w_im[t];
    if (n == Width) {
      for (int j = 0; j < Width; ++j) {
        re[j] += wr * s[j];
        im[j] += wi * s[j];
      }
    } else {
      for (int j = 0; j < n; ++j) {
        re[j] += wr * s[j];
        im[j] += wi * s[j];
      }
    }
  }
  for (int j = 0; j < n; ++j) {
    out_re[j] = re[j];
    out_im[j] = im[j];
  }
}

void convolve_direct(const Engine& e, const GaborKernel& flipped, const double* padded, double* real, double* imag) {
  const int row0 = e.pad_rows - flipped.rows / 2;
  const int col0 = e.pad_cols - flipped.cols / 2;
  const std::ptrdiff_t stride = e.padded_cols;
  std::vector<std::ptrdiff_t> offsets;
  offsets.reserve(flipped.real.size());
  for (int a = 0; a < flipped.rows; ++a)
    for (int b = 0; b < flipped.cols; ++b) offsets.push_back(a * stride + b);
  for (int i = 0; i < e.rows; ++i) {
    const double* window = padded + static_cast<std::ptrdiff_t>(i + row0) * stride + col0;
    double* out_re = real + static_cast<std::size_t>(i) * e.cols;
    double* out_im = imag + static_cast<std::size_t>(i) * e.cols;
    for (int j = 0; j < e.cols; j += kBlock)
      accumulate_taps<kBlock>(window + j, offsets, flipped.real.data(), flipped.imag.data(), e.cols - j, out_re + j,
                              out_im + j);
  }
}

// FFT path: product = image spectrum * kernel spectrum, inverse, crop the unpadded window.
void convolve_fft(const Engine& e, const fftw_complex* kernel_spectrum, Buffers& ws, double* real, double* imag) {
  const fftw_complex* x = ws.spectrum.get();
  fftw_complex* p = ws.product.get();
  for (std::size_t k = 0; k < ws.fft_points; ++k) {
    p[k][0] = x[k][0] * kernel_spectrum[k][0] - x[k][1] * kernel_spectrum[k][1];
    p[k][1] = x[k][0] * kernel_spectrum[k][1] + x[k][1] * kernel_spectrum[k][0];
  }
  fftw_execute_dft(e.inverse, p, p);
  for (int i = 0; i < e.rows; ++i) {
    const fftw_complex* src = p + static_cast<std::size_t>(i + e.pad_rows) * e.fft_cols + e.pad_cols;
    double* out_re = real + static_cast<std::size_t>(i) * e.cols;
    double* out_im = imag + static_cast<std::size_t>(i) * e.cols;
    for (int j = 0; j < e.cols; ++j) {
      out_re[j] = src[j][0];
      out_im[j] = src[j][1];
    }
  }
}

void filter_response(const Engine& e, std::size_t f, Buffers& ws, double* real, double* imag) {
  if (e.methods[f] == Convolution::kFft)
    convolve_fft(e, e.spectra[f].get(), ws, real, imag);
  else
    convolve_direct(e, e.flipped[f], ws.padded.get(), real, imag);
}

// Mean and population standard deviation (two passes, for accuracy) over a window.
void pool_window(const double* values, int cols, int r0, int r1, int c0, int c1, float* out) {
  double sum = 0;
  for (int r = r0; r < r1; ++r)
    for (int c = c0; c < c1; ++c) sum += values[static_cast<std::size_t>(r) * cols + c];
  const double count = static_cast<double>(r1 - r0) * (c1 - c0);
  const double mean = sum / count;
  double squares = 0;
  for (int r = r0; r < r1; ++r)
    for (int c = c0; c < c1; ++c) {
      const double d = values[static_cast<std::size_t>(r) * cols + c] - mean;
      squares += d * d;
    }
  out[0] = static_cast<float>(mean);
  out[1] = static_cast<float>(std::sqrt(squares / count));
}

}  // namespace

GaborKernel gabor_kernel(const GaborParams& p) {
  require(std::isfinite(p.frequency) && p.frequency > 0, "frequency must be > 0, got " + std::to_string(p.frequency));
  require(std::isfinite(p.theta), "theta must be finite");
  require(std::isfinite(p.offset), "offset must be finite");
  require(std::isfinite(p.n_stds) && p.n_stds >= 0, "n_stds must be >= 0, got " + std::to_string(p.n_stds));
  if (!p.sigma_x || !p.sigma_y)
    require(std::isfinite(p.bandwidth) && p.bandwidth > 0, "bandwidth must be > 0, got " + std::to_string(p.bandwidth));
  for (const auto& s : {p.sigma_x, p.sigma_y})
    require(!s || (std::isfinite(*s) && *s > 0), "sigma_x and sigma_y must be > 0 when given");

  const double sigma_x = p.sigma_x ? *p.sigma_x : sigma_prefactor(p.bandwidth) / p.frequency;
  const double sigma_y = p.sigma_y ? *p.sigma_y : sigma_prefactor(p.bandwidth) / p.frequency;
  const double ct = std::cos(p.theta);
  const double st = std::sin(p.theta);
  const double extent_x =
      std::ceil(std::max({std::abs(p.n_stds * sigma_x * ct), std::abs(p.n_stds * sigma_y * st), 1.0}));
  const double extent_y =
      std::ceil(std::max({std::abs(p.n_stds * sigma_y * ct), std::abs(p.n_stds * sigma_x * st), 1.0}));
  require(extent_x <= kMaxGaborHalfSize && extent_y <= kMaxGaborHalfSize,
          "kernel half-size " + std::to_string(extent_y) + "x" + std::to_string(extent_x) + " exceeds " +
              std::to_string(kMaxGaborHalfSize) + " (frequency too low or sigma too large)");
  const int x0 = static_cast<int>(extent_x);
  const int y0 = static_cast<int>(extent_y);

  GaborKernel k;
  k.rows = 2 * y0 + 1;
  k.cols = 2 * x0 + 1;
  k.real.resize(static_cast<std::size_t>(k.rows) * k.cols);
  k.imag.resize(k.real.size());
  const double norm = 1 / (2 * std::numbers::pi * sigma_x * sigma_y);
  for (int r = 0; r < k.rows; ++r) {
    const double y = r - y0;
    for (int c = 0; c < k.cols; ++c) {
      const double x = c - x0;
      const double rotx = x * ct + y * st;
      const double roty = -x * st + y * ct;
      const double envelope = std::exp(-0.5 * (rotx * rotx / (sigma_x * sigma_x) + roty * roty / (sigma_y * sigma_y)));
      const double phase = 2 * std::numbers::pi * p.frequency * rotx + p.offset;
      const std::size_t i = static_cast<std::size_t>(r) * k.cols + c;
      k.real[i] = envelope * std::cos(phase) * norm;
      k.imag[i] = envelope * std::sin(phase) * norm;
    }
  }
  return k;
}

void gabor_filter(const GaborKernel& kernel, const double* image, int rows, int cols, double* real, double* imag,
                  Convolution method) {
  const Engine engine({kernel}, rows, cols, method);
  Buffers ws(engine);
  prepare(engine, image, ws);
  filter_response(engine, 0, ws, real, imag);
}

std::vector<GaborParams> gabor_bank_params(const std::vector<double>& frequencies, int orientations, double bandwidth) {
  require(orientations >= 1, "orientations must be >= 1, got " + std::to_string(orientations));
  std::vector<GaborParams> bank;
  for (double f : frequencies)
    for (int k = 0; k < orientations; ++k) {
      GaborParams p;
      p.frequency = f;
      p.theta = k * std::numbers::pi / orientations;
      p.bandwidth = bandwidth;
      bank.push_back(p);
    }
  return bank;
}

struct GaborBank::Impl {
  std::vector<GaborParams> params;
  int grid;
  Engine engine;

  static std::vector<GaborKernel> make_kernels(const std::vector<GaborParams>& params) {
    std::vector<GaborKernel> kernels;
    for (const auto& p : params) kernels.push_back(gabor_kernel(p));
    return kernels;
  }
  Impl(std::vector<GaborParams> params_in, int rows, int cols, const GaborBankOptions& options)
      : params(std::move(params_in)), grid(options.grid), engine(make_kernels(params), rows, cols, options.method) {
    require(grid >= 0 && grid <= std::min(rows, cols),
            "pooling grid " + std::to_string(grid) + " must be in 0.." + std::to_string(std::min(rows, cols)));
  }
};

GaborBank::GaborBank(std::vector<GaborParams> filters, int rows, int cols, GaborBankOptions options)
    : impl_(std::make_unique<Impl>(std::move(filters), rows, cols, options)) {}
GaborBank::~GaborBank() = default;
GaborBank::GaborBank(GaborBank&&) noexcept = default;
GaborBank& GaborBank::operator=(GaborBank&&) noexcept = default;

GaborBank::Workspace::Workspace() = default;
GaborBank::Workspace::~Workspace() = default;
GaborBank::Workspace::Workspace(Workspace&&) noexcept = default;
GaborBank::Workspace& GaborBank::Workspace::operator=(Workspace&&) noexcept = default;

int GaborBank::rows() const { return impl_->engine.rows; }
int GaborBank::cols() const { return impl_->engine.cols; }
std::size_t GaborBank::filter_count() const { return impl_->engine.kernels.size(); }
const GaborKernel& GaborBank::kernel(std::size_t filter) const { return impl_->engine.kernels.at(filter); }
Convolution GaborBank::method(std::size_t filter) const { return impl_->engine.methods.at(filter); }

std::size_t GaborBank::feature_length() const {
  const auto cells = static_cast<std::size_t>(impl_->grid) * impl_->grid;
  return filter_count() * 2 * (1 + cells);
}

GaborBank::Workspace GaborBank::workspace() const {
  Workspace ws;
  ws.buffers_ = std::make_unique<Workspace::Buffers>(impl_->engine);
  return ws;
}

void GaborBank::responses(const float* chip, std::size_t filter, double* real, double* imag,
                          Workspace& workspace) const {
  require(filter < filter_count(), "filter index " + std::to_string(filter) + " out of range");
  const Engine& e = impl_->engine;
  if (!workspace.buffers_ || !workspace.buffers_->fits(e)) workspace = this->workspace();
  prepare(e, chip, *workspace.buffers_);
  filter_response(e, filter, *workspace.buffers_, real, imag);
}

void GaborBank::features(const float* chip, float* out, Workspace& workspace) const {
  const Engine& e = impl_->engine;
  if (!workspace.buffers_ || !workspace.buffers_->fits(e)) workspace = this->workspace();
  Buffers& ws = *workspace.buffers_;
  prepare(e, chip, ws);
  const int grid = impl_->grid;
  for (std::size_t f = 0; f < filter_count(); ++f) {
    filter_response(e, f, ws, ws.real.get(), ws.imag.get());
    double* magnitude = ws.real.get();  // |real + i imag|, overwriting the real part
    const double* imag = ws.imag.get();
    for (std::size_t k = 0; k < ws.pixels; ++k)
      magnitude[k] = std::sqrt(magnitude[k] * magnitude[k] + imag[k] * imag[k]);
    pool_window(magnitude, e.cols, 0, e.rows, 0, e.cols, out);
    out += 2;
    for (int gr = 0; gr < grid; ++gr)
      for (int gc = 0; gc < grid; ++gc) {
        pool_window(magnitude, e.cols, gr * e.rows / grid, (gr + 1) * e.rows / grid, gc * e.cols / grid,
                    (gc + 1) * e.cols / grid, out);
        out += 2;
      }
  }
}

void GaborBank::features(const float* chip, float* out) const {
  Workspace ws = workspace();
  features(chip, out, ws);
}

void GaborBank::features_batch(const float* chips, std::size_t count, float* out, int threads) const {
  const std::size_t pixels = static_cast<std::size_t>(rows()) * cols();
  const std::size_t length = feature_length();
  // Thread count: the caller's `threads`, else omp_get_max_threads() (OMP_NUM_THREADS).
  const int team = threads > 0 ? threads : omp_get_max_threads();
  std::exception_ptr failure;
#pragma omp parallel num_threads(team)
  {
    Workspace ws;  // allocated on first use by features(), one per thread
#pragma omp for schedule(dynamic, 1)
    for (long long i = 0; i < static_cast<long long>(count); ++i) {
      try {
        const auto chip = static_cast<std::size_t>(i);
        features(chips + chip * pixels, out + chip * length, ws);
      } catch (...) {
#pragma omp critical(sarscale_gabor_failure)
        if (!failure) failure = std::current_exception();
      }
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace sarscale::features
