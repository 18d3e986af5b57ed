// ctest hands every GoogleTest case the project's test environment (cmake/SarscaleTesting.cmake,
// SARSCALE_TEST_ENV). For a long time only its first entry arrived (gtest_discover_tests passes
// one entry of a list-valued property): the marker first, then the entries that must follow it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

TEST(TestEnvironment, EveryEntryOfTheProjectsTestEnvironmentReachesTheCase) {
  if (std::getenv("SARSCALE_TEST_ENV_MARKER") == nullptr)
    GTEST_SKIP() << "not run by ctest (SARSCALE_TEST_ENV_MARKER unset): nothing to check";
  for (const char* name : {"SARSCALE_SHARED_DIR", "SARSCALE_BINARY", "SARSCALE_MPIEXEC", "OMP_NUM_THREADS",
                           "OMPI_MCA_rmaps_base_oversubscribe"})
    EXPECT_NE(std::getenv(name), nullptr) << name << " did not reach the test";
  const char* threads = std::getenv("OMP_NUM_THREADS");
  EXPECT_EQ(std::string(threads ? threads : ""), "1");
}
