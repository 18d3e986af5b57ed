// The output policy (include/sarscale/io/output_policy.hpp): checks, temporary names, locks.
#include "sarscale/io/output_policy.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "sarscale/core/log.hpp"
#include "sarscale/io/feature_file.hpp"
#include "sarscale/io/gdal_raster.hpp"

namespace sarscale::io {

namespace fs = std::filesystem;

namespace {

// The absolute, normalised form of a path whose tail may not exist yet.
fs::path normalised(const fs::path& p) {
  std::error_code ec;
  fs::path out = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) out = fs::absolute(p).lexically_normal();
  return out;
}

// True when `inner` lies strictly below the folder `outer` (both normalised).
bool is_below(const fs::path& inner, const fs::path& outer) {
  const fs::path rel = inner.lexically_relative(outer);
  return !rel.empty() && *rel.begin() != ".." && rel != ".";
}

std::string first_line(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::getline(in, line);
  return line;
}

bool is_empty_regular_file(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && fs::file_size(path, ec) == 0 && !ec;
}

}  // namespace

std::string input_clash(const fs::path& output, const std::vector<RunInput>& inputs) {
  std::error_code ec;
  const bool exists = fs::exists(output, ec);  // else no input can be the same file
  const fs::path out = normalised(output);
  for (const auto& in : inputs) {
    if (in.path.empty()) continue;
    const std::string named = in.option + " " + in.path.string();
    if (exists && fs::equivalent(output, in.path, ec))
      return "it is the input " + named + ": an input is never written over";
    if (in.tree && fs::is_directory(in.path, ec) && is_below(out, normalised(in.path)))
      return "it lies inside the input folder " + named +
             ", which the run reads whole: write it elsewhere, outside the inputs";
  }
  return {};
}

std::string folder_problem(const OutputCheck& output) {
  const fs::path parent = normalised(output.path).parent_path();
  std::error_code ec;
  if (fs::is_directory(parent, ec))
    return ::access(parent.c_str(), W_OK) == 0 ? std::string()
                                               : "its folder " + parent.string() + " is not writable: " +
                                                     std::strerror(errno);
  if (fs::exists(parent, ec)) return "its folder " + parent.string() + " is not a folder";
  if (!output.create_parent) return "its folder " + parent.string() + " does not exist (create it first)";
  // The nearest existing ancestor must let us make the rest.
  fs::path up = parent;
  while (!up.empty() && !fs::exists(up, ec) && up != up.parent_path()) up = up.parent_path();
  if (!fs::is_directory(up, ec)) return "its folder " + parent.string() + " cannot be made: " + up.string() + " is not a folder";
  if (::access(up.c_str(), W_OK) != 0)
    return "its folder " + parent.string() + " cannot be made: " + up.string() + " is not writable";
  return {};
}

std::string kind_problem(const OutputCheck& output, bool overwrite) {
  std::error_code ec;
  const fs::path& p = output.path;
  if (!fs::exists(fs::symlink_status(p, ec)) || overwrite) return {};
  if (output.kind.directory != fs::is_directory(p, ec))
    return output.kind.directory ? "it exists and is not a folder (a folder is written there)"
                                 : "it is a folder (a file is written there)";
  if (is_empty_regular_file(p) || output.kind.is_own(p)) return {};
  return "it exists and is not a " + output.kind.name +
         " (only a previous output of this command is replaced): remove it, choose another path, or give "
         "--overwrite";
}

std::string output_problem(const OutputCheck& output, const std::vector<RunInput>& inputs, bool overwrite) {
  for (const std::string& problem : {input_clash(output.path, inputs), folder_problem(output),
                                     kind_problem(output, overwrite)})
    if (!problem.empty()) return output.option + " " + output.path.string() + ": " + problem;
  return {};
}

OutputKind hdf5_kind(const std::string& name, const std::string& format) {
  return {name, [format](const fs::path& p) { return file_format(p) == format; }, false};
}

OutputKind libsvm_model_kind() { return text_kind("LIBSVM model", "svm_type "); }

OutputKind text_kind(const std::string& name, const std::string& first_line_prefix) {
  return {name,
          [first_line_prefix](const fs::path& p) {
            std::error_code ec;
            return fs::is_regular_file(p, ec) && first_line(p).rfind(first_line_prefix, 0) == 0;
          },
          false};
}

