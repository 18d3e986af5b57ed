#include "sarscale/io/prefetch.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace sarscale::io {

void prefetch_files(const std::filesystem::path* paths, std::size_t count, std::uint64_t bytes_per_file) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = ::open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // the real read reports the error
    ::posix_fadvise(fd, 0, static_cast<off_t>(bytes_per_file), POSIX_FADV_WILLNEED);
    ::close(fd);
  }
}

}  // namespace sarscale::io
