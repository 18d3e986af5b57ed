#include "sarscale/svm/feature_width.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sarscale::svm {

namespace {

// Below this chance the rows and the model cannot come from the same kind of data.
constexpr double kImplausible = 1e-9;

// How many of `n` rows of `dim` values have a non-zero value at a 0-based column >= `from`.
std::int64_t rows_using_columns_from(const double* x, std::int64_t n, int dim, int from) {
  std::int64_t count = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const double* row = x + static_cast<std::size_t>(r) * static_cast<std::size_t>(dim);
    for (int j = from; j < dim; ++j)
      if (row[j] != 0) {
        ++count;
        break;
      }
  }
  return count;
}

// The chance that `trials` draws all miss an event of probability `share`.
bool implausible(double share, std::int64_t trials) {
  if (share <= 0 || trials <= 0) return false;
  if (share >= 1) return true;
  return static_cast<double>(trials) * std::log1p(-share) < std::log(kImplausible);
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%%", 100 * share);
  return buf;
}

}  // namespace

std::string width_mismatch(const SvmModel& model, const Dataset& data, const std::string& data_name) {
  const std::int64_t svs = model.total_sv();
  const std::string widths = data_name + " has " + std::to_string(data.rows) + " rows with features up to index " +
                             std::to_string(data.dim) + ", the model " + std::to_string(model.dim) + " features";
  const std::string tail =
      ": the data were not made for this model (LIBSVM data may omit trailing zero features, as svm-predict "
      "allows, but not features that rows of the model's kind have)";
  if (data.dim < model.dim && data.rows > 0) {
    const double p =
        static_cast<double>(rows_using_columns_from(model.support_vectors.data(), svs, model.dim, data.dim)) /
        static_cast<double>(std::max<std::int64_t>(svs, 1));
    if (implausible(p, data.rows))
      return widths + "; " + percent(p) + " of the model's " + std::to_string(svs) +
             " support vectors use features beyond index " + std::to_string(data.dim) + " and no row does" + tail;
  }
  if (data.dim > model.dim && svs > 0) {
    const double q = static_cast<double>(rows_using_columns_from(data.x.data(), data.rows, data.dim, model.dim)) /
                     static_cast<double>(std::max<std::int64_t>(data.rows, 1));
    if (implausible(q, svs))
      return widths + "; " + percent(q) + " of the rows use features beyond index " + std::to_string(model.dim) +
             " and none of the model's " + std::to_string(svs) + " support vectors does" + tail;
  }
  return "";
}

void pad_rows(Dataset& data, int dim) {
  if (dim <= data.dim) return;
  std::vector<double> x(static_cast<std::size_t>(data.rows) * static_cast<std::size_t>(dim), 0.0);
  for (std::int64_t r = 0; r < data.rows; ++r)
    std::copy_n(data.row(r), data.dim, x.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(dim));
  data.x = std::move(x);
  data.dim = dim;
}

void pad_support_vectors(SvmModel& model, int dim) {
  if (dim <= model.dim) return;
  const std::int64_t svs = model.total_sv();
  std::vector<double> x(static_cast<std::size_t>(svs) * static_cast<std::size_t>(dim), 0.0);
  for (std::int64_t r = 0; r < svs; ++r)
    std::copy_n(model.support_vectors.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(model.dim),
                model.dim, x.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(dim));
  model.support_vectors = std::move(x);
  model.dim = dim;
}

}  // namespace sarscale::svm
