#pragma once
// Error types. Library code throws; `main` and the stage drivers turn them into
// messages on stderr (or rows of an archive's rejects table) and exit codes.
#include <stdexcept>
#include <string>

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

}  // namespace sarscale
