#pragma once
// Chip models trained in process on windows cut from synthetic scenes (three vehicle classes
// and "clutter"), for the tests of `predict --scene` and `detect`. Rank 0 trains and writes the
// model file as `sarscale train` writes it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "sarscale/core/image.hpp"
#include "sarscale/dist/features_stage.hpp"
#include "sarscale/features/chain.hpp"
#include "sarscale/features/pca.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/train.hpp"
#include "sarscale/synth/chip_synth.hpp"
#include "sarscale/synth/scene_synth.hpp"

namespace sarscale::test {

namespace fs = std::filesystem;

// ---- models trained in process ------------------------------------------------------------

struct ModelSpec {
  int chip = 0;
  std::string preprocess, blocks;
  std::vector<std::string> class_names;
  bool pca = false;
  bool probability = false;
};

// Chips (row-major, spec.chip^2 each) and labels -> a model file as `sarscale train` writes it.
inline void write_model(const fs::path& path, const ModelSpec& spec, const std::vector<float>& chips,
                 const std::vector<std::int32_t>& labels) {
  const features::FeatureChain chain(features::make_chain_spec(spec.preprocess, spec.blocks, spec.chip, spec.chip));
  const std::size_t n = labels.size(), len = chain.length();
  std::vector<float> raw(n * len);
  const auto reasons = chain.compute_batch(chips.data(), n, raw.data(), 0);
  for (const auto& r : reasons) ASSERT_EQ(r, "") << "a training chip is unusable";
  io::ModelFile f;
  std::vector<float> x = raw;
  std::size_t dim = len;
  if (spec.pca) {
    features::Moments m(static_cast<int>(len));
    m.add_rows(raw.data(), n, static_cast<int>(len));
    features::PcaOptions o;
    o.explained_variance = 0.95;
    o.whiten = true;  // unit-variance components suit the RBF default gamma = 1 / dim
    const features::PcaModel pca = features::fit_pca(m, o);
    dim = static_cast<std::size_t>(pca.n_components());
    x.resize(n * dim);
    pca.apply(raw.data(), n, x.data());
    f.pca = features::pca_to_arrays(pca);
  }
  svm::Dataset d;
  d.rows = static_cast<std::int64_t>(n);
  d.dim = static_cast<int>(dim);
  d.x.assign(x.begin(), x.end());
  d.labels = labels;
  svm::TrainParams tp;
  tp.C = 10;
  tp.probability = spec.probability;
  f.svm = svm::train(d, tp);
  f.class_names = spec.class_names;
  f.chain = chain.description();
  f.fingerprint = dist::features_fingerprint(chain.fingerprint(), f.pca);
  io::write_model_file(path, f);
}

// Window of `rows` x `cols` at (r0, c0) of a row-major image of width `width`.
inline void cut(const std::vector<float>& image, int width, int r0, int c0, int rows, int cols, std::vector<float>& out) {
  for (int r = 0; r < rows; ++r)
    out.insert(out.end(), image.begin() + static_cast<std::ptrdiff_t>(r0 + r) * width + c0,
               image.begin() + static_cast<std::ptrdiff_t>(r0 + r) * width + c0 + cols);
}

inline synth::SceneSynthConfig scene_config(std::uint64_t seed, int targets) {
  synth::SceneSynthConfig c;
  c.width = c.height = 800;
  c.targets = targets;
  c.seed = seed;
  c.num_classes = 3;
  c.pixels = synth::ScenePixels::float32;
  return c;
}

inline constexpr int kChip = 64;
inline constexpr int kStride = 16;
inline constexpr int kReach = (kStride - kChip) / 2;  // a cell's window starts kReach pixels from the cell
inline constexpr int kOffset = 8;                     // training windows are centred within +-kOffset of a target's origin

inline bool near_a_target(const std::vector<synth::SceneTarget>& targets, int r0, int c0, int size, int margin) {
  for (const auto& t : targets) {
    const auto& b = t.footprint;
    if (r0 < b.row0 + b.rows + margin && r0 + size > b.row0 - margin && c0 < b.col0 + b.cols + margin &&
        c0 + size > b.col0 - margin)
      return true;
  }
  return false;
}

// Three target classes and "clutter", from windows cut out of three training scenes.
inline void train_scene_model(const fs::path& path) {
  ModelSpec spec;
  spec.chip = kChip;
  spec.preprocess = "db(floor=-50)";
  spec.blocks = "hog(cell=16, block=2); pixels(size=8); stats";
  spec.class_names = synth::synth_class_names(3);
  spec.class_names.push_back("clutter");
  spec.pca = true;
  spec.probability = true;
  std::vector<float> chips;
  std::vector<std::int32_t> labels;
  std::mt19937 rng(7);
  for (std::uint64_t seed = 101; seed <= 106; ++seed) {
    const auto cfg = scene_config(seed, 12);
    const auto targets = synth::plan_scene_targets(cfg);
    Image img;
    synth::render_scene_rows(cfg, targets, 0, cfg.height, img);
    for (const auto& t : targets)
      for (int dr = -kOffset; dr <= kOffset; dr += kOffset)
        for (int dc = -kOffset; dc <= kOffset; dc += kOffset) {
          const int r0 = static_cast<int>(std::lround(t.row)) + dr - kChip / 2;
          const int c0 = static_cast<int>(std::lround(t.col)) + dc - kChip / 2;
          if (r0 < 0 || c0 < 0 || r0 + kChip > cfg.height || c0 + kChip > cfg.width) continue;
          cut(img.magnitude, cfg.width, r0, c0, kChip, kChip, chips);
          labels.push_back(t.class_index);
        }
    for (int n = 0; n < 150;) {
      const int r0 = static_cast<int>(rng() % static_cast<unsigned>(cfg.height - kChip));
      const int c0 = static_cast<int>(rng() % static_cast<unsigned>(cfg.width - kChip));
      if (near_a_target(targets, r0, c0, kChip, 4)) continue;
      cut(img.magnitude, cfg.width, r0, c0, kChip, kChip, chips);
      labels.push_back(3);
      ++n;
    }
  }
  write_model(path, spec, chips, labels);
}


}  // namespace sarscale::test
