#include "sarscale/dist/scene_classifier.hpp"

#include <algorithm>

#include "sarscale/core/error.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/features/planes.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace fs = std::filesystem;

SceneClassifier SceneClassifier::load(const fs::path& path, const std::string& use) {
  SceneClassifier c;
  c.model_ = io::read_model_file(path);
  const io::ModelFile& m = c.model_;
  if (m.chain.empty() || m.class_names.empty())
    throw ConfigError("model " + path.string() +
                      " carries no feature chain (trained on LIBSVM text data?): scenes need a model trained on a "
                      "feature file");
  ModelChain checked = model_chain(m, path);
  c.chain_.emplace(std::move(checked.chain));
  c.pca_ = std::move(checked.pca);
  // A scene is read one band at a time (--band); chains over several named bands need chips.
  if (!c.chain_->bands().empty())
    throw ConfigError("model " + path.string() + ": its feature chain computes on the planes (" +
                      features::describe_planes(c.chain_->spec().planes) + ") of named bands; " + use +
                      " reads one band of a scene: classify chips (ingest --bands, then predict --archive) instead");
  const int k = m.svm.classes();
  c.label_position_.assign(m.class_names.size(), -1);
  for (int j = 0; j < k; ++j) {
    const std::int32_t label = m.svm.labels[static_cast<std::size_t>(j)];
    if (label < 0 || static_cast<std::size_t>(label) >= m.class_names.size())
      throw InputError("model " + path.string() + ": SVM label " + std::to_string(label) +
                       " is not one of its class indices");
    c.label_position_[static_cast<std::size_t>(label)] = j;
  }
  const auto clutter = std::find(m.class_names.begin(), m.class_names.end(), "clutter");
  if (clutter != m.class_names.end() && c.label_position_[static_cast<std::size_t>(clutter - m.class_names.begin())] >= 0)
    c.clutter_class_ = static_cast<int>(clutter - m.class_names.begin());
  return c;
}

std::vector<ChipVerdict> SceneClassifier::classify(const float* chips, std::size_t count, int threads) const {
  std::vector<ChipVerdict> out(count);
  if (count == 0) return out;
  const std::size_t raw_dim = chain_->length();
  std::vector<float> raw(count * raw_dim);
  std::vector<std::optional<std::array<double, 2>>> targets;
  const std::vector<std::string> reasons = chain_->compute_batch(chips, count, raw.data(), threads, &targets);
  // The chain refuses some chips (constant, non-finite): the rest go on, in order.
  std::vector<std::size_t> usable;
  std::vector<float> usable_raw;
  for (std::size_t i = 0; i < count; ++i) {
    if (!reasons[i].empty()) {
      out[i].reason = reasons[i];
      continue;
    }
    out[i].target = targets[i];
    usable.push_back(i);
    usable_raw.insert(usable_raw.end(), raw.begin() + static_cast<std::ptrdiff_t>(i * raw_dim),
                      raw.begin() + static_cast<std::ptrdiff_t>((i + 1) * raw_dim));
  }
  if (usable.empty()) return out;
  const float* features = usable_raw.data();
  std::vector<float> projected;
  if (pca_) {
    projected.resize(usable.size() * static_cast<std::size_t>(pca_->n_components()));
    pca_->apply(usable_raw.data(), usable.size(), projected.data());
    features = projected.data();
  }
  const bool prob = probabilities();
  const svm::Predictions p =
      svm::predict(model_.svm, features, static_cast<std::int64_t>(usable.size()), prob, threads);
  const int k = model_.svm.classes();
  const auto kk = static_cast<std::size_t>(k);
  for (std::size_t u = 0; u < usable.size(); ++u) {
    ChipVerdict& v = out[usable[u]];
    v.class_index = p.labels[u];
    const int chosen = label_position_[static_cast<std::size_t>(p.labels[u])];
    if (prob) {
      v.confidence = p.probabilities[u * kk + static_cast<std::size_t>(chosen)];
      if (clutter_class_ >= 0)
        v.clutter_probability =
            p.probabilities[u * kk + static_cast<std::size_t>(label_position_[static_cast<std::size_t>(clutter_class_)])];
    } else {
      const double* dec = p.decision_values.data() + u * (kk * (kk - 1) / 2);
      int votes = 0;
      std::size_t pair = 0;
      for (int i = 0; i < k; ++i)
        for (int j = i + 1; j < k; ++j, ++pair)
          if ((dec[pair] > 0 ? i : j) == chosen) ++votes;
      v.confidence = k > 1 ? static_cast<double>(votes) / static_cast<double>(k - 1) : 1.0;
      if (clutter_class_ >= 0) v.clutter_probability = v.class_index == clutter_class_ ? 1.0 : 0.0;
    }
  }
  return out;
}

}  // namespace sarscale::dist
