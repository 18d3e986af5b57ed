#include <gtest/gtest.h>

#include "sarscale/dist/comm.hpp"

using sarscale::dist::Comm;

TEST(Comm, ReductionsAndPrefix) {
  const Comm c(MPI_COMM_WORLD);
  const int n = c.size();
  EXPECT_EQ(c.sum<std::int64_t>(c.rank() + 1), static_cast<std::int64_t>(n) * (n + 1) / 2);
  EXPECT_EQ(c.max(c.rank()), n - 1);
  EXPECT_EQ(c.min(c.rank()), 0);
  EXPECT_EQ(c.exscan_sum<std::int64_t>(2), 2 * c.rank());
  EXPECT_TRUE(c.all(true));
  EXPECT_TRUE(c.any(c.rank() == n - 1));
  EXPECT_FALSE(c.all(c.rank() != 0));
}

TEST(Comm, AllgathervConcatenatesInRankOrder) {
  const Comm c(MPI_COMM_WORLD);
  std::vector<std::int32_t> mine(static_cast<std::size_t>(c.rank()), c.rank());  // rank r sends r copies of r
  const auto all = c.allgatherv(mine);
  std::vector<std::int32_t> expected;
  for (int r = 0; r < c.size(); ++r) expected.insert(expected.end(), static_cast<std::size_t>(r), r);
  EXPECT_EQ(all, expected);
}

TEST(Comm, StringsAndBroadcast) {
  const Comm c(MPI_COMM_WORLD);
  const auto all = c.allgather_strings({"r" + std::to_string(c.rank()), ""});
  ASSERT_EQ(all.size(), static_cast<std::size_t>(2 * c.size()));
  for (int r = 0; r < c.size(); ++r) {
    EXPECT_EQ(all[2 * r], "r" + std::to_string(r));
    EXPECT_EQ(all[2 * r + 1], "");
  }
  std::string s = c.is_root() ? std::string(100000, 'x') : "";
  c.broadcast(s);
  EXPECT_EQ(s, std::string(100000, 'x'));
  std::vector<std::string> names = c.is_root() ? std::vector<std::string>{"a", "bb"} : std::vector<std::string>{};
  c.broadcast(names);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "bb"}));
  std::vector<double> v = c.is_root() ? std::vector<double>{1.5, 2.5} : std::vector<double>{};
  c.broadcast(v);
  EXPECT_EQ(v, (std::vector<double>{1.5, 2.5}));
}
