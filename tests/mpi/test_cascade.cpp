// The cascade with feedback reaches the single-node solver's optimum at any rank count.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "sarscale/dist/cascade.hpp"
#include "sarscale/dist/partition.hpp"

using namespace sarscale;

namespace {

// Two overlapping Gaussian classes, the same on every rank (fixed seed).
void make_data(int n, int dim, unsigned seed, std::vector<double>& x, std::vector<signed char>& y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int i = 0; i < n; ++i) {
    const signed char label = i % 3 == 0 ? -1 : 1;  // unbalanced
    for (int k = 0; k < dim; ++k) x.push_back(normal(rng) + (label > 0 && k < 2 ? 1.2 : 0.0));
    y.push_back(label);
  }
}

}  // namespace

TEST(Cascade, ReachesTheSingleNodeOptimum) {
  const dist::Comm comm(MPI_COMM_WORLD);
  constexpr int kRows = 900, kDim = 5;
  std::vector<double> x, xv;
  std::vector<signed char> y, yv;
  make_data(kRows, kDim, 3, x, y);
  make_data(400, kDim, 4, xv, yv);
  svm::KernelParams kernel;
  kernel.gamma = 0.3;
  dist::CascadeOptions options;
  options.solver.threads = 1;

  // The whole problem on one process.
  svm::BinaryProblem whole;
  whole.x = x.data();
  whole.n = kRows;
  whole.dim = kDim;
  whole.y = y;
  whole.C.assign(kRows, 2.0);
  whole.kernel = kernel;
  const svm::BinarySolution single = svm::solve_c_svc(whole, options.solver);

  const auto mine = dist::block_range(kRows, comm.size(), comm.rank());
  std::vector<std::int64_t> ids;
  for (std::size_t i = mine.begin; i < mine.end; ++i) ids.push_back(static_cast<std::int64_t>(i));
  const dist::CascadeResult r =
      dist::cascade_binary(comm, x.data() + mine.begin * kDim, static_cast<std::int64_t>(mine.size()), kDim,
                           std::vector<signed char>(y.begin() + static_cast<std::ptrdiff_t>(mine.begin),
                                                    y.begin() + static_cast<std::ptrdiff_t>(mine.end)),
                           std::vector<double>(mine.size(), 2.0), ids, kernel, options);

  EXPECT_TRUE(r.converged);
  EXPECT_NEAR(r.objective, single.objective, 1e-3 * std::abs(single.objective));
  EXPECT_EQ(r.passes.back().violators, 0);
  EXPECT_NEAR(static_cast<double>(r.sv_id.size()), static_cast<double>(single.n_sv), 0.01 * single.n_sv + 1);
  if (comm.is_root())
    for (const auto& p : r.passes)
      std::printf(
          "[ INFO     ] %d ranks, pass %d: objective %.6f (single node %.6f), %lld SVs, %lld violators, %llu bytes\n",
          comm.size(), p.pass, p.objective, single.objective, static_cast<long long>(p.n_sv),
          static_cast<long long>(p.violators), static_cast<unsigned long long>(p.bytes_sent));

  // Same predictions on held-out rows (decision of the single-node solution computed alike).
  dist::CascadeResult reference;
  reference.dim = kDim;
  reference.rho = single.rho;
  for (int i = 0; i < kRows; ++i)
    if (single.alpha[static_cast<std::size_t>(i)] > 0) {
      reference.sv_x.insert(reference.sv_x.end(), x.begin() + i * kDim, x.begin() + (i + 1) * kDim);
      reference.sv_y.push_back(y[static_cast<std::size_t>(i)]);
      reference.sv_alpha.push_back(single.alpha[static_cast<std::size_t>(i)]);
    }
  int same = 0;
  for (int i = 0; i < 400; ++i) {
    const double* row = xv.data() + i * kDim;
    same += (dist::cascade_decision(r, kernel, row) > 0) == (dist::cascade_decision(reference, kernel, row) > 0);
  }
  EXPECT_GE(same, 398) << "of 400 held-out rows";  // 99.5%
}
