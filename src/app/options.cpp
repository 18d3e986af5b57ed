#include "sarscale/app/options.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <sstream>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::app {

namespace {

// The options every command takes on top of its own (added by parse_command).
bool is_common_option(const std::string& key) { return key == "log-level" || key == "config" || key == "help"; }

bool has_option(const po::options_description& desc, const std::string& key) {
  return desc.find_nothrow(key, /*approx=*/false) != nullptr;
}

// The options of the command named `section`, or nullptr when no command has that name.
const po::options_description* command_options(const std::string& section) {
  static const auto table = [] {
    std::map<std::string, po::options_description> t;
    for (const Command& c : commands()) t.emplace(c.name, c.options());
    return t;
  }();
  const auto it = table.find(section);
  return it == table.end() ? nullptr : &it->second;
}

bool known_to_some_command(const std::string& key) {
  for (const Command& c : commands())
    if (has_option(*command_options(c.name), key)) return true;
  return false;
}

std::string command_names() {
  std::string out;
  for (const Command& c : commands()) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

// Every key of the file is checked, whichever command reads it, so a typo surfaces at once (the
// first stage of a pipeline reports a misspelt [train] key, not the train stage an hour later):
// a section must be a command's name and hold only that command's options; a key at the top must
// be an option of some command. `desc` stands for `command`'s own options.
void check_config_key(const std::string& path, const std::string& string_key, const std::string& command,
                      const po::options_description& desc) {
  const auto dot = string_key.find('.');
  const std::string where = "config file '" + path + "': ";
  if (dot == std::string::npos) {
    if (string_key == "config" || string_key == "help")
      throw ConfigError(where + "'" + string_key + "' is a command-line option, not a configuration key");
    if (!is_common_option(string_key) && !has_option(desc, string_key) && !known_to_some_command(string_key))
      throw ConfigError(where + "unknown option '" + string_key + "' at the top (no command has it)");
    return;
  }
  const std::string section = string_key.substr(0, dot), key = string_key.substr(dot + 1);
  const po::options_description* options = section == command ? &desc : command_options(section);
  if (!options)
    throw ConfigError(where + "unknown section [" + section + "] (sections are command names: " + command_names() +
                      ")");
  if (key == "config" || key == "help")
    throw ConfigError(where + "'" + key + "' in section [" + section + "] is a command-line option");
  if (!is_common_option(key) && !has_option(*options, key))
    throw ConfigError(where + "unknown option '" + key + "' in section [" + section + "]");
}

// Reads FILE.ini, checks all of it, and keeps the options meant for `command`: top-level keys
// this command knows, and every key of its [command] section.
po::parsed_options parse_config_file(const std::string& path, const std::string& command,
                                     const po::options_description& desc) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw ConfigError("--config '" + path + "' is a directory, not a configuration file");
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  // Parsed against no options: every key comes back as "section.key" or "key" with its text,
  // typed below by store() against `desc`.
  const po::options_description none;
  po::parsed_options parsed = po::parse_config_file(in, none, /*allow_unregistered=*/true);
  if (in.bad()) throw ConfigError("cannot read config file '" + path + "'");
  po::parsed_options kept(&desc);
  const std::string prefix = command + ".";
  for (auto& opt : parsed.options) {
    check_config_key(path, opt.string_key, command, desc);
    std::string key = opt.string_key;
    if (key.rfind(prefix, 0) == 0)
      key = key.substr(prefix.size());
    else if (key.find('.') != std::string::npos)
      continue;  // another command's section
    if (!has_option(desc, key)) continue;  // a shared key this command does not use
    opt.string_key = key;
    opt.unregistered = false;
    kept.options.push_back(opt);
  }
  return kept;
}

// The valid range of every numeric option, by name: an option name means the same thing in every
// command that has it (--threads, --band, ...). Checked right after parsing, so a value out of
// range is a usage error (exit 2) naming the option, before any work. Values must also be finite.
struct Range {
  const char* option;
  double min, max;
  bool min_excluded;  // "> min" rather than ">= min"
};
constexpr double kNoLimit = std::numeric_limits<double>::infinity();
constexpr Range kRanges[] = {
    // synth
    {"count", 1, kNoLimit, false},
    {"depression", 1, 89, false},
    {"gain-db", -40, 40, false},
    {"clutter-db", -40, 40, false},
    {"clutter-jitter-db", 0, 20, false},
    {"centre-jitter", 0, kNoLimit, false},  // at most chip-size/4: checked by the generator
    {"target-gain-jitter-db", 0, 20, false},
    {"width", 1, kNoLimit, false},
    {"height", 1, kNoLimit, false},
    {"targets", 0, kNoLimit, false},
    {"distractors", 0, kNoLimit, false},
    // cut (CFAR options: the prescreener's, docs/detection.md)
    {"chip", 8, 4096, false},
    {"clutter-per-scene", 0, 100000, false},
    {"max-false-alarms", 0, kNoLimit, false},
    {"pfa", 0, 1, true},
    {"guard", 0, 1000, false},
    {"background", 1, 1000, false},
    // ingest, predict --scene
    {"tile-size", 0, kNoLimit, false},
    {"tile-stride", 0, kNoLimit, false},
    {"band", 1, kNoLimit, false},
    {"batch-mb", 1, kNoLimit, false},
    {"stride", 0, kNoLimit, false},
    // features
    {"pca-components", 0, kNoLimit, false},
    {"pca-variance", 0, 1, false},
    {"batch-chips", 0, kNoLimit, false},
    // train
    {"C", 0, kNoLimit, true},
    {"gamma", 0, kNoLimit, false},
    {"degree", 0, kNoLimit, false},
    {"coef0", -kNoLimit, kNoLimit, false},
    {"eps", 0, kNoLimit, true},
    {"cache-mb", 0, kNoLimit, true},
    {"shrinking", 0, 1, false},
    {"folds", 2, kNoLimit, false},  // and at most the training chips: checked once they are read
    {"cascade-passes", 1, kNoLimit, false},
    {"cascade-tolerance", 0, kNoLimit, false},
    {"cascade-cache-mb", 0, kNoLimit, false},
    {"gather-below", 0, kNoLimit, false},
    {"gram-mb", 0, kNoLimit, false},
    // detect (and cut's CFAR options above)
    {"looks", 0, kNoLimit, true},
    {"os-rank", 0, 1, true},
    {"guard-m", 0, kNoLimit, false},
    {"background-m", 0, kNoLimit, false},
    {"tile", 64, kNoLimit, false},  // and a multiple of 64: checked by the stage
    {"cluster-gap", -1, 100000, false},
    {"search", 0, 4096, false},
    {"suppress-radius", 0, 100000, false},
    {"quicklook-size", 0, 65536, false},
    // evaluate --detections
    {"pixel-area-m2", 0, kNoLimit, true},
    // several commands
    {"threads", 0, 4096, false},
    {"checkpoint-seconds", 0, kNoLimit, false},
    {"limit", -1, kNoLimit, false},
};

// The value of a numeric option, or nullopt for other types (an option name may be text in one
// command and a number in another: synth's --classes is a count, ingest's a list of names).
std::optional<double> numeric_value(const boost::any& any) {
  if (auto* i = boost::any_cast<int>(&any)) return *i;
  if (auto* ll = boost::any_cast<long long>(&any)) return static_cast<double>(*ll);
  if (auto* d = boost::any_cast<double>(&any)) return *d;
  return std::nullopt;
}

std::string text_of(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string describe(const Range& r, bool integral) {
  if (integral && r.min + 1 == r.max) return text_of(r.min) + " or " + text_of(r.max);
  if (r.max == kNoLimit) return (r.min_excluded ? "> " : ">= ") + text_of(r.min);
  if (r.min == -kNoLimit) return "finite";
  return "within " + text_of(r.min) + ".." + text_of(r.max);
}

void check_ranges(const po::variables_map& vm) {
  for (const Range& r : kRanges) {
    const auto it = vm.find(r.option);
    if (it == vm.end()) continue;
    const auto v = numeric_value(it->second.value());
    if (!v) continue;
    const bool above_min = r.min_excluded ? *v > r.min : *v >= r.min;
    if (std::isfinite(*v) && above_min && *v <= r.max) continue;
    const bool integral = it->second.value().type() != typeid(double);
    throw ConfigError("--" + std::string(r.option) + " " + text_of(*v) + " is out of range: it must be " +
                      describe(r, integral));
  }
}

// Whether the command line or its config file holds a '%' (see parse_command).
bool holds_percent(const CommandLine& cl, const po::variables_map& vm) {
  for (const std::string& a : cl.args)
    if (a.find('%') != std::string::npos) return true;
  if (!vm.count("config")) return false;
  std::ifstream in(vm["config"].as<std::string>(), std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find('%') != std::string::npos;
}

}  // namespace

std::optional<po::variables_map> parse_command(const CommandLine& cl, const std::string& usage,
                                               po::options_description& desc,
                                               const po::positional_options_description* positional) {
  // clang-format off
  desc.add_options()
    ("help,h", "show this help and exit")
    ("config", po::value<std::string>(), "read options from an INI file (the command line wins)")
    ("log-level", po::value<std::string>()->default_value("info"), "debug|info|warn|error|quiet");
  // clang-format on

  po::variables_map vm;
  try {
    po::command_line_parser parser(cl.args);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      if (cl.is_root) std::cout << "Usage: " << usage << "\n\n" << desc << std::flush;
      return std::nullopt;
    }
    // Values stored first win, so the config file only fills what the command line left unset.
    if (vm.count("config")) po::store(parse_config_file(vm["config"].as<std::string>(), cl.command, desc), vm);
    po::notify(vm);
    check_ranges(vm);
  } catch (po::error_with_option_name& e) {
    // Boost 1.74 substitutes the user's value into its message in a loop that never ends when the
    // value itself holds a placeholder such as "%value%" (found by fuzz_config): a value with '%'
    // in it is not quoted back.
    if (holds_percent(cl, vm)) {
      e.set_substitute("value", "(a value holding '%')");
      e.set_original_token("(a value holding '%')");
    }
    throw ConfigError(std::string(e.what()) + " (see 'sarscale " + cl.command + " --help')");
  } catch (const po::error& e) {
    throw ConfigError(std::string(e.what()) + " (see 'sarscale " + cl.command + " --help')");
  } catch (const ConfigError& e) {
    throw ConfigError(std::string(e.what()) + " (see 'sarscale " + cl.command + " --help')");
  }
  log::set_level(log::parse_level(vm["log-level"].as<std::string>()));
  return vm;
}

std::vector<std::string> describe(const po::variables_map& vm) {
  std::vector<std::string> out;
  for (const auto& [key, value] : vm) {
    if (key == "help") continue;
    std::ostringstream os;
    os << key << "=";
    const auto& any = value.value();
    if (auto* s = boost::any_cast<std::string>(&any))
      os << *s;
    else if (auto* v = boost::any_cast<std::vector<std::string>>(&any)) {
      for (std::size_t i = 0; i < v->size(); ++i) os << (i ? " " : "") << (*v)[i];
    } else if (auto* i = boost::any_cast<int>(&any))
      os << *i;
    else if (auto* l = boost::any_cast<long>(&any))
      os << *l;
    else if (auto* u = boost::any_cast<unsigned long>(&any))
      os << *u;
    else if (auto* ull = boost::any_cast<unsigned long long>(&any))
      os << *ull;
    else if (auto* ll = boost::any_cast<long long>(&any))
      os << *ll;
    else if (auto* d = boost::any_cast<double>(&any))
      os << *d;
    else if (auto* b = boost::any_cast<bool>(&any))
      os << (*b ? "true" : "false");
    else
      os << "(set)";
    out.push_back(os.str());
  }
  return out;
}

void add_resume_options(po::options_description& desc, const std::string& what) {
  // clang-format off
  desc.add_options()
    ("checkpoint-seconds", po::value<double>()->default_value(30),
     ("record finished work in the " + what + " at most this often (0: after every batch); "
      "the rerun of a killed job resumes from it").c_str())
    ("refuse-changed", po::bool_switch(),
     ("fail instead of replacing an existing " + what + " made from other inputs or options").c_str())
    ("fresh", po::bool_switch(), ("start over even when the " + what + " could be resumed or is up to date").c_str());
  // clang-format on
}

void add_overwrite_option(po::options_description& desc, const std::string& what) {
  // clang-format off
  desc.add_options()
    ("overwrite", po::bool_switch(),
     ("replace an existing " + what + " even when it is not a previous output of this command "
      "(an input is never written over)").c_str());
  // clang-format on
}

ResumeOptions resume_options(const po::variables_map& vm) {
  ResumeOptions r;
  r.checkpoint_seconds = vm["checkpoint-seconds"].as<double>();  // its range: kRanges
  r.refuse_changed = vm["refuse-changed"].as<bool>();
  r.fresh = vm["fresh"].as<bool>();
  return r;
}

}  // namespace sarscale::app
