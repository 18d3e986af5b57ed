#include "sarscale/io/chip_source.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "sarscale/core/error.hpp"
#include "sarscale/io/phoenix.hpp"

namespace sarscale::io {

namespace {

constexpr const char* kPhoenixFormat = "MSTAR-Phoenix";
constexpr std::size_t kMaxBandName = 32;

std::string lower(std::string t) {
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t;
}

std::string trimmed(const std::string& t) {
  const auto b = t.find_first_not_of(" \t");
  return b == std::string::npos ? std::string() : t.substr(b, t.find_last_not_of(" \t") - b + 1);
}

std::vector<std::string> split_list(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = std::min(text.find(sep, pos), text.size());
    out.push_back(trimmed(text.substr(pos, end - pos)));
    if (end == text.size()) return out;
    pos = end + 1;
  }
}

bool is_band_name(const std::string& n) {
  return !n.empty() && n.size() <= kMaxBandName && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_number(const std::string& t) {
  return !t.empty() && t.size() < 6 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// A band name from free text (a band description): lowercase, other characters as '_'.
std::string identifier(const std::string& text) {
  std::string out;
  for (char c : lower(trimmed(text))) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.size() <= kMaxBandName ? out : std::string();
}

// The names of an input's `count` bands: its --band-names naming, else what the raster says.
std::vector<std::string> band_names_of(const GdalRaster* raster, const std::string& phoenix_polarisation, int count,
                                       const BandSelection& sel) {
  for (const auto& naming : sel.namings)
    if (static_cast<int>(naming.size()) == count) return naming;
  std::vector<std::string> names;
  for (int b = 1; b <= count; ++b) {
    std::string n = lower(raster ? raster->polarisation(b) : phoenix_polarisation);
    if (!is_band_name(n) && raster) n = identifier(raster->band_description(b));
    if (!is_band_name(n)) n = "b" + std::to_string(b);
    names.push_back(n);
  }
  // Names must tell bands apart: when two coincide, none is trusted.
  for (std::size_t i = 0; i < names.size(); ++i)
    if (std::count(names.begin(), names.end(), names[i]) > 1)
      for (int b = 1; b <= count; ++b) names[static_cast<std::size_t>(b - 1)] = "b" + std::to_string(b);
  return names;
}

// Fills info.bands and info.band_names from the selection and the input's band names.
void select_bands(const std::filesystem::path& path, const BandSelection& sel, const std::vector<std::string>& names,
                  SourceInfo& info) {
  const int count = static_cast<int>(names.size());
  info.raster_bands = count;
  const auto check = [&](int b) {
    if (b < 1 || b > count)
      throw InputError(path.string() + ": band " + std::to_string(b) + " requested but the raster has " +
                       std::to_string(count) + " band(s)");
  };
  info.bands.clear();
  switch (sel.mode) {
    case BandSelection::Mode::single:
      check(sel.number);
      info.bands = {sel.number};
      break;
    case BandSelection::Mode::all:
      for (int b = 1; b <= count; ++b) info.bands.push_back(b);
      break;
    case BandSelection::Mode::numbers:
      for (int b : sel.numbers) check(b);
      info.bands = sel.numbers;
      break;
    case BandSelection::Mode::names:
      for (const auto& want : sel.names) {
        const auto it = std::find(names.begin(), names.end(), want);
        if (it == names.end())
          throw InputError(path.string() + ": no band named '" + want + "' (its bands: " + join(names, ", ") +
                           "; name them with --band-names)");
        info.bands.push_back(static_cast<int>(it - names.begin()) + 1);
      }
      break;
  }
  info.band_names.clear();
  if (sel.named())
    for (int b : info.bands) info.band_names.push_back(names[static_cast<std::size_t>(b - 1)]);
}

std::size_t plane(const ChipSourceOptions& o) {
  return static_cast<std::size_t>(o.chip_rows) * static_cast<std::size_t>(o.chip_cols);
}

bool should_tile(const ChipSourceOptions& o, int rows, int cols) {
  switch (o.tiling) {
    case ChipSourceOptions::Tiling::always:
      return true;
    case ChipSourceOptions::Tiling::never:
      return false;
    default:
      return rows > 2 * o.chip_rows || cols > 2 * o.chip_cols;
  }
}

// Tile origins 0, s, 2s, ... while inside the raster: every pixel lands in some tile.
int grid_count(int extent, int stride) { return std::max(1, (extent + stride - 1) / stride); }

// Copies `img` (already chip-sized) into the caller's slot; phase 0 when the image has none.
void store_chip(const Image& img, float* magnitude, float* phase) {
  std::copy(img.magnitude.begin(), img.magnitude.end(), magnitude);
  if (!phase) return;
  if (img.has_phase())
    std::copy(img.phase.begin(), img.phase.end(), phase);
  else
    std::fill_n(phase, img.magnitude.size(), 0.0f);
}

void reject_nonfinite(const std::filesystem::path& path, int rows, int cols, std::size_t bad) {
  if (bad)
    throw InputError(path.string() + ": " + std::to_string(bad) + " NaN/Inf pixel value(s) in a " +
                     std::to_string(rows) + "x" + std::to_string(cols) + " chip");
}

std::size_t count_nonfinite(const float* v, std::size_t n) {
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) bad += !std::isfinite(v[i]);
  return bad;
}

std::uint64_t zero_nonfinite(std::vector<float>& v) {
  std::uint64_t n = 0;
  for (auto& x : v)
    if (!std::isfinite(x)) {
      x = 0.0f;
      ++n;
    }
  return n;
}

// One band of a whole-raster chip: checked for NaN/Inf, centre-cropped or padded, stored.
void store_fitted(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& o, Image img,
                  float* magnitude, float* phase) {
  if (img.rows != info.rows || img.cols != info.cols)
    throw InputError(path.string() + ": changed size while being read (" + std::to_string(info.rows) + "x" +
                     std::to_string(info.cols) + " when probed)");
  reject_nonfinite(path, img.rows, img.cols, sarscale::count_nonfinite(img));
  const Image chip = (img.rows == o.chip_rows && img.cols == o.chip_cols) ? std::move(img)
                                                                          : fit_to_size(img, o.chip_rows, o.chip_cols);
  store_chip(chip, magnitude, phase);
}

// The caller's buffers for chips of `planes` band planes each: plane j of chip k.
struct ChipPlanes {
  float* magnitude;
  float* phase;  // may be null
  std::size_t planes, plane_px;
  float* mag(std::size_t k, std::size_t j) const { return magnitude + (k * planes + j) * plane_px; }
  float* pha(std::size_t k, std::size_t j) const { return phase ? phase + (k * planes + j) * plane_px : nullptr; }
};

// Cuts tile column `c` of a strip (scene rows of one row of tiles, columns from strip_col0) into
// plane j of chip k. Edge tiles are clipped by the raster and zero-padded at bottom/right so
// pixel (i, j) of every tile is scene pixel (tile_row + i, tile_col + j).
void store_tile(const Image& strip, int strip_col0, const SourceInfo& info, const ChipSourceOptions& o, int c,
                const ChipPlanes& out, std::size_t k, std::size_t j) {
  const int tr = o.tile_rows(), tc = o.tile_cols();
  Image cut;
  cut.rows = tr;
  cut.cols = tc;
  cut.magnitude.assign(static_cast<std::size_t>(tr) * tc, 0.0f);
  if (strip.has_phase()) cut.phase.assign(cut.magnitude.size(), 0.0f);
  const int tcol0 = c * o.stride_cols() - strip_col0, ncols = std::min(tc, info.cols - c * o.stride_cols());
  for (int r = 0; r < strip.rows; ++r) {
    const std::size_t src = static_cast<std::size_t>(r) * strip.cols + tcol0, dst = static_cast<std::size_t>(r) * tc;
    std::copy_n(strip.magnitude.data() + src, ncols, cut.magnitude.data() + dst);
    if (strip.has_phase()) std::copy_n(strip.phase.data() + src, ncols, cut.phase.data() + dst);
  }
  const Image chip =
      (tr == o.chip_rows && tc == o.chip_cols) ? std::move(cut) : fit_to_size(cut, o.chip_rows, o.chip_cols);
  store_chip(chip, out.mag(k, j), out.pha(k, j));
}

void read_scene_tiles(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& o,
                      std::int64_t first, std::int64_t count, const ChipPlanes& out, ChipMeta* meta, ReadStats& stats) {
  GdalRaster raster = GdalRaster::open(path, o.calibration);
  const int tr = o.tile_rows(), tc = o.tile_cols(), sr = o.stride_rows(), sc = o.stride_cols();
  const std::int64_t end = first + count;
  std::string first_failure;
  Image strip;
  for (std::int64_t t = first; t < end;) {
    // One strip read per tile row and band: all the tiles of this row that the request covers.
    const int grid_row = static_cast<int>(t / info.grid_cols);
    const int c_first = static_cast<int>(t % info.grid_cols);
    const int c_last =
        static_cast<int>(std::min<std::int64_t>(end - 1, (grid_row + 1LL) * info.grid_cols - 1) % info.grid_cols);
    const int row0 = grid_row * sr, nrows = std::min(tr, info.rows - row0);
    const int col0 = c_first * sc, col_end = std::min(info.cols, c_last * sc + tc);
    const auto k0 = static_cast<std::size_t>(t - first);
    for (std::size_t j = 0; j < info.bands.size(); ++j) {
      stats.scene_pixels_read += static_cast<std::uint64_t>(nrows) * static_cast<std::uint64_t>(col_end - col0);
      try {
        raster.read_window(row0, col0, nrows, col_end - col0, strip, info.bands[j]);
      } catch (const InputError& e) {
        // Read on (the input is rejected as a whole anyway): the first failure is the reason, and
        // the rest is read through a fresh handle, not the decoder state of the failed read.
        if (first_failure.empty()) first_failure = e.what();
        for (int c = c_first; c <= c_last; ++c) {
          const std::size_t k = k0 + static_cast<std::size_t>(c - c_first);
          std::fill_n(out.mag(k, j), out.plane_px, 0.0f);
          if (out.phase) std::fill_n(out.pha(k, j), out.plane_px, 0.0f);
        }
        raster = GdalRaster::open(path, o.calibration);
        continue;
      }
      stats.nonfinite_zeroed += zero_nonfinite(strip.magnitude) + zero_nonfinite(strip.phase);
      for (int c = c_first; c <= c_last; ++c) store_tile(strip, col0, info, o, c, out, k0 + (c - c_first), j);
    }
    for (int c = c_first; c <= c_last; ++c) {
      ChipMeta& m = meta[k0 + static_cast<std::size_t>(c - c_first)];
      m = info.meta;
      m.tile_row = row0;
      m.tile_col = c * sc;
      m.orig_rows = nrows;
      m.orig_cols = std::min(tc, info.cols - c * sc);
    }
    t += c_last - c_first + 1;
  }
  if (!first_failure.empty()) throw InputError(first_failure);
}

}  // namespace

BandSelection BandSelection::parse(const std::string& bands, int band, const std::string& band_names) {
  BandSelection s;
  if (band < 1) throw ConfigError("--band counts from 1");
  s.number = band;
  const std::string text = trimmed(bands);
  if (text.empty()) {
    s.mode = Mode::single;
  } else if (lower(text) == "all") {
    s.mode = Mode::all;
  } else {
    const auto items = split_list(text, ',');
    const bool numbers = is_number(items.front());
    s.mode = numbers ? Mode::numbers : Mode::names;
    for (const auto& item : items) {
      if (numbers != is_number(item))
        throw ConfigError("--bands '" + text + "': give band numbers (1,2) or band names (vh,vv), not both");
      if (numbers) {
        const int b = std::stoi(item);
        if (b < 1) throw ConfigError("--bands '" + text + "': bands count from 1");
        if (std::count(s.numbers.begin(), s.numbers.end(), b)) throw ConfigError("--bands: band " + item + " twice");
        s.numbers.push_back(b);
      } else {
        const std::string name = lower(item);
        if (!is_band_name(name))
          throw ConfigError("--bands '" + text + "': '" + item + "' is not all, a band number or a band name " +
                            "(letters, digits, '_')");
        if (std::count(s.names.begin(), s.names.end(), name)) throw ConfigError("--bands: band " + item + " twice");
        s.names.push_back(name);
      }
    }
  }
  if (!trimmed(band_names).empty()) {
    for (const auto& scheme : split_list(band_names, '|')) {
      std::vector<std::string> naming;
      for (const auto& item : split_list(scheme, ',')) {
        const std::string name = lower(item);
        if (!is_band_name(name) || std::count(naming.begin(), naming.end(), name))
          throw ConfigError("--band-names '" + band_names + "': '" + item +
                            "' is not a distinct band name (letters, digits, '_')");
        naming.push_back(name);
      }
      for (const auto& other : s.namings)
        if (other.size() == naming.size())
          throw ConfigError("--band-names '" + band_names + "': two namings for inputs of " +
                            std::to_string(naming.size()) + " band(s)");
      s.namings.push_back(naming);
    }
  }
  return s;
}

std::string BandSelection::to_string() const {
  std::string out;
  switch (mode) {
    case Mode::single:
      out = "band=" + std::to_string(number);
      break;
    case Mode::all:
      out = "bands=all";
      break;
    case Mode::numbers:
      for (int b : numbers) out += (out.empty() ? "bands=" : ",") + std::to_string(b);
      break;
    case Mode::names:
      out = "bands=" + join(names, ",");
      break;
  }
  std::string schemes;
  for (const auto& naming : namings) schemes += (schemes.empty() ? "" : "|") + join(naming, ",");
  return schemes.empty() ? out : out + "; names=" + schemes;
}

namespace {
// Refuses a raster that one chip would read whole when that costs more than kMaxWholeChipBytes.
void check_whole_chip_cost(const std::filesystem::path& path, const SourceInfo& info, const char* why) {
  const std::int64_t bytes = static_cast<std::int64_t>(info.rows) * info.cols * 4 * (info.has_phase ? 2 : 1) *
                             static_cast<std::int64_t>(std::max<std::size_t>(1, info.bands.size()));
  if (bytes <= kMaxWholeChipBytes) return;
  throw InputError(path.string() + ": " + std::to_string(info.rows) + " x " + std::to_string(info.cols) +
                   " pixels read whole as one chip would take " + std::to_string(bytes >> 20) +
                   " MiB, more than the " + std::to_string(kMaxWholeChipBytes >> 20) + " MiB one chip may cost (" +
                   why + ")");
}
}  // namespace

SourceInfo probe_source(const std::filesystem::path& path, const ChipSourceOptions& o) {
  if (o.chip_rows <= 0 || o.chip_cols <= 0) throw ConfigError("chip size must be positive");
  SourceInfo info;
  if (looks_like_phoenix(path)) {
    const PhoenixHeader h = read_phoenix_header(path);  // validates sizes against the file
    if (o.calibration != Calibration::none)
      throw InputError(path.string() +
                       ": MSTAR Phoenix chips carry no radiometric calibration to apply (--calibration " +
                       to_string(o.calibration) + ")");
    info.format = kPhoenixFormat;
    info.calibration = "none";
    info.rows = h.rows;
    info.cols = h.cols;
    info.has_phase = h.has_phase();
    info.meta = phoenix_chip_meta(h);
    // One band, the magnitude; a plain --band N never applied to Phoenix files (they have one).
    BandSelection sel = o.bands;
    if (sel.mode == BandSelection::Mode::single) sel.number = 1;
    select_bands(path, sel, band_names_of(nullptr, info.meta.polarisation, 1, sel), info);
    check_whole_chip_cost(path, info, "an MSTAR Phoenix file is one chip; is its header damaged?");
    return info;
  }
  GdalRaster raster = GdalRaster::open(path, o.calibration);
  select_bands(path, o.bands, band_names_of(&raster, "", raster.bands(), o.bands), info);
  raster.validate();
  info.format = raster.driver();
  info.calibration = raster.calibration_applied();
  info.rows = raster.rows();
  info.cols = raster.cols();
  info.has_phase = raster.is_complex();
  // The polarisation of each band read ("VH+VV"); empty when any is unknown.
  std::vector<std::string> pols;
  for (int b : info.bands) pols.push_back(raster.polarisation(b));
  info.meta.polarisation = std::count(pols.begin(), pols.end(), std::string()) ? "" : join(pols, "+");
  info.meta.orig_rows = info.rows;
  info.meta.orig_cols = info.cols;
  if (should_tile(o, info.rows, info.cols)) {
    info.tiled = true;
    info.grid_rows = grid_count(info.rows, o.stride_rows());
    info.grid_cols = grid_count(info.cols, o.stride_cols());
    info.chips = static_cast<std::int64_t>(info.grid_rows) * info.grid_cols;
  } else {
    check_whole_chip_cost(path, info,
                          o.tiling == ChipSourceOptions::Tiling::never
                              ? "--tiling never reads every raster as one chip: cut scenes into tiles with --tiling auto"
                              : "cut it into tiles with --tiling always");
  }
  return info;
}

void read_source_chips(const std::filesystem::path& path, const SourceInfo& info, const ChipSourceOptions& o,
                       std::int64_t first, std::int64_t count, float* magnitude, float* phase, ChipMeta* meta,
                       ReadStats& stats) {
  if (count <= 0) return;
  if (first < 0 || first + count > info.chips) throw Error("read_source_chips: chip range outside the source");
  const ChipPlanes out{magnitude, phase, info.bands.size(), plane(o)};
  if (info.tiled) {
    read_scene_tiles(path, info, o, first, count, out, meta, stats);
    return;
  }
  meta[0] = info.meta;
  if (info.format == kPhoenixFormat) {
    const PhoenixFile file(path);
    const std::size_t px = file.pixels();
    if (file.header().rows == o.chip_rows && file.header().cols == o.chip_cols) {
      // Fast path: straight into the caller's slot, no intermediate copy.
      const bool got_phase =
          file.read_pixels({magnitude, px}, phase ? std::span<float>(phase, px) : std::span<float>());
      if (phase && !got_phase) std::fill_n(phase, px, 0.0f);
      reject_nonfinite(path, o.chip_rows, o.chip_cols,
                       count_nonfinite(magnitude, px) + (got_phase ? count_nonfinite(phase, px) : 0));
      return;
    }
    Image img;
    img.rows = file.header().rows;
    img.cols = file.header().cols;
    img.magnitude.resize(px);
    if (info.has_phase) img.phase.resize(px);
    file.read_pixels(img.magnitude, img.phase);
    store_fitted(path, info, o, std::move(img), out.mag(0, 0), out.pha(0, 0));
  } else {
    const GdalRaster raster = GdalRaster::open(path, o.calibration);
    for (std::size_t j = 0; j < info.bands.size(); ++j) {
      Image img;
      raster.read_window(0, 0, info.rows, info.cols, img, info.bands[j]);
      store_fitted(path, info, o, std::move(img), out.mag(0, j), out.pha(0, j));
    }
  }
  meta[0].orig_rows = info.rows;
  meta[0].orig_cols = info.cols;
}

}  // namespace sarscale::io
