// The one failure path under MPI (Comm::agree, io/agree.hpp): a failure on any one rank reaches
// every rank as the same exception type and message, at 1 to 4 ranks, and nothing is thrown when
// no rank failed.
#include <gtest/gtest.h>

#include <functional>
#include <new>
#include <string>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/comm.hpp"

using sarscale::dist::Comm;

namespace {

// Every rank calls agree(); only `failing` throws `error` first. Returns what this rank caught.
template <typename Caught>
void expect_every_rank_throws(const Comm& c, int failing, const std::function<void()>& error,
                              const std::string& message) {
  bool caught = false;
  try {
    c.agree_on([&] {
      if (c.rank() == failing) error();
    });
  } catch (const Caught& e) {
    caught = true;
    EXPECT_EQ(std::string(e.what()), message) << "rank " << c.rank();
    const auto* agreed = sarscale::failed_on_every_rank(e);
    ASSERT_NE(agreed, nullptr) << "rank " << c.rank();
    EXPECT_EQ(agreed->failed_rank(), failing);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << c.rank() << " caught another type: " << e.what();
  }
  EXPECT_TRUE(caught) << "rank " << c.rank() << " did not throw";
  // Every rank took part and left together: a further collective completes.
  EXPECT_EQ(c.sum(1), c.size());
}

}  // namespace

TEST(Agree, NothingFailedNothingThrown) {
  const Comm c(MPI_COMM_WORLD);
  EXPECT_NO_THROW(c.agree(nullptr));
  EXPECT_NO_THROW(c.agree_on([] {}));
  EXPECT_EQ(c.sum(1), c.size());
}

TEST(Agree, EachErrorTypeSurvivesFromAnyRank) {
  const Comm c(MPI_COMM_WORLD);
  for (int failing = 0; failing < c.size(); ++failing) {
    SCOPED_TRACE("failing rank " + std::to_string(failing));
    expect_every_rank_throws<sarscale::ConfigError>(
        c, failing, [] { throw sarscale::ConfigError("bad option"); }, "bad option");
    expect_every_rank_throws<sarscale::StrictRejectError>(
        c, failing, [] { throw sarscale::StrictRejectError("2 rejected"); }, "2 rejected");
    expect_every_rank_throws<sarscale::InputError>(
        c, failing, [] { throw sarscale::InputError("truncated chip"); }, "truncated chip");
    expect_every_rank_throws<sarscale::IoError>(
        c, failing, [] { throw sarscale::IoError("No space left on device"); }, "No space left on device");
    expect_every_rank_throws<std::bad_alloc>(
        c, failing, [] { throw std::bad_alloc(); }, "out of memory (std::bad_alloc)");
    expect_every_rank_throws<sarscale::Error>(
        c, failing, [] { throw std::runtime_error("plain"); }, "plain");
  }
}

// A StrictRejectError stays one (not merely an InputError), and a ConfigError is not an InputError.
TEST(Agree, TypesAreNotWidened) {
  const Comm c(MPI_COMM_WORLD);
  try {
    c.agree_on([&] {
      if (c.rank() == c.size() - 1) throw sarscale::ConfigError("usage");
    });
    ADD_FAILURE() << "nothing thrown";
  } catch (const sarscale::InputError&) {
    ADD_FAILURE() << "a ConfigError arrived as an InputError";
  } catch (const sarscale::ConfigError& e) {
    EXPECT_EQ(sarscale::exit_status_of(e), 2);
  }
}

// Several ranks fail: the lowest one's message wins on every rank.
TEST(Agree, LowestFailingRankWins) {
  const Comm c(MPI_COMM_WORLD);
  const int first = c.size() > 1 ? 1 : 0;
  try {
    c.agree_on([&] {
      if (c.rank() >= first) throw sarscale::InputError("rank " + std::to_string(c.rank()));
    });
    ADD_FAILURE() << "nothing thrown";
  } catch (const sarscale::InputError& e) {
    EXPECT_EQ(std::string(e.what()), "rank " + std::to_string(first));
    EXPECT_EQ(sarscale::failed_on_every_rank(e)->failed_rank(), first);
  }
}
