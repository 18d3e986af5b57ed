#pragma once
// The grid search's checkpoint (private to dist): the result of every finished (point, fold) job,
// so that a killed `train --grid`, run again with the same command, continues with the jobs
// still missing, at any rank count, and ends with the table and model of an uninterrupted run.
//
// Jobs finish on every rank independently, so every rank keeps its own file beside the model,
// MODEL.grid-checkpoint.rank<R> (io/checkpoint_file.hpp: atomic, small), rewritten after each
// job it finishes with every result it knows: those it found at start and its own. No rank waits
// for another to checkpoint. A rerun (rank 0) merges every such file whose key matches,
// whatever rank count wrote it; a file of other inputs or options is ignored (with a warning).
// The files are removed once the model is written.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "sarscale/dist/comm.hpp"

namespace sarscale::dist::detail {

// One (point, fold) job's outcome: validation rows right, shifted rows right, seconds taken.
struct GridJobResult {
  double correct = 0, shifted_correct = 0, seconds = 0;
};

class GridCheckpoint {
 public:
  // Collective. The finished jobs recorded for `key` (the model's inputs and options) beside
  // `model`, out of `jobs`; none with `fresh`.
  GridCheckpoint(const Comm& comm, const std::filesystem::path& model, const std::string& key, std::size_t jobs,
                 bool fresh);

  std::size_t jobs() const { return done_.size(); }
  std::size_t finished() const { return found_; }  // jobs found done at start
  bool done(std::size_t job) const { return done_[job] != 0; }
  const GridJobResult& result(std::size_t job) const { return results_[job]; }

  // This rank finished `job`: kept, and this rank's file rewritten. IoError when it cannot be.
  void record(std::size_t job, const GridJobResult& result);

  // Rank 0 removes every grid checkpoint file of `model` (the model is written: done).
  static void remove_files(const Comm& comm, const std::filesystem::path& model);

 private:
  std::filesystem::path own_file_;
  std::string key_;
  std::vector<std::uint8_t> done_;
  std::vector<GridJobResult> results_;
  std::size_t found_ = 0;
};

// The grid checkpoint files of `model` present now (any rank count), sorted; with_partial: also
// the temporary files of writes that were killed.
std::vector<std::filesystem::path> grid_checkpoint_files(const std::filesystem::path& model, bool with_partial = false);

}  // namespace sarscale::dist::detail
