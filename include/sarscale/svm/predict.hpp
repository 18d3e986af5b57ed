#pragma once
// Prediction with a trained model, as LIBSVM's svm_predict: one-vs-one decision values, voting
// (ties go to the class that comes first in the model's label order), and with a probability
// model, Platt-scaled pairwise probabilities coupled into class probabilities (Wu, Lin & Weng
// 2004, LIBSVM's multiclass_probability). Batched: the kernel values of a block of rows against
// all support vectors are one matrix product (Eigen), rows spread over OpenMP threads.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sarscale/svm/model.hpp"

namespace sarscale::svm {

struct Predictions {
  std::vector<std::int32_t> labels;     // n
  std::vector<double> decision_values;  // n x k(k-1)/2, LIBSVM's pair order
  std::vector<double> probabilities;    // n x k (labels order), when requested and available
};

// `x`: n rows of model.dim values (float32 features or double). threads 0: omp_get_max_threads().
Predictions predict(const SvmModel& model, const float* x, std::int64_t n, bool probabilities = false, int threads = 0);
Predictions predict(const SvmModel& model, const double* x, std::int64_t n, bool probabilities = false,
                    int threads = 0);

// Accuracy of predicted against true labels (fraction in [0, 1]).
double accuracy(const std::vector<std::int32_t>& predicted, const std::vector<std::int32_t>& truth);

}  // namespace sarscale::svm
