// libFuzzer harness for the LIBSVM text readers (libsvm_format.hpp). Every input goes through
// both parsers; a refusal must be a sarscale::Error, and whatever is accepted must survive the
// writers: format/write then parse again gives the same model or data (a model's text is a
// fixed point; data come back bit for bit). Anything else escapes as an exception or a
// sanitizer report, which libFuzzer records as a crash.
//
// The same function is linked into test_fuzz_corpus (corpus_replay.cpp), which replays
// tests/fuzz/corpus with any compiler.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "sarscale/core/error.hpp"
#include "sarscale/svm/libsvm_format.hpp"

namespace sarscale::svm::detail {
// Not public API (libsvm_format.cpp): the readers with a chosen cap on dense values.
Dataset parse_libsvm_data_capped(std::string_view text, const std::string& where, int min_dim,
                                 std::int64_t max_dense_values);
SvmModel parse_libsvm_model_capped(std::string_view text, const std::string& where, int min_dim,
                                   std::int64_t max_dense_values);
}  // namespace sarscale::svm::detail

namespace {

using namespace sarscale::svm;

// 4 Mi doubles (32 MiB) per dense array: a 4 KB input with index 9999999 on every line would
// otherwise ask for gigabytes and trip libFuzzer's RSS limit instead of finding bugs.
constexpr std::int64_t kCap = std::int64_t{1} << 22;

void require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);
}

void fuzz_model(std::string_view text) {
  SvmModel model;
  try {
    model = detail::parse_libsvm_model_capped(text, "fuzz.model", 0, kCap);
  } catch (const sarscale::Error&) {
    return;
  }
  const std::string once = format_libsvm_model(model);
  // min_dim keeps trailing all-zero features, which the text does not show.
  const SvmModel back = detail::parse_libsvm_model_capped(once, "formatted.model", model.dim, kCap);
  require(format_libsvm_model(back) == once, "model: format(parse(format(m))) != format(m)");
  require(back.dim == model.dim && back.labels == model.labels && back.sv_count == model.sv_count &&
              back.rho == model.rho && back.sv_coef == model.sv_coef && back.prob_a == model.prob_a &&
              back.prob_b == model.prob_b && back.kernel.type == model.kernel.type,
          "model: parse(format(m)) differs from m");
}

void fuzz_data(std::string_view text) {
  Dataset data;
  try {
    data = detail::parse_libsvm_data_capped(text, "fuzz.txt", 0, kCap);
  } catch (const sarscale::Error&) {
    return;
  }
  std::ostringstream out;
  write_libsvm_data(out, data);
  const Dataset back = detail::parse_libsvm_data_capped(out.str(), "written.txt", data.dim, kCap);
  require(back.rows == data.rows && back.dim == data.dim && back.labels == data.labels && back.x == data.x,
          "data: parse(write(d)) differs from d");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(bytes), size);
  fuzz_model(text);
  fuzz_data(text);
  return 0;
}
