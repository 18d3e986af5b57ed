// Multi-class training with the rows spread over ranks (pairs gathered to one rank, or each
// pair cascaded) against the single-node trainer on all rows.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "sarscale/dist/cascade_train.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/svm/predict.hpp"

using namespace sarscale;

namespace {

svm::Dataset blobs(int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  svm::Dataset d;
  d.dim = 4;
  const std::int32_t labels[] = {5, 2, 7, 3};
  for (int i = 0; i < n; ++i) {
    const int c = (i * 7 + i / 5) % 4;
    for (int k = 0; k < d.dim; ++k) d.x.push_back(normal(rng) + (k == c ? 1.8 : 0.0));
    d.labels.push_back(labels[c]);
    ++d.rows;
  }
  return d;
}

}  // namespace

TEST(CascadeTrain, EqualsSingleNodeTrainingForGatheredAndCascadedPairs) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const svm::Dataset all = blobs(800, 21), val = blobs(400, 22);
  svm::TrainParams params;
  params.C = 2;
  params.kernel.gamma = 0.3;
  params.solver.threads = 1;
  svm::TrainReport single_report;
  const svm::SvmModel single = svm::train(all, params, &single_report);
  const auto expected = svm::predict(single, val.x.data(), val.rows).labels;

  // This rank's rows: every third row dealt round-robin, so each rank sees every class.
  std::vector<std::int64_t> ids;
  for (std::int64_t i = comm.rank(); i < all.rows; i += comm.size()) ids.push_back(i);
  const svm::Dataset local = all.subset(ids);

  for (const double gather_below : {1e12, 0.0}) {
    dist::CascadeTrainOptions options;
    options.gather_below = gather_below;
    std::vector<dist::PairReport> report;
    const svm::SvmModel model = dist::train_distributed(comm, local, ids, params, options, &report);
    EXPECT_EQ(model.labels, single.labels);
    ASSERT_EQ(report.size(), single_report.machines.size());
    for (std::size_t p = 0; p < report.size(); ++p) {
      EXPECT_EQ(report[p].cascaded, gather_below == 0.0 && comm.size() > 1);
      EXPECT_NEAR(report[p].objective, single_report.machines[p].objective,
                  1e-3 * std::abs(single_report.machines[p].objective))
          << "pair " << p << (report[p].cascaded ? " (cascaded)" : " (gathered)");
    }
    const auto got = svm::predict(model, val.x.data(), val.rows).labels;
    std::size_t same = 0;
    for (std::size_t i = 0; i < got.size(); ++i) same += got[i] == expected[i] ? 1 : 0;
    EXPECT_GE(static_cast<double>(same) / got.size(), 0.995) << "gather_below " << gather_below;
    if (comm.is_root())
      std::printf("[ INFO     ] %d ranks, %s: %zu of %zu predictions as the single node's, %lld SVs (single %lld)\n",
                  comm.size(), gather_below == 0.0 ? "cascaded pairs" : "gathered pairs", same, got.size(),
                  static_cast<long long>(model.total_sv()), static_cast<long long>(single.total_sv()));
  }
}

// The ensemble (fast approximate) mode: at one rank it is the single-node model; at more ranks
// it is the mean of leaf machines (each machine's coefficients still sum to zero), and it stays
// accurate.
TEST(CascadeTrain, EnsembleAveragesTheLeafMachines) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const svm::Dataset all = blobs(800, 21), val = blobs(400, 22);
  svm::TrainParams params;
  params.C = 2;
  params.kernel.gamma = 0.3;
  params.solver.threads = 1;
  const svm::SvmModel single = svm::train(all, params);
  std::vector<std::int64_t> ids;
  for (std::int64_t i = comm.rank(); i < all.rows; i += comm.size()) ids.push_back(i);
  dist::CascadeTrainOptions options;
  options.mode = dist::DistributedMode::ensemble;
  std::vector<dist::PairReport> report;
  const svm::SvmModel model = dist::train_distributed(comm, all.subset(ids), ids, params, options, &report);
  const auto single_pred = svm::predict(single, val.x.data(), val.rows);
  const auto pred = svm::predict(model, val.x.data(), val.rows);
  for (const auto& r : report) {
    EXPECT_TRUE(r.ensemble);
    EXPECT_EQ(r.leaves, comm.size());
  }
  if (comm.size() == 1) {
    EXPECT_EQ(pred.labels, single_pred.labels);
    ASSERT_EQ(pred.decision_values.size(), single_pred.decision_values.size());
    for (std::size_t i = 0; i < pred.decision_values.size(); ++i)
      EXPECT_NEAR(pred.decision_values[i], single_pred.decision_values[i], 1e-9);
  }
  // Each machine's coefficients still sum to zero (every leaf's do), and the mean rho is used.
  const int k = model.classes();
  std::vector<double> per_pair(static_cast<std::size_t>(k * (k - 1) / 2), 0.0);
  std::vector<std::int64_t> start(static_cast<std::size_t>(k), 0);
  for (int c = 1; c < k; ++c) start[static_cast<std::size_t>(c)] = start[c - 1] + model.sv_count[c - 1];
  std::size_t q = 0;
  const auto l = static_cast<std::size_t>(model.total_sv());
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j, ++q) {
      for (std::int64_t s = start[i]; s < start[i] + model.sv_count[i]; ++s)
        per_pair[q] += model.sv_coef[static_cast<std::size_t>(j - 1) * l + static_cast<std::size_t>(s)];
      for (std::int64_t s = start[j]; s < start[j] + model.sv_count[j]; ++s)
        per_pair[q] += model.sv_coef[static_cast<std::size_t>(i) * l + static_cast<std::size_t>(s)];
      EXPECT_NEAR(per_pair[q], 0.0, 1e-9 * params.C * static_cast<double>(l));
    }
  // Averaging machines trained on a share of the rows loses little on separable blobs.
  const double acc = svm::accuracy(pred.labels, val.labels), single_acc = svm::accuracy(single_pred.labels, val.labels);
  EXPECT_GT(acc, single_acc - 0.03) << comm.size() << " ranks";
  if (comm.is_root())
    std::printf("[ INFO     ] %d ranks: ensemble accuracy %.4f, single node %.4f, %lld SVs (single %lld)\n",
                comm.size(), acc, single_acc, static_cast<long long>(model.total_sv()),
                static_cast<long long>(single.total_sv()));
}

