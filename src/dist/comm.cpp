#include "sarscale/dist/comm.hpp"

#include <limits>

#include "sarscale/core/error.hpp"
#include "sarscale/io/agree.hpp"

namespace sarscale::dist {

Comm::Comm(MPI_Comm comm) : comm_(comm) {
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

void Comm::check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw IoError(std::string(what) + " failed: " + std::string(msg, static_cast<std::size_t>(len)));
}

void Comm::agree(const std::exception_ptr& local) const { io::agree_on_failure(comm_, local); }

void Comm::barrier() const { check(MPI_Barrier(comm_), "MPI_Barrier"); }

// Large payloads go in pieces: MPI counts are int.
static constexpr std::size_t kMaxPiece = std::numeric_limits<int>::max() / 2;

void Comm::broadcast_bytes(char* data, std::size_t n, int root) const {
  for (std::size_t off = 0; off < n; off += kMaxPiece) {
    const int len = static_cast<int>(std::min(kMaxPiece, n - off));
    check(MPI_Bcast(data + off, len, MPI_BYTE, root, comm_), "MPI_Bcast");
  }
}

std::vector<char> Comm::allgatherv_bytes(const char* data, std::size_t n,
                                         const std::vector<std::int64_t>& counts) const {
  std::int64_t total = 0;
  for (auto c : counts) total += c;
  std::vector<char> out(static_cast<std::size_t>(total));
  if (total <= static_cast<std::int64_t>(kMaxPiece)) {
    std::vector<int> icounts(counts.begin(), counts.end()), displs(counts.size(), 0);
    for (std::size_t r = 1; r < counts.size(); ++r) displs[r] = displs[r - 1] + icounts[r - 1];
    check(
        MPI_Allgatherv(data, static_cast<int>(n), MPI_BYTE, out.data(), icounts.data(), displs.data(), MPI_BYTE, comm_),
        "MPI_Allgatherv");
    return out;
  }
  // Beyond 1 GiB: each rank broadcasts its own piece in turn.
  std::size_t off = 0;
  for (int r = 0; r < size_; ++r) {
    const auto len = static_cast<std::size_t>(counts[static_cast<std::size_t>(r)]);
    if (r == rank_ && len) std::memcpy(out.data() + off, data, len);
    broadcast_bytes(out.data() + off, len, r);
    off += len;
  }
  return out;
}

std::vector<char> Comm::gatherv_bytes(const char* data, std::size_t n, int root) const {
  if (n > kMaxPiece) throw IoError("gatherv: a rank's part exceeds 1 GiB");
  const int mine = static_cast<int>(n);
  std::vector<int> counts(static_cast<std::size_t>(size_)), displs(static_cast<std::size_t>(size_), 0);
  check(MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, root, comm_), "MPI_Gather");
  std::vector<char> out;
  if (rank_ == root) {
    long long total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[static_cast<std::size_t>(r)] = static_cast<int>(total);
      total += counts[static_cast<std::size_t>(r)];
    }
    if (total > static_cast<long long>(std::numeric_limits<int>::max()))
      throw IoError("gatherv: more than 2 GiB in total");
    out.resize(static_cast<std::size_t>(total));
  }
  check(MPI_Gatherv(data, mine, MPI_BYTE, out.data(), counts.data(), displs.data(), MPI_BYTE, root, comm_),
        "MPI_Gatherv");
  return out;
}

std::vector<std::string> Comm::allgather_strings(const std::vector<std::string>& local) const {
  // Serialise as (length, bytes) pairs.
  std::vector<char> packed;
  for (const auto& s : local) {
    const std::uint64_t len = s.size();
    packed.insert(packed.end(), reinterpret_cast<const char*>(&len), reinterpret_cast<const char*>(&len) + 8);
    packed.insert(packed.end(), s.begin(), s.end());
  }
  const auto all = allgatherv(packed);
  std::vector<std::string> out;
  for (std::size_t off = 0; off < all.size();) {
    std::uint64_t len = 0;
    std::memcpy(&len, all.data() + off, 8);
    off += 8;
    out.emplace_back(all.data() + off, len);
    off += len;
  }
  return out;
}

void Comm::broadcast(std::string& s, int root) const {
  std::uint64_t n = s.size();
  broadcast(n, root);
  s.resize(n);
  broadcast_bytes(s.data(), n, root);
}

void Comm::broadcast(std::vector<std::string>& v, int root) const {
  std::vector<std::string> mine = rank_ == root ? v : std::vector<std::string>{};
  // Only root contributes; allgather_strings then yields root's list everywhere.
  const auto all = allgather_strings(mine);
  v = all;
}

}  // namespace sarscale::dist
