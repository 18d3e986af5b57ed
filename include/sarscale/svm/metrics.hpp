#pragma once
// Classification metrics as scikit-learn's classification_report and confusion_matrix define
// them: per class precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean
// (0 when undefined), support = true rows; macro averages weigh classes equally, weighted
// averages by support; accuracy = correct / rows.
#include <cstdint>
#include <string>
#include <vector>

#include "sarscale/core/json.hpp"

namespace sarscale::svm {

struct ClassMetrics {
  std::string name;
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;
};

struct Metrics {
  std::vector<std::string> class_names;
  std::vector<std::int64_t> confusion;  // k x k, row = true class, column = predicted class
  std::vector<ClassMetrics> classes;
  std::int64_t rows = 0, correct = 0;
  double accuracy = 0;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;

  json::Value to_json() const;
  std::string markdown() const;  // tables: summary, per class, confusion matrix
};

// truth and predicted hold class indices in [0, class_names.size()); ConfigError otherwise.
Metrics compute_metrics(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted,
                        const std::vector<std::string>& class_names);

}  // namespace sarscale::svm
