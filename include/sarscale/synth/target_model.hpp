#pragma once
// Synthetic targets: vehicles as layouts of point scatterers with aspect-dependent returns,
// imaged in the slant plane with a Hamming-weighted point-spread function and a radar shadow.
//
// Frames and conventions (shared by chips and scenes):
//   target frame  x forward along the hull, y to the vehicle's left, z up, metres; origin at
//                 the hull centre on the ground.
//   raster        rows = slant range, columns = cross range. As in MSTAR chips
//                 (RadarPosition= bottom) the radar is below the last row: range grows towards
//                 row 0 and shadows fall towards lower rows.
//   azimuth       TargetAz in degrees: the direction of the radar seen from the target, in the
//                 target frame (0 = radar straight ahead of the nose, 90 = radar on its left).
//
// Depression angle theta (far field: one look direction over the whole target). A point at
// ground range v (metres away from the radar, from the target's origin) and height z lies at
//   slant range  s = v cos(theta) - z sin(theta)        (its distance along the line of sight)
// so the image (rows = slant range) shows
//   layover  a scatterer at height z moves z sin(theta) of slant range towards the radar
//            (z sin(theta) / range_spacing rows; z tan(theta) once projected onto the ground):
//            0.73 m for a 2.5 m turret top at 17 deg, 0.65 m at 15 deg;
//   shadow   the top of a part of height h hides the ground out to h / tan(theta) beyond it,
//            h cos^2(theta) / sin(theta) of slant range: 7.8 m for 2.5 m at 17 deg, 9.0 m at
//            15 deg (longer at shallower depression).
// Everything here is pure and thread-safe; randomness comes from counter-based generators
// keyed by the caller, so any process can regenerate any target bit-identically.
#include <complex>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sarscale::synth {

// ---------------------------------------------------------------------------------------------
// Counter-based random numbers

// SplitMix64 finaliser: a bijective 64-bit mix with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Order-dependent combination of two keys (hash(a, b) != hash(b, a)).
constexpr std::uint64_t hash_combine(std::uint64_t a, std::uint64_t b) {
  return mix64(mix64(a) ^ (b + 0x632be59bd9b4e019ULL));
}

// Key of an independent stream: (seed, item index, purpose).
constexpr std::uint64_t stream_key(std::uint64_t seed, std::uint64_t index, std::uint64_t stream) {
  return hash_combine(hash_combine(seed, index), stream);
}

// A SplitMix64 stream: value k is mix64(key + k * golden), so streams are cheap to create
// and reproducible from their key alone.
class CounterRng {
 public:
  explicit CounterRng(std::uint64_t key) : key_(key) {}
  std::uint64_t next_u64() { return mix64(key_ + (++counter_) * 0x9e3779b97f4a7c15ULL); }
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int below(int n) { return static_cast<int>((next_u64() >> 33) % static_cast<std::uint64_t>(n)); }
  double normal();             // N(0, 1), Box-Muller
  double gamma(double shape);  // Gamma(shape, scale 1), Marsaglia-Tsang; mean = shape

 private:
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Target models

enum class ScattererKind {
  omni,                 // roof fittings, hatches: seen from every azimuth
  point,                // side fittings (wheels, boxes): hidden when their face turns away
  corner,               // trihedral corner: wide lobe around its normal
  dihedral,             // plate + ground or plate + plate: narrow flash when the plate faces the radar
  vertical_cylinder,    // turret, drum, dish: constant return from the point facing the radar
  horizontal_cylinder,  // gun barrel: flashes when the radar looks broadside onto the axis
};

struct Scatterer {
  ScattererKind kind = ScattererKind::omni;
  float x_m = 0, y_m = 0, z_m = 0;  // target frame
  float amplitude = 0;              // peak magnitude when fully lit
  float normal_deg = 0;             // face normal (axis for horizontal_cylinder), target frame
  float lobe_deg = 10;              // width (1/e) of the aspect lobe
  float radius_m = 0;               // vertical_cylinder radius
  float phase_rad = 0;              // extra phase (bounce count, material)
};

// A solid part of the vehicle: blocks the ground behind it (radar shadow).
struct Volume {
  enum class Shape { box, disc };
  Shape shape = Shape::box;
  float x_m = 0, y_m = 0;           // centre, target frame
  float length_m = 0, width_m = 0;  // box extent along x / y; disc: both equal the diameter
  float height_m = 0;               // top above the ground
};

struct TargetModel {
  int class_index = 0;
  int variant = 0;  // serial-number variant (small details differ)
  std::string class_name;
  std::string serial;
  std::vector<Scatterer> scatterers;
  std::vector<Volume> volumes;

