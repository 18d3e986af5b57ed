#pragma once
// The output policy (io/output_policy.hpp) applied to a whole job: rank 0 checks every output
// of the run before any work and takes their locks; every rank then agrees on the verdict.
#include <string>
#include <vector>

#include "sarscale/dist/comm.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::dist {

class OutputGuard {
 public:
  // Collective. Refusals are thrown on every rank together: an output over an input, in a
  // missing or read-only folder, or over a file of another kind without `overwrite`:
  // ConfigError; an output another run is writing: an IoError (io::OutputInUseError on rank 0).
  // Both through Comm::agree, so they carry FailedOnEveryRank. The locks are held
  // (by rank 0) until the guard is destroyed.
  static OutputGuard claim(const Comm& comm, const std::vector<io::OutputCheck>& outputs,
                           const std::vector<io::RunInput>& inputs, bool overwrite, const std::string& command_line);

  OutputGuard() = default;

 private:
  std::vector<io::OutputLock> locks_;
};

// Collective: rank 0 renames `temp` over `output` once every rank has finished writing it;
// an IoError on every rank when the rename fails.
void commit_output(const Comm& comm, const std::filesystem::path& temp, const std::filesystem::path& output);

}  // namespace sarscale::dist
