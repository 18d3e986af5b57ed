// A model applied to LIBSVM data of another width (svm/feature_width.hpp): what svm-predict
// allows passes, padded as svm-predict computes it; data plainly not made for the model are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "sarscale/svm/feature_width.hpp"
#include "sarscale/svm/predict.hpp"

using namespace sarscale::svm;

namespace {

// A model whose `svs` support vectors have `dim` features, feature j non-zero with probability
// `density` (dense features: 1).
SvmModel model_of(int dim, int svs, double density, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  SvmModel m;
  m.kernel.type = KernelType::rbf;
  m.kernel.gamma = 0.1;
  m.dim = dim;
  m.labels = {1, -1};
  m.sv_count = {svs / 2, svs - svs / 2};
  for (int r = 0; r < svs; ++r)
    for (int j = 0; j < dim; ++j) m.support_vectors.push_back(u(rng) < density ? u(rng) + 0.1 : 0.0);
  m.sv_coef.assign(static_cast<std::size_t>(svs), 0.5);
  for (int r = svs / 2; r < svs; ++r) m.sv_coef[static_cast<std::size_t>(r)] = -0.5;
  m.rho = {0.01};
  m.check();
  return m;
}

Dataset rows_of(int dim, int rows, double density, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Dataset d;
  d.dim = dim;
  d.rows = rows;
  for (int r = 0; r < rows; ++r) {
    d.labels.push_back(r % 2 ? 1 : -1);
    for (int j = 0; j < dim; ++j) d.x.push_back(u(rng) < density ? u(rng) + 0.1 : 0.0);
  }
  return d;
}

}  // namespace

// Issue 12, item 5: heart_scale (270 rows, 13 features) against a model of 256 dense features,
// and the other way round, are refused; the message gives both widths and the evidence.
TEST(FeatureWidth, DataOfAnotherKindIsRefused) {
  const SvmModel chips = model_of(256, 120, 1.0, 1);
  const std::string narrow = width_mismatch(chips, rows_of(13, 270, 0.95, 2), "heart_scale");
  EXPECT_NE(narrow.find("heart_scale has 270 rows with features up to index 13, the model 256 features"),
            std::string::npos)
      << narrow;
  EXPECT_NE(narrow.find("100% of the model's 120 support vectors use features beyond index 13"), std::string::npos)
      << narrow;
  const SvmModel heart = model_of(13, 90, 0.95, 3);
  const std::string wide = width_mismatch(heart, rows_of(256, 30, 1.0, 4), "chips.txt");
  EXPECT_NE(wide.find("100% of the rows use features beyond index 13 and none of the model's 90"), std::string::npos)
      << wide;
  // One row is enough when every support vector has the features it lacks.
  EXPECT_NE(width_mismatch(chips, rows_of(200, 1, 1.0, 5), "one row"), "");
}

// Sparse data of the model's own kind: a rare trailing feature missing from the rows (or present
// in a few rows and in no support vector) passes, as svm-predict takes it; equal widths always pass.
TEST(FeatureWidth, SparseDataOfTheModelsKindPasses) {
  SvmModel m = model_of(123, 400, 0.1, 6);
  for (std::size_t r = 0; r < 400; ++r)  // feature 123 in 1% of the support vectors only
    m.support_vectors[r * 123 + 122] = r % 100 == 0 ? 1.0 : 0.0;
  EXPECT_EQ(width_mismatch(m, rows_of(122, 300, 0.1, 7), "a.t"), "");
  Dataset wider = rows_of(126, 300, 0.1, 8);
  for (std::int64_t r = 0; r < wider.rows; ++r)  // features 124..126 in 1% of the rows
    for (int j = 123; j < 126; ++j) wider.x[static_cast<std::size_t>(r * 126 + j)] = r % 100 == 0 ? 1.0 : 0.0;
  EXPECT_EQ(width_mismatch(m, wider, "a.t"), "");
  EXPECT_EQ(width_mismatch(model_of(256, 120, 1.0, 1), rows_of(256, 5, 1.0, 9), "same"), "");
}

// Padding computes what svm-predict computes: a feature beyond the support vectors' width adds its
// square to an RBF distance (it is not dropped), and a missing one counts as 0.
TEST(FeatureWidth, PaddingIsSvmPredictsArithmetic) {
  SvmModel m = model_of(3, 2, 1.0, 10);
  Dataset d = rows_of(3, 1, 1.0, 11);
  pad_rows(d, 5);
  d.x[3] = 0.0;
  d.x[4] = 2.0;  // a feature no support vector has
  pad_support_vectors(m, d.dim);
  ASSERT_EQ(m.dim, 5);
  ASSERT_EQ(m.support_vectors.size(), 10u);
  double decision = -m.rho[0];
  for (int s = 0; s < 2; ++s) {
    double dist = 0;
    for (int j = 0; j < 5; ++j) {
      const double diff = d.x[static_cast<std::size_t>(j)] - m.support_vectors[static_cast<std::size_t>(s * 5 + j)];
      dist += diff * diff;
    }
    decision += m.sv_coef[static_cast<std::size_t>(s)] * std::exp(-m.kernel.gamma * dist);
  }
  const Predictions p = predict(m, d.x.data(), 1);
  ASSERT_EQ(p.decision_values.size(), 1u);
  EXPECT_NEAR(p.decision_values[0], decision, 1e-12);
}
