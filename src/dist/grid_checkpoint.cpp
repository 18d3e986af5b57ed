#include "grid_checkpoint.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/checkpoint_file.hpp"

namespace sarscale::dist::detail {

namespace fs = std::filesystem;

namespace {

constexpr const char* kInfix = ".grid-checkpoint.rank";

// The arrays of a checkpoint: one value per job.
constexpr const char* kDone = "done";
constexpr const char* kCorrect = "correct";
constexpr const char* kShifted = "shifted_correct";
constexpr const char* kSeconds = "seconds";

// Merges one file's finished jobs into (done, results); false with a reason when it does not fit.
bool merge(const io::Checkpoint& c, const std::string& key, std::vector<std::uint8_t>& done,
           std::vector<GridJobResult>& results, std::string* why) {
  const auto k = c.attributes.find("grid_key");
  if (k == c.attributes.end() || k->second != key) {
    *why = "it was written for other inputs or options";
    return false;
  }
  const std::size_t jobs = done.size();
  for (const char* name : {kDone, kCorrect, kShifted, kSeconds}) {
    const auto a = c.arrays.find(name);
    if (a == c.arrays.end() || a->second.size() != jobs) {
      *why = std::string("it has no ") + name + " array of " + std::to_string(jobs) + " jobs";
      return false;
    }
  }
  for (std::size_t j = 0; j < jobs; ++j) {
    if (done[j] || c.arrays.at(kDone)[j] == 0) continue;
    done[j] = 1;
    results[j] = {c.arrays.at(kCorrect)[j], c.arrays.at(kShifted)[j], c.arrays.at(kSeconds)[j]};
  }
  return true;
}

}  // namespace

std::vector<fs::path> grid_checkpoint_files(const fs::path& model, bool with_partial) {
  const fs::path dir = model.parent_path().empty() ? fs::path(".") : model.parent_path();
  const std::string prefix = model.filename().string() + kInfix;
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    // PREFIX<digits>, and with_partial also the PREFIX<digits>.tmp a writer killed mid-write leaves.
    std::string rank = name.substr(prefix.size());
    if (with_partial && rank.size() > 4 && rank.ends_with(".tmp")) rank.resize(rank.size() - 4);
    if (!rank.empty() && std::all_of(rank.begin(), rank.end(), [](unsigned char ch) { return std::isdigit(ch); }))
      out.push_back(it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

GridCheckpoint::GridCheckpoint(const Comm& comm, const fs::path& model, const std::string& key, std::size_t jobs,
                               bool fresh)
    : own_file_(model.string() + kInfix + std::to_string(comm.rank())),
      key_(key),
      done_(jobs, 0),
      results_(jobs) {
  // Rank 0 reads and merges; every rank gets the merged table as bytes.
  std::string table;
  if (comm.is_root() && !fresh) {
    for (const fs::path& file : grid_checkpoint_files(model)) {
      std::string why;
      try {
        const auto c = io::read_checkpoint(file);
        if (c && merge(*c, key, done_, results_, &why)) continue;
      } catch (const Error& e) {
        why = e.what();
      }
      if (!why.empty()) log::warn("ignoring the grid checkpoint ", file.string(), ": ", why);
    }
    table.resize(jobs * (1 + sizeof(GridJobResult)));
    std::memcpy(table.data(), done_.data(), jobs);
    if (jobs) std::memcpy(table.data() + jobs, results_.data(), jobs * sizeof(GridJobResult));
  }
  comm.broadcast(table);
  if (table.size() == jobs * (1 + sizeof(GridJobResult)) && jobs) {
    std::memcpy(done_.data(), table.data(), jobs);
    std::memcpy(results_.data(), table.data() + jobs, jobs * sizeof(GridJobResult));
  }
  found_ = static_cast<std::size_t>(std::count(done_.begin(), done_.end(), std::uint8_t{1}));
}

void GridCheckpoint::record(std::size_t job, const GridJobResult& result) {
  done_[job] = 1;
  results_[job] = result;
  io::Checkpoint c;
  c.attributes["grid_key"] = key_;
  c.attributes["jobs"] = std::to_string(done_.size());
  std::vector<double> done(done_.begin(), done_.end()), correct, shifted, seconds;
  for (const GridJobResult& r : results_) {
    correct.push_back(r.correct);
    shifted.push_back(r.shifted_correct);
    seconds.push_back(r.seconds);
  }
  c.arrays[kDone] = std::move(done);
  c.arrays[kCorrect] = std::move(correct);
  c.arrays[kShifted] = std::move(shifted);
  c.arrays[kSeconds] = std::move(seconds);
  io::write_checkpoint(own_file_, c);
}

void GridCheckpoint::remove_files(const Comm& comm, const fs::path& model) {
  if (!comm.is_root()) return;
  for (const fs::path& file : grid_checkpoint_files(model, true)) {
    std::error_code ec;
    fs::remove(file, ec);
  }
}

}  // namespace sarscale::dist::detail
