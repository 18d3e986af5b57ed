#pragma once
// Acquisition shift: a chip perturbed as a new acquisition of the same target would differ from
// it (radiometric level, target-to-clutter contrast, position by a pixel or two, a new speckle
// realisation), for validating a classifier on chips it was not fitted to look like. Pure and
// deterministic: the perturbation of a chip depends only on the spec, the seed, the chip and its
// index (its archive slot), never on the rank or thread that makes it.
//
// Text form (as augment.hpp: ';' separates operations, "name" or "name(args)", args positional
// in the order listed or key=value; whitespace is free); "none" (or "") is no perturbation:
//   "gain(db=2); shift(pixels=1); speckle"          (kDefaultAcquisitionShift)
// Operations (default in brackets), applied in this order whatever the order written:
//   speckle(support [0.01])  a new speckle realisation, for chips with phase (else nothing is
//       done, and the outcome says so): z = m e^{i phase}; every pixel's phase is replaced by a
//       uniform draw, the result is band-limited back to the chip's own spectral support, and
//       rescaled so that the chip's mean intensity is unchanged. The support: the 2-D spectrum
//       |FFT(z)|^2 of the original chip summed over rows gives the column-frequency profile,
//       summed over columns the row-frequency profile; each profile is smoothed by a circular
//       3-bin mean, and the frequencies at which it reaches `support` times its peak are kept
//       (MSTAR's Phoenix chips, oversampled ~1.2x with -35 dB Taylor weighting: about 108 of
//       128 bins at 0.01). The band-limit keeps the outer product of the two sets. Distributed
//       clutter gets new, equally correlated speckle; a point scatterer keeps its energy near
//       its position (the band-limit of a randomised point response is a point response).
//       A chip whose phase is constant (a magnitude-only source in an archive with phase), or
//       whose support is the whole band on both axes (nothing to re-draw from), is left as it is.
//   clutter(db [0])  a per-chip gain c ~ U[-db, db] dB on the background only: every pixel
//       outside the target and its shadow, as the preprocessing step kClutterSegmentation
//       (preprocess.hpp, segment.hpp: thresholds on a 5x5 mean, the central component, grown by
//       4 pixels, shadow within 12) segments the chip's magnitude; the target-to-clutter contrast
//       of another acquisition. A chip without a target pixel is all background.
//   gain(db [2], clip [0])  a per-chip gain g ~ U[-db, db] dB on the whole magnitude
//       (x 10^(g/20)). clip > 0: values above `clip` are set to `clip` afterwards (8-bit sources,
//       such as MSTAR's JPEG chips, saturate at 255).
//   shift(pixels [1])  the content moves by (dr, dc), each a uniform integer in
//       [-pixels, pixels]: the pixel at (r, c) lands at (r + dr, c + dc); vacated rows and
//       columns are filled by edge replication (augment.hpp's extract_window).
// Random draws come from a counter-based hash (splitmix64) of (seed, chip index, operation),
// the operation numbered by its place in the order above, so that adding or removing one
// operation leaves the others' draws unchanged.
// Magnitudes must be linear amplitudes (not dB): a chip with a negative magnitude is refused
// with a reason. parse_acquisition_shift fills defaults and describe() prints canonically,
// operations in application order: "speckle(support=0.01); gain(db=2, clip=0); shift(pixels=1)",
// and parse(describe(s)) == s.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sarscale/core/image.hpp"

namespace sarscale::features {

inline constexpr const char* kDefaultAcquisitionShift = "gain(db=2); shift(pixels=1); speckle";
// What `clutter` leaves alone. Single-pixel thresholds would count bright speckle as target and
// leave background unscaled all over the chip: the smoothed, central segmentation does not.
inline constexpr const char* kClutterSegmentation = "mask(smooth=5, keep=central, grow=4, reach=12)";

struct ShiftOp {
  // In application order (also the operation's number in the random draws).
  enum class Kind { speckle = 0, clutter = 1, gain = 2, shift = 3 };
  Kind kind = Kind::gain;
  double db = 0;          // gain, clutter: half-width of the uniform draw in dB
  double clip = 0;        // gain: saturation level, 0 = none
  int pixels = 0;         // shift: largest displacement per axis
  double support = 0.01;  // speckle: profile fraction of the peak that counts as in-band
  bool operator==(const ShiftOp&) const = default;
};

struct AcquisitionShiftSpec {
  std::vector<ShiftOp> ops;  // application order, each kind at most once
  bool empty() const { return ops.empty(); }
  bool has(ShiftOp::Kind kind) const;
  bool operator==(const AcquisitionShiftSpec&) const = default;
};

// ConfigError naming the offending token (unknown operation or key, bad or out-of-range value,
// a repeated operation). "none" and "" give the empty spec.
AcquisitionShiftSpec parse_acquisition_shift(std::string_view text);
// Canonical text ("none" for the empty spec).
std::string describe(const AcquisitionShiftSpec& spec);
std::string describe(const ShiftOp& op);
// Every shift moves less than a rows x cols chip. ConfigError.
void validate(const AcquisitionShiftSpec& spec, int rows, int cols);

// What happened to one chip.
struct ShiftOutcome {
  std::string reason;  // "" or why the chip cannot be perturbed (then it is left unchanged)
  enum class Speckle { not_asked, redrawn, no_phase, constant_phase, whole_band } speckle = Speckle::not_asked;
  double gain_db = 0, clutter_db = 0;  // the draws applied (0 when not asked)
  int shift_rows = 0, shift_cols = 0;
};

// A spec and a seed for one chip size, with its FFT plans made once. apply() may be called from
// any number of threads at once.
class AcquisitionShift {
 public:
  // ConfigError when the spec does not fit rows x cols chips.
  AcquisitionShift(AcquisitionShiftSpec spec, std::uint64_t seed, int rows, int cols);
  ~AcquisitionShift();
  AcquisitionShift(const AcquisitionShift&) = delete;
  AcquisitionShift& operator=(const AcquisitionShift&) = delete;

  const AcquisitionShiftSpec& spec() const { return spec_; }
  std::uint64_t seed() const { return seed_; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }

  // Perturbs chip `index` in place: `magnitude` holds rows x cols values, `phase_or_null` too
  // (radians) when the chip has phase (it is re-drawn by speckle and moved by shift).
  ShiftOutcome apply(float* magnitude, float* phase_or_null, std::uint64_t index) const;
  ShiftOutcome apply(Image& chip, std::uint64_t index) const;

 private:
  struct Plans;
  AcquisitionShiftSpec spec_;
  std::uint64_t seed_;
  int rows_, cols_;
  std::unique_ptr<Plans> plans_;  // speckle's FFTs, when asked
};

}  // namespace sarscale::features
