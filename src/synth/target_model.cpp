#include "sarscale/synth/target_model.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "sarscale/core/error.hpp"

namespace sarscale::synth {

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kDeg = kPi / 180.0;

// Point-spread function: a raised-cosine spectral window a + (1 - a) cos(2 pi f / B), whose
// impulse response is a sum of three sincs. a = 0.575 gives -35 dB peak sidelobes, like the
// -35 dB Taylor weighting of MSTAR, and a 3 dB width of kPsfWidth / B.
constexpr double kPsfPedestal = 0.575;
constexpr double kPsfWidth = 1.2174;

// Normalised to 1 at x = 0 (x in units of 1/B). sin(pi (x -+ 1)) = -sin(pi x), so one sine
// serves all three sincs; at the removable singularities x = 0, +-1 take the limits.
double psf(double x) {
  constexpr double a = kPsfPedestal, b = 0.5 * (1.0 - kPsfPedestal);
  constexpr double eps = 1e-7;
  if (std::abs(x) < eps) return 1.0;
  if (std::abs(std::abs(x) - 1.0) < eps) return b / a;
  const double s = std::sin(kPi * x) / kPi;
  return (a * s / x - b * s / (x - 1.0) - b * s / (x + 1.0)) / a;
}

double wrap180(double deg) {
  deg = std::fmod(deg, 360.0);
  if (deg > 180.0) deg -= 360.0;
  if (deg <= -180.0) deg += 360.0;
  return deg;
}

double lobe(double delta_deg, double width_deg) {
  const double t = delta_deg / width_deg;
  return std::exp(-t * t);
}

// Smoothly 0 when the face points away from the radar, 1 when it faces it.
double facing(double delta_deg) { return std::clamp((std::cos(delta_deg * kDeg) + 0.15) / 0.3, 0.0, 1.0); }

// ----------------------------------------------------------------------------------------------
// Vehicle archetypes. Dimensions in metres, loosely those of real vehicle families; the names
// are generic on purpose.

struct VehicleSpec {
  const char* name;
  float length, width, hull_height;
  bool tracked;
  int wheels;           // road wheels per side (tracked) or axles (wheeled)
  float turret_radius;  // 0: no turret
  float turret_x, turret_top;
  bool box_turret;
  float gun_length;  // 0: no gun
  int guns;
  float gun_amplitude;
  float cab_x, cab_length, cab_height;  // cab_length 0: no cab
  float bed_wall;                       // cargo bed wall above the deck, 0: none
  float blade_width;                    // dozer blade, 0: none
  float glacis;                         // front plate strength (sloped fronts return less)
  float rear_plate;                     // rear plate strength (a rear door returns more)
  bool skirts, drums, dish;
  float brightness;  // overall return strength (materials, clutter of fittings)
};

constexpr VehicleSpec kArchetypes[] = {
    // name     L     W     H     trk   whl tR     tx     ttop   box    gun   n  gA     cabx   cabL  cabH  bed   blade
    // glac  rear  skrt   drum   dish   bright
    {"tank_a", 6.9f, 3.5f, 1.4f, true, 6, 1.10f, -0.3f, 2.25f, false, 5.2f,  1,
     0.18f,    0,    0,    0,    0,    0, 1.0f,  0.8f,  false, false, false, 0.85f},
    {"ifv_b", 6.0f, 3.0f, 1.9f, true, 6, 0.70f, 0.5f, 2.50f, false, 2.3f,  1,
     0.12f,   0,    0,    0,    0,    0, 0.8f,  1.6f, false, false, false, 0.8f},
    {"apc_c", 8.0f, 2.7f, 2.2f, false, 4, 0.45f, 1.4f, 2.60f, false, 1.0f,  1,
     0.12f,   0,    0,    0,    0,     0, 0.4f,  1.0f, false, false, false, 1.3f},
    {"scout_d", 4.6f, 2.2f, 1.7f, false, 2, 0.45f, 0.0f, 2.00f, false, 0.9f,  1,
     0.12f,     0,    0,    0,    0,     0, 0.6f,  1.0f, false, false, false, 0.55f},
    {"truck_e", 8.5f, 2.5f, 1.3f, false, 3, 0.00f, 0.0f, 0.00f, false, 0.0f,  0,
     0.00f,     3.1f, 2.2f, 2.9f, 1.4f,  0, 1.2f,  1.0f, false, false, false, 1.5f},
    {"spg_f", 7.8f, 2.9f, 1.4f, true, 7, 1.40f, -1.5f, 3.10f, true,  4.5f,  1,
     0.26f,   0,    0,    0,    0,    0, 1.0f,  1.2f,  false, false, false, 1.7f},
    {"aaa_g", 6.5f, 3.1f, 1.3f, true, 6, 1.20f, -0.2f, 2.60f, true,  2.0f, 4,
     0.10f,   0,    0,    0,    0,    0, 1.0f,  1.0f,  false, false, true, 1.0f},
    {"dozer_h", 4.8f,  2.6f, 1.6f, true, 5,    0.00f, 0.0f, 0.00f, false, 0.0f,  0,
     0.00f,     -1.2f, 1.6f, 3.2f, 0,    3.8f, 0.8f,  1.0f, false, false, false, 2.0f},
    {"tank_i", 6.2f, 3.3f, 1.1f, true, 5, 1.20f, 0.2f, 1.90f, false, 5.6f,  1,
     0.18f,    0,    0,    0,    0,    0, 1.0f,  0.8f, false, true,  false, 0.6f},
    {"tank_j", 7.6f, 3.7f, 1.5f, true, 6, 1.25f, -0.2f, 2.40f, false, 6.5f,  1,
     0.18f,    0,    0,    0,    0,    0, 1.0f,  0.8f,  true,  true,  false, 0.95f},
};
constexpr int kArchetypeCount = static_cast<int>(std::size(kArchetypes));

// Class 10 g + k: archetype k reshaped by generation g, deterministically.
VehicleSpec class_spec(int class_index) {
  VehicleSpec s = kArchetypes[class_index % kArchetypeCount];
  const int generation = class_index / kArchetypeCount;
  if (generation == 0) return s;
  CounterRng rng(stream_key(0x7a26e7c1a55ULL, static_cast<std::uint64_t>(class_index), 1));
  s.length *= static_cast<float>(rng.uniform(0.85, 1.15));
  s.width *= static_cast<float>(rng.uniform(0.9, 1.1));
  s.hull_height *= static_cast<float>(rng.uniform(0.85, 1.2));
  s.wheels = std::max(2, s.wheels + rng.below(3) - 1);
  if (s.turret_radius > 0) {
    s.turret_radius *= static_cast<float>(rng.uniform(0.85, 1.15));
    s.turret_x = std::clamp(s.turret_x + static_cast<float>(rng.uniform(-0.6, 0.6)), -0.3f * s.length, 0.3f * s.length);
    s.turret_top = std::max(s.turret_top * static_cast<float>(rng.uniform(0.9, 1.1)), s.hull_height + 0.4f);
    s.gun_length *= static_cast<float>(rng.uniform(0.7, 1.3));
  }
  if (s.cab_length > 0)
    s.cab_x = std::clamp(s.cab_x, -0.5f * s.length + 0.5f * s.cab_length, 0.5f * s.length - 0.5f * s.cab_length);
  if (rng.uniform() < 0.3) s.skirts = !s.skirts;
  if (rng.uniform() < 0.3) s.drums = !s.drums;
  s.glacis *= static_cast<float>(rng.uniform(0.7, 1.3));
  s.rear_plate *= static_cast<float>(rng.uniform(0.7, 1.3));
  s.brightness *= static_cast<float>(rng.uniform(0.75, 1.33));
  return s;
}

class Builder {
 public:
  // `gain` scales every amplitude: the layouts below are written in relative units.
  Builder(TargetModel& m, float gain) : m_(m), gain_(gain) {}

