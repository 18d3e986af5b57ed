#include "sarscale/io/confusion_image.hpp"

#include <fontconfig/fontconfig.h>
#include <ft2build.h>
#include FT_FREETYPE_H

#include <algorithm>
#include <array>
#include <memory>

#include "sarscale/core/error.hpp"
#include "sarscale/io/raster_writer.hpp"

namespace sarscale::io {

namespace {

using Rgb = std::array<std::uint8_t, 3>;

std::string find_font(const char* family) {
  FcConfig* config = FcInitLoadConfigAndFonts();
  if (!config) return {};
  FcPattern* pattern = FcNameParse(reinterpret_cast<const FcChar8*>(family));
  FcConfigSubstitute(config, pattern, FcMatchPattern);
  FcDefaultSubstitute(pattern);
  FcResult result = FcResultNoMatch;
  FcPattern* match = FcFontMatch(config, pattern, &result);
  std::string file;
  FcChar8* path = nullptr;
  if (match && FcPatternGetString(match, FC_FILE, 0, &path) == FcResultMatch) file = reinterpret_cast<char*>(path);
  if (match) FcPatternDestroy(match);
  FcPatternDestroy(pattern);
  FcConfigDestroy(config);
  return file;
}

class Canvas {
 public:
  Canvas(int rows, int cols) : rows_(rows), cols_(cols), px_(static_cast<std::size_t>(rows * cols * 3), 255) {}
  void fill(int r0, int c0, int h, int w, Rgb c) {
    for (int r = std::max(0, r0); r < std::min(rows_, r0 + h); ++r)
      for (int k = std::max(0, c0); k < std::min(cols_, c0 + w); ++k) set(r, k, c, 1.0);
  }
  void set(int r, int c, Rgb color, double alpha) {
    if (r < 0 || c < 0 || r >= rows_ || c >= cols_) return;
    std::uint8_t* p = px_.data() + (static_cast<std::size_t>(r) * cols_ + c) * 3;
    for (int b = 0; b < 3; ++b)
      p[b] = static_cast<std::uint8_t>(p[b] * (1 - alpha) + color[static_cast<std::size_t>(b)] * alpha + 0.5);
  }
  const std::uint8_t* data() const { return px_.data(); }
  int rows() const { return rows_; }
  int cols() const { return cols_; }

 private:
  int rows_, cols_;
  std::vector<std::uint8_t> px_;
};

class Text {
 public:
  Text(const std::string& font_file, int pixels) {
    if (FT_Init_FreeType(&lib_)) throw IoError("FreeType cannot start");
    if (FT_New_Face(lib_, font_file.c_str(), 0, &face_)) {
      FT_Done_FreeType(lib_);
      throw IoError("FreeType cannot open the font " + font_file);
    }
    FT_Set_Pixel_Sizes(face_, 0, static_cast<FT_UInt>(pixels));
  }
  ~Text() {
    FT_Done_Face(face_);
    FT_Done_FreeType(lib_);
  }
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;

  int width(const std::string& s) {
    int w = 0;
    for (const unsigned char ch : s)
      if (!FT_Load_Char(face_, ch, FT_LOAD_DEFAULT)) w += static_cast<int>(face_->glyph->advance.x >> 6);
    return w;
  }
  int ascent() const { return static_cast<int>(face_->size->metrics.ascender >> 6); }
  // Draws `s` with its baseline at `baseline`, starting at column `left`.
  void draw(Canvas& canvas, const std::string& s, int left, int baseline, Rgb color) {
    int x = left;
    for (const unsigned char ch : s) {
      if (FT_Load_Char(face_, ch, FT_LOAD_RENDER)) continue;
      const FT_GlyphSlot g = face_->glyph;
      for (unsigned r = 0; r < g->bitmap.rows; ++r)
        for (unsigned c = 0; c < g->bitmap.width; ++c) {
          const double a = g->bitmap.buffer[r * static_cast<unsigned>(g->bitmap.pitch) + c] / 255.0;
          if (a > 0)
            canvas.set(baseline - g->bitmap_top + static_cast<int>(r), x + g->bitmap_left + static_cast<int>(c), color,
                       a);
        }
      x += static_cast<int>(g->advance.x >> 6);
    }
  }

 private:
  FT_Library lib_ = nullptr;
  FT_Face face_ = nullptr;
};

}  // namespace

void write_confusion_png(const std::filesystem::path& path, const std::vector<std::string>& names,
                         const std::vector<std::int64_t>& counts, const std::string& title) {
  const int k = static_cast<int>(names.size());
  if (k == 0 || counts.size() != static_cast<std::size_t>(k) * static_cast<std::size_t>(k))
    throw ConfigError("confusion image: counts must be classes x classes");
  const std::string font = find_font("DejaVu Sans");
  if (font.empty()) throw IoError("no font found for the confusion image (install fonts-dejavu-core)");
  Text text(font, 14);
  int name_width = 0;
  for (const auto& n : names) name_width = std::max(name_width, text.width(n));
  std::int64_t biggest = 0;
  for (const auto c : counts) biggest = std::max(biggest, c);
  const int cell = std::max({52, name_width + 12, text.width(std::to_string(biggest)) + 12});
  const int line = text.ascent() + 8;
  const int left = name_width + 24 + line, top = 3 * line + 8;
  Canvas canvas(top + k * cell + 12, left + k * cell + 16);
  const Rgb black{0, 0, 0}, white{255, 255, 255}, grid{200, 200, 200};
  text.draw(canvas, title, 8, line - 4, black);
  text.draw(canvas, "predicted class", left + (k * cell - text.width("predicted class")) / 2, 2 * line, black);
  text.draw(canvas, "true class", std::max(8, left - 8 - text.width("true class")), top - 8, black);
  for (int r = 0; r < k; ++r) {
    std::int64_t row_total = 0;
    for (int c = 0; c < k; ++c) row_total += counts[static_cast<std::size_t>(r * k + c)];
    // Row names on the left, column names above the cells.
    const auto& name = names[static_cast<std::size_t>(r)];
    text.draw(canvas, name, left - 8 - text.width(name), top + r * cell + (cell + text.ascent()) / 2, black);
    text.draw(canvas, name, left + r * cell + (cell - text.width(name)) / 2, top - 8, black);
    for (int c = 0; c < k; ++c) {
      const std::int64_t n = counts[static_cast<std::size_t>(r * k + c)];
      const double f = row_total > 0 ? static_cast<double>(n) / static_cast<double>(row_total) : 0.0;
      const Rgb shade{static_cast<std::uint8_t>(255 - f * 222), static_cast<std::uint8_t>(255 - f * 170),
                      static_cast<std::uint8_t>(255 - f * 75)};
      canvas.fill(top + r * cell, left + c * cell, cell, cell, grid);
      canvas.fill(top + r * cell + 1, left + c * cell + 1, cell - 2, cell - 2, shade);
      const std::string label = std::to_string(n);
      text.draw(canvas, label, left + c * cell + (cell - text.width(label)) / 2,
                top + r * cell + (cell + text.ascent()) / 2, f > 0.5 ? white : black);
    }
  }
  write_png_bytes(path, canvas.rows(), canvas.cols(), 3, canvas.data(), {{"title", title}});
}

}  // namespace sarscale::io
