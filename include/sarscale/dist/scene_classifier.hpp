#pragma once
// A chip model applied to windows cut from scenes (`predict --scene`, `detect`): the model file's
// feature chain, PCA and SVM, checked against each other once, then batches of chips classified.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "sarscale/features/chain.hpp"
#include "sarscale/features/pca.hpp"
#include "sarscale/io/model_file.hpp"

namespace sarscale::dist {

// What the model says of one chip.
struct ChipVerdict {
  int class_index = -1;   // index into the model's class names; -1: not classified
  double confidence = 0;  // probability of the class (probability model), else its share of
                          // the k-1 one-vs-one machines that voted for it; 0..1
  double clutter_probability = 0;  // of the class named "clutter" (0 without one; without probabilities
                                   // 1 when the chosen class is clutter, else 0)
  std::string reason;     // why the chain refused the chip (constant, non-finite...), when it did
  // Where the chain's pose step found the target in the chip (row, col, chip pixel indices), when
  // the chain registers chips (preprocess "pose(...)" on the input grid).
  std::optional<std::array<double, 2>> target;
};

class SceneClassifier {
 public:
  // Reads and checks the model: it must carry a feature chain over one plane (a scene is read one
  // band at a time) and class names for every SVM label. `use` names the command in messages
  // ("predict --scene"). ConfigError / InputError naming the model.
  static SceneClassifier load(const std::filesystem::path& path, const std::string& use);

  const io::ModelFile& model() const { return model_; }
  const features::FeatureChain& chain() const { return *chain_; }
  const std::vector<std::string>& class_names() const { return model_.class_names; }
  bool probabilities() const { return model_.svm.has_probability(); }
  int chip_rows() const { return chain_->rows(); }
  int chip_cols() const { return chain_->cols(); }
  // Index of the class named "clutter", -1 when the model has none.
  int clutter_class() const { return clutter_class_; }

  // Classifies `count` chips of chip_rows() x chip_cols() float32 pixels (row-major, one after
  // the other): chain (OpenMP over chips), PCA, SVM (OpenMP over rows), `threads` threads.
  // The result depends on the chips only, not on the thread count or how chips are batched.
  std::vector<ChipVerdict> classify(const float* chips, std::size_t count, int threads) const;

 private:
  io::ModelFile model_;
  std::optional<features::FeatureChain> chain_;
  std::optional<features::PcaModel> pca_;
  std::vector<int> label_position_;  // class index -> position in model_.svm.labels (-1: none)
  int clutter_class_ = -1;
};

}  // namespace sarscale::dist
