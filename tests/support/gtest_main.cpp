#include <gtest/gtest.h>

#include "test_support.hpp"

int main(int argc, char** argv) {
  sarscale::test::prepare_environment();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
