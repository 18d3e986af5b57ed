// ingest's band selection (--band, --bands, --band-names): parsing, canonical text, errors.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "sarscale/core/error.hpp"
#include "sarscale/io/chip_source.hpp"
#include "test_support.hpp"

using sarscale::io::BandSelection;

using sarscale::test::config_error_of;

TEST(BandSelection, ModesAndCanonicalText) {
  const BandSelection plain = BandSelection::parse("", 2, "");
  EXPECT_EQ(plain.mode, BandSelection::Mode::single);
  EXPECT_EQ(plain.number, 2);
  EXPECT_FALSE(plain.named());  // a plain --band N stores no band names, as before
  EXPECT_EQ(plain.to_string(), "band=2");

  const BandSelection all = BandSelection::parse(" ALL ", 1, "VH, vv | vv");
  EXPECT_EQ(all.mode, BandSelection::Mode::all);
  EXPECT_TRUE(all.named());
  ASSERT_EQ(all.namings.size(), 2u);
  EXPECT_EQ(all.namings[0], (std::vector<std::string>{"vh", "vv"}));
  EXPECT_EQ(all.namings[1], (std::vector<std::string>{"vv"}));
  EXPECT_EQ(all.to_string(), "bands=all; names=vh,vv|vv");

  const BandSelection numbers = BandSelection::parse("2,1", 1, "");
  EXPECT_EQ(numbers.mode, BandSelection::Mode::numbers);
  EXPECT_EQ(numbers.numbers, (std::vector<int>{2, 1}));
  EXPECT_EQ(numbers.to_string(), "bands=2,1");

  const BandSelection names = BandSelection::parse("VV", 1, "vh,vv|vv");
  EXPECT_EQ(names.mode, BandSelection::Mode::names);
  EXPECT_EQ(names.names, (std::vector<std::string>{"vv"}));
  EXPECT_EQ(names.to_string(), "bands=vv; names=vh,vv|vv");

  // A plain --band with names: one named band.
  EXPECT_TRUE(BandSelection::parse("", 2, "vh,vv").named());
}

TEST(BandSelection, BadSpecificationsNameTheOption) {
  EXPECT_NE(config_error_of([] { BandSelection::parse("1,vv", 1, ""); }).find("not both"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("0", 1, ""); }).find("count from 1"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("2,2", 1, ""); }).find("twice"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("v v", 1, ""); }).find("'v v'"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("", 0, ""); }).find("--band counts from 1"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("all", 1, "vh,vh"); }).find("'vh'"), std::string::npos);
  EXPECT_NE(config_error_of([] { BandSelection::parse("all", 1, "a,b|c,d"); }).find("two namings"), std::string::npos);
}
