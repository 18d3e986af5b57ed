// Planes of multi-band chains: text form and derived planes (definitions in planes.hpp).
#include "sarscale/features/planes.hpp"

#include <algorithm>
#include <cctype>

#include "sarscale/core/error.hpp"
#include "text.hpp"

namespace sarscale::features {

namespace {

std::string folded(std::string_view text) {
  std::string out(detail::trim(text));
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string checked_name(std::string_view token, std::string_view text) {
  const std::string name = folded(token);
  if (!is_plane_name(name))
    throw ConfigError("feature planes: '" + std::string(detail::trim(token)) +
                      "' is not a plane or band name (letters, digits, '_') in \"" + std::string(text) + "\"");
  return name;
}

}  // namespace

bool is_plane_name(std::string_view name) {
  return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<PlaneSpec> parse_planes(std::string_view text) {
  std::vector<PlaneSpec> planes;
  if (detail::trim(text).empty()) return planes;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string_view item = detail::trim(text.substr(pos, end - pos));
    pos = end + 1;
    PlaneSpec p;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      p.name = p.a = checked_name(item, text);
    } else {
      p.name = checked_name(item.substr(0, eq), text);
      const std::string_view expr = item.substr(eq + 1);
      const std::size_t op = expr.find_first_of("/+");
      if (op == std::string_view::npos)
        throw ConfigError("feature planes: '" + std::string(item) + "' is not NAME=A/B or NAME=A+B in \"" +
                          std::string(text) + "\"");
      p.op = expr[op] == '/' ? PlaneSpec::Op::ratio : PlaneSpec::Op::sum;
      p.a = checked_name(expr.substr(0, op), text);
      p.b = checked_name(expr.substr(op + 1), text);
    }
    for (const PlaneSpec& q : planes)
      if (q.name == p.name)
        throw ConfigError("feature planes: plane '" + p.name + "' twice in \"" + std::string(text) + "\"");
    planes.push_back(p);
  }
  const std::vector<std::string> bands = plane_bands(planes);
  for (const PlaneSpec& p : planes)
    if (p.op != PlaneSpec::Op::band && std::count(bands.begin(), bands.end(), p.name))
      throw ConfigError("feature planes: the derived plane '" + p.name + "' has the name of a band in \"" +
                        std::string(text) + "\"");
  return planes;
}

std::string describe_planes(const std::vector<PlaneSpec>& planes) {
  std::string out;
  for (const PlaneSpec& p : planes) {
    out += out.empty() ? "" : ", ";
    if (p.op == PlaneSpec::Op::band)
      out += p.name;
    else
      out += p.name + "=" + p.a + (p.op == PlaneSpec::Op::ratio ? "/" : "+") + p.b;
  }
  return out;
}

std::vector<std::string> plane_bands(const std::vector<PlaneSpec>& planes) {
  std::vector<std::string> bands;
  const auto add = [&](const std::string& b) {
    if (!b.empty() && std::find(bands.begin(), bands.end(), b) == bands.end()) bands.push_back(b);
  };
  for (const PlaneSpec& p : planes) {
    add(p.a);
    add(p.b);
  }
  return bands;
}

void derive_plane(const PlaneSpec& spec, const std::vector<std::string>& band_names,
                  const std::vector<const float*>& bands, std::size_t pixels, float* out) {
  const auto band = [&](const std::string& name) {
    const auto it = std::find(band_names.begin(), band_names.end(), name);
    if (it == band_names.end()) throw Error("derive_plane: no band '" + name + "'");
    return bands[static_cast<std::size_t>(it - band_names.begin())];
  };
  const float* a = band(spec.a);
  if (spec.op == PlaneSpec::Op::band) {
    std::copy_n(a, pixels, out);
    return;
  }
  const float* b = band(spec.b);
  if (spec.op == PlaneSpec::Op::sum) {
    for (std::size_t i = 0; i < pixels; ++i) out[i] = a[i] + b[i];
    return;
  }
  // Division in double: a float quotient of two tiny intensities could overflow or lose bits.
  for (std::size_t i = 0; i < pixels; ++i)
    out[i] = b[i] > 0 ? static_cast<float>(static_cast<double>(a[i]) / static_cast<double>(b[i])) : 0.0f;
}

}  // namespace sarscale::features
