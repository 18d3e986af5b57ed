#include "sarscale/detect/quicklook.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>

#include "sarscale/core/error.hpp"

namespace sarscale::detect {

namespace {

// 5x7 glyphs, one byte per row, bit 4 the leftmost pixel (the classic HD44780 character shapes).
// Hand-written: no library on the machine draws text into a byte buffer (GDAL does not render
// text, and a font library for a few labels would be a new dependency).
struct Glyph {
  char c;
  std::array<std::uint8_t, 7> rows;
};
constexpr Glyph kFont[] = {
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
};

const Glyph* glyph(char c) {
  const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Glyph& g : kFont)
    if (g.c == u) return &g;
  return nullptr;  // characters outside the font are left out
}

struct Canvas {
  std::vector<std::uint8_t>& rgb;
  int rows, cols;
  void set(int r, int c, std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
    if (r < 0 || c < 0 || r >= rows || c >= cols) return;
    std::uint8_t* p = rgb.data() + 3 * (static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) + static_cast<std::size_t>(c));
    p[0] = red, p[1] = green, p[2] = blue;
  }
};

void draw_box(Canvas& canvas, const QuickLookBox& b, int factor) {
  // At least 5 x 5 quick-look pixels around the centre, so a small target stays visible.
  int r0 = static_cast<int>(b.row_min / factor), r1 = static_cast<int>(b.row_max / factor);
  int c0 = static_cast<int>(b.col_min / factor), c1 = static_cast<int>(b.col_max / factor);
  const int rc = (r0 + r1) / 2, cc = (c0 + c1) / 2;
  r0 = std::min(r0, rc - 2), r1 = std::max(r1, rc + 2), c0 = std::min(c0, cc - 2), c1 = std::max(c1, cc + 2);
  for (int c = c0; c <= c1; ++c) canvas.set(r0, c, b.r, b.g, b.b), canvas.set(r1, c, b.r, b.g, b.b);
  for (int r = r0; r <= r1; ++r) canvas.set(r, c0, b.r, b.g, b.b), canvas.set(r, c1, b.r, b.g, b.b);
  // The label above the box (below it when the box touches the top), on a dark backing.
  const int top = r0 >= 9 ? r0 - 9 : r1 + 2;
  int col = c0;
  for (const char ch : b.label) {
    const Glyph* g = glyph(ch);
    if (g == nullptr) continue;
    for (int y = -1; y < 8; ++y)
      for (int x = -1; x < 6; ++x) {
        const bool on = y >= 0 && y < 7 && x >= 0 && x < 5 && (g->rows[static_cast<std::size_t>(y)] >> (4 - x)) & 1;
        if (on) canvas.set(top + y, col + x, b.r, b.g, b.b);
        else canvas.set(top + y, col + x, 0, 0, 0);
      }
    col += 6;
  }
}

}  // namespace

std::vector<float> block_means(const SceneWindow& w, const Rect& core, int factor, float nodata) {
  if (factor < 1 || core.row0 % factor != 0 || core.col0 % factor != 0)
    throw ConfigError("block_means: the core must start on a block boundary");
  const std::int64_t br = (core.rows + factor - 1) / factor, bc = (core.cols + factor - 1) / factor;
  std::vector<double> sum(static_cast<std::size_t>(br * bc), 0.0);
  std::vector<std::int64_t> count(sum.size(), 0);
  for (std::int64_t r = 0; r < core.rows; ++r) {
    const float* row = w.data + (core.row0 + r - w.origin_row) * w.stride + (core.col0 - w.origin_col);
    const std::size_t base = static_cast<std::size_t>((r / factor) * bc);
    for (std::int64_t c = 0; c < core.cols; ++c) {
      const float v = row[c];
      if (!std::isfinite(v) || v < 0 || v == nodata) continue;
      sum[base + static_cast<std::size_t>(c / factor)] += v;
      ++count[base + static_cast<std::size_t>(c / factor)];
    }
  }
  std::vector<float> out(sum.size());
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = count[i] > 0 ? static_cast<float>(sum[i] / static_cast<double>(count[i]))
                          : std::numeric_limits<float>::quiet_NaN();
  return out;
}

std::vector<std::uint8_t> render_quicklook(const std::vector<float>& means, int rows, int cols, int factor,
                                           const std::vector<QuickLookBox>& boxes) {
  if (rows < 1 || cols < 1 || means.size() != static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols))
    throw ConfigError("render_quicklook: the block means do not fill rows x cols");
  std::vector<float> db;
  db.reserve(means.size());
  for (const float v : means)
    db.push_back(std::isfinite(v) && v > 0 ? 10.0f * std::log10(v) : std::numeric_limits<float>::quiet_NaN());
  std::vector<float> finite;
  for (const float v : db)
    if (std::isfinite(v)) finite.push_back(v);
  float lo = 0, hi = 1;
  if (!finite.empty()) {
    const auto at = [&](double q) {
      const auto k = static_cast<std::size_t>(q * static_cast<double>(finite.size() - 1));
      std::nth_element(finite.begin(), finite.begin() + static_cast<std::ptrdiff_t>(k), finite.end());
      return finite[k];
    };
    lo = at(0.02);
    hi = std::max(at(0.995), lo + 1e-3f);
  }
  std::vector<std::uint8_t> rgb(means.size() * 3, 0);
  for (std::size_t i = 0; i < db.size(); ++i) {
    const float v = db[i];
    const auto grey = std::isfinite(v) ? static_cast<std::uint8_t>(std::lround(255.0f * std::clamp((v - lo) / (hi - lo), 0.0f, 1.0f))) : 0;
    rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = grey;
  }
  Canvas canvas{rgb, rows, cols};
  for (const QuickLookBox& b : boxes) draw_box(canvas, b, factor);
  return rgb;
}

}  // namespace sarscale::detect
