#include "sarscale/svm/metrics.hpp"

#include <cstdio>
#include <sstream>

#include "sarscale/core/error.hpp"

namespace sarscale::svm {

namespace {

std::string num(double v, const char* f = "%.4f") {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

Metrics compute_metrics(const std::vector<std::int32_t>& truth, const std::vector<std::int32_t>& predicted,
                        const std::vector<std::string>& class_names) {
  if (truth.size() != predicted.size()) throw ConfigError("metrics: as many predictions as true labels are needed");
  const auto k = static_cast<std::int32_t>(class_names.size());
  Metrics m;
  m.class_names = class_names;
  m.confusion.assign(static_cast<std::size_t>(k) * static_cast<std::size_t>(k), 0);
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] < 0 || truth[i] >= k || predicted[i] < 0 || predicted[i] >= k)
      throw ConfigError("metrics: a class index is outside [0, " + std::to_string(k) + ")");
    ++m.confusion[static_cast<std::size_t>(truth[i] * k + predicted[i])];
    m.correct += truth[i] == predicted[i] ? 1 : 0;
  }
  m.rows = static_cast<std::int64_t>(truth.size());
  m.accuracy = m.rows > 0 ? static_cast<double>(m.correct) / static_cast<double>(m.rows) : 0.0;
  for (std::int32_t c = 0; c < k; ++c) {
    std::int64_t tp = m.confusion[static_cast<std::size_t>(c * k + c)], col = 0, row = 0;
    for (std::int32_t o = 0; o < k; ++o) {
      col += m.confusion[static_cast<std::size_t>(o * k + c)];
      row += m.confusion[static_cast<std::size_t>(c * k + o)];
    }
    ClassMetrics cm;
    cm.name = class_names[static_cast<std::size_t>(c)];
    cm.support = row;
    cm.precision = col > 0 ? static_cast<double>(tp) / static_cast<double>(col) : 0.0;
    cm.recall = row > 0 ? static_cast<double>(tp) / static_cast<double>(row) : 0.0;
    cm.f1 = cm.precision + cm.recall > 0 ? 2 * cm.precision * cm.recall / (cm.precision + cm.recall) : 0.0;
    m.classes.push_back(cm);
    m.macro_precision += cm.precision / k;
    m.macro_recall += cm.recall / k;
    m.macro_f1 += cm.f1 / k;
    if (m.rows > 0) {
      const double w = static_cast<double>(cm.support) / static_cast<double>(m.rows);
      m.weighted_precision += w * cm.precision;
      m.weighted_recall += w * cm.recall;
      m.weighted_f1 += w * cm.f1;
    }
  }
  return m;
}

json::Value Metrics::to_json() const {
  json::Value v = json::Value::object();
  v["accuracy"] = accuracy;
  v["macro_f1"] = macro_f1;
  v["weighted_f1"] = weighted_f1;
  v["macro_precision"] = macro_precision;
  v["macro_recall"] = macro_recall;
  v["weighted_precision"] = weighted_precision;
  v["weighted_recall"] = weighted_recall;
  v["rows"] = rows;
  v["correct"] = correct;
  v["class_names"] = json::Value::array();
  for (const auto& n : class_names) v["class_names"].push_back(n);
  v["per_class"] = json::Value::object();
  for (const auto& c : classes) {
    json::Value o = json::Value::object();
    o["precision"] = c.precision;
    o["recall"] = c.recall;
    o["f1"] = c.f1;
    o["support"] = c.support;
    v["per_class"][c.name] = o;
  }
  v["confusion_matrix"] = json::Value::array();
  const std::size_t k = class_names.size();
  for (std::size_t r = 0; r < k; ++r) {
    json::Value row = json::Value::array();
    for (std::size_t c = 0; c < k; ++c) row.push_back(confusion[r * k + c]);
    v["confusion_matrix"].push_back(row);
  }
  return v;
}

std::string Metrics::markdown() const {
  std::ostringstream os;
  os << "| accuracy | macro F1 | weighted F1 | rows | correct |\n|---|---|---|---|---|\n"
     << "| " << num(100 * accuracy, "%.2f%%") << " | " << num(macro_f1) << " | " << num(weighted_f1) << " | " << rows
     << " | " << correct << " |\n\n";
  os << "| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n";
  for (const auto& c : classes)
    os << "| " << c.name << " | " << num(c.precision) << " | " << num(c.recall) << " | " << num(c.f1) << " | "
       << c.support << " |\n";
  os << "| macro average | " << num(macro_precision) << " | " << num(macro_recall) << " | " << num(macro_f1) << " | "
     << rows << " |\n";
  os << "| weighted average | " << num(weighted_precision) << " | " << num(weighted_recall) << " | " << num(weighted_f1)
     << " | " << rows << " |\n\n";
  os << "Confusion matrix (rows: true class, columns: predicted class)\n\n| true / predicted |";
  for (const auto& n : class_names) os << " " << n << " |";
  os << "\n|---|";
  for (std::size_t c = 0; c < class_names.size(); ++c) os << "---|";
  os << "\n";
  const std::size_t k = class_names.size();
  for (std::size_t r = 0; r < k; ++r) {
    os << "| " << class_names[r] << " |";
    for (std::size_t c = 0; c < k; ++c) os << " " << confusion[r * k + c] << " |";
    os << "\n";
  }
  return os.str();
}

}  // namespace sarscale::svm
