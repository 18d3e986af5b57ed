// Classification metrics against values worked out by hand (scikit-learn's definitions).
#include <gtest/gtest.h>

#include "sarscale/core/error.hpp"
#include "sarscale/svm/metrics.hpp"

using sarscale::svm::compute_metrics;

TEST(Metrics, MatchHandComputedValues) {
  // true:      a a a b b c
  // predicted: a a b b c c
  const auto m = compute_metrics({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, {"a", "b", "c"});
  EXPECT_EQ(m.confusion, (std::vector<std::int64_t>{2, 1, 0, 0, 1, 1, 0, 0, 1}));
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  // a: P 2/2, R 2/3; b: P 1/2, R 1/2; c: P 1/2, R 1/1.
  EXPECT_DOUBLE_EQ(m.classes[0].precision, 1.0);
  EXPECT_DOUBLE_EQ(m.classes[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.classes[0].f1, 0.8);
  EXPECT_DOUBLE_EQ(m.classes[1].f1, 0.5);
  EXPECT_DOUBLE_EQ(m.classes[2].f1, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0);
  EXPECT_DOUBLE_EQ(m.weighted_f1, (3 * 0.8 + 2 * 0.5 + 1 * 2.0 / 3.0) / 6.0);
  EXPECT_EQ(m.classes[0].support, 3);
  EXPECT_NE(m.markdown().find("| a | 1.0000 | 0.6667 | 0.8000 | 3 |"), std::string::npos) << m.markdown();
}

TEST(Metrics, EmptyClassesAndBadIndices) {
  const auto m = compute_metrics({0, 0}, {0, 0}, {"a", "never"});
  EXPECT_DOUBLE_EQ(m.classes[1].precision, 0.0);  // undefined: 0, as scikit-learn's zero_division=0
  EXPECT_DOUBLE_EQ(m.classes[1].f1, 0.0);
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
  EXPECT_THROW(compute_metrics({0}, {3}, {"a"}), sarscale::ConfigError);
  EXPECT_THROW(compute_metrics({0}, {}, {"a"}), sarscale::ConfigError);
}
