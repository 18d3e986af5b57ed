#pragma once
// A confusion matrix as a PNG for reports: one cell per (true, predicted) class pair, shaded by
// the fraction of the true class's rows (white 0 to dark blue 1), the count written in it, class
// names on both axes and a title line. Text is rendered with FreeType from a font that
// fontconfig finds ("DejaVu Sans" by default, as Debian's fonts-dejavu-core installs).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sarscale::io {

// `counts` is k x k, row = true class. Throws IoError when no font is found or writing fails,
// ConfigError for inconsistent sizes.
void write_confusion_png(const std::filesystem::path& path, const std::vector<std::string>& class_names,
                         const std::vector<std::int64_t>& counts, const std::string& title);

}  // namespace sarscale::io
