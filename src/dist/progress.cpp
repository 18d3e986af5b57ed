#include "sarscale/dist/progress.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <string>

namespace sarscale::dist {

std::int64_t peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) / 1024;
}

Progress::Progress(const Comm& comm, bool show_on_root, std::int64_t total_items)
    : comm_(comm), total_(total_items), start_(std::chrono::steady_clock::now()) {
  std::int32_t show = show_on_root ? 1 : 0;
  comm_.broadcast(show);
  shown_ = show != 0 && total_items > 0;
}

void Progress::update(std::int64_t items_done, std::uint64_t bytes_so_far) {
  local_done_ += items_done;
  if (!shown_) return;
  last_done_ = comm_.sum(local_done_);
  last_bytes_ = comm_.sum<std::uint64_t>(bytes_so_far);
  if (comm_.is_root()) draw(last_done_, last_bytes_);
}

void Progress::finish() {
  // The last update drew 100%; end its line.
  if (shown_ && comm_.is_root()) {
    std::fputc('\n', stderr);
    std::fflush(stderr);
  }
}

void Progress::draw(std::int64_t done, std::uint64_t bytes) const {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  const int width = 30, filled = static_cast<int>(frac * width + 0.5);
  const double rate = secs > 0 ? static_cast<double>(done) / secs : 0.0;
  const double mbps = secs > 0 ? static_cast<double>(bytes) / 1e6 / secs : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0.0;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), ' ');
  std::fprintf(stderr, "\r[%s] %5.1f%% %lld/%lld chips %.0f chips/s %.1f MB/s ETA %.0fs   ", bar.c_str(), 100.0 * frac,
               static_cast<long long>(done), static_cast<long long>(total_), rate, mbps, eta);
  std::fflush(stderr);
}

}  // namespace sarscale::dist
