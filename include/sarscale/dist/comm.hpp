#pragma once
// A thin, non-owning wrapper over an MPI communicator, passed explicitly to everything
// that communicates (no global MPI state; MPI_Init/MPI_Finalize live in main only).
// Collectives here are deterministic: results do not depend on timing.
#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sarscale::dist {

template <typename T>
MPI_Datatype mpi_type();
template <>
inline MPI_Datatype mpi_type<char>() {
  return MPI_CHAR;
}
template <>
inline MPI_Datatype mpi_type<std::int32_t>() {
  return MPI_INT32_T;
}
template <>
inline MPI_Datatype mpi_type<std::int64_t>() {
  return MPI_INT64_T;
}
template <>
inline MPI_Datatype mpi_type<std::uint8_t>() {
  return MPI_UINT8_T;
}
template <>
inline MPI_Datatype mpi_type<std::uint32_t>() {
  return MPI_UINT32_T;
}
template <>
inline MPI_Datatype mpi_type<std::uint64_t>() {
  return MPI_UINT64_T;
}
template <>
inline MPI_Datatype mpi_type<float>() {
  return MPI_FLOAT;
}
template <>
inline MPI_Datatype mpi_type<double>() {
  return MPI_DOUBLE;
}
// long long / unsigned long long may be distinct types from (u)int64_t on LP64.
template <>
inline MPI_Datatype mpi_type<long long>() {
  return MPI_LONG_LONG;
}
template <>
inline MPI_Datatype mpi_type<unsigned long long>() {
  return MPI_UNSIGNED_LONG_LONG;
}

class Comm {
 public:
  explicit Comm(MPI_Comm comm);

  MPI_Comm raw() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  void barrier() const;

  template <typename T>
  T sum(T v) const {
    return allreduce(v, MPI_SUM);
  }
  template <typename T>
  T max(T v) const {
    return allreduce(v, MPI_MAX);
  }
  template <typename T>
  T min(T v) const {
    return allreduce(v, MPI_MIN);
  }
  bool all(bool v) const { return min<std::int32_t>(v ? 1 : 0) == 1; }
  bool any(bool v) const { return max<std::int32_t>(v ? 1 : 0) == 1; }

  template <typename T>
  T allreduce(T v, MPI_Op op) const {
    T out{};
    check(MPI_Allreduce(&v, &out, 1, mpi_type<T>(), op, comm_), "MPI_Allreduce");
    return out;
  }

  // Exclusive prefix sum over ranks (0 on rank 0).
  template <typename T>
  T exscan_sum(T v) const {
    std::vector<T> all = allgather(v);
    T acc{};
    for (int r = 0; r < rank_; ++r) acc += all[static_cast<std::size_t>(r)];
    return acc;
  }

  // One value from each rank, in rank order, on every rank.
  template <typename T>
  std::vector<T> allgather(T v) const {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<T> out(static_cast<std::size_t>(size_));
    check(MPI_Allgather(&v, 1, mpi_type<T>(), out.data(), 1, mpi_type<T>(), comm_), "MPI_Allgather");
    return out;
  }

  // Concatenation of every rank's vector, in rank order, on every rank.
  template <typename T>
  std::vector<T> allgatherv(const std::vector<T>& local) const {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto counts = allgather<std::int64_t>(static_cast<std::int64_t>(local.size() * sizeof(T)));
    std::vector<char> bytes =
        allgatherv_bytes(reinterpret_cast<const char*>(local.data()), local.size() * sizeof(T), counts);
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  // Concatenation of every rank's vector, in rank order, on `root` only (empty elsewhere).
  // Each rank's part must stay below 2 GiB (MPI counts are int).
  template <typename T>
  std::vector<T> gatherv(const std::vector<T>& local, int root) const {
    static_assert(std::is_trivially_copyable_v<T>);
    std::vector<char> bytes =
        gatherv_bytes(reinterpret_cast<const char*>(local.data()), local.size() * sizeof(T), root);
    std::vector<T> out(bytes.size() / sizeof(T));
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  // Every rank's strings, concatenated in rank order.
  std::vector<std::string> allgather_strings(const std::vector<std::string>& local) const;

  // Root's value on every rank.
  template <typename T>
  void broadcast(T& v, int root = 0) const {
    static_assert(std::is_trivially_copyable_v<T>);
    check(MPI_Bcast(&v, static_cast<int>(sizeof(T)), MPI_BYTE, root, comm_), "MPI_Bcast");
  }
  void broadcast(std::string& s, int root = 0) const;
  void broadcast(std::vector<std::string>& v, int root = 0) const;
  template <typename T>
  void broadcast(std::vector<T>& v, int root = 0) const {
    static_assert(std::is_trivially_copyable_v<T>);
    std::uint64_t n = v.size();
    broadcast(n, root);
    v.resize(n);
    broadcast_bytes(reinterpret_cast<char*>(v.data()), n * sizeof(T), root);
  }

  // The one failure path (docs/architecture.md, "MPI"). Collective: every rank passes what it
  // caught since the last agreement (null when its work succeeded). Returns when no rank failed;
  // otherwise every rank throws the lowest failing rank's exception type and message (see
  // io/agree.hpp). Call it before any collective call that a failed rank would not reach.
  void agree(const std::exception_ptr& local) const;
  // Runs `work`, catching whatever it throws, then agree()s.
  template <typename Work>
  void agree_on(Work&& work) const {
    std::exception_ptr local;
    try {
      std::forward<Work>(work)();
    } catch (...) {
      local = std::current_exception();
    }
    agree(local);
  }

  // Throws IoError naming `what` when an MPI call did not return MPI_SUCCESS.
  static void check(int rc, const char* what);

 private:
  std::vector<char> allgatherv_bytes(const char* data, std::size_t n, const std::vector<std::int64_t>& counts) const;
  void broadcast_bytes(char* data, std::size_t n, int root) const;
  std::vector<char> gatherv_bytes(const char* data, std::size_t n, int root) const;

  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace sarscale::dist
