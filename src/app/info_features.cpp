// `sarscale info` on a feature file.
#include <algorithm>
#include <iomanip>
#include <iostream>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/json.hpp"
#include "sarscale/io/feature_file.hpp"

namespace sarscale::app {

namespace {

json::Value blocks_json(const std::vector<io::FeatureBlock>& blocks) {
  json::Value a = json::Value::array();
  for (const auto& b : blocks) {
    json::Value v = json::Value::object();
    v["name"] = b.name;
    v["offset"] = b.offset;
    v["length"] = b.length;
    v["params"] = b.params;
    a.push_back(v);
  }
  return a;
}

void print_blocks(std::ostream& os, const char* title, const std::vector<io::FeatureBlock>& blocks) {
  os << title << "\n";
  for (const auto& b : blocks)
    os << "  " << std::left << std::setw(8) << b.name << std::right << " [" << std::setw(6) << b.offset << ", "
       << std::setw(6) << b.offset + b.length << ")  " << b.params << "\n";
}

}  // namespace

int info_features(const dist::Comm& comm, const std::string& path, bool as_json) {
  const io::FeatureReader r = io::FeatureReader::open(path, comm.raw());
  const io::FeatureLayout& l = r.layout();
  std::int64_t usable = 0, invalid = 0;
  std::vector<std::int64_t> per_class(l.class_names.size(), 0);
  constexpr std::int64_t kBlock = 1 << 20;
  for (std::int64_t first = 0; first < l.rows; first += kBlock) {
    const std::int64_t n = std::min(kBlock, l.rows - first);
    const auto flags = r.flags(first, n);
    const auto labels = r.labels(first, n);
    for (std::int64_t k = 0; k < n; ++k) {
      const auto f = flags[static_cast<std::size_t>(k)];
      if (f == static_cast<std::uint8_t>(io::RowFlag::invalid_slot)) ++invalid;
      if (f != 0) continue;
      ++usable;
      const auto c = labels[static_cast<std::size_t>(k)];
      if (c >= 0 && static_cast<std::size_t>(c) < per_class.size()) ++per_class[static_cast<std::size_t>(c)];
    }
  }
  // Augmented rows (after the slots' rows): how many are usable; the counts above are the slots'.
  std::int64_t augmented_usable = 0;
  for (std::int64_t first = l.rows; first < l.total_rows(); first += kBlock) {
    const std::int64_t n = std::min(kBlock, l.total_rows() - first);
    for (const auto f : r.flags(first, n)) augmented_usable += f == 0 ? 1 : 0;
  }
  const auto flagged = r.flagged();
  const auto flagged_slots = static_cast<std::size_t>(
      std::count_if(flagged.begin(), flagged.end(), [&](const io::FlaggedRow& f) { return f.row < l.rows; }));
  if (!comm.is_root()) return 0;
  if (as_json) {
    json::Value v = json::Value::object();
    v["features"] = path;
    v["rows"] = l.rows;
    v["usable"] = usable;
    v["invalid_slots"] = invalid;
    v["augmented_rows"] = l.augmented_rows;
    v["augmented_usable"] = augmented_usable;
    v["dim"] = l.dim;
    v["raw_dim"] = l.raw_dim;
    v["blocks"] = blocks_json(l.blocks);
    v["raw_blocks"] = blocks_json(l.raw_blocks);
    v["classes"] = json::Value::object();
    for (std::size_t k = 0; k < per_class.size(); ++k) v["classes"][l.class_names[k]] = per_class[k];
    v["flagged"] = json::Value::array();
    for (const auto& f : flagged) {
      json::Value row = json::Value::object();
      row["row"] = f.row;
      row["reason"] = f.reason;
      v["flagged"].push_back(row);
    }
    v["attributes"] = json::Value::object();
    for (const auto& [k, val] : r.attributes()) v["attributes"][k] = val;
    std::cout << v.dump() << std::endl;
    return 0;
  }
  std::cout << "features    " << path << "\n"
            << "rows        " << usable << " usable of " << l.rows << " (" << flagged_slots << " flagged, " << invalid
            << " invalid slots)\n";
  if (l.augmented_rows > 0)
    std::cout << "augmented   " << augmented_usable << " usable of " << l.augmented_rows << " rows after them ("
              << (r.has_attribute("augment") ? r.attribute("augment") : std::string("?")) << ", "
              << flagged.size() - flagged_slots << " flagged)\n";
  std::cout << "dimension   " << l.dim << (l.raw_dim > 0 ? " (PCA of " + std::to_string(l.raw_dim) + ")" : "") << "\n";
  print_blocks(std::cout, "blocks", l.blocks);
  if (l.raw_dim > 0) print_blocks(std::cout, "raw blocks", l.raw_blocks);
  std::cout << "classes     " << l.class_names.size() << "\n";
  for (std::size_t k = 0; k < per_class.size(); ++k)
    std::cout << "  " << std::left << std::setw(24) << l.class_names[k] << std::right << std::setw(10) << per_class[k]
              << "\n";
  for (const auto& f : flagged)
    if (f.row < l.rows) std::cout << "  flagged row " << f.row << ": " << f.reason << "\n";
  for (const char* key : {"chain", "fingerprint", "archive", "pca_from", "command_line"})
    if (r.has_attribute(key)) std::cout << std::left << std::setw(13) << key << r.attribute(key) << "\n";
  return 0;
}

}  // namespace sarscale::app
