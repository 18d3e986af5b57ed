#include "sarscale/dist/resume.hpp"

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/hdf5_util.hpp"

namespace sarscale::dist {

OutputPlan plan_output(const Comm& comm, const std::filesystem::path& output, const std::string& format,
                       const std::string& key, bool fresh, bool refuse_changed, const std::string& what) {
  if (fresh) return OutputPlan::create;
  const io::h5::ExistingOutput existing = io::h5::inspect_output(output, comm.raw());
  using Kind = io::h5::ExistingOutput::Kind;
  const bool same = existing.format == format && existing.resume_key == key;
  if (existing.kind == Kind::absent) return OutputPlan::create;
  if (same && existing.kind == Kind::complete) {
    if (comm.is_root()) log::info(output.string(), " is complete and up to date (same inputs and options): nothing to do");
    return OutputPlan::up_to_date;
  }
  if (same && existing.kind == Kind::incomplete) return OutputPlan::resume;
  const std::string why = existing.kind == Kind::unusable ? "is unusable (" + existing.problem + ")"
                          : existing.format != format     ? "is not a sarscale " + what
                                                          : "was written from other inputs or options";
  if (refuse_changed)
    throw ConfigError("--output " + output.string() + " exists and " + why +
                      "; remove it, or run without --refuse-changed to replace it");
  if (comm.is_root()) log::warn(output.string(), " ", why, ": it is replaced");
  return OutputPlan::create;
}

}  // namespace sarscale::dist
