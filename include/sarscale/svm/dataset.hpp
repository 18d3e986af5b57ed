#pragma once
// A labelled data set held densely: n rows of `dim` features (row-major) and an integer class
// label per row. Values are double, as LIBSVM holds them: text files keep every digit they
// carry (rounding them to float32 changes solver paths measurably, e.g. rho of a linear machine
// by 0.5%), and float32 features from feature files convert exactly. LIBSVM/svmlight files
// (sparse text) are densified on reading (libsvm_format.hpp).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sarscale::svm {

struct Dataset {
  std::int64_t rows = 0;
  int dim = 0;
  std::vector<double> x;             // rows * dim
  std::vector<std::int32_t> labels;  // rows (class labels as written, e.g. -1/+1 or 0..9)

  const double* row(std::int64_t i) const {
    return x.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(dim);
  }
  // The rows with the given indices, in that order (labels follow).
  Dataset subset(const std::vector<std::int64_t>& indices) const;
  // ConfigError when the sizes of x and labels do not match rows and dim.
  void check() const;
};

}  // namespace sarscale::svm
