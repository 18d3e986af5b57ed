#pragma once
// The output policy every command follows for every file or folder it writes
// (docs/user-guide.md, "Outputs: what sarscale writes, replaces, refuses"):
//  1. never write over an input of the run (the same file, whatever its spelling, or a path
//     inside an input folder the run reads whole);
//  2. replace an existing output only when it is the same kind of file from the same command
//     (the command's resume / up-to-date logic then decides), otherwise refuse unless --overwrite;
//  3. write to a temporary name beside the target and rename it on success, so a failed run
//     leaves what was there;
//  4. hold a lock (<output>.lock, flock) while writing, naming the holder.
// Local (one process, no MPI): dist/output_guard.hpp applies it on rank 0 for a whole job.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"

namespace sarscale::io {

// Another run holds an output's lock (thrown on every rank together; exit status 1).
class OutputInUseError : public IoError {
 public:
  using IoError::IoError;
};

// One input of a run and the option that named it.
struct RunInput {
  std::filesystem::path path;
  std::string option;  // "--data", "--input", ...
  bool tree = false;   // a folder the run reads whole: nothing may be written below it
};

// What an existing path must be for the command to replace it.
struct OutputKind {
  std::string name;                                         // "sarscale archive", "LIBSVM model"
  std::function<bool(const std::filesystem::path&)> is_own;  // recognises a previous output
  bool directory = false;                                   // the output is a folder
};

// One output of a run, checked before any work.
struct OutputCheck {
  std::filesystem::path path;
  std::string option;  // "--output", "--model", ...
  OutputKind kind;
  bool create_parent = false;  // the command makes a missing parent folder (else: refused)
};

// Pure checks; each returns "" when the output is acceptable, else the reason it is refused.
// Writing `output` would destroy or feed back an input: the same file (fs::equivalent: links
// and other spellings count), or a path inside an input folder read whole.
std::string input_clash(const std::filesystem::path& output, const std::vector<RunInput>& inputs);
// The folder `output` goes into exists and is writable (or, with create_parent, can be made).
std::string folder_problem(const OutputCheck& output);
// Something of another kind is at the path (an empty regular file counts as nothing).
std::string kind_problem(const OutputCheck& output, bool overwrite);
// All three, in that order (the first problem found).
std::string output_problem(const OutputCheck& output, const std::vector<RunInput>& inputs, bool overwrite);

// Recognisers of the kinds commands write.
OutputKind hdf5_kind(const std::string& name, const std::string& format);  // root attribute 'format'
OutputKind libsvm_model_kind();        // text starting "svm_type "
OutputKind libsvm_predictions_kind();  // first line "labels ..." or a number (svm-predict's output)
OutputKind text_kind(const std::string& name, const std::string& first_line_prefix);
// A folder that is empty or holds at least one of `markers` (what the command writes in it).
OutputKind folder_kind(const std::string& name, const std::vector<std::string>& markers);
// A GeoTIFF carrying the metadata item `item` in its default domain (GDAL, read-only).
OutputKind geotiff_kind(const std::string& name, const std::string& item);

// The temporary name an output is written under before it is renamed into place.
std::filesystem::path partial_path(const std::filesystem::path& output);  // "<output>.part"
std::filesystem::path lock_path(const std::filesystem::path& output);     // "<output>.lock"
// Renames `temp` over `output` (atomic on one file system). IoError naming both on failure.
void commit_output(const std::filesystem::path& temp, const std::filesystem::path& output);
// Writes `bytes` to partial_path(output), flushes it to disk and renames it over `output`.
void write_file_atomically(const std::filesystem::path& output, const std::string& bytes);

// An advisory lock on an output for the life of the object: flock(LOCK_EX) on <output>.lock,
// which holds "host pid command" while held and is removed on release. A lock file left by a
// process that is gone (its flock died with it) is taken over with a warning.
class OutputLock {
 public:
  // "" and a held lock, or the holder's description in `problem` and no lock.
  static OutputLock acquire(const std::filesystem::path& output, const std::string& command, std::string& problem);
  OutputLock() = default;
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();
  bool held() const { return fd_ >= 0; }

 private:
  void release() noexcept;
  int fd_ = -1;
  std::filesystem::path path_;
};

// "host pid command" of this process, as a lock file records it.
std::string lock_holder_text(const std::string& command);

}  // namespace sarscale::io
