#pragma once
// Error types. Library code throws; `main` and the stage drivers turn them into
// messages on stderr (or rows of an archive's rejects table) and exit codes.
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

namespace sarscale {

// Base of every sarscale error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad input file: truncated, lying header, unknown format, NaN pixels... Ingest
// records these as rejects and carries on (unless --strict).
class InputError : public Error {
 public:
  using Error::Error;
};

// Inputs were rejected and the run was asked to fail for it (--strict). Thrown on every
// rank together, so the job can end cleanly instead of aborting.
class StrictRejectError : public InputError {
 public:
  using InputError::InputError;
};

// A bad option or configuration value; reported before any work starts.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A failure of the system below us (HDF5, MPI, file system) that is not the input's fault.
class IoError : public Error {
 public:
  using Error::Error;
};

// std::bad_alloc that says where memory ran out (and on which rank, once agreed).
class OutOfMemoryError : public std::bad_alloc {
 public:
  explicit OutOfMemoryError(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// ---- one failure path under MPI --------------------------------------------------------
// A rank that fails alone must not leave the others waiting in a collective call. Ranks agree
// on failure (io/agree.hpp: `agree_on_failure`, dist::Comm::agree) before any collective that
// depends on the work: when some rank failed, every rank throws the same exception, of the
// lowest failing rank's kind, with its message. Those exceptions carry `FailedOnEveryRank`.

// The kinds of failure that survive the agreement (each is rethrown as its own C++ type).
enum class ErrorKind : std::int32_t { config = 1, strict_reject, input, io, memory, other };

// What a caught exception is: its kind and message (for a null pointer: {other, ""}).
struct ErrorReport {
  ErrorKind kind = ErrorKind::other;
  std::string message;
};
ErrorReport describe_error(const std::exception_ptr& error);

// Inside a catch block: throws the exception being handled again as its own kind, with
// "<context>: " before its message (the type survives, unlike a message copied into a string).
[[noreturn]] void rethrow_with_context(const std::string& context);

// Mixed into every exception raised by the agreement: all ranks unwind it together, so
// collective clean-up (closing a parallel HDF5 file) is safe while it is in flight.
class FailedOnEveryRank {
 public:
  explicit FailedOnEveryRank(int failed_rank);
  FailedOnEveryRank(const FailedOnEveryRank& other);
  FailedOnEveryRank& operator=(const FailedOnEveryRank&) = default;
  virtual ~FailedOnEveryRank();
  int failed_rank() const { return failed_rank_; }

 private:
  int failed_rank_;
};

// Throws, on this rank, the exception of `kind` with `message`, marked FailedOnEveryRank.
[[noreturn]] void raise_on_every_rank(const ErrorReport& report, int failed_rank);

// The FailedOnEveryRank part of `e`, or null when `e` was raised on this rank alone.
const FailedOnEveryRank* failed_on_every_rank(const std::exception& e);

// True while an exception unwinds that was raised on this rank alone (no agreed exception
// exists): destructors then skip collective calls, which the other ranks would never join.
bool unwinding_alone() noexcept;

// Exit status for an error: 2 for a usage or configuration error, 1 for everything else.
int exit_status_of(const std::exception& e);

}  // namespace sarscale
