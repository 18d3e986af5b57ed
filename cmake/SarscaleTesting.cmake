# Test registration helpers. Every test carries a label: unit, mpi, integration, slurm.
include(GoogleTest)
find_package(GTest REQUIRED)

set(SARSCALE_SHARED_DIR "${PROJECT_SOURCE_DIR}/../shared" CACHE PATH
    "The shared data folder beside the project (tests that need it skip when absent)")
set(SARSCALE_MPI_RANKS 1 2 3 4 CACHE STRING "Rank counts every MPI test runs at")

# Flags so that MPI tests run as root and oversubscribed on small machines (CI has 2 cores).
set(SARSCALE_MPIEXEC_FLAGS --oversubscribe CACHE STRING "Extra flags for MPIEXEC_EXECUTABLE")
set(SARSCALE_TEST_ENV
    "SARSCALE_TEST_ENV_MARKER=1;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;SARSCALE_SHARED_DIR=${SARSCALE_SHARED_DIR};SARSCALE_BINARY=$<TARGET_FILE:sarscale>;SARSCALE_MPIEXEC=${MPIEXEC_EXECUTABLE};OMP_NUM_THREADS=1")

# sarscale_add_gtest(NAME SOURCES ... LIBS ... [LABEL unit|integration]): a GoogleTest
# executable whose cases become ctest entries.
# MPI_MAIN: the test initialises MPI itself (as a singleton, not under mpirun), e.g. to read
# archives after running the CLI.
function(sarscale_add_gtest name)
  cmake_parse_arguments(ARG "MPI_MAIN" "LABEL;TIMEOUT;PROCESSORS" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_PROCESSORS)
    set(ARG_PROCESSORS 1)
  endif()
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  if(ARG_MPI_MAIN)
    target_link_libraries(${name} PRIVATE ${ARG_LIBS} sarscale_test_mpi_support GTest::gtest)
  else()
    target_link_libraries(${name} PRIVATE ${ARG_LIBS} sarscale_test_support GTest::gtest)
  endif()
  # One ctest entry per case; GTEST_SKIP (e.g. ../shared absent) shows as skipped.
  # DISCOVERY_TIMEOUT: listing the cases of a sanitizer build on a busy machine takes more than
  # the default 5 s.
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 120 TEST_LIST ${name}_TESTS
    PROPERTIES LABELS "${ARG_LABEL}" TIMEOUT ${ARG_TIMEOUT} PROCESSORS ${ARG_PROCESSORS})
  # The environment goes through a test include file of our own, read after the discovered
  # cases: gtest_discover_tests (CMake 3.25) passes only the first entry of a list-valued
  # property (escaped or not), so SARSCALE_SHARED_DIR, SARSCALE_BINARY, OMP_NUM_THREADS... never
  # reached the cases (tests/unit/test_environment.cpp guards it).
  file(GENERATE OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/${name}_environment.cmake" CONTENT
       "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES ENVIRONMENT \"${SARSCALE_TEST_ENV}\")\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${CMAKE_CURRENT_BINARY_DIR}/${name}_environment.cmake")
endfunction()

# sarscale_add_mpi_test(NAME SOURCES ... LIBS ... [RANKS 1 2 3 4]): the one way MPI tests are
# registered. The executable uses the MPI-aware gtest main (tests/support/mpi_main.cpp) and runs
# under MPIEXEC_EXECUTABLE once per rank count, as NAME.npN.
function(sarscale_add_mpi_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;RANKS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS ${SARSCALE_MPI_RANKS})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} sarscale_test_mpi_support GTest::gtest)
  foreach(np IN LISTS ARG_RANKS)
    add_test(NAME ${name}.np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${SARSCALE_MPIEXEC_FLAGS}
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name}.np${np} PROPERTIES LABELS "mpi" TIMEOUT ${ARG_TIMEOUT}
                         PROCESSORS ${np} ENVIRONMENT "${SARSCALE_TEST_ENV}"
                         SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]")
  endforeach()
endfunction()