  float radius_m() const;  // largest horizontal distance of any part from the origin
  float height_m() const;  // tallest volume or scatterer
};

// Serial-number variants per class.
inline constexpr int kSerialsPerClass = 3;

// Name of class `class_index` (>= 0), a valid directory name independent of how many classes
// are used: the first ten are vehicle archetypes ("tank_a", "ifv_b", ..., "tank_j"); class
// 10 g + k is archetype k reshaped by generation g, named e.g. "tank_a_g1".
std::string target_class_name(int class_index);
// Serial number of variant `variant` of a class (distinct within the class), e.g. "4127".
std::string target_serial(int class_index, int variant);

// The deterministic layout of class `class_index`, serial variant `variant` in [0, kSerialsPerClass).
// Throws ConfigError for negative indices.
TargetModel make_target_model(int class_index, int variant);

// How much one instance of a class differs from its layout.
struct TargetVariation {
  float amplitude_sigma = 0.2f;    // log-normal factor on each scatterer's amplitude (natural-log units)
  float position_sigma_m = 0.05f;  // N(0, sigma) shift of each scatterer per axis (> lambda/4:
                                   //   the target's own speckle differs from chip to chip)
  float gain_jitter_db = 0.5f;     // uniform +- on the whole target's amplitude

  // ConfigError outside amplitude sigma 0..3, position sigma 0..5 m, gain jitter 0..20 dB.
  void validate() const;
};

// Perturbs one instance of a model as `variation` says, drawing from `rng`.
void jitter_target(TargetModel& model, CounterRng& rng, const TargetVariation& variation);

// Magnitude gain of a scatterer for a radar at `azimuth_deg` (target frame), before imaging.
float aspect_gain(const Scatterer& s, float azimuth_deg);

// ---------------------------------------------------------------------------------------------
// Imaging

struct ImagingGeometry {
  float depression_deg = 17.0f;
  float range_spacing_m = 0.2f;        // slant-range pixel spacing
  float cross_range_spacing_m = 0.2f;  // cross-range pixel spacing
  float resolution_m = 0.3f;           // 3 dB width of the point-spread function
  float wavelength_m = 0.03123f;       // X band, 9.6 GHz

  // Square pixels of `pixel_spacing_m` in both directions (chips and scenes alike).
  static ImagingGeometry square(float depression_deg, float pixel_spacing_m, float resolution_m);

  // Half size in pixels of the window a point-spread function is rendered in.
  int psf_half_width() const;
  void validate() const;  // ConfigError for non-positive or absurd values
};

// Where the target's origin falls in the raster (fractional pixels) and how it is turned.
struct TargetPose {
  double row = 0;
  double col = 0;
  float azimuth_deg = 0;
};

// A rectangle of raster pixels in absolute coordinates.
struct PixelBox {
  int row0 = 0, col0 = 0, rows = 0, cols = 0;
  bool empty() const { return rows <= 0 || cols <= 0; }
  PixelBox intersect(const PixelBox& other) const;
};

// Every pixel the target's returns or shadow can touch.
PixelBox target_footprint(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose);

// Adds the complex returns of every scatterer to `field`, a row-major buffer covering `window`
// (absolute raster coordinates). A pixel's value does not depend on the window it is rendered
// in, so any split of a raster gives identical pixels.
void add_target_returns(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                        const PixelBox& window, std::complex<float>* field);

// A calibration gain on detected magnitudes: each times 10^(gain_db / 20). 0 dB leaves them
// untouched (not even multiplied by 1), so default outputs keep their bytes.
void apply_gain_db(float gain_db, std::span<float> magnitude);

// Multiplies `gain` (row-major over `window`) by the clutter attenuation of the target's
// radar shadow and of the ground hidden under it: 1 in the open, `shadow_gain` in full shadow,
// fractional at the edges.
void apply_target_shadow(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                         float shadow_gain, const PixelBox& window, float* gain);

}  // namespace sarscale::synth
