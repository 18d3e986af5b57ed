#include "sarscale/io/agree.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sarscale/core/error.hpp"
#include "failure_state.hpp"

namespace sarscale::io {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw IoError(std::string(what) + " failed while ranks agreed on a failure");
}
// A rank whose write failed inside HDF5 may find the others stuck in one of HDF5's own
// collectives that it skipped on its way out (MPI_File_sync's barrier after a failed metadata
// write, HDF5 1.10): they never reach the agreement. While this rank waits for them, a watchdog
// ends the job after a while, with this rank's message: the last resort against a hang.
class FailureWatchdog {
 public:
  FailureWatchdog(int rank, int size, const ErrorReport& report) {
    const char* env = std::getenv("SARSCALE_FAILURE_TIMEOUT");  // seconds; tests and huge jobs
    const int seconds = env && std::atoi(env) > 0 ? std::atoi(env) : 20;
    const std::string text = "sarscale[" + std::to_string(rank) + "]: error: " + report.message + "\nsarscale[" +
                             std::to_string(rank) + "]: the other " + std::to_string(size - 1) +
                             " rank(s) did not join the failure within " + std::to_string(seconds) +
                             " s (left inside an HDF5 collective call): ending the job\n";
    const int status = report.kind == ErrorKind::config ? 2 : 1;
    thread_ = std::thread([this, text, status, seconds] {
      std::unique_lock<std::mutex> lock(mutex_);
      if (done_.wait_for(lock, std::chrono::seconds(seconds), [this] { return disarmed_; })) return;
      std::fputs(text.c_str(), stderr);
      std::fflush(stderr);
      _exit(status);  // mpirun or srun then ends the other ranks
    });
  }
  ~FailureWatchdog() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      disarmed_ = true;
    }
    done_.notify_all();
    thread_.join();
  }
  FailureWatchdog(const FailureWatchdog&) = delete;
  FailureWatchdog& operator=(const FailureWatchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace

void agree_on_failure(MPI_Comm comm, const std::exception_ptr& local) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  const ErrorReport mine_report = describe_error(local);  // {other, ""} when nothing failed
  std::unique_ptr<FailureWatchdog> watchdog;
  if (local && mine_report.kind == ErrorKind::io && size > 1)
    watchdog = std::make_unique<FailureWatchdog>(rank, size, mine_report);
  // One reduction when nothing failed: the lowest failing rank, or `size` for none.
  int mine = local ? rank : size, first = size;
  check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (first == size) return;
  ErrorReport report = rank == first ? mine_report : ErrorReport{};
  // Kind and length, then the message's bytes, from the failing rank.
  std::int64_t header[2] = {static_cast<std::int64_t>(report.kind), static_cast<std::int64_t>(report.message.size())};
  check(MPI_Bcast(header, 2, MPI_INT64_T, first, comm), "MPI_Bcast");
  report.kind = static_cast<ErrorKind>(header[0]);
  // Messages are short; a huge one (a long rejects list) is cut to keep MPI's int count.
  constexpr std::int64_t kMaxBytes = std::int64_t{1} << 30;
  report.message.resize(static_cast<std::size_t>(std::min(header[1], kMaxBytes)));
  if (!report.message.empty())
    check(MPI_Bcast(report.message.data(), static_cast<int>(report.message.size()), MPI_CHAR, first, comm),
          "MPI_Bcast");
  if (report.kind == ErrorKind::io) detail::note_io_failure_agreed();
  raise_on_every_rank(report, first);
}

}  // namespace sarscale::io