  // Phase: each bounce adds pi (odd-bounce returns are in phase with a flat plate's).
  void add(ScattererKind kind, float x, float y, float z, float amplitude, float normal_deg, float lobe_deg,
           float radius = 0) {
    const int bounces = kind == ScattererKind::dihedral ? 2 : kind == ScattererKind::corner ? 3 : 1;
    m_.scatterers.push_back(
        {kind, x, y, z, amplitude * gain_, normal_deg, lobe_deg, radius, static_cast<float>(kPi * bounces)});
  }
  void box(float x, float y, float length, float width, float height) {
    m_.volumes.push_back({Volume::Shape::box, x, y, length, width, height});
  }
  void disc(float x, float y, float diameter, float height) {
    m_.volumes.push_back({Volume::Shape::disc, x, y, diameter, diameter, height});
  }
  // Points every ~spacing along a face from (x0, y0) to (x1, y1), flashing along `normal`.
  void face(float x0, float y0, float x1, float y1, float z, float amplitude, float normal, float lobe_deg,
            float spacing = 0.7f) {
    const float len = std::hypot(x1 - x0, y1 - y0);
    const int n = std::max(1, static_cast<int>(std::lround(len / spacing)));
    for (int k = 0; k < n; ++k) {
      const float t = (static_cast<float>(k) + 0.5f) / static_cast<float>(n);
      add(ScattererKind::dihedral, x0 + t * (x1 - x0), y0 + t * (y1 - y0), z, amplitude, normal, lobe_deg);
    }
  }
  // Corner reflectors at the four top corners of a box.
  void box_corners(float x, float y, float length, float width, float z, float amplitude) {
    for (int sx : {-1, 1})
      for (int sy : {-1, 1})
        add(ScattererKind::corner, x + 0.5f * sx * length, y + 0.5f * sy * width, z, amplitude,
            static_cast<float>(std::atan2(sy * width, sx * length) / kDeg), 35.0f);
  }

