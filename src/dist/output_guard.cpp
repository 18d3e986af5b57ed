#include "sarscale/dist/output_guard.hpp"

#include "sarscale/core/error.hpp"

namespace sarscale::dist {

OutputGuard OutputGuard::claim(const Comm& comm, const std::vector<io::OutputCheck>& outputs,
                               const std::vector<io::RunInput>& inputs, bool overwrite,
                               const std::string& command_line) {
  OutputGuard guard;
  // Rank 0 decides and locks; the one failure path (Comm::agree) raises its refusal on every
  // rank. A refusal unwinds `guard`, releasing the locks already taken.
  comm.agree_on([&] {
    if (!comm.is_root()) return;
    for (const auto& out : outputs)
      if (const std::string problem = io::output_problem(out, inputs, overwrite); !problem.empty())
        throw ConfigError(problem);
    for (const auto& out : outputs) {
      // A folder the command makes is made now: the lock file goes beside the output.
      const std::filesystem::path parent = std::filesystem::absolute(out.path).parent_path();
      std::error_code ec;
      if (out.create_parent) std::filesystem::create_directories(parent, ec);
      if (ec)
        throw ConfigError(out.option + " " + out.path.string() + ": cannot make its folder " + parent.string() + ": " +
                          ec.message());
      std::string held;
      io::OutputLock lock = io::OutputLock::acquire(out.path, command_line, held);
      if (!held.empty()) throw io::OutputInUseError(out.option + " " + out.path.string() + ": " + held);
      guard.locks_.push_back(std::move(lock));
    }
  });
  return guard;
}

void commit_output(const Comm& comm, const std::filesystem::path& temp, const std::filesystem::path& output) {
  comm.agree_on([&] {
    if (comm.is_root()) io::commit_output(temp, output);
  });
}

}  // namespace sarscale::dist
