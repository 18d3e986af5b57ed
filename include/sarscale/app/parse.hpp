#pragma once
// Parsers for option values shared by several commands.
#include <string>
#include <utility>
#include <vector>

namespace sarscale::app {

// "128" or "128x96" (rows x columns); throws ConfigError naming `option`.
std::pair<int, int> parse_size(const std::string& text, const std::string& option);

// `evaluate --roc-log10-pfa`: thresholds from "a,b,c" or "first:last[:step]" (sorted, each
// once; step > 0, at most 1000 points). Throws ConfigError.
std::vector<double> parse_roc_thresholds(const std::string& text);

// --chip-centre (detect, cut): true for "box" (the object's box centre), false for "centroid";
// ConfigError otherwise.
bool parse_chip_on_box(const std::string& text);

// The command line as typed, for provenance ("sarscale ingest --input ...").
std::string join_command_line(const std::string& command, const std::vector<std::string>& args);

}  // namespace sarscale::app