 private:
  TargetModel& m_;
  float gain_;
};

// Magnitude of the relative amplitudes in the layouts: calibrated so that chips show MSTAR's
// statistics (peaks ~0.5..2, 99.9th percentile ~0.4 on ~0.04 clutter).
constexpr float kStructureGain = 1.8f;
constexpr float kSurfaceGain = 1.5f;

void build_vehicle(const VehicleSpec& s, int variant, TargetModel& m) {
  Builder b(m, kStructureGain * s.brightness);
  const float hl = 0.5f * s.length, hw = 0.5f * s.width, h = s.hull_height;

  // Hull: a box; side and end plates flash when they face the radar, corners return widely.
  b.box(0, 0, s.length, s.width, h);
  b.box_corners(0, 0, s.length, s.width, h, 0.30f);
  b.box_corners(0, 0, s.length, s.width, 0.3f, 0.40f);
  b.face(-hl, hw, hl, hw, 0.6f * h, 0.34f, 90.0f, 4.0f);
  b.face(-hl, -hw, hl, -hw, 0.6f * h, 0.34f, -90.0f, 4.0f);
  b.face(hl, -hw, hl, hw, 0.6f * h, 0.30f * s.glacis, 0.0f, 5.0f);
  b.face(-hl, -hw, -hl, hw, 0.6f * h, 0.30f * s.rear_plate, 180.0f, 5.0f);
  b.add(ScattererKind::omni, -0.3f * s.length, 0.25f * s.width, h, 0.12f, 0, 0);
  b.add(ScattererKind::omni, -0.38f * s.length, -0.2f * s.width, h, 0.10f, 0, 0);

  // Running gear.
  if (s.tracked) {
    for (int side : {-1, 1}) {
      const float y = side * (hw - 0.25f);
      for (int k = 0; k < s.wheels; ++k) {
        const float x = -0.42f * s.length + 0.84f * s.length * static_cast<float>(k) / static_cast<float>(s.wheels - 1);
        b.add(ScattererKind::point, x, y, 0.45f, 0.20f, 90.0f * side, 0);
      }
      b.add(ScattererKind::corner, 0.47f * s.length, y, 0.6f, 0.35f, 0.0f, 45.0f);     // sprocket
      b.add(ScattererKind::corner, -0.47f * s.length, y, 0.6f, 0.30f, 180.0f, 45.0f);  // idler
    }
  } else {
    for (int k = 0; k < s.wheels; ++k) {
      const float x =
          -0.35f * s.length + 0.7f * s.length * static_cast<float>(k) / static_cast<float>(std::max(1, s.wheels - 1));
      for (int side : {-1, 1}) b.add(ScattererKind::corner, x, side * (hw - 0.05f), 0.5f, 0.30f, 90.0f * side, 50.0f);
    }
  }
  if (s.skirts) {
    b.face(-0.45f * s.length, hw + 0.05f, 0.45f * s.length, hw + 0.05f, 0.9f, 0.25f, 90.0f, 3.0f);
    b.face(-0.45f * s.length, -hw - 0.05f, 0.45f * s.length, -hw - 0.05f, 0.9f, 0.25f, -90.0f, 3.0f);
  }
  if (s.drums) {
    for (int side : {-1, 1}) {
      b.disc(-hl - 0.3f, side * 0.7f, 0.6f, 1.2f);
      b.add(ScattererKind::vertical_cylinder, -hl - 0.3f, side * 0.7f, 0.9f, 0.30f, 0, 0, 0.3f);
    }
  }

  // Turret and gun(s).
  const float tr = s.turret_radius, tx = s.turret_x, top = s.turret_top;
  if (tr > 0) {
    if (s.box_turret) {
      b.box(tx, 0, 2 * tr, 2 * tr, top);
      b.box_corners(tx, 0, 2 * tr, 2 * tr, top, 0.35f);
      b.face(tx + tr, -tr, tx + tr, tr, 0.5f * (h + top), 0.30f, 0.0f, 5.0f);
      b.face(tx - tr, -tr, tx - tr, tr, 0.5f * (h + top), 0.30f, 180.0f, 5.0f);
      b.face(tx - tr, tr, tx + tr, tr, 0.5f * (h + top), 0.30f, 90.0f, 5.0f);
      b.face(tx - tr, -tr, tx + tr, -tr, 0.5f * (h + top), 0.30f, -90.0f, 5.0f);
    } else {
      b.disc(tx, 0, 2 * tr, top);
      b.add(ScattererKind::vertical_cylinder, tx, 0, 0.5f * (h + top), 0.45f, 0, 0, tr);
      b.add(ScattererKind::corner, tx + 0.95f * tr, 0, top - 0.3f, 0.40f, 0.0f, 25.0f);  // mantlet
    }
    b.add(ScattererKind::omni, tx - 0.3f * tr, 0.45f * tr, top + 0.15f, 0.30f, 0, 0);  // cupola
    b.add(ScattererKind::omni, tx - 0.3f * tr, -0.45f * tr, top, 0.20f, 0, 0);         // hatch
    if (s.dish) {  // search radar on a mast: a tall, thin shadow
      b.disc(tx - 0.8f * tr, 0, 0.9f, top + 1.0f);
      b.add(ScattererKind::vertical_cylinder, tx - 0.8f * tr, 0, top + 0.8f, 0.45f, 0, 0, 0.45f);
      b.add(ScattererKind::omni, tx - 0.8f * tr, 0, top + 0.4f, 0.20f, 0, 0);
    }
    static constexpr float kGunOffsets[4] = {-0.55f, -0.25f, 0.25f, 0.55f};
    for (int g = 0; g < s.guns && s.gun_length > 0; ++g) {
      const float y = s.guns == 1 ? 0.0f : kGunOffsets[g % 4];
      const float z = top - 0.35f + (s.guns > 1 ? 0.2f * static_cast<float>(g % 2) : 0.0f);
      const float x0 = tx + 0.9f * tr;
      const int n = std::max(1, static_cast<int>(std::lround(s.gun_length / 0.5f)));
      for (int k = 0; k < n; ++k)
        b.add(ScattererKind::horizontal_cylinder,
              x0 + (static_cast<float>(k) + 0.5f) * s.gun_length / static_cast<float>(n), y, z, s.gun_amplitude, 0.0f,
              2.5f);
      b.add(ScattererKind::corner, x0 + s.gun_length, y, z, 0.5f * s.gun_amplitude + 0.08f, 0.0f, 60.0f);  // muzzle
    }
  }

  // Cab (trucks, dozer) and cargo bed.
  if (s.cab_length > 0) {
    const float cx = s.cab_x, cl = s.cab_length, cw = 0.95f * s.width, ch = s.cab_height;
    b.box(cx, 0, cl, cw, ch);
    b.box_corners(cx, 0, cl, cw, ch, 0.35f);
    b.face(cx + 0.5f * cl, -0.5f * cw, cx + 0.5f * cl, 0.5f * cw, 0.75f * ch, 0.40f, 0.0f, 4.0f);
    b.face(cx - 0.5f * cl, -0.5f * cw, cx - 0.5f * cl, 0.5f * cw, 0.75f * ch, 0.25f, 180.0f, 4.0f);
    b.face(cx - 0.5f * cl, 0.5f * cw, cx + 0.5f * cl, 0.5f * cw, 0.75f * ch, 0.30f, 90.0f, 4.0f);
    b.face(cx - 0.5f * cl, -0.5f * cw, cx + 0.5f * cl, -0.5f * cw, 0.75f * ch, 0.30f, -90.0f, 4.0f);
    if (s.bed_wall > 0) {
      const float x0 = -hl, x1 = cx - 0.5f * cl - 0.1f, top_wall = h + s.bed_wall;
      b.box(0.5f * (x0 + x1), 0, x1 - x0, s.width, top_wall);
      b.face(x0, hw, x1, hw, h + 0.6f * s.bed_wall, 0.30f, 90.0f, 4.0f);
      b.face(x0, -hw, x1, -hw, h + 0.6f * s.bed_wall, 0.30f, -90.0f, 4.0f);
      b.face(x0, -hw, x0, hw, h + 0.6f * s.bed_wall, 0.30f, 180.0f, 4.0f);
      // Floor-wall-wall corners inside the bed, seen from above the opposite corner.
      b.add(ScattererKind::corner, x0 + 0.1f, hw - 0.1f, h, 0.25f, -45.0f, 40.0f);
      b.add(ScattererKind::corner, x0 + 0.1f, -hw + 0.1f, h, 0.25f, 45.0f, 40.0f);
      b.add(ScattererKind::corner, x1 - 0.1f, hw - 0.1f, h, 0.25f, -135.0f, 40.0f);
      b.add(ScattererKind::corner, x1 - 0.1f, -hw + 0.1f, h, 0.25f, 135.0f, 40.0f);
    }
  }
  if (s.blade_width > 0) {
    const float bx = hl + 0.6f, bw = 0.5f * s.blade_width;
    b.box(bx, 0, 0.4f, s.blade_width, 1.4f);
    b.face(bx + 0.2f, -bw, bx + 0.2f, bw, 0.7f, 0.50f, 0.0f, 6.0f, 0.6f);
    b.add(ScattererKind::corner, bx, bw, 1.4f, 0.40f, 45.0f, 40.0f);
    b.add(ScattererKind::corner, bx, -bw, 1.4f, 0.40f, -45.0f, 40.0f);
  }

  // Serial variants: small details only.
  if (variant == 1) {  // stowage box on the rear deck
    const float x = -0.35f * s.length;
    b.box(x, 0, 0.8f, 0.6f * s.width, h + 0.5f);
    b.add(ScattererKind::omni, x + 0.4f, 0.3f * s.width, h + 0.5f, 0.20f, 0, 0);
    b.add(ScattererKind::omni, x - 0.4f, -0.3f * s.width, h + 0.5f, 0.18f, 0, 0);
    b.face(x - 0.4f, 0.3f * s.width, x + 0.4f, 0.3f * s.width, h + 0.25f, 0.15f, 90.0f, 6.0f);
  } else if (variant == 2) {  // antenna mast and tow cable
    b.add(ScattererKind::omni, -0.3f * s.length, 0.3f * s.width, (tr > 0 ? top : h) + 1.0f, 0.25f, 0, 0);
    b.add(ScattererKind::point, 0.1f * s.length, hw, 0.8f * h, 0.15f, 90.0f, 0);
    b.add(ScattererKind::point, -0.1f * s.length, hw, 0.8f * h, 0.15f, 90.0f, 0);
  }
}

// Diffuse returns of the body: rough roofs and the faces turned towards the radar glint
// weakly everywhere, so the vehicle shows as a bright extended blob with its dominant
// scatterers on top, as in real chips. Points sit on a jittered ~0.35 m grid.
void add_surface_returns(TargetModel& m, float brightness, std::uint64_t key) {
  CounterRng rng(key);
  const std::vector<Volume> volumes = m.volumes;
  Builder b(m, kSurfaceGain * brightness);
  constexpr float kStep = 0.35f;
  auto jit = [&rng]() { return static_cast<float>(rng.uniform(-0.1, 0.1)); };
  auto roof = [&](float x, float y, float z) {
    b.add(ScattererKind::omni, x + jit(), y + jit(), z, static_cast<float>(rng.uniform(0.03, 0.15)), 0, 0);
  };
  auto side = [&](float x, float y, float z, float normal) {
    b.add(ScattererKind::point, x + jit(), y + jit(), z, static_cast<float>(rng.uniform(0.05, 0.20)), normal, 0);
  };
  for (const Volume& v : volumes) {
    const float z_side = 0.5f * v.height_m;
    if (v.shape == Volume::Shape::box) {
      const int nx = std::max(1, static_cast<int>(std::lround(v.length_m / kStep)));
      const int ny = std::max(1, static_cast<int>(std::lround(v.width_m / kStep)));
      const float x0 = v.x_m - 0.5f * v.length_m, y0 = v.y_m - 0.5f * v.width_m;
      const float dx = v.length_m / static_cast<float>(nx), dy = v.width_m / static_cast<float>(ny);
      for (int ix = 0; ix < nx; ++ix)
        for (int iy = 0; iy < ny; ++iy)
          roof(x0 + (static_cast<float>(ix) + 0.5f) * dx, y0 + (static_cast<float>(iy) + 0.5f) * dy, v.height_m);
      for (int ix = 0; ix < nx; ++ix) {
        const float x = x0 + (static_cast<float>(ix) + 0.5f) * dx;
        side(x, y0 + v.width_m, z_side, 90.0f);
        side(x, y0, z_side, -90.0f);
      }
      for (int iy = 0; iy < ny; ++iy) {
        const float y = y0 + (static_cast<float>(iy) + 0.5f) * dy;
        side(x0 + v.length_m, y, z_side, 0.0f);
        side(x0, y, z_side, 180.0f);
      }
    } else {
      const float r = 0.5f * v.length_m;
      const int n = std::max(3, static_cast<int>(std::lround(2.0f * r / kStep)));
      for (int ix = 0; ix < n; ++ix)
        for (int iy = 0; iy < n; ++iy) {
          const float x = -r + (static_cast<float>(ix) + 0.5f) * 2.0f * r / static_cast<float>(n);
          const float y = -r + (static_cast<float>(iy) + 0.5f) * 2.0f * r / static_cast<float>(n);
          if (x * x + y * y <= r * r) roof(v.x_m + x, v.y_m + y, v.height_m);
        }
      const int ring = std::max(4, static_cast<int>(std::lround(2.0 * kPi * r / kStep)));
      for (int k = 0; k < ring; ++k) {
        const double a = 2.0 * kPi * k / ring;
        side(v.x_m + r * static_cast<float>(std::cos(a)), v.y_m + r * static_cast<float>(std::sin(a)), z_side,
             static_cast<float>(a / kDeg));
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Random numbers

double CounterRng::normal() {
  // Box-Muller; u1 in (0, 1] keeps the log finite.
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
}

double CounterRng::gamma(double shape) {
  if (!(shape > 0)) throw ConfigError("gamma shape must be positive");
  if (shape < 1.0) {  // boost: Gamma(a) = Gamma(a + 1) * U^(1/a)
    const double u = 1.0 - uniform();
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = 1.0 - uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

// ---------------------------------------------------------------------------------------------
// Models

float TargetModel::radius_m() const {
  double r = 0;
  for (const auto& s : scatterers) r = std::max(r, std::hypot(double{s.x_m}, double{s.y_m}) + s.radius_m);
  for (const auto& v : volumes)
    r = std::max(r, std::hypot(std::abs(v.x_m) + 0.5 * v.length_m, std::abs(v.y_m) + 0.5 * v.width_m));
  return static_cast<float>(r);
}

float TargetModel::height_m() const {
  float h = 0;
  for (const auto& s : scatterers) h = std::max(h, s.z_m);
  for (const auto& v : volumes) h = std::max(h, v.height_m);
  return h;
}

std::string target_class_name(int class_index) {
  if (class_index < 0) throw ConfigError("class index must be >= 0, got " + std::to_string(class_index));
  std::string name = kArchetypes[class_index % kArchetypeCount].name;
  if (class_index >= kArchetypeCount) name += "_g" + std::to_string(class_index / kArchetypeCount);
  return name;
}

std::string target_serial(int class_index, int variant) {
  if (class_index < 0 || variant < 0 || variant >= kSerialsPerClass)
    throw ConfigError("no serial variant " + std::to_string(variant) + " of class " + std::to_string(class_index));
  const std::uint64_t h = mix64(0x5e41a1ULL + static_cast<std::uint64_t>(class_index));
  // Variants are consecutive multiples of kSerialsPerClass apart: distinct within a class.
  return std::to_string(1000 + kSerialsPerClass * static_cast<int>(h % 2900) + variant);
}

TargetModel make_target_model(int class_index, int variant) {
  TargetModel m;
  m.class_index = class_index;
  m.variant = variant;
  m.class_name = target_class_name(class_index);
  m.serial = target_serial(class_index, variant);
  const VehicleSpec spec = class_spec(class_index);
  build_vehicle(spec, variant, m);
  // Keyed by class only: serial variants share the body and differ in their extra parts.
  add_surface_returns(m, spec.brightness, stream_key(0x5a7face5ULL, static_cast<std::uint64_t>(class_index), 0));
  return m;
}

void TargetVariation::validate() const {
  const auto in = [](float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  if (!in(amplitude_sigma, 0, 3) || !in(position_sigma_m, 0, 5) || !in(gain_jitter_db, 0, 20))
    throw ConfigError("target variation out of range (amplitude sigma 0..3, position sigma 0..5 m, gain 0..20 dB)");
}

void jitter_target(TargetModel& model, CounterRng& rng, const TargetVariation& variation) {
  const float amplitude_sigma = variation.amplitude_sigma, position_sigma_m = variation.position_sigma_m;
  const double overall = std::pow(10.0, rng.uniform(-1.0, 1.0) * variation.gain_jitter_db / 20.0);
  for (auto& s : model.scatterers) {
    s.amplitude *= static_cast<float>(overall * std::exp(amplitude_sigma * rng.normal()));
    s.x_m += static_cast<float>(position_sigma_m * rng.normal());
    s.y_m += static_cast<float>(position_sigma_m * rng.normal());
    s.z_m = std::max(0.0f, s.z_m + static_cast<float>(position_sigma_m * rng.normal()));
  }
}

float aspect_gain(const Scatterer& s, float azimuth_deg) {
  const double delta = wrap180(static_cast<double>(s.normal_deg) - azimuth_deg);
  switch (s.kind) {
    case ScattererKind::omni:
    case ScattererKind::vertical_cylinder:
      return 1.0f;
    case ScattererKind::point:
      return static_cast<float>(facing(delta));
    case ScattererKind::corner:
      return static_cast<float>(facing(delta) * (0.25 + 0.75 * lobe(delta, s.lobe_deg)));
    case ScattererKind::dihedral:
      return static_cast<float>(lobe(delta, s.lobe_deg) + 0.06 * facing(delta));
    case ScattererKind::horizontal_cylinder: {
      // Angle between the line of sight and the axis' normal plane, folded to [0, 90].
      double a = std::abs(delta);
      if (a > 90.0) a = 180.0 - a;
      return static_cast<float>(lobe(90.0 - a, s.lobe_deg) + 0.08);
    }
  }
  return 0.0f;
}

// ---------------------------------------------------------------------------------------------
// Imaging

ImagingGeometry ImagingGeometry::square(float depression_deg, float pixel_spacing_m, float resolution_m) {
  ImagingGeometry g;
  g.depression_deg = depression_deg;
  g.range_spacing_m = pixel_spacing_m;
  g.cross_range_spacing_m = pixel_spacing_m;
  g.resolution_m = resolution_m;
  return g;
}

int ImagingGeometry::psf_half_width() const {
  // Beyond ~5 resolutions the sidelobes are below -40 dB.
  return static_cast<int>(std::ceil(5.0 * resolution_m / std::min(range_spacing_m, cross_range_spacing_m)));
}

void ImagingGeometry::validate() const {
  const auto in = [](float v, float lo, float hi) { return std::isfinite(v) && v >= lo && v <= hi; };
  if (!in(depression_deg, 1.0f, 89.0f))
    throw ConfigError("depression angle must be within 1..89 degrees, got " + std::to_string(depression_deg));
  if (!in(range_spacing_m, 1e-3f, 100.0f) || !in(cross_range_spacing_m, 1e-3f, 100.0f))
    throw ConfigError("pixel spacing must be within 0.001..100 m");
  if (!in(resolution_m, 0.5f * std::max(range_spacing_m, cross_range_spacing_m),
          20.0f * std::min(range_spacing_m, cross_range_spacing_m)))
    throw ConfigError("resolution " + std::to_string(resolution_m) + " m must lie within 0.5..20 pixel spacings");
  if (!in(wavelength_m, 1e-4f, 10.0f)) throw ConfigError("wavelength must be within 0.1 mm..10 m");
}

PixelBox PixelBox::intersect(const PixelBox& o) const {
  const int r0 = std::max(row0, o.row0), c0 = std::max(col0, o.col0);
  const int r1 = std::min(row0 + rows, o.row0 + o.rows), c1 = std::min(col0 + cols, o.col0 + o.cols);
  return {r0, c0, std::max(0, r1 - r0), std::max(0, c1 - c0)};
}

namespace {

struct Projection {
  double sin_az, cos_az, cos_dep, sin_dep, tan_dep;
  const ImagingGeometry& g;
  const TargetPose& pose;

  Projection(const ImagingGeometry& geometry, const TargetPose& p)
      : sin_az(std::sin(p.azimuth_deg * kDeg)),
        cos_az(std::cos(p.azimuth_deg * kDeg)),
        cos_dep(std::cos(geometry.depression_deg * kDeg)),
        sin_dep(std::sin(geometry.depression_deg * kDeg)),
        tan_dep(std::tan(geometry.depression_deg * kDeg)),
        g(geometry),
        pose(p) {}

  // Target frame -> ground plane (u cross range, v ground range away from the radar).
  double u(double x, double y) const { return x * sin_az - y * cos_az; }
  double v(double x, double y) const { return -x * cos_az - y * sin_az; }
  // Slant range grows towards row 0: the radar sits below the last row, as in MSTAR chips.
  double row_of_slant(double slant_m) const { return pose.row - slant_m / g.range_spacing_m; }
  double row_of_ground(double v_m) const { return row_of_slant(v_m * cos_dep); }
};

// Ground-range interval [v0, v1] where the line u = const crosses a volume's footprint.
bool volume_interval(const Projection& p, const Volume& vol, double u, double& v0, double& v1) {
  const double cu = p.u(vol.x_m, vol.y_m), cv = p.v(vol.x_m, vol.y_m);
  if (vol.shape == Volume::Shape::disc) {
    const double r = 0.5 * vol.length_m, du = u - cu;
    if (std::abs(du) >= r) return false;
    const double half = std::sqrt(r * r - du * du);
    v0 = cv - half;
    v1 = cv + half;
    return true;
  }
  // Rotated rectangle: intersect the vertical line with each edge.
  const double hx = 0.5 * vol.length_m, hy = 0.5 * vol.width_m;
  const double corners[4][2] = {{hx, hy}, {-hx, hy}, {-hx, -hy}, {hx, -hy}};
  double cu_[4], cv_[4];
  for (int k = 0; k < 4; ++k) {
    cu_[k] = cu + p.u(corners[k][0], corners[k][1]);
    cv_[k] = cv + p.v(corners[k][0], corners[k][1]);
  }
  bool hit = false;
  for (int k = 0; k < 4; ++k) {
    const int n = (k + 1) % 4;
    const double a = cu_[k], b = cu_[n];
    if ((u < std::min(a, b)) || (u > std::max(a, b)) || a == b) continue;
    const double t = (u - a) / (b - a);
    const double v = cv_[k] + t * (cv_[n] - cv_[k]);
    v0 = hit ? std::min(v0, v) : v;
    v1 = hit ? std::max(v1, v) : v;
    hit = true;
  }
  return hit;
}

}  // namespace

PixelBox target_footprint(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose) {
  const Projection p(geometry, pose);
  const double r = model.radius_m(), h = model.height_m();
  const int w = geometry.psf_half_width() + 1;
  const double near_m = -r * p.cos_dep - h * p.sin_dep;  // layover of the top of the nearest part
  const double far_m = (r + h / p.tan_dep) * p.cos_dep;  // end of the longest shadow
  const int r0 = static_cast<int>(std::floor(p.row_of_slant(far_m))) - w;
  const int r1 = static_cast<int>(std::ceil(p.row_of_slant(near_m))) + w;
  const int c0 = static_cast<int>(std::floor(pose.col - r / geometry.cross_range_spacing_m)) - w;
  const int c1 = static_cast<int>(std::ceil(pose.col + r / geometry.cross_range_spacing_m)) + w;
  return {r0, c0, r1 - r0 + 1, c1 - c0 + 1};
}

void add_target_returns(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                        const PixelBox& window, std::complex<float>* field) {
  const Projection p(geometry, pose);
  const int half = geometry.psf_half_width();
  const double band = kPsfWidth / geometry.resolution_m;  // spectral extent B, cycles per metre
  const double k_range = 4.0 * kPi / geometry.wavelength_m;
  std::vector<float> hr(static_cast<std::size_t>(2 * half + 2)), hc(hr.size());

  for (const Scatterer& s : model.scatterers) {
    const double gain = s.amplitude * aspect_gain(s, pose.azimuth_deg);
    if (!(gain > 1e-6)) continue;
    double x = s.x_m, y = s.y_m;
    if (s.kind == ScattererKind::vertical_cylinder) {  // specular point faces the radar
      x += s.radius_m * p.cos_az;
      y += s.radius_m * p.sin_az;
    }
    const double slant = p.v(x, y) * p.cos_dep - s.z_m * p.sin_dep;
    const double row = p.row_of_slant(slant);
    const double col = pose.col + p.u(x, y) / geometry.cross_range_spacing_m;
    const int r_lo = std::max(window.row0, static_cast<int>(std::ceil(row)) - half);
    const int r_hi = std::min(window.row0 + window.rows - 1, static_cast<int>(std::floor(row)) + half);
    const int c_lo = std::max(window.col0, static_cast<int>(std::ceil(col)) - half);
    const int c_hi = std::min(window.col0 + window.cols - 1, static_cast<int>(std::floor(col)) + half);
    if (r_lo > r_hi || c_lo > c_hi) continue;

    const double phase = std::fmod(s.phase_rad - k_range * slant, 2.0 * kPi);
    const std::complex<float> a(static_cast<float>(gain * std::cos(phase)), static_cast<float>(gain * std::sin(phase)));
    for (int r = r_lo; r <= r_hi; ++r)
      hr[static_cast<std::size_t>(r - r_lo)] = static_cast<float>(psf((r - row) * geometry.range_spacing_m * band));
    for (int c = c_lo; c <= c_hi; ++c)
      hc[static_cast<std::size_t>(c - c_lo)] =
          static_cast<float>(psf((c - col) * geometry.cross_range_spacing_m * band));
    for (int r = r_lo; r <= r_hi; ++r) {
      const std::complex<float> ar = a * hr[static_cast<std::size_t>(r - r_lo)];
      std::complex<float>* out = field + static_cast<std::size_t>(r - window.row0) * window.cols + (c_lo - window.col0);
      for (int c = c_lo; c <= c_hi; ++c) out[c - c_lo] += ar * hc[static_cast<std::size_t>(c - c_lo)];
    }
  }
}

void apply_gain_db(float gain_db, std::span<float> magnitude) {
  if (gain_db == 0) return;
  const auto factor = static_cast<float>(std::pow(10.0, gain_db / 20.0));
  for (float& m : magnitude) m *= factor;
}

void apply_target_shadow(const TargetModel& model, const ImagingGeometry& geometry, const TargetPose& pose,
                         float shadow_gain, const PixelBox& window, float* gain) {
  const Projection p(geometry, pose);
  const PixelBox box = target_footprint(model, geometry, pose).intersect(window);
  if (box.empty()) return;
  // Two sub-columns per pixel soften the shadow's side edges: cover[k] is the hidden fraction
  // of each row on sub-column k (parts overlap, so the largest counts), a pixel takes the mean.
  constexpr double kSub[2] = {-0.25, 0.25};
  std::vector<float> cover[2] = {std::vector<float>(static_cast<std::size_t>(box.rows)),
                                 std::vector<float>(static_cast<std::size_t>(box.rows))};
  for (int c = box.col0; c < box.col0 + box.cols; ++c) {
    for (int k = 0; k < 2; ++k) {
      std::fill(cover[k].begin(), cover[k].end(), 0.0f);
      const double u = (c + kSub[k] - pose.col) * geometry.cross_range_spacing_m;
      for (const Volume& vol : model.volumes) {
        double v0 = 0, v1 = 0;
        if (!volume_interval(p, vol, u, v0, v1)) continue;
        // Hidden ground: under the part, then its shadow out to height / tan(depression).
        const double row0 = p.row_of_ground(v1 + vol.height_m / p.tan_dep), row1 = p.row_of_ground(v0);
        const int first = std::max(box.row0, static_cast<int>(std::floor(row0 + 0.5)));
        const int last = std::min(box.row0 + box.rows - 1, static_cast<int>(std::ceil(row1 - 0.5)));
        for (int r = first; r <= last; ++r) {
          const double overlap = std::clamp(std::min(r + 0.5, row1) - std::max(r - 0.5, row0), 0.0, 1.0);
          float& cov = cover[k][static_cast<std::size_t>(r - box.row0)];
          cov = std::max(cov, static_cast<float>(overlap));
        }
      }
    }
    for (int r = box.row0; r < box.row0 + box.rows; ++r) {
      const auto i = static_cast<std::size_t>(r - box.row0);
      const float cov = 0.5f * (cover[0][i] + cover[1][i]);
      if (cov <= 0.0f) continue;
      gain[static_cast<std::size_t>(r - window.row0) * window.cols + (c - window.col0)] *=
          1.0f - (1.0f - shadow_gain) * cov;
    }
  }
}

}  // namespace sarscale::synth
