#pragma once
// Option parsing shared by every sub-command: the command line, then `--config FILE.ini`
// (the command line wins). In the INI file, keys at the top level apply to every command
// that knows them (and must be known to one); keys under `[<command>]` apply to that command
// and must be known to it; any other section is an error.
#include <boost/program_options.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sarscale::app {

namespace po = boost::program_options;

struct CommandLine {
  std::string command;            // "ingest", ...
  std::vector<std::string> args;  // the arguments after the command name
  bool is_root = true;            // only rank 0 prints help
};

// Adds --help, --config and --log-level to `desc`, parses, merges the config file, applies
// the log level, notifies and checks every numeric option's range (one table, options.cpp).
// Returns nullopt when --help was printed (exit 0). Throws ConfigError on unknown, malformed or
// out-of-range options, naming the option (and the file). The whole config file is checked,
// whichever command reads it: sections must be command names holding only that command's
// options, top-level keys must be options of some command.
std::optional<po::variables_map> parse_command(const CommandLine& cl, const std::string& usage,
                                               po::options_description& desc,
                                               const po::positional_options_description* positional = nullptr);

// The whole parsed command line as "key=value" strings, for provenance attributes.
std::vector<std::string> describe(const po::variables_map& vm);

// The options of resumable stages (ingest, features): --checkpoint-seconds, --refuse-changed,
// --fresh; `what` names the output in the help ("archive", "feature file").
struct ResumeOptions {
  double checkpoint_seconds = 30;
  bool refuse_changed = false;
  bool fresh = false;
};
void add_resume_options(po::options_description& desc, const std::string& what);
ResumeOptions resume_options(const po::variables_map& vm);

// --overwrite (the output policy, io/output_policy.hpp): `what` names the output in the help.
void add_overwrite_option(po::options_description& desc, const std::string& what);

// Helpers for typed access with clear errors.
template <typename T>
T get(const po::variables_map& vm, const std::string& key) {
  return vm[key].as<T>();
}

}  // namespace sarscale::app
