// HOG with scikit-image 0.19.3's exact definition (see hog.hpp), made fast:
//   - one pass over the image, row by row: gradients, magnitudes and an approximate orientation
//     (octant reduction + atan polynomial, no atan2) are computed in SIMD-friendly loops;
//   - the approximate orientation decides the bin unless it lies within kBoundaryMarginDeg of a
//     bin boundary (or of 0/180 degrees, or the gradient is not finite): those pixels get skimage's
//     exact formula, rad2deg(arctan2(gy, gx)) % 180 compared with the float32 boundaries, so the
//     binning is identical to skimage's while atan2 runs on a tiny fraction of the pixels;
//   - magnitudes are summed per (cell, bin) into float32 accumulators in skimage's order
//     (row-major within the cell); pixels of the same row but different cells are interleaved so
//     that consecutive additions do not wait on each other;
//   - magnitudes are sqrt(gx^2 + gy^2) (np.hypot on the exact path; the two differ by at most an
//     ulp, far below the float32 accumulation);
//   - block normalisation in double, as numpy does it.
#include "sarscale/features/hog.hpp"

#include <omp.h>

// Hand-written SIMD for the per-pixel classification on x86-64 (SSE2 is the baseline; AVX is
// chosen at run time), GCC/Clang only; elsewhere the scalar loop does the same work.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SARSCALE_HOG_X86 1
#include <immintrin.h>
#endif

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <optional>
#include <sstream>
#include <type_traits>
#include <vector>

#include "sarscale/core/error.hpp"

