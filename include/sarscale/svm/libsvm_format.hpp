#pragma once
// LIBSVM's text formats, the lingua franca of SVM tools: data files ("label index:value ...",
// svmlight style) and model files (as svm-train writes them). Readers never crash on bad
// input: every malformed, truncated or inconsistent file gives an InputError naming the file,
// the line and what is wrong.
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

#include "sarscale/svm/dataset.hpp"
#include "sarscale/svm/model.hpp"

namespace sarscale::svm {

// Data: one sample per line, "<label> <index>:<value> ..." with 1-based, strictly increasing
// indices; zeros may be omitted; a trailing "# comment" and blank lines are ignored; labels are
// integers written as "1", "+1", "-1" or "1.0". dim = the largest index seen, at least min_dim.
// Files ending in .gz are decompressed on the fly.
// With `keep`, only the rows r (0-based, counting data lines) for which keep(r) is true are
// stored, and the file is streamed rather than read whole (a rank's share of a training set);
// every line is still validated and dim is still the largest index of the whole file.
using RowFilter = std::function<bool(std::int64_t row)>;
Dataset read_libsvm_data(const std::filesystem::path& path, int min_dim = 0, const RowFilter& keep = {});
Dataset parse_libsvm_data(std::string_view text, const std::string& where, int min_dim = 0);
// Zeros omitted, each value in the shortest text that reads back as the same double (float32
// features come out in their full double expansion, e.g. 0.10000000149011612).
void write_libsvm_data(std::ostream& out, const Dataset& data);

// Models: C-SVC models in svm_save_model's format (svm_type c_svc only; other types are
// refused with a clear message). Support vectors become dense rows of dim = the largest index
// (at least min_dim, so a model can be applied to data with more trailing features).
SvmModel parse_libsvm_model(std::string_view text, const std::string& where, int min_dim = 0);
SvmModel read_libsvm_model(const std::filesystem::path& path, int min_dim = 0);
// Exactly what LIBSVM 3.24's svm_save_model writes for the same model ("%.17g" numbers,
// support vector values "%.8g", zeros omitted), so svm-predict accepts it.
std::string format_libsvm_model(const SvmModel& model);
void write_libsvm_model(const std::filesystem::path& path, const SvmModel& model);

}  // namespace sarscale::svm
