#pragma once
// A progress bar with rate and ETA on rank 0's stderr, for stages that work in collective
// rounds. update() is collective (one small allreduce) when the bar is shown; whether it is
// shown is rank 0's decision, broadcast, so every rank makes the same calls.
#include <chrono>
#include <cstdint>

#include "sarscale/dist/comm.hpp"

namespace sarscale::dist {

// This process's peak resident memory so far, MiB (getrusage's ru_maxrss, KiB on Linux), for the
// per-rank memory figures of stage summaries.
std::int64_t peak_rss_mib();

// Wall time spent in each phase on this rank (stage summaries report the slowest rank's).
struct PhaseClock {
  std::chrono::steady_clock::time_point mark = std::chrono::steady_clock::now();
  // Seconds since the previous lap (or construction).
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - mark).count();
    mark = now;
    return s;
  }
};

// When a resumable stage records its progress: once `interval_seconds` of rank 0's clock have
// passed since the last checkpoint (0: every round). due() is collective (every rank calls it
// once per round), so that all ranks checkpoint together.
class CheckpointTimer {
 public:
  CheckpointTimer(const Comm& comm, double interval_seconds) : comm_(comm), interval_(interval_seconds) {}
  bool due() const {
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count();
    return comm_.any(comm_.is_root() && waited >= interval_);
  }
  void reset() { last_ = std::chrono::steady_clock::now(); }

 private:
  const Comm& comm_;
  double interval_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

class Progress {
 public:
  Progress(const Comm& comm, bool show_on_root, std::int64_t total_items);
  // Adds this rank's items done since the last call; bytes_so_far is this rank's running total.
  void update(std::int64_t items_done, std::uint64_t bytes_so_far);
  void finish();

 private:
  void draw(std::int64_t done, std::uint64_t bytes) const;

  const Comm& comm_;
  bool shown_ = false;
  std::int64_t total_ = 0;
  std::int64_t local_done_ = 0;
  std::int64_t last_done_ = 0;
  std::uint64_t last_bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sarscale::dist