namespace sarscale::features {
namespace {

constexpr double kEps = 1e-5;               // skimage's _hog_normalize_block eps
constexpr double kHysClip = 0.2;            // L2-Hys clipping value
constexpr double kRadToDeg = 180.0 / M_PI;  // numpy's rad2deg factor, 180.0 / NPY_PI
// The approximate orientation is accurate to ~1e-5 degrees (polynomial and rounding); pixels
// closer than this to a boundary take the exact path. Generous on purpose: it costs ~0.1% of
// the pixels at 9 bins.
constexpr double kBoundaryMarginDeg = 1e-2;
// atan(z) ~ z + kAtan3 z^3 + ... on |z| <= tan(pi/8) (Cephes atanf's coefficients).
constexpr double kTanPi8 = 0.41421356237309503;
constexpr double kAtan3 = -3.33329491539e-1;
constexpr double kAtan5 = 1.99777106478e-1;
constexpr double kAtan7 = -1.38776856032e-1;
constexpr double kAtan9 = 8.05374449538e-2;

// Bin codes produced by the exact path besides 0..n-1.
constexpr int kNeedsExact = -1;  // from the fast pass: resolve with the exact formula
constexpr int kNoBin = -2;       // orientation >= the last boundary: counted nowhere (skimage too)
constexpr int kAllBins = -3;     // NaN orientation: skimage's comparisons are all false, so the
                                 // magnitude lands in every bin

// numpy's np.rad2deg(np.arctan2(gy, gx)) % 180 for float64: npy_divmod's remainder (fmod, then
// shift into the divisor's sign; an exact zero becomes +0).
double numpy_orientation(double gx, double gy) {
  const double deg = std::atan2(gy, gx) * kRadToDeg;
  double mod = std::fmod(deg, 180.0);
  if (mod != 0) {
    if (mod < 0) mod += 180.0;
  } else {
    mod = 0.0;
  }
  return mod;  // NaN stays NaN
}

#if defined(SARSCALE_HOG_X86)
struct ClassifyArgs {
  const double* gx;
  const double* gy;
  double* mag;
  std::int32_t* code;
  int count;
  double degrees_per_bin;
  int bins;
};

// mask ? a : b, lane by lane.
inline __m128d select(__m128d mask, __m128d a, __m128d b) {
  return _mm_or_pd(_mm_and_pd(mask, a), _mm_andnot_pd(mask, b));
}
__attribute__((target("avx"))) inline __m256d select(__m256d mask, __m256d a, __m256d b) {
  return _mm256_or_pd(_mm256_and_pd(mask, a), _mm256_andnot_pd(mask, b));
}

// classify_scalar (below) on two pixels at a time; returns the number of pixels done.
int classify_sse2(const ClassifyArgs& args) {
  const double* px = args.gx;
  const double* py = args.gy;
  double* pm = args.mag;
  std::int32_t* pc = args.code;
  const int used_cols = args.count;
  const double degrees_per_bin = args.degrees_per_bin;
  const int bins = args.bins;
  const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
  const __m128d tan_pi8 = _mm_set1_pd(kTanPi8), pi4 = _mm_set1_pd(M_PI / 4), rad_to_deg = _mm_set1_pd(kRadToDeg);
  const __m128d c9 = _mm_set1_pd(kAtan9), c7 = _mm_set1_pd(kAtan7), c5 = _mm_set1_pd(kAtan5), c3 = _mm_set1_pd(kAtan3);
  const __m128d d90 = _mm_set1_pd(90.0), d180 = _mm_set1_pd(180.0), round = _mm_set1_pd(0x1p52);
  const __m128d per_bin = _mm_set1_pd(degrees_per_bin), inv_per_bin = _mm_set1_pd(1.0 / degrees_per_bin);
  const __m128d max_t = _mm_set1_pd(bins), margin = _mm_set1_pd(kBoundaryMarginDeg);
  const __m128d dbl_max = _mm_set1_pd(DBL_MAX), minus_one = _mm_set1_pd(kNeedsExact);
  int c = 0;
  for (; c + 2 <= used_cols; c += 2) {
    const __m128d x = _mm_loadu_pd(px + c), y = _mm_loadu_pd(py + c);
    const __m128d m = _mm_sqrt_pd(_mm_add_pd(_mm_mul_pd(x, x), _mm_mul_pd(y, y)));
    _mm_storeu_pd(pm + c, m);
    const __m128d ax = _mm_andnot_pd(sign, x), ay = _mm_andnot_pd(sign, y);
    const __m128d steep = _mm_cmpgt_pd(ay, ax);
    const __m128d lo = select(steep, ax, ay), hi = select(steep, ay, ax);
    const __m128d upper = _mm_cmpgt_pd(lo, _mm_mul_pd(tan_pi8, hi));
    const __m128d z = _mm_div_pd(select(upper, _mm_sub_pd(lo, hi), lo), select(upper, _mm_add_pd(lo, hi), hi));
    const __m128d z2 = _mm_mul_pd(z, z);
    __m128d poly = _mm_add_pd(_mm_mul_pd(c9, z2), c7);
    poly = _mm_add_pd(_mm_mul_pd(poly, z2), c5);
    poly = _mm_add_pd(_mm_mul_pd(poly, z2), c3);
    poly = _mm_add_pd(_mm_mul_pd(_mm_mul_pd(poly, z2), z), z);
    __m128d deg = _mm_mul_pd(_mm_add_pd(_mm_and_pd(upper, pi4), poly), rad_to_deg);
    deg = select(steep, _mm_sub_pd(d90, deg), deg);
    const __m128d left = _mm_xor_pd(_mm_cmplt_pd(x, zero), _mm_cmplt_pd(y, zero));
    deg = select(left, _mm_sub_pd(d180, deg), deg);
    const __m128d t = _mm_mul_pd(deg, inv_per_bin);
    const __m128d nearest = _mm_sub_pd(_mm_add_pd(t, round), round);
    const __m128d gap = _mm_mul_pd(_mm_andnot_pd(sign, _mm_sub_pd(t, nearest)), per_bin);
    const __m128d safe = _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(gap, margin), _mm_cmple_pd(m, dbl_max)),
                                    _mm_and_pd(_mm_cmpgt_pd(t, zero), _mm_cmplt_pd(t, max_t)));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(pc + c), _mm_cvttpd_epi32(select(safe, t, minus_one)));
  }
  return c;
}

