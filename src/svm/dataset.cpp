#include "sarscale/svm/dataset.hpp"

#include <algorithm>
#include <string>

#include "sarscale/core/error.hpp"

namespace sarscale::svm {

Dataset Dataset::subset(const std::vector<std::int64_t>& indices) const {
  Dataset out;
  out.rows = static_cast<std::int64_t>(indices.size());
  out.dim = dim;
  out.x.resize(indices.size() * static_cast<std::size_t>(dim));
  out.labels.resize(indices.size());
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::int64_t i = indices[k];
    if (i < 0 || i >= rows) throw ConfigError("Dataset::subset: row " + std::to_string(i) + " is out of range");
    std::copy_n(row(i), dim, out.x.data() + k * static_cast<std::size_t>(dim));
    out.labels[k] = labels[static_cast<std::size_t>(i)];
  }
  return out;
}

void Dataset::check() const {
  if (rows < 0 || dim < 0) throw ConfigError("data set has a negative size");
  if (x.size() != static_cast<std::size_t>(rows) * static_cast<std::size_t>(dim))
    throw ConfigError("data set: " + std::to_string(x.size()) + " values for " + std::to_string(rows) + " rows of " +
                      std::to_string(dim) + " features");
  if (labels.size() != static_cast<std::size_t>(rows))
    throw ConfigError("data set: " + std::to_string(labels.size()) + " labels for " + std::to_string(rows) + " rows");
}

}  // namespace sarscale::svm
