// The HDF5 model file: round trip of every field, and clear errors for damaged files.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "sarscale/core/error.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/predict.hpp"
#include "sarscale/svm/train.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace sarscale;

namespace {

io::ModelFile trained_model() {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  svm::Dataset d;
  d.dim = 4;
  for (int i = 0; i < 60; ++i) {
    for (int k = 0; k < 4; ++k) d.x.push_back(normal(rng) + (i % 3 == k ? 2.0 : 0.0));
    d.labels.push_back(i % 3);
    ++d.rows;
  }
  svm::TrainParams p;
  p.probability = true;
  io::ModelFile m;
  m.svm = svm::train(d, p);
  m.class_names = {"2S1", "BMP2", "T72"};
  m.chain = "chip=64x64 | preprocess=db(floor=0, scale=20) | blocks=stats(bins=64, topk=16, sigma=3)";
  m.fingerprint = "0123456789abcdef";
  m.pca = {{"mean", {1.0, 2.0}}, {"dim", {2.0}}};
  m.provenance = {{"command_line", "sarscale train ..."}, {"cv", "{\"cv_accuracy\": 0.9}"}};
  return m;
}

}  // namespace

TEST(ModelFile, RoundTripKeepsEveryField) {
  const fs::path dir = test::scratch_dir("model_file_round_trip");
  const io::ModelFile m = trained_model();
  io::write_model_file(dir / "m.h5", m);
  EXPECT_FALSE(fs::exists(dir / "m.h5.tmp"));
  const io::ModelFile r = io::read_model_file(dir / "m.h5");
  EXPECT_EQ(r.svm.labels, m.svm.labels);
  EXPECT_EQ(r.svm.sv_count, m.svm.sv_count);
  EXPECT_EQ(r.svm.support_vectors, m.svm.support_vectors);
  EXPECT_EQ(r.svm.sv_coef, m.svm.sv_coef);
  EXPECT_EQ(r.svm.rho, m.svm.rho);
  EXPECT_EQ(r.svm.prob_a, m.svm.prob_a);
  EXPECT_EQ(r.svm.prob_b, m.svm.prob_b);
  EXPECT_EQ(r.svm.sv_indices, m.svm.sv_indices);
  EXPECT_EQ(r.svm.kernel, m.svm.kernel);
  EXPECT_EQ(r.svm.dim, m.svm.dim);
  EXPECT_EQ(r.class_names, m.class_names);
  EXPECT_EQ(r.chain, m.chain);
  EXPECT_EQ(r.fingerprint, m.fingerprint);
  EXPECT_EQ(r.pca, m.pca);
  EXPECT_EQ(r.provenance, m.provenance);
}

TEST(ModelFile, DamagedFilesGiveClearErrors) {
  const fs::path dir = test::scratch_dir("model_file_damaged");
  const auto message = [&](const fs::path& p) {
    try {
      io::read_model_file(p);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(dir / "missing.h5").find("no such file"), std::string::npos);
  std::ofstream(dir / "text.h5") << "not hdf5";
  EXPECT_NE(message(dir / "text.h5").find("not a model written by `sarscale train`"), std::string::npos);
  io::write_model_file(dir / "m.h5", trained_model());
  const auto size = fs::file_size(dir / "m.h5");
  for (const double keep : {0.9, 0.5, 0.1}) {
    fs::copy_file(dir / "m.h5", dir / "cut.h5", fs::copy_options::overwrite_existing);
    fs::resize_file(dir / "cut.h5", static_cast<std::uintmax_t>(size * keep));
    const std::string m = message(dir / "cut.h5");
    EXPECT_NE(m, "no error") << "truncated to " << keep;
    EXPECT_NE(m.find("cut.h5"), std::string::npos) << m;
  }
}
