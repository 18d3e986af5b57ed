#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

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
  std::ofstream(ini) << "chip-size = 64\nshared-key = ignored\n[ingest]\nlabels = dirname\n[train]\nC = 10\n";
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
