#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "sarscale/app/commands.hpp"
#include "sarscale/app/options.hpp"
#include "sarscale/core/error.hpp"
#include "test_support.hpp"

using namespace sarscale::app;

namespace {
po::variables_map parse(const std::vector<std::string>& args, po::options_description& desc) {
  CommandLine cl{"ingest", args, false};
  auto vm = parse_command(cl, "test", desc);
  EXPECT_TRUE(vm.has_value());
  return *vm;
}
}  // namespace

TEST(Options, ConfigFileFillsWhatTheCommandLineLeavesUnset) {
  const auto dir = sarscale::test::scratch_dir("options_config");
  const auto ini = dir / "run.ini";
  // kernel: a train option at the top, which ingest does not use.
  std::ofstream(ini) << "chip-size = 64\nkernel = rbf\n[ingest]\nlabels = dirname\n[train]\nC = 10\n";
  po::options_description desc;
  desc.add_options()("chip-size", po::value<int>()->default_value(128), "")(
      "labels", po::value<std::string>()->default_value("auto"), "")("output", po::value<std::string>(), "");
  auto vm = parse({"--config", ini.string(), "--output", "x.h5"}, desc);
  EXPECT_EQ(vm["chip-size"].as<int>(), 64);
  EXPECT_EQ(vm["labels"].as<std::string>(), "dirname");
  EXPECT_EQ(vm["output"].as<std::string>(), "x.h5");

  po::options_description desc2;
  desc2.add_options()("chip-size", po::value<int>()->default_value(128), "")("labels", po::value<std::string>(), "");
  auto vm2 = parse({"--chip-size", "32", "--config", ini.string()}, desc2);
  EXPECT_EQ(vm2["chip-size"].as<int>(), 32);  // the command line wins
}

TEST(Options, UnknownKeyInOwnSectionIsAnError) {
  const auto dir = sarscale::test::scratch_dir("options_bad");
  const auto ini = dir / "bad.ini";
  std::ofstream(ini) << "[ingest]\nchip-sise = 64\n";
  po::options_description desc;
  desc.add_options()("chip-size", po::value<int>(), "");
  CommandLine cl{"ingest", {"--config", ini.string()}, false};
  try {
    parse_command(cl, "test", desc);
    FAIL() << "expected ConfigError";
  } catch (const sarscale::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("chip-sise"), std::string::npos);
  }
}

TEST(Options, MissingConfigAndBadValuesNameTheCulprit) {
  po::options_description desc;
  desc.add_options()("count", po::value<int>(), "");
  CommandLine missing{"ingest", {"--config", "/nonexistent/x.ini"}, false};
  EXPECT_THROW(parse_command(missing, "t", desc), sarscale::ConfigError);
  po::options_description desc2;
  desc2.add_options()("count", po::value<int>(), "");
  CommandLine bad{"ingest", {"--count", "many"}, false};
  try {
    parse_command(bad, "t", desc2);
    FAIL();
  } catch (const sarscale::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("count"), std::string::npos);
  }
}

TEST(Options, HelpReturnsNothing) {
  po::options_description desc;
  CommandLine cl{"ingest", {"--help"}, false};
  EXPECT_FALSE(parse_command(cl, "t", desc).has_value());
}

TEST(Options, DescribeWritesEveryValueType) {
  // Provenance and train's up-to-date key read these lines: a value written as "(set)" would
  // make a changed --seed look like the same run.
  po::options_description desc;
  desc.add_options()("seed", po::value<unsigned long long>()->default_value(1), "")(
      "offset", po::value<long long>(), "")("name", po::value<std::string>(), "")("flag", po::bool_switch(), "");
  const auto vm = parse({"--seed", "18446744073709551615", "--offset", "-5", "--name", "x", "--flag"}, desc);
  const std::vector<std::string> lines = describe(vm);
  for (const char* expected : {"seed=18446744073709551615", "offset=-5", "name=x", "flag=true"})
    EXPECT_NE(std::find(lines.begin(), lines.end(), expected), lines.end()) << expected;
}

namespace {
// The ConfigError message of parsing `args` for `command` with that command's real options.
std::string error_of(const std::string& command, const std::vector<std::string>& args) {
  for (const auto& c : commands())
    if (c.name == command) {
      po::options_description desc = c.options();
      return sarscale::test::config_error_of([&] { parse_command(CommandLine{command, args, false}, "t", desc); });
    }
  return "no such command";
}

std::string config_error(const std::string& command, const std::string& ini_text) {
  const auto dir = sarscale::test::scratch_dir("options_strict_" + std::to_string(getpid()));
  const auto ini = dir / "run.ini";
  std::ofstream(ini) << ini_text;
  return error_of(command, {"--config", ini.string()});
}
}  // namespace