// classify_scalar (below) on four pixels at a time; returns the number of pixels done.
__attribute__((target("avx"))) int classify_avx(const ClassifyArgs& args) {
  const double* px = args.gx;
  const double* py = args.gy;
  double* pm = args.mag;
  std::int32_t* pc = args.code;
  const int used_cols = args.count;
  const double degrees_per_bin = args.degrees_per_bin;
  const int bins = args.bins;
  const __m256d sign = _mm256_set1_pd(-0.0), zero = _mm256_setzero_pd();
  const __m256d tan_pi8 = _mm256_set1_pd(kTanPi8), pi4 = _mm256_set1_pd(M_PI / 4),
                rad_to_deg = _mm256_set1_pd(kRadToDeg);
  const __m256d c9 = _mm256_set1_pd(kAtan9), c7 = _mm256_set1_pd(kAtan7), c5 = _mm256_set1_pd(kAtan5),
                c3 = _mm256_set1_pd(kAtan3);
  const __m256d d90 = _mm256_set1_pd(90.0), d180 = _mm256_set1_pd(180.0), round = _mm256_set1_pd(0x1p52);
  const __m256d per_bin = _mm256_set1_pd(degrees_per_bin), inv_per_bin = _mm256_set1_pd(1.0 / degrees_per_bin);
  const __m256d max_t = _mm256_set1_pd(bins), margin = _mm256_set1_pd(kBoundaryMarginDeg);
  const __m256d dbl_max = _mm256_set1_pd(DBL_MAX), minus_one = _mm256_set1_pd(kNeedsExact);
  int c = 0;
  for (; c + 4 <= used_cols; c += 4) {
    const __m256d x = _mm256_loadu_pd(px + c), y = _mm256_loadu_pd(py + c);
    const __m256d m = _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(x, x), _mm256_mul_pd(y, y)));
    _mm256_storeu_pd(pm + c, m);
    const __m256d ax = _mm256_andnot_pd(sign, x), ay = _mm256_andnot_pd(sign, y);
    const __m256d steep = _mm256_cmp_pd(ay, ax, _CMP_GT_OQ);
    const __m256d lo = select(steep, ax, ay), hi = select(steep, ay, ax);
    const __m256d upper = _mm256_cmp_pd(lo, _mm256_mul_pd(tan_pi8, hi), _CMP_GT_OQ);
    const __m256d z = _mm256_div_pd(select(upper, _mm256_sub_pd(lo, hi), lo), select(upper, _mm256_add_pd(lo, hi), hi));
    const __m256d z2 = _mm256_mul_pd(z, z);
    __m256d poly = _mm256_add_pd(_mm256_mul_pd(c9, z2), c7);
    poly = _mm256_add_pd(_mm256_mul_pd(poly, z2), c5);
    poly = _mm256_add_pd(_mm256_mul_pd(poly, z2), c3);
    poly = _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(poly, z2), z), z);
    __m256d deg = _mm256_mul_pd(_mm256_add_pd(_mm256_and_pd(upper, pi4), poly), rad_to_deg);
    deg = select(steep, _mm256_sub_pd(d90, deg), deg);
    const __m256d left = _mm256_xor_pd(_mm256_cmp_pd(x, zero, _CMP_LT_OQ), _mm256_cmp_pd(y, zero, _CMP_LT_OQ));
    deg = select(left, _mm256_sub_pd(d180, deg), deg);
    const __m256d t = _mm256_mul_pd(deg, inv_per_bin);
    const __m256d nearest = _mm256_sub_pd(_mm256_add_pd(t, round), round);
    const __m256d gap = _mm256_mul_pd(_mm256_andnot_pd(sign, _mm256_sub_pd(t, nearest)), per_bin);
    const __m256d safe =
        _mm256_and_pd(_mm256_and_pd(_mm256_cmp_pd(gap, margin, _CMP_GE_OQ), _mm256_cmp_pd(m, dbl_max, _CMP_LE_OQ)),
                      _mm256_and_pd(_mm256_cmp_pd(t, zero, _CMP_GT_OQ), _mm256_cmp_pd(t, max_t, _CMP_LT_OQ)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(pc + c), _mm256_cvttpd_epi32(select(safe, t, minus_one)));
  }
  return c;
}
#endif

