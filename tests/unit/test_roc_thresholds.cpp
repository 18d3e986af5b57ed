// The ROC thresholds of `evaluate --detections --roc-log10-pfa`.
#include <gtest/gtest.h>

#include <vector>

#include "sarscale/core/error.hpp"
#include "sarscale/app/parse.hpp"
#include "test_support.hpp"

using sarscale::app::parse_roc_thresholds;

TEST(RocThresholds, ListsAndRanges) {
  EXPECT_EQ(parse_roc_thresholds("-5,-9,-7,-9"), (std::vector<double>{-9, -7, -5}));  // sorted, once each
  EXPECT_EQ(parse_roc_thresholds("-12:-9"), (std::vector<double>{-12, -11, -10, -9}));
  EXPECT_EQ(parse_roc_thresholds("-3:-1:0.5"), (std::vector<double>{-3, -2.5, -2, -1.5, -1}));
  EXPECT_EQ(parse_roc_thresholds("-3:-2:0.4"), (std::vector<double>{-3, -2.6, -2.2}));  // the last step stops short
  EXPECT_EQ(parse_roc_thresholds("-6"), (std::vector<double>{-6}));
  using sarscale::test::config_error_of;
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds("-6,x"); }), "--roc-log10-pfa '-6,x': 'x' is not a number");
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds("-2:-6"); }), "--roc-log10-pfa '-2:-6': need first <= last and step > 0");
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds("-6:-2:0"); }), "--roc-log10-pfa '-6:-2:0': need first <= last and step > 0");
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds("-600:0:0.1"); }), "--roc-log10-pfa '-600:0:0.1': more than 1000 points");
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds("1:2:3:4"); }), "--roc-log10-pfa '1:2:3:4': give a,b,c or first:last[:step]");
  EXPECT_EQ(config_error_of([] { parse_roc_thresholds(""); }), "--roc-log10-pfa '': '' is not a number");
}