// Issue 12: a misspelt or unknown section, or a top-level key no command knows, was silently
// ignored, so the options never applied. The whole file is checked whichever command reads it
// (a typo in [train] stops the pipeline's first stage, not the train stage an hour later).
TEST(Options, UnknownSectionsAndTopLevelKeysAreErrors) {
  const std::string misspelt = config_error("ingest", "[ingst]\nchip-size = 64\n");
  EXPECT_NE(misspelt.find("unknown section [ingst]"), std::string::npos) << misspelt;
  EXPECT_NE(misspelt.find("ingest, features"), std::string::npos) << misspelt;  // names the sections there are
  const std::string unknown = config_error("train", "[preprocessing]\nx = 1\n");
  EXPECT_NE(unknown.find("unknown section [preprocessing]"), std::string::npos) << unknown;
  const std::string top = config_error("ingest", "chip-sise = 64\n[ingest]\nlabels = dirname\n");
  EXPECT_NE(top.find("unknown option 'chip-sise' at the top"), std::string::npos) << top;
  // Another command's section is checked too, against that command's options.
  const std::string other = config_error("ingest", "[train]\ngird = C=1,2\n");
  EXPECT_NE(other.find("unknown option 'gird' in section [train]"), std::string::npos) << other;
  const std::string command_line_only = config_error("features", "[features]\nconfig = other.ini\n");
  EXPECT_NE(command_line_only.find("command-line option"), std::string::npos) << command_line_only;
  // What is valid stays valid: shared keys at the top, common options, every command's section.
  EXPECT_EQ(config_error("ingest", "log-level = warn\nthreads = 1\nkernel = rbf\n[ingest]\nlabels = dirname\n"
                                   "[features]\nfit-pca = true\n[train]\nC = 2\nlog-level = info\n[evaluate]\n"
                                   "[predict]\nstride = 4\n[pipeline]\nforce = false\n"),
            "(no ConfigError)");
}

TEST(Options, ConfigThatIsADirectoryIsAnError) {
  const auto dir = sarscale::test::scratch_dir("options_dir_" + std::to_string(getpid()));
  const std::string e = error_of("ingest", {"--config", (dir.string() + "/")});
  EXPECT_NE(e.find("is a directory"), std::string::npos) << e;
}

// Issue 12: --eps 0 failed late (exit 1), --shrinking 2 and --threads -1 were accepted. Every
// numeric option's range is one table; a value outside it is a usage error naming the option.
TEST(Options, NumericOptionsOutOfRangeAreUsageErrors) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"train", {"--eps", "0"}},           {"train", {"--shrinking", "2"}},     {"train", {"--threads", "-1"}},
      {"train", {"--C", "-1"}},            {"train", {"--C", "inf"}},           {"train", {"--gamma", "nan"}},
      {"train", {"--folds", "1"}},         {"train", {"--cache-mb", "0"}},      {"train", {"--cascade-passes", "0"}},
      {"train", {"--gram-mb", "-1"}},      {"features", {"--threads", "-1"}},   {"features", {"--pca-variance", "1.5"}},
      {"features", {"--batch-chips", "-1"}}, {"ingest", {"--band", "0"}},     {"ingest", {"--batch-mb", "0"}},
      {"ingest", {"--checkpoint-seconds", "-1"}}, {"ingest", {"--tile-size", "-8"}}, {"predict", {"--stride", "-1"}},
      {"predict", {"--band", "0"}},        {"evaluate", {"--threads", "-2"}},   {"synth", {"--depression", "90"}},
      {"synth", {"--count", "0"}},         {"synth", {"--width", "0"}},         {"convert", {"--limit", "-2"}},
  };
  for (const auto& [command, args] : bad) {
    const std::string e = error_of(command, args);
    EXPECT_NE(e.find(args[0] + " " + args[1]), std::string::npos) << command << " " << args[0] << ": " << e;
    EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  }
  EXPECT_NE(error_of("train", {"--shrinking", "2"}).find("must be 0 or 1"), std::string::npos);
  EXPECT_NE(error_of("train", {"--eps", "0"}).find("must be > 0"), std::string::npos);
  // The same range whether the value comes from the command line or a config file.
  EXPECT_NE(config_error("train", "[train]\neps = 0\n").find("--eps 0 is out of range"), std::string::npos);
  // Bounds themselves are valid.
  for (const auto& [command, args] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{{"train", {"--shrinking", "0"}},
                                                                     {"train", {"--threads", "0"}},
                                                                     {"train", {"--folds", "2"}},
                                                                     {"features", {"--pca-variance", "1"}},
                                                                     {"convert", {"--limit", "-1"}},
                                                                     {"synth", {"--depression", "89"}}})
    EXPECT_EQ(error_of(command, args), "(no ConfigError)") << command << " " << args[0] << " " << args[1];
}
