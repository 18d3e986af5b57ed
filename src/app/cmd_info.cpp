#include <iomanip>
#include <iostream>
#include <map>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/json.hpp"
#include "sarscale/io/archive.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/model_file.hpp"

namespace sarscale::app {

namespace {

struct ArchiveSummary {
  io::ArchiveLayout layout;
  std::int64_t valid = 0, unlabelled = 0;
  std::vector<std::int64_t> per_class;
  std::map<std::string, std::int64_t> per_format;  // ingested sources per format
  std::vector<io::SourceRecord> sources;
  std::vector<io::RejectRecord> rejects;
  std::map<std::string, std::string> attributes;
};

ArchiveSummary summarise(const std::string& path, const dist::Comm& comm) {
  const io::ArchiveReader reader = io::ArchiveReader::open(path, comm.raw());
  ArchiveSummary s;
  s.layout = reader.layout();
  s.per_class.assign(s.layout.class_names.size(), 0);
  // Labels and valid flags in blocks: a few bytes per chip, fine even for 1e8 chips.
  constexpr std::int64_t kBlock = 1 << 20;
  for (std::int64_t first = 0; first < s.layout.chips; first += kBlock) {
    const std::int64_t n = std::min(kBlock, s.layout.chips - first);
    const auto labels = reader.labels(first, n);
    const auto valid = reader.valid(first, n);
    for (std::int64_t k = 0; k < n; ++k) {
      if (!valid[static_cast<std::size_t>(k)]) continue;
      ++s.valid;
      const auto l = labels[static_cast<std::size_t>(k)];
      if (l >= 0 && static_cast<std::size_t>(l) < s.per_class.size())
        ++s.per_class[static_cast<std::size_t>(l)];
      else
        ++s.unlabelled;
    }
  }
  s.sources = reader.sources();
  for (const auto& src : s.sources)
    if (src.chip_count > 0) ++s.per_format[src.format];
  s.rejects = reader.rejects();
  s.attributes = reader.attributes();
  return s;
}

// With `all_sources`, "source_files" lists every source as the text's --sources does.
json::Value to_json(const std::string& path, const ArchiveSummary& s, bool all_sources) {
  json::Value v = json::Value::object();
  v["archive"] = path;
  v["chips"] = s.valid;
  v["slots"] = s.layout.chips;
  v["chip_size"] = json::Value::array();
  v["chip_size"].push_back(s.layout.rows);
  v["chip_size"].push_back(s.layout.cols);
  v["has_phase"] = s.layout.has_phase;
  // Band names of the chips; an archive of one unnamed band lists none.
  v["bands"] = json::Value::array();
  for (const auto& b : s.layout.band_names) v["bands"].push_back(b);
  v["classes"] = json::Value::object();
  for (std::size_t k = 0; k < s.per_class.size(); ++k) v["classes"][s.layout.class_names[k]] = s.per_class[k];
  v["unlabelled"] = s.unlabelled;
  v["sources"] = static_cast<std::int64_t>(s.sources.size());
  if (all_sources) {
    v["source_files"] = json::Value::array();
    for (const auto& src : s.sources) {
      json::Value row = json::Value::object();
      row["path"] = src.path;
      row["format"] = src.format;
      row["bytes"] = src.bytes;
      row["chips"] = src.chip_count;
      row["first_chip"] = src.first_chip;
      row["calibration"] = src.calibration;
      v["source_files"].push_back(row);
    }
  }
  v["formats"] = json::Value::object();
  for (const auto& [f, n] : s.per_format) v["formats"][f] = n;
  v["rejects"] = json::Value::array();
  for (const auto& r : s.rejects) {
    json::Value row = json::Value::object();
    row["path"] = r.path;
    row["reason"] = r.reason;
    v["rejects"].push_back(row);
  }
  v["attributes"] = json::Value::object();
  for (const auto& [k, val] : s.attributes) v["attributes"][k] = val;
  return v;
}

void print_text(std::ostream& os, const std::string& path, const ArchiveSummary& s, bool all_sources) {
  os << "archive     " << path << "\n"
     << "chips       " << s.valid << " valid of " << s.layout.chips << " slots, " << s.layout.rows << "x"
     << s.layout.cols << (s.layout.has_phase ? ", magnitude + phase" : ", magnitude only") << "\n";
  if (!s.layout.band_names.empty()) {
    os << "bands       " << s.layout.band_names.size() << ":";
    for (const auto& b : s.layout.band_names) os << " " << b;
    os << "\n";
  }
  os << "classes     " << s.layout.class_names.size()
     << (s.unlabelled ? " (+" + std::to_string(s.unlabelled) + " unlabelled chips)" : "") << "\n";
  for (std::size_t k = 0; k < s.per_class.size(); ++k)
    os << "  " << std::left << std::setw(24) << s.layout.class_names[k] << std::right << std::setw(10) << s.per_class[k]
       << "\n";
  os << "sources     " << s.sources.size() << "\n";
  for (const auto& [f, n] : s.per_format)
    os << "  " << std::left << std::setw(24) << f << std::right << std::setw(10) << n << "\n";
  if (all_sources)
    for (const auto& src : s.sources)
      os << "    " << src.path << "  [" << src.format << ", " << src.chip_count << " chips from #" << src.first_chip
         << ", calibration " << src.calibration << "]\n";
  os << "rejects     " << s.rejects.size() << "\n";
  for (const auto& r : s.rejects) os << "  " << r.path << ": " << r.reason << "\n";
  os << "provenance\n";
  for (const auto& [k, v] : s.attributes) {
    std::string one_line = v;
    for (auto& c : one_line)
      if (c == '\n') c = ';';
    os << "  " << std::left << std::setw(20) << k << one_line << "\n";
  }
}

}  // namespace

// Its options: for --help, and for checking configuration files against every command's.
po::options_description info_options() {
  po::options_description desc("sarscale info: what an archive, a feature file or a model file holds");
  // clang-format off
  desc.add_options()
    ("archive", po::value<std::string>()->required(), "the archive, feature file or model file (HDF5)")
    ("json", po::bool_switch(), "print one JSON object instead of text")
    ("sources", po::bool_switch(), "list every source file");
  // clang-format on
  return desc;
}

int cmd_info(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = info_options();
  po::positional_options_description pos;
  pos.add("archive", 1);
  const auto vm = parse_command(cl, "sarscale info ARCHIVE.h5 [--json] [--sources]", desc, &pos);
  if (!vm) return 0;
  const std::string path = (*vm)["archive"].as<std::string>();
  if (io::file_format(path) == io::kFeatureFormatName) return info_features(comm, path, (*vm)["json"].as<bool>());
  if (io::file_format(path) == io::kModelFormatName) return info_model(comm, path, (*vm)["json"].as<bool>());
  const ArchiveSummary s = summarise(path, comm);
  if (comm.is_root()) {
    if ((*vm)["json"].as<bool>())
      std::cout << to_json(path, s, (*vm)["sources"].as<bool>()).dump() << std::endl;
    else
      print_text(std::cout, path, s, (*vm)["sources"].as<bool>());
  }
  return 0;
}

}  // namespace sarscale::app