// Checkpoints: a run that dies after a cascade pass (here: an exception thrown on every rank
// right after pass 2's checkpoint) is continued by the next run with the same checkpoint path:
// finished machines are taken as they were, the cascade goes on after its last pass, and the
// model equals an uninterrupted run's.
TEST(CascadeTrain, ContinuesFromItsCheckpoint) {
  const dist::Comm comm(MPI_COMM_WORLD);
  const svm::Dataset all = blobs(900, 31), val = blobs(400, 32);
  svm::TrainParams params;
  params.C = 2;
  params.kernel.gamma = 0.3;
  params.solver.threads = 1;
  std::vector<std::int64_t> ids;
  for (std::int64_t i = comm.rank(); i < all.rows; i += comm.size()) ids.push_back(i);
  const svm::Dataset local = all.subset(ids);
  dist::CascadeTrainOptions options;
  options.gather_below = 0;  // every machine cascaded
  options.cascade.tolerance = 0;
  const svm::SvmModel uninterrupted = dist::train_distributed(comm, local, ids, params, options);

  std::string tag = std::to_string(getpid());
  comm.broadcast(tag);
  options.checkpoint = "/tmp/sarscale_checkpoint_test_" + tag + ".h5";
  std::filesystem::remove(options.checkpoint);
  struct Crash {};
  int passes_seen = 0, machines_started = 0;
  options.cascade.after_pass = [&](const dist::CascadeResult& now) {
    ++passes_seen;
    if (now.passes.size() == 1) ++machines_started;
    if (machines_started == 3 && now.passes.size() == 1) throw Crash{};  // third machine, after its pass 1
  };
  if (comm.size() > 1) {
    EXPECT_THROW(dist::train_distributed(comm, local, ids, params, options), Crash);
  } else {  // one rank solves each machine whole (no cascade passes): a finished run's checkpoint
    dist::train_distributed(comm, local, ids, params, options);
  }
  EXPECT_TRUE(std::filesystem::exists(options.checkpoint));
  comm.barrier();
  options.cascade.after_pass = nullptr;
  std::vector<dist::PairReport> report;
  const svm::SvmModel resumed = dist::train_distributed(comm, local, ids, params, options, &report);
  int taken = 0;
  for (const auto& r : report) taken += r.resumed ? 1 : 0;
  if (comm.size() == 1) EXPECT_EQ(taken, 6);
  if (comm.size() > 1) {
    EXPECT_EQ(taken, 2);                      // two machines were finished before the crash
    EXPECT_GE(report[2].passes.size(), 1u);  // the third continued after its checkpointed pass
    EXPECT_EQ(report[2].passes.front().pass, 1);
  }
  EXPECT_EQ(resumed.labels, uninterrupted.labels);
  EXPECT_EQ(resumed.sv_count, uninterrupted.sv_count);
  ASSERT_EQ(resumed.rho.size(), uninterrupted.rho.size());
  for (std::size_t q = 0; q < resumed.rho.size(); ++q) EXPECT_NEAR(resumed.rho[q], uninterrupted.rho[q], 1e-6);
  EXPECT_EQ(svm::predict(resumed, val.x.data(), val.rows).labels,
            svm::predict(uninterrupted, val.x.data(), val.rows).labels);
  // A checkpoint of other data is ignored (warned), not trusted.
  std::vector<std::int64_t> fewer(ids.begin(), ids.end() - 1);
  std::vector<dist::PairReport> other;
  dist::train_distributed(comm, all.subset(fewer), fewer, params, options, &other);
  for (const auto& r : other) EXPECT_FALSE(r.resumed);
  comm.barrier();
  if (comm.is_root()) std::filesystem::remove(options.checkpoint);
}
