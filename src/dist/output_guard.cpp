#include "sarscale/dist/output_guard.hpp"

namespace sarscale::dist {

OutputGuard OutputGuard::claim(const Comm& comm, const std::vector<io::OutputCheck>& outputs,
                               const std::vector<io::RunInput>& inputs, bool overwrite,
                               const std::string& command_line) {
  OutputGuard guard;
  std::string problem;
  std::int32_t busy = 0;
  if (comm.is_root()) {
    for (const auto& out : outputs) {
      problem = io::output_problem(out, inputs, overwrite);
      if (!problem.empty()) break;
    }
    for (std::size_t i = 0; problem.empty() && i < outputs.size(); ++i) {
      // A folder the command makes is made now: the lock file goes beside the output.
      const std::filesystem::path parent = std::filesystem::absolute(outputs[i].path).parent_path();
      std::error_code ec;
      if (outputs[i].create_parent) std::filesystem::create_directories(parent, ec);
      if (ec) {
        problem = outputs[i].option + " " + outputs[i].path.string() + ": cannot make its folder " + parent.string() +
                  ": " + ec.message();
        break;
      }
      std::string held;
      io::OutputLock lock = io::OutputLock::acquire(outputs[i].path, command_line, held);
      if (!held.empty()) {
        problem = outputs[i].option + " " + outputs[i].path.string() + ": " + held;
        busy = 1;
      }
      guard.locks_.push_back(std::move(lock));
    }
    if (!problem.empty()) guard.locks_.clear();
  }
  // One broadcast of the verdict: every rank throws the same error, or none does.
  comm.broadcast(problem);
  comm.broadcast(busy);
  if (problem.empty()) return guard;
  if (busy != 0) throw io::OutputInUseError(problem);
  throw ConfigError(problem);
}

void commit_output(const Comm& comm, const std::filesystem::path& temp, const std::filesystem::path& output) {
  std::string problem;
  if (comm.is_root()) {
    try {
      io::commit_output(temp, output);
    } catch (const std::exception& e) {
      problem = e.what();
    }
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw IoError(problem);
}

}  // namespace sarscale::dist
