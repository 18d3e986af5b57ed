#pragma once
// What a resumable stage (ingest, features) does with the output it is about to write, given what
// a previous run left there (docs/user-guide.md, "Resuming killed jobs").
#include <filesystem>
#include <string>

#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

enum class OutputPlan {
  create,      // nothing usable there: write it anew (replacing what is there)
  resume,      // an incomplete output begun from the same inputs and options: continue it
  up_to_date,  // a complete output from the same inputs and options: nothing to do
};

// Collective. `format` is the file's root 'format' attribute, `key` the resume key of this run,
// `what` names the output in messages ("archive"). fresh: always create. A different or
// unusable output is replaced with a warning, or, with refuse_changed, refused (ConfigError).
OutputPlan plan_output(const Comm& comm, const std::filesystem::path& output, const std::string& format,
                       const std::string& key, bool fresh, bool refuse_changed, const std::string& what);

}  // namespace sarscale::dist
