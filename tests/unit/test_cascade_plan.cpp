// The cascade's merge tree, without MPI: every rank's set reaches rank 0 exactly once.
#include <gtest/gtest.h>

#include <set>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/cascade.hpp"

using sarscale::dist::cascade_levels;
using sarscale::dist::cascade_plan;
using sarscale::dist::CascadeMerge;

TEST(CascadePlan, SmallTreesAreAsDrawn) {
  EXPECT_TRUE(cascade_plan(1).empty());
  EXPECT_EQ(cascade_plan(2), (std::vector<CascadeMerge>{{0, 0, 1}}));
  EXPECT_EQ(cascade_plan(3), (std::vector<CascadeMerge>{{0, 0, 1}, {1, 0, 2}}));
  EXPECT_EQ(cascade_plan(4), (std::vector<CascadeMerge>{{0, 0, 1}, {0, 2, 3}, {1, 0, 2}}));
  EXPECT_EQ(cascade_levels(1), 0);
  EXPECT_EQ(cascade_levels(3), 2);
  EXPECT_EQ(cascade_levels(4), 2);
  EXPECT_EQ(cascade_levels(5), 3);
  EXPECT_THROW(cascade_plan(0), sarscale::ConfigError);
}

TEST(CascadePlan, EveryRankReachesTheTopOnceForAnyCount) {
  for (int ranks = 1; ranks <= 67; ++ranks) {
    // Follow the sets: holder[r] = the ranks whose rows r holds; a sender gives all and stops.
    std::vector<std::set<int>> holder(static_cast<std::size_t>(ranks));
    std::vector<bool> active(static_cast<std::size_t>(ranks), true);
    for (int r = 0; r < ranks; ++r) holder[static_cast<std::size_t>(r)] = {r};
    int last_level = -1;
    for (const auto& m : cascade_plan(ranks)) {
      EXPECT_GE(m.level, last_level);
      last_level = m.level;
      ASSERT_TRUE(active[static_cast<std::size_t>(m.sender)] && active[static_cast<std::size_t>(m.receiver)]);
      EXPECT_LT(m.receiver, m.sender);
      auto& to = holder[static_cast<std::size_t>(m.receiver)];
      for (const int r : holder[static_cast<std::size_t>(m.sender)]) EXPECT_TRUE(to.insert(r).second);
      active[static_cast<std::size_t>(m.sender)] = false;
    }
    EXPECT_EQ(holder[0].size(), static_cast<std::size_t>(ranks)) << ranks << " ranks";
    EXPECT_EQ(last_level + 1, cascade_levels(ranks)) << ranks << " ranks";
  }
}
