#include "sarscale/io/agree.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

#include "sarscale/core/error.hpp"
#include "failure_state.hpp"

namespace sarscale::io {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw IoError(std::string(what) + " failed while ranks agreed on a failure");
}
}  // namespace

void agree_on_failure(MPI_Comm comm, const std::exception_ptr& local) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  // One reduction when nothing failed: the lowest failing rank, or `size` for none.
  int mine = local ? rank : size, first = size;
  check(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm), "MPI_Allreduce");
  if (first == size) return;
  ErrorReport report = rank == first ? describe_error(local) : ErrorReport{};
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
