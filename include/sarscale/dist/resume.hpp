#pragma once
// What a resumable stage (ingest, features) does with the output it is about to write, given what
// a previous run left there (docs/user-guide.md, "Resuming killed jobs"; docs/architecture.md).
// The output is written under its in-progress name io::partial_path(OUTPUT) ("OUTPUT.part") and
// renamed over OUTPUT once complete, so a failed run leaves what was at OUTPUT.
#include <filesystem>
#include <string>

#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

enum class OutputPlan {
  create,      // write OUTPUT.part anew (OUTPUT, if any, is replaced only when the run succeeds)
  resume,      // OUTPUT.part was begun from the same inputs and options: continue it
  up_to_date,  // OUTPUT is complete from the same inputs and options: nothing to do
};

// Collective. `format` is the file's root 'format' attribute, `key` the resume key of this run,
// `what` names the output in messages ("archive"). fresh: always create. An OUTPUT of other
// inputs or options, or an unusable one (what the output policy lets through: a previous output
// of the command, or anything with --overwrite), is replaced with a warning, or, with
// refuse_changed, refused (ConfigError). An incomplete OUTPUT written in place by an earlier
// version is renamed to OUTPUT.part and resumed.
OutputPlan plan_output(const Comm& comm, const std::filesystem::path& output, const std::string& format,
                       const std::string& key, bool fresh, bool refuse_changed, const std::string& what);

}  // namespace sarscale::dist
