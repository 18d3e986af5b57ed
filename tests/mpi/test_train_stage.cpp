// `train` across ranks: the grid search's (point, fold) jobs are spread over the ranks, and the
// cross-validation table and the final model must be those of one process.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "mpi_test_support.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/train_stage.hpp"
#include "sarscale/io/model_file.hpp"
#include "sarscale/svm/libsvm_format.hpp"
#include "sarscale/svm/predict.hpp"

namespace fs = std::filesystem;
using namespace sarscale;
using sarscale::ConfigError;

namespace {

svm::Dataset blobs(unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  svm::Dataset d;
  d.dim = 6;
  for (int i = 0; i < 70; ++i)
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < d.dim; ++k) d.x.push_back(normal(rng) + (k % 3 == c ? 1.5 : 0.0));
      d.labels.push_back(c * 2 - 1);  // -1, 1, 3
      ++d.rows;
    }
  return d;
}

}  // namespace

TEST(TrainStage, GridSearchEqualsOneProcessAtAnyRankCount) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "train_stage");
  const svm::Dataset d = blobs(5);
  if (comm.is_root()) {
    std::ofstream out(dir / "train.txt");
    svm::write_libsvm_data(out, d);
  }
  comm.barrier();

  dist::TrainConfig cfg;
  cfg.data = dir / "train.txt";
  cfg.model = dir / "model.h5";
  cfg.grid = dist::Grid::parse("C=0.5,2^3 gamma=auto,0.5");
  cfg.folds = 4;
  cfg.seed = 9;
  cfg.params.solver.threads = 1;
  const dist::TrainSummary s = dist::run_train(comm, cfg);
  ASSERT_EQ(s.grid.size(), 4u);

  const svm::Dataset read = svm::read_libsvm_data(cfg.data);  // what the stage trained on
  const auto folds = svm::stratified_folds(read.labels, 4, 9);
  double best = -1;
  for (const auto& g : s.grid) {
    svm::TrainParams p = cfg.params;
    p.C = g.C;
    p.kernel.gamma = g.gamma;
    const double expected = svm::accuracy(svm::cross_validate(read, p, folds), read.labels);
    EXPECT_DOUBLE_EQ(g.cv_accuracy, expected)
        << "C " << g.C << " gamma " << g.gamma << " at " << comm.size() << " ranks";
    best = std::max(best, expected);
  }
  EXPECT_DOUBLE_EQ(s.best_cv_accuracy, best);
  EXPECT_GT(best, 0.8);

  // The model rank 0 wrote is the one-process model of the best point.
  const io::ModelFile m = io::read_model_file(cfg.model);
  svm::TrainParams p = cfg.params;
  p.C = s.best_C;
  p.kernel.gamma = s.best_gamma;
  const svm::SvmModel expected = svm::train(read, p);
  EXPECT_EQ(m.svm.sv_coef, expected.sv_coef);
  EXPECT_EQ(m.svm.rho, expected.rho);
  EXPECT_EQ(m.svm.labels, (std::vector<std::int32_t>{-1, 1, 3}));

  // The stored summary has the real timings and one peak RSS per rank (it was written before
  // they were known once: 0 s and an empty list); the same figures as the returned summary.
  ASSERT_TRUE(m.provenance.count("cv"));
  const std::string& cv = m.provenance.at("cv");
  EXPECT_GT(s.train_seconds, 0.0);
  EXPECT_NEAR(test::json_number(cv, "train_seconds"), s.train_seconds, 1e-9 * s.train_seconds) << cv;
  if (comm.is_root())  // rank 0's own figure (the others' differ)
    EXPECT_NEAR(test::json_number(cv, "cv_seconds"), s.cv_seconds, 1e-9 * s.cv_seconds) << cv;
  const double stored_seconds = test::json_number(cv, "seconds", /*last=*/true);
  EXPECT_GE(stored_seconds, test::json_number(cv, "train_seconds")) << cv;
  EXPECT_LE(stored_seconds, s.seconds) << cv;  // the printed figure also counts the model's write
  const std::vector<double> rss = test::json_numbers(cv, "peak_rss_mb");
  ASSERT_EQ(rss.size(), static_cast<std::size_t>(comm.size())) << cv;
  ASSERT_EQ(s.peak_rss_mb.size(), rss.size());
  for (std::size_t r = 0; r < rss.size(); ++r) {
    EXPECT_GT(rss[r], 10.0) << "rank " << r;  // an MPI process with HDF5 and GDAL loaded: tens of MB
    EXPECT_EQ(rss[r], static_cast<double>(s.peak_rss_mb[r])) << "rank " << r;
  }
}

TEST(TrainStage, CascadeModeHoldsASharePerRankAndMatchesOneProcess) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const fs::path dir = test::shared_scratch_dir(comm, "train_stage_cascade");
  const svm::Dataset d = blobs(6);
  if (comm.is_root()) {
    std::ofstream out(dir / "train.txt");
    svm::write_libsvm_data(out, d);
  }
  comm.barrier();
  dist::TrainConfig cfg;
  cfg.data = dir / "train.txt";
  cfg.model = dir / "model.h5";
  cfg.cascade = true;
  cfg.cascade_options.gather_below = 500;  // 140 rows x 6: cascaded; keeps the test small
  cfg.params.C = 2;
  cfg.params.solver.threads = 1;
  const dist::TrainSummary s = dist::run_train(comm, cfg);
  EXPECT_EQ(s.rows, d.rows);
  ASSERT_EQ(s.pairs.size(), 3u);
  for (const auto& p : s.pairs) EXPECT_EQ(p.cascaded, comm.size() > 1);

  const svm::Dataset read = svm::read_libsvm_data(cfg.data);
  svm::TrainParams p = cfg.params;
  const svm::SvmModel expected = svm::train(read, p);
  const io::ModelFile m = io::read_model_file(cfg.model);
  const auto a = svm::predict(m.svm, read.x.data(), read.rows).labels;
  const auto b = svm::predict(expected, read.x.data(), read.rows).labels;
  std::size_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i] ? 1 : 0;
  EXPECT_GE(static_cast<double>(same) / a.size(), 0.995);

  // With a grid (issue 12: it was refused), the search runs as without --cascade, and the chosen
  // point is trained by the cascade on the same shares: the model of the cascade at that point.
  dist::TrainConfig grid = cfg;
  grid.grid = dist::Grid::parse("C=0.25,2");
  grid.folds = 3;
  grid.model = dir / "grid_cascade.h5";
  const dist::TrainSummary g = dist::run_train(comm, grid);
  dist::TrainConfig searched = grid;
  searched.cascade = false;
  searched.model = dir / "grid.h5";
  const dist::TrainSummary q = dist::run_train(comm, searched);
  EXPECT_EQ(g.best_C, q.best_C);
  EXPECT_EQ(g.best_cv_accuracy, q.best_cv_accuracy);
  EXPECT_EQ(g.rows, d.rows);
  ASSERT_EQ(g.pairs.size(), 3u);
  for (const auto& p : g.pairs) EXPECT_EQ(p.cascaded, comm.size() > 1);
  dist::TrainConfig at_point = cfg;
  at_point.params.C = g.best_C;
  at_point.model = dir / "cascade_at_point.h5";
  dist::run_train(comm, at_point);
  const auto by_grid = svm::predict(io::read_model_file(grid.model).svm, read.x.data(), read.rows).labels;
  const auto by_hand = svm::predict(io::read_model_file(at_point.model).svm, read.x.data(), read.rows).labels;
  EXPECT_EQ(by_grid, by_hand);
}
