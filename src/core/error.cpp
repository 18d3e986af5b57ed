#include "sarscale/core/error.hpp"

#include <atomic>

namespace sarscale {

namespace {

// Agreed exceptions alive in this process (in flight, or held by a catch or an exception_ptr).
std::atomic<int> live_agreed{0};

// An error type raised by the agreement: catchable as `Base`, recognisable as agreed.
template <typename Base>
class Agreed final : public Base, public FailedOnEveryRank {
 public:
  Agreed(const std::string& message, int failed_rank) : Base(message), FailedOnEveryRank(failed_rank) {}
};

}  // namespace

FailedOnEveryRank::FailedOnEveryRank(int failed_rank) : failed_rank_(failed_rank) { ++live_agreed; }
FailedOnEveryRank::FailedOnEveryRank(const FailedOnEveryRank& other) : failed_rank_(other.failed_rank_) {
  ++live_agreed;
}
FailedOnEveryRank::~FailedOnEveryRank() { --live_agreed; }

ErrorReport describe_error(const std::exception_ptr& error) {
  if (!error) return {};
  try {
    std::rethrow_exception(error);
  } catch (const ConfigError& e) {
    return {ErrorKind::config, e.what()};
  } catch (const StrictRejectError& e) {
    return {ErrorKind::strict_reject, e.what()};
  } catch (const InputError& e) {
    return {ErrorKind::input, e.what()};
  } catch (const IoError& e) {
    return {ErrorKind::io, e.what()};
  } catch (const OutOfMemoryError& e) {
    return {ErrorKind::memory, e.what()};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::memory, "out of memory (std::bad_alloc)"};
  } catch (const std::exception& e) {
    return {ErrorKind::other, e.what()};
  } catch (...) {
    return {ErrorKind::other, "unknown exception"};
  }
}

void rethrow_with_context(const std::string& context) {
  const ErrorReport r = describe_error(std::current_exception());
  const std::string message = context + ": " + r.message;
  switch (r.kind) {
    case ErrorKind::config:
      throw ConfigError(message);
    case ErrorKind::strict_reject:
      throw StrictRejectError(message);
    case ErrorKind::input:
      throw InputError(message);
    case ErrorKind::io:
      throw IoError(message);
    case ErrorKind::memory:
      throw OutOfMemoryError(message);
    case ErrorKind::other:
      break;
  }
  throw Error(message);
}

void raise_on_every_rank(const ErrorReport& report, int failed_rank) {
  switch (report.kind) {
    case ErrorKind::config:
      throw Agreed<ConfigError>(report.message, failed_rank);
    case ErrorKind::strict_reject:
      throw Agreed<StrictRejectError>(report.message, failed_rank);
    case ErrorKind::input:
      throw Agreed<InputError>(report.message, failed_rank);
    case ErrorKind::io:
      throw Agreed<IoError>(report.message, failed_rank);
    case ErrorKind::memory:
      throw Agreed<OutOfMemoryError>(report.message, failed_rank);
    case ErrorKind::other:
      break;
  }
  throw Agreed<Error>(report.message, failed_rank);
}

const FailedOnEveryRank* failed_on_every_rank(const std::exception& e) {
  return dynamic_cast<const FailedOnEveryRank*>(&e);
}

bool unwinding_alone() noexcept { return std::uncaught_exceptions() > 0 && live_agreed.load() == 0; }

int exit_status_of(const std::exception& e) { return dynamic_cast<const ConfigError*>(&e) ? 2 : 1; }

}  // namespace sarscale
