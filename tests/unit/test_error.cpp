// The error kinds behind the one failure path (core/error.hpp): a caught exception is described
// and raised again as its own type, and a destructor can tell an exception raised on this rank
// alone (no collective clean-up then) from one every rank raised together.
#include <gtest/gtest.h>

#include <new>

#include "sarscale/core/error.hpp"

namespace {

// Records, while it is destroyed, what sarscale::unwinding_alone() said.
struct Probe {
  bool* alone;
  ~Probe() { *alone = sarscale::unwinding_alone(); }
};

}  // namespace

TEST(Error, DescribeAndRaiseKeepTheType) {
  using sarscale::ErrorKind;
  EXPECT_EQ(sarscale::describe_error(std::make_exception_ptr(sarscale::ConfigError("c"))).kind, ErrorKind::config);
  EXPECT_EQ(sarscale::describe_error(std::make_exception_ptr(sarscale::StrictRejectError("s"))).kind,
            ErrorKind::strict_reject);
  EXPECT_EQ(sarscale::describe_error(std::make_exception_ptr(sarscale::InputError("i"))).kind, ErrorKind::input);
  EXPECT_EQ(sarscale::describe_error(std::make_exception_ptr(sarscale::IoError("o"))).kind, ErrorKind::io);
  EXPECT_EQ(sarscale::describe_error(std::make_exception_ptr(std::bad_alloc())).kind, ErrorKind::memory);
  EXPECT_EQ(sarscale::describe_error(nullptr).message, "");
  EXPECT_THROW(sarscale::raise_on_every_rank({ErrorKind::config, "x"}, 0), sarscale::ConfigError);
  EXPECT_THROW(sarscale::raise_on_every_rank({ErrorKind::memory, "x"}, 0), std::bad_alloc);
  try {
    sarscale::raise_on_every_rank({ErrorKind::io, "disk full"}, 3);
  } catch (const sarscale::IoError& e) {
    EXPECT_STREQ(e.what(), "disk full");
    ASSERT_NE(sarscale::failed_on_every_rank(e), nullptr);
    EXPECT_EQ(sarscale::failed_on_every_rank(e)->failed_rank(), 3);
    EXPECT_EQ(sarscale::exit_status_of(e), 1);
  }
}

TEST(Error, RethrowWithContextKeepsTheType) {
  try {
    try {
      throw sarscale::ConfigError("band 'vh' is unknown");
    } catch (...) {
      sarscale::rethrow_with_context("features of chips [0, 6)");
    }
  } catch (const sarscale::ConfigError& e) {
    EXPECT_STREQ(e.what(), "features of chips [0, 6): band 'vh' is unknown");
    EXPECT_EQ(sarscale::failed_on_every_rank(e), nullptr);
  }
}

TEST(Error, DestructorsKnowWhetherTheExceptionIsThisRanksAlone) {
  bool alone = false;
  EXPECT_FALSE(sarscale::unwinding_alone());
  try {
    Probe p{&alone};
    throw sarscale::IoError("one rank");
  } catch (const sarscale::IoError&) {
  }
  EXPECT_TRUE(alone);
  try {
    Probe p{&alone};
    sarscale::raise_on_every_rank({sarscale::ErrorKind::io, "every rank"}, 0);
  } catch (const sarscale::IoError&) {
  }
  EXPECT_FALSE(alone);
  // Once the agreed exception is gone, a lone one is recognised again.
  try {
    Probe p{&alone};
    throw sarscale::InputError("one rank again");
  } catch (const sarscale::InputError&) {
  }
  EXPECT_TRUE(alone);
}
