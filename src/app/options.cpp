#include "sarscale/app/options.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"

namespace sarscale::app {

namespace {

// Reads FILE.ini and keeps the options meant for `command`: top-level keys this command
// knows, and every key of its [command] section (unknown ones there are an error).
po::parsed_options parse_config_file(const std::string& path, const std::string& command,
                                     const po::options_description& desc) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/true);
  po::parsed_options kept(&desc);
  const std::string prefix = command + ".";
  for (auto& opt : parsed.options) {
    std::string key = opt.string_key;
    const bool in_section = key.rfind(prefix, 0) == 0;
    if (in_section)
      key = key.substr(prefix.size());
    else if (key.find('.') != std::string::npos)
      continue;  // another command's section
    if (key == "config" || key == "help") continue;
    if (!desc.find_nothrow(key, false)) {
      if (in_section)
        throw ConfigError("config file '" + path + "': unknown option '" + key + "' in section [" + command + "]");
      continue;  // a shared key this command does not use
    }
    opt.string_key = key;
    opt.unregistered = false;
    kept.options.push_back(opt);
  }
  return kept;
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
  } catch (const po::error& e) {
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
  r.checkpoint_seconds = vm["checkpoint-seconds"].as<double>();
  if (!(r.checkpoint_seconds >= 0)) throw ConfigError("--checkpoint-seconds must be 0 or more");
  r.refuse_changed = vm["refuse-changed"].as<bool>();
  r.fresh = vm["fresh"].as<bool>();
  return r;
}

}  // namespace sarscale::app