// out[i] = sqrt(in[i]), correctly rounded like np.sqrt. std::sqrt's errno handling keeps
// compilers from vectorising the plain loop, hence SSE2 (the x86-64 baseline) where available.
void sqrt_span(const float* in, float* out, std::size_t n) {
  std::size_t i = 0;
#if defined(SARSCALE_HOG_X86)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(out + i, _mm_sqrt_ps(_mm_loadu_ps(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

void sqrt_span(const double* in, double* out, std::size_t n) {
  std::size_t i = 0;
#if defined(SARSCALE_HOG_X86)
  for (; i + 2 <= n; i += 2) _mm_storeu_pd(out + i, _mm_sqrt_pd(_mm_loadu_pd(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

void check_range(const char* name, int value, int low, int high) {
  if (value < low || value > high) {
    std::ostringstream msg;
    msg << "hog: " << name << " must be in " << low << ".." << high << ", got " << value;
    throw ConfigError(msg.str());
  }
}

}  // namespace

std::string_view to_string(HogBlockNorm norm) {
  switch (norm) {
    case HogBlockNorm::kL1:
      return "L1";
    case HogBlockNorm::kL1Sqrt:
      return "L1-sqrt";
    case HogBlockNorm::kL2:
      return "L2";
    case HogBlockNorm::kL2Hys:
      return "L2-Hys";
  }
  return "?";
}

HogBlockNorm parse_hog_block_norm(std::string_view name) {
  for (auto norm : {HogBlockNorm::kL1, HogBlockNorm::kL1Sqrt, HogBlockNorm::kL2, HogBlockNorm::kL2Hys})
    if (name == to_string(norm)) return norm;
  throw ConfigError("hog: unknown block_norm '" + std::string(name) + "' (expected L1, L1-sqrt, L2 or L2-Hys)");
}

void HogParams::validate() const {
  check_range("orientations", orientations, 1, kMaxHogOrientations);
  check_range("cell_rows (pixels_per_cell)", cell_rows, 1, kMaxHogCellSize);
  check_range("cell_cols (pixels_per_cell)", cell_cols, 1, kMaxHogCellSize);
  check_range("block_rows (cells_per_block)", block_rows, 1, kMaxHogBlockCells);
  check_range("block_cols (cells_per_block)", block_cols, 1, kMaxHogBlockCells);
  switch (norm) {
    case HogBlockNorm::kL1:
    case HogBlockNorm::kL1Sqrt:
    case HogBlockNorm::kL2:
    case HogBlockNorm::kL2Hys:
      return;
  }
  throw ConfigError("hog: invalid block_norm value");
}

std::string HogParams::describe() const {
  std::ostringstream s;
  s << "hog(orientations=" << orientations << ", pixels_per_cell=" << cell_rows << "x" << cell_cols
    << ", cells_per_block=" << block_rows << "x" << block_cols << ", block_norm=" << to_string(norm)
    << ", transform_sqrt=" << (transform_sqrt ? "true" : "false") << ")";
  return s.str();
}

namespace {

struct Geometry {
  int cells_r = 0, cells_c = 0, blocks_r = 0, blocks_c = 0;
  std::size_t length = 0;
};

Geometry geometry_of(const HogParams& params, int rows, int cols) {
  params.validate();
  if (rows <= 0 || cols <= 0)
    throw ConfigError("hog: image size must be positive, got " + std::to_string(rows) + "x" + std::to_string(cols));
  Geometry g;
  g.cells_r = rows / params.cell_rows;
  g.cells_c = cols / params.cell_cols;
  g.blocks_r = g.cells_r - params.block_rows + 1;
  g.blocks_c = g.cells_c - params.block_cols + 1;
  if (g.blocks_r <= 0 || g.blocks_c <= 0) {
    std::ostringstream msg;
    msg << "hog: a " << rows << "x" << cols << " image is smaller than one block of " << params.describe()
        << "; it needs at least " << params.block_rows * params.cell_rows << " rows and "
        << params.block_cols * params.cell_cols << " columns";
    throw ConfigError(msg.str());
  }
  g.length =
      static_cast<std::size_t>(g.blocks_r) * g.blocks_c * params.block_rows * params.block_cols * params.orientations;
  return g;
}

}  // namespace

std::size_t hog_length(const HogParams& params, int rows, int cols) { return geometry_of(params, rows, cols).length; }

struct HogExtractor::Impl {
  HogParams params;
  int rows, cols;
  Geometry geo;
  int used_cols;  // cells_c * cell_cols: columns right of this are dropped (but feed gradients)
  int bins;
  // skimage's float32 boundaries: bin i is [bound[i], bound[i+1]); bound[bins] may differ from
  // 180 in float32, anything at or above it is counted nowhere.
  std::vector<double> bound;
  double degrees_per_bin;  // 180 / bins, for the fast pass
  int axis_bin_gy0[2][2];  // exact bins of gradients on the axes: [signbit(gy)][gx < 0] for gy == 0
  int axis_bin_gx0[2];     // [gy < 0] for gx == 0
#if defined(SARSCALE_HOG_X86)
  bool has_avx = __builtin_cpu_supports("avx");
#endif

  // Per-row scratch (used_cols each) and the histograms.
  std::vector<double> gx, gy, mag;
  std::vector<std::int32_t> code;
  std::vector<float> acc;           // cells_c * bins float32 accumulators of the current cell row
  std::vector<double> hist;         // cells_r * cells_c * bins, skimage's orientation_histogram
  std::vector<double> cell_sum;     // per cell: sum of |h| (L1 norms) or of h^2 (L2 norms)
  std::vector<double> block;        // one block's values during normalisation
  std::vector<float> sqrt_float;    // transform_sqrt: the square-rooted image
  std::vector<double> sqrt_double;  //   (allocated on the first call)

  Impl(const HogParams& p, int r, int c) : params(p), rows(r), cols(c), geo(geometry_of(p, r, c)) {
    used_cols = geo.cells_c * params.cell_cols;
    bins = params.orientations;
    // _hoghistogram.pyx: `cdef float number_of_orientations_per_180 = 180. / n`, then
    // orientation_start = per_180 * (i + 1) evaluated in float.
    const float per_180 = static_cast<float>(180.0 / bins);
    bound.resize(bins + 1);
    for (int i = 0; i <= bins; ++i) bound[i] = static_cast<double>(per_180 * static_cast<float>(i));
    degrees_per_bin = 180.0 / bins;
    for (int neg_y = 0; neg_y < 2; ++neg_y)
      for (int neg_x = 0; neg_x < 2; ++neg_x)
        axis_bin_gy0[neg_y][neg_x] = bin_of(numpy_orientation(neg_x ? -1.0 : 1.0, neg_y ? -0.0 : 0.0));
    for (int neg_y = 0; neg_y < 2; ++neg_y) axis_bin_gx0[neg_y] = bin_of(numpy_orientation(0.0, neg_y ? -1.0 : 1.0));

    gx.resize(used_cols);
    gy.resize(used_cols);
    mag.resize(used_cols);
    code.resize(used_cols);
    acc.resize(static_cast<std::size_t>(geo.cells_c) * bins);
    hist.resize(static_cast<std::size_t>(geo.cells_r) * geo.cells_c * bins);
    cell_sum.resize(static_cast<std::size_t>(geo.cells_r) * geo.cells_c);
    block.resize(static_cast<std::size_t>(params.block_rows) * params.block_cols * bins);
  }

  // The bin skimage counts orientation `theta` in: bound[i] <= theta < bound[i+1].
  int bin_of(double theta) const {
    if (std::isnan(theta)) return kAllBins;
    if (!(theta < bound[bins])) return kNoBin;
    const auto it = std::upper_bound(bound.begin(), bound.end(), theta);
    return static_cast<int>(it - bound.begin()) - 1;
  }

  // Exact bin and magnitude (np.hypot) of one gradient.
  int exact_bin(double x, double y, double& m) const {
    m = std::hypot(x, y);
    // atan2 of a gradient on an axis is one of +-0, +-pi/2, +-pi whatever its length (C Annex F),
    // so those bins are precomputed; the rows and columns at the image border are all like this.
    if (std::isfinite(x) && std::isfinite(y)) {
      if (y == 0 && x != 0) return axis_bin_gy0[std::signbit(y)][x < 0];
      if (x == 0 && y != 0) return axis_bin_gx0[y < 0];
    }
    return bin_of(numpy_orientation(x, y));
  }

  // Central differences of image row r in the input's precision (numpy keeps float32 for float32
  // images), zero on the image's border rows/columns, widened to double for the histogram (skimage
  // casts the gradients to float64 there).
  template <typename T>
  void gradient_row(const T* image, int r) {
    const T* row = image + static_cast<std::size_t>(r) * cols;
    gx[0] = 0;
    const int interior_end = std::min(used_cols, cols - 1);
#pragma omp simd
    for (int c = 1; c < interior_end; ++c) gx[c] = static_cast<double>(static_cast<T>(row[c + 1] - row[c - 1]));
    if (used_cols == cols) gx[cols - 1] = 0;
    if (r == 0 || r == rows - 1) {
      std::fill(gy.begin(), gy.end(), 0.0);
      return;
    }
    const T* up = row - cols;
    const T* down = row + cols;
#pragma omp simd
    for (int c = 0; c < used_cols; ++c) gy[c] = static_cast<double>(static_cast<T>(down[c] - up[c]));
  }

  // Magnitude and bin of every pixel in the row, or kNeedsExact when the approximate angle is not
  // safely inside a bin. SSE2 (the x86-64 baseline) two pixels at a time; the scalar version is
  // the same computation for the remainder and other architectures. Which of the two classifies
  // a pixel never changes the result: an unsafe pixel is resolved exactly either way.
  void classify_row() {
    int c = 0;
#if defined(SARSCALE_HOG_X86)
    const ClassifyArgs args{gx.data(), gy.data(), mag.data(), code.data(), used_cols, degrees_per_bin, bins};
    c = has_avx ? classify_avx(args) : classify_sse2(args);
#endif
    for (; c < used_cols; ++c) code[c] = classify_scalar(gx[c], gy[c], mag[c]);
  }

  // Approximate orientation (degrees in [0, 180]) from the folded gradient: atan of
  // min/max(|x|, |y|) Cephes-style (reduced to |z| <= tan(pi/8), odd polynomial, error ~1e-7 rad),
  // then the octant and the half-plane are restored. Accurate to ~1e-5 degrees.
  std::int32_t classify_scalar(double x, double y, double& m) const {
    m = std::sqrt(x * x + y * y);
    const double ax = std::fabs(x), ay = std::fabs(y);
    const bool steep = ay > ax;
    const double lo = steep ? ax : ay, hi = steep ? ay : ax;
    const bool upper = lo > kTanPi8 * hi;
    const double z = upper ? (lo - hi) / (lo + hi) : lo / hi;  // NaN for 0/0 and inf/inf
    const double z2 = z * z;
    const double poly = (((kAtan9 * z2 + kAtan7) * z2 + kAtan5) * z2 + kAtan3) * z2 * z + z;
    double deg = ((upper ? M_PI / 4 : 0.0) + poly) * kRadToDeg;  // angle of (|x|, |y|), 0..90
    deg = steep ? 90.0 - deg : deg;
    // Unsigned orientation: (x, y) and (-x, -y) coincide, fold onto y >= 0.
    const bool left = (x < 0) != (y < 0);
    deg = left ? 180.0 - deg : deg;
    const double t = deg * (1.0 / degrees_per_bin);               // boundaries sit (almost exactly) at integer t
    const double nearest = (t + 0x1p52) - 0x1p52;                 // round to nearest, t in [0, bins]
    const double gap = std::fabs(t - nearest) * degrees_per_bin;  // degrees to the nearest boundary
    const bool safe = gap >= kBoundaryMarginDeg && t > 0 && t < bins && m <= DBL_MAX;
    return safe ? static_cast<std::int32_t>(t) : kNeedsExact;
  }

  // Adds the row's magnitudes to the float32 accumulators, as cell_hog does: `total` is a C
  // float, each `total += magnitude` is done in double and rounded back to float.
  void accumulate_row() {
    const int cw = params.cell_cols;
    const int nc = geo.cells_c;
    float* a = acc.data();
    for (int j = 0; j < cw; ++j) {
      for (int cell = 0; cell < nc; ++cell) {
        const int c = cell * cw + j;
        double m = mag[c];
        if (m == 0) continue;  // adds +0 (skimage would too): no effect on a float sum >= +0
        int b = code[c];
        if (b < 0) {
          b = exact_bin(gx[c], gy[c], m);
          if (b == kNoBin) continue;
          if (b == kAllBins) {
            for (int k = 0; k < bins; ++k) a[cell * bins + k] = static_cast<float>(a[cell * bins + k] + m);
            continue;
          }
        }
        float& total = a[cell * bins + b];
        total = static_cast<float>(static_cast<double>(total) + m);
      }
    }
  }

  // `total / (cell_rows * cell_columns)` in float, stored into the float64 histogram.
  void finish_cell_row(int cell_row) {
    const float area = static_cast<float>(params.cell_rows * params.cell_cols);
    double* h = hist.data() + static_cast<std::size_t>(cell_row) * geo.cells_c * bins;
    for (std::size_t i = 0; i < acc.size(); ++i) h[i] = static_cast<double>(acc[i] / area);
    std::fill(acc.begin(), acc.end(), 0.0f);
  }

  template <typename T>
  void histograms(const T* image) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int cell_row = 0; cell_row < geo.cells_r; ++cell_row) {
      for (int i = 0; i < params.cell_rows; ++i) {
        const int r = cell_row * params.cell_rows + i;
        gradient_row(image, r);
        classify_row();
        accumulate_row();
      }
      finish_cell_row(cell_row);
    }
  }

  // _hog_normalize_block, in double like numpy, for every block in skimage's ravel order:
  // (block_row, block_col, cell_row, cell_col, orientation). The block sums come from per-cell
  // sums (numpy sums in another order: the difference is a few ulps).
  template <typename T>
  void blocks(T* out) {
    const std::size_t cells = static_cast<std::size_t>(geo.cells_r) * geo.cells_c;
    const bool l1 = params.norm == HogBlockNorm::kL1 || params.norm == HogBlockNorm::kL1Sqrt;
    for (std::size_t cell = 0; cell < cells; ++cell) {
      const double* h = hist.data() + cell * bins;
      double sum = 0;
      for (int k = 0; k < bins; ++k) sum += l1 ? std::fabs(h[k]) : h[k] * h[k];
      cell_sum[cell] = sum;
    }
    const std::size_t row_len = static_cast<std::size_t>(params.block_cols) * bins;
    const std::size_t block_len = row_len * params.block_rows;
    for (int br = 0; br < geo.blocks_r; ++br) {
      for (int bc = 0; bc < geo.blocks_c; ++bc) {
        double sum = 0;
        for (int i = 0; i < params.block_rows; ++i)
          for (int j = 0; j < params.block_cols; ++j)
            sum += cell_sum[static_cast<std::size_t>(br + i) * geo.cells_c + bc + j];
        const double d = l1 ? sum + kEps : std::sqrt(sum + kEps * kEps);
        double* v = block.data();
        for (int i = 0; i < params.block_rows; ++i) {
          const double* src = hist.data() + (static_cast<std::size_t>(br + i) * geo.cells_c + bc) * bins;
#pragma omp simd
          for (std::size_t k = 0; k < row_len; ++k) v[i * row_len + k] = src[k] / d;
        }
        switch (params.norm) {
          case HogBlockNorm::kL1:
          case HogBlockNorm::kL2:
            break;
          case HogBlockNorm::kL1Sqrt:
            for (std::size_t k = 0; k < block_len; ++k) v[k] = std::sqrt(v[k]);
            break;
          case HogBlockNorm::kL2Hys: {
#pragma omp simd
            for (std::size_t k = 0; k < block_len; ++k)
              v[k] = (kHysClip < v[k]) ? kHysClip : v[k];  // np.minimum: NaN stays NaN
            double clipped_sum = 0;
#pragma omp simd reduction(+ : clipped_sum)
            for (std::size_t k = 0; k < block_len; ++k) clipped_sum += v[k] * v[k];
            const double d2 = std::sqrt(clipped_sum + kEps * kEps);
#pragma omp simd
            for (std::size_t k = 0; k < block_len; ++k) v[k] /= d2;
            break;
          }
        }
#pragma omp simd
        for (std::size_t k = 0; k < block_len; ++k) out[k] = static_cast<T>(v[k]);
        out += block_len;
      }
    }
  }

  // np.sqrt(image) of the rows the gradients read, into `buffer` (sized on first use).
  template <typename T>
  const T* sqrt_image(const T* image, std::vector<T>& buffer) {
    const std::size_t n = static_cast<std::size_t>(rows) * cols;
    const auto negative = std::find_if(image, image + n, [](T v) { return v < 0; });
    if (negative != image + n) {
      // skimage would silently turn the features around it into NaN; refuse instead.
      const std::size_t at = static_cast<std::size_t>(negative - image);
      std::ostringstream msg;
      msg << "hog: transform_sqrt needs non-negative pixels, found " << *negative << " at row " << at / cols
          << ", column " << at % cols;
      throw InputError(msg.str());
    }
    buffer.resize(n);
    const std::size_t needed = static_cast<std::size_t>(std::min(rows, geo.cells_r * params.cell_rows + 1)) * cols;
    sqrt_span(image, buffer.data(), needed);
    return buffer.data();
  }

  template <typename T>
  void run(const T* image, T* out) {
    if (params.transform_sqrt) {
      if constexpr (std::is_same_v<T, float>)
        image = sqrt_image(image, sqrt_float);
      else
        image = sqrt_image(image, sqrt_double);
    }
    histograms(image);
    blocks(out);
  }
};

HogExtractor::HogExtractor(const HogParams& params, int rows, int cols)
    : impl_(std::make_unique<Impl>(params, rows, cols)) {}
HogExtractor::~HogExtractor() = default;
HogExtractor::HogExtractor(HogExtractor&&) noexcept = default;
HogExtractor& HogExtractor::operator=(HogExtractor&&) noexcept = default;

const HogParams& HogExtractor::params() const { return impl_->params; }
int HogExtractor::rows() const { return impl_->rows; }
int HogExtractor::cols() const { return impl_->cols; }
std::size_t HogExtractor::length() const { return impl_->geo.length; }
void HogExtractor::compute(const float* image, float* out) { impl_->run(image, out); }
void HogExtractor::compute(const double* image, double* out) { impl_->run(image, out); }

void hog(const HogParams& params, const float* image, int rows, int cols, float* out) {
  HogExtractor(params, rows, cols).compute(image, out);
}

void hog(const HogParams& params, const double* image, int rows, int cols, double* out) {
  HogExtractor(params, rows, cols).compute(image, out);
}

void hog_batch(const HogParams& params, const float* chips, std::size_t count, int rows, int cols, float* out,
               int threads) {
  const std::size_t length = hog_length(params, rows, cols);  // ConfigError before any work
  if (count == 0) return;
  const std::size_t pixels = static_cast<std::size_t>(rows) * cols;
  // Thread count: the caller's `threads`, else OpenMP's default (OMP_NUM_THREADS or
  // omp_get_max_threads()); never more threads than chips.
  const int team = static_cast<int>(
      std::min<std::size_t>(count, static_cast<std::size_t>(threads > 0 ? threads : omp_get_max_threads())));
  std::size_t first_failed = std::numeric_limits<std::size_t>::max();
  std::exception_ptr first_error;
  const auto record = [&](std::size_t chip) {
#pragma omp critical(sarscale_hog_batch_error)
    if (chip < first_failed || !first_error) {
      first_failed = chip;
      first_error = std::current_exception();
    }
  };
  const auto n = static_cast<std::int64_t>(count);
#pragma omp parallel num_threads(team)
  {
    std::optional<HogExtractor> extractor;
    try {
      extractor.emplace(params, rows, cols);
    } catch (...) {
      record(0);
    }
    // Static schedule: each chip is computed by one thread with the same code, so the output does
    // not depend on the thread count.
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      if (!extractor) continue;
      try {
        extractor->compute(chips + static_cast<std::size_t>(i) * pixels, out + static_cast<std::size_t>(i) * length);
      } catch (...) {
        record(static_cast<std::size_t>(i));
      }
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace sarscale::features
