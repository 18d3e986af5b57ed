#include "sarscale/dist/resume.hpp"

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/hdf5_util.hpp"
#include "sarscale/io/output_policy.hpp"

namespace sarscale::dist {

namespace {

using Kind = io::h5::ExistingOutput::Kind;

// An output written in place by an earlier version and left incomplete becomes the in-progress
// file, so that it is resumed like one (rank 0 renames it; every rank learns the outcome).
void adopt_in_place_output(const Comm& comm, const std::filesystem::path& output, const std::filesystem::path& part) {
  std::string problem;
  if (comm.is_root()) {
    std::error_code ec;
    if (!std::filesystem::exists(part, ec)) std::filesystem::rename(output, part, ec);
    if (ec) problem = "cannot rename " + output.string() + " to " + part.string() + ": " + ec.message();
  }
  comm.broadcast(problem);
  if (!problem.empty()) throw IoError(problem);
}

}  // namespace

OutputPlan plan_output(const Comm& comm, const std::filesystem::path& output, const std::string& format,
                       const std::string& key, bool fresh, bool refuse_changed, const std::string& what) {
  const std::filesystem::path part = io::partial_path(output);
  const io::h5::ExistingOutput existing = io::h5::inspect_output(output, comm.raw());
  const bool same = existing.format == format && existing.resume_key == key;
  if (!fresh) {
    if (same && existing.kind == Kind::complete) {
      if (comm.is_root())
        log::info(output.string(), " is complete and up to date (same inputs and options): nothing to do");
      return OutputPlan::up_to_date;
    }
    if (same && existing.kind == Kind::incomplete) adopt_in_place_output(comm, output, part);
    const io::h5::ExistingOutput partial = io::h5::inspect_output(part, comm.raw());
    if (partial.kind == Kind::incomplete && partial.format == format && partial.resume_key == key)
      return OutputPlan::resume;
    if (partial.kind != Kind::absent && comm.is_root())
      log::info(part.string(), " was begun from other inputs or options: it is started again");
  }
  if (existing.kind == Kind::absent || fresh || (same && existing.kind == Kind::incomplete)) return OutputPlan::create;
  const std::string why = existing.kind == Kind::unusable ? "is unusable (" + existing.problem + ")"
                          : existing.format != format     ? "is not a sarscale " + what
                                                          : "was written from other inputs or options";
  if (refuse_changed)
    throw ConfigError("--output " + output.string() + " exists and " + why +
                      "; remove it, or run without --refuse-changed to replace it");
  if (comm.is_root()) log::warn(output.string(), " ", why, ": it is replaced once this run succeeds");
  return OutputPlan::create;
}

}  // namespace sarscale::dist