OutputKind libsvm_predictions_kind() {
  return {"file of predicted labels",
          [](const fs::path& p) {
            std::error_code ec;
            if (!fs::is_regular_file(p, ec)) return false;
            const std::string line = first_line(p);
            if (line.rfind("labels", 0) == 0) return true;  // svm-predict -b 1
            std::istringstream in(line);
            double label = 0;
            std::string rest;
            return static_cast<bool>(in >> label) && !(in >> rest);
          },
          false};
}

OutputKind folder_kind(const std::string& name, const std::vector<std::string>& markers) {
  return {name,
          [markers](const fs::path& p) {
            std::error_code ec;
            if (fs::is_empty(p, ec)) return true;
            for (const auto& m : markers)
              if (fs::exists(p / m, ec)) return true;
            return false;
          },
          true};
}

OutputKind geotiff_kind(const std::string& name, const std::string& item) {
  return {name,
          [item](const fs::path& p) {
            try {
              const GdalRaster r = GdalRaster::open(p);
              return r.driver() == "GTiff" && r.metadata().count(item) > 0;
            } catch (const std::exception&) {
              return false;
            }
          },
          false};
}

fs::path partial_path(const fs::path& output) { return fs::path(output.string() + ".part"); }
fs::path lock_path(const fs::path& output) { return fs::path(output.string() + ".lock"); }

void commit_output(const fs::path& temp, const fs::path& output) {
  std::error_code ec;
  fs::rename(temp, output, ec);
  if (ec) throw IoError("cannot rename " + temp.string() + " to " + output.string() + ": " + ec.message());
}

void write_file_atomically(const fs::path& output, const std::string& bytes) {
  const fs::path temp = partial_path(output);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot write " + temp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  int err = 0;
  while (done < bytes.size() && err == 0) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    std::error_code ec;
    fs::remove(temp, ec);  // a failed write leaves what was at `output`
    throw IoError("writing " + output.string() + " failed: " + std::strerror(err));
  }
  commit_output(temp, output);
}

// ---- locks -----------------------------------------------------------------------------

std::string lock_holder_text(const std::string& command) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + " " + std::to_string(::getpid()) + " " + command;
}

OutputLock OutputLock::acquire(const fs::path& output, const std::string& command, std::string& problem) {
  const fs::path path = lock_path(output);
  problem.clear();
  // Retried when the file we locked was removed by its previous holder in between (then a
  // third run may already hold a new file under the same name).
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      problem = "cannot create its lock file " + path.string() + ": " + std::strerror(errno);
      return {};
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err != EWOULDBLOCK) {
        // A file system without flock (e.g. Lustre mounted noflock): no lock rather than no run.
        log::warn("cannot lock ", path.string(), " (", std::strerror(err),
                  "): this file system does not lock; do not run two jobs on this output at once");
        return {};
      }
      const std::string holder = first_line(path);
      problem = "another run is writing it (" + (holder.empty() ? std::string("holder unknown") : holder) +
                ", lock " + path.string() + "); wait for it to end";
      return {};
    }
    struct stat opened {}, named {};
    if (::fstat(fd, &opened) != 0 || ::stat(path.c_str(), &named) != 0 || opened.st_ino != named.st_ino ||
        opened.st_dev != named.st_dev) {
      ::close(fd);
      continue;
    }
    if (const std::string left = first_line(path); !left.empty())
      log::warn("taking over the lock ", path.string(), " left by a run that is gone (", left, ")");
    const std::string text = lock_holder_text(command) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      problem = "cannot write its lock file " + path.string() + ": " + std::strerror(errno);
      ::close(fd);
      return {};
    }
    OutputLock lock;
    lock.fd_ = fd;
    lock.path_ = path;
    return lock;
  }
  problem = "its lock file " + path.string() + " keeps changing hands";
  return {};
}

OutputLock::OutputLock(OutputLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

OutputLock::~OutputLock() { release(); }

void OutputLock::release() noexcept {
  if (fd_ < 0) return;
  // Removed while still held, so that no other run can lock the name and lose it to us.
  std::error_code ec;
  fs::remove(path_, ec);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace sarscale::io
