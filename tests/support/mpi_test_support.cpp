#include "mpi_test_support.hpp"

namespace sarscale::test {

std::filesystem::path shared_scratch_dir(const dist::Comm& comm, const std::string& name) {
  std::string path;
  if (comm.is_root()) path = scratch_dir(name + "_np" + std::to_string(comm.size())).string();
  comm.broadcast(path);
  comm.barrier();
  return path;
}

}  // namespace sarscale::test
