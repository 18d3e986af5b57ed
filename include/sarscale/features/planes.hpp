#pragma once
// The planes a feature chain computes on, for chips of several bands (dual-pol VH + VV, ...).
//
// Text form (the "planes=" part of a chain, features/chain.hpp): planes separated by ',', each
//   NAME          the input band NAME (as the archive names it: ingest --bands / --band-names)
//   NAME=A/B      the ratio of bands A and B, pixel by pixel: A/B where B > 0, else 0 (no data)
//   NAME=A+B      the sum of bands A and B (e.g. the span of two polarisations)
// e.g. "vh, vv, ratio=vh/vv". Names are lowercase letters, digits and '_' (case is folded); a
// derived plane may not take the name of a band. Ratios and sums are computed on the bands as
// stored (linear intensity or amplitude), before any preprocessing: with db(scale=10) afterwards,
// the ratio plane is the difference of the bands in dB.
//
// A chain without planes= computes on one unnamed plane, the chip (band 1 of an archive), as
// every chain did before planes existed; its text and fingerprint are unchanged.
#include <string>
#include <string_view>
#include <vector>

namespace sarscale::features {

struct PlaneSpec {
  enum class Op { band, ratio, sum };
  std::string name;
  Op op = Op::band;
  std::string a, b;  // band names: `a` alone (== name) for Op::band
  bool operator==(const PlaneSpec&) const = default;
};

// ConfigError naming the token for a bad name, a repeated plane or an unknown operator. Empty
// text: no planes.
std::vector<PlaneSpec> parse_planes(std::string_view text);
std::string describe_planes(const std::vector<PlaneSpec>& planes);  // canonical: "vh, vv, ratio=vh/vv"
// The input bands the planes read, in order of first mention ("ratio=vh/vv, vv" reads vh, vv).
std::vector<std::string> plane_bands(const std::vector<PlaneSpec>& planes);
// True for a lowercase band or plane name (letters, digits, '_'; 1 to 32 characters).
bool is_plane_name(std::string_view name);

// Computes plane `spec` of a chip whose bands (in plane_bands order) are `bands`, each `pixels`
// values, into `out` (a band plane is copied).
void derive_plane(const PlaneSpec& spec, const std::vector<std::string>& band_names,
                  const std::vector<const float*>& bands, std::size_t pixels, float* out);

}  // namespace sarscale::features
