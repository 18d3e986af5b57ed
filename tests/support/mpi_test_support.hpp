#pragma once
// Helpers for MPI tests (linked through sarscale_add_mpi_test).
#include <filesystem>
#include <string>

#include "sarscale/dist/comm.hpp"
#include "test_support.hpp"

namespace sarscale::test {

// A fresh scratch directory shared by all ranks: rank 0 alone empties and creates it, then
// every rank gets its path after a barrier (a rank that wiped it late would delete what
// another rank already wrote). The rank count is part of the name, so runs at different
// rank counts never share it.
std::filesystem::path shared_scratch_dir(const dist::Comm& comm, const std::string& name);

}  // namespace sarscale::test
