#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "pca_compare.hpp"
#include "random_data.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/dist/partition.hpp"
#include "sarscale/dist/pca.hpp"

using sarscale::dist::block_range;
using sarscale::dist::Comm;
using sarscale::features::Moments;
using sarscale::features::PcaModel;
using sarscale::features::PcaOptions;
using sarscale::test::max_difference;

namespace {

constexpr std::size_t kRows = 500;
constexpr int kDim = 20;

// The same correlated dataset on every rank (fixed seed), features offset by 100 j - 300.
std::vector<float> dataset(std::size_t n, int d) { return sarscale::test::correlated_rows(n, d, 2024, -300.0, 100.0); }

PcaModel single_process_fit(const std::vector<float>& rows, int d, const PcaOptions& options) {
  Moments m(d);
  m.add_rows(rows.data(), rows.size() / static_cast<std::size_t>(d), d);
  return sarscale::features::fit_pca(m, options);
}

// Every rank must hold a bit-identical model: compare with rank 0's.
void expect_identical_on_all_ranks(const Comm& comm, const PcaModel& model) {
  std::vector<double> flat;
  for (const auto& [key, values] : sarscale::features::pca_to_arrays(model))
    flat.insert(flat.end(), values.begin(), values.end());
  std::vector<double> root = flat;
  comm.broadcast(root, 0);
  EXPECT_TRUE(root == flat) << "rank " << comm.rank() << " fitted a different model than rank 0";
}

}  // namespace

TEST(PcaDist, FitEqualsSingleProcessFit) {
  const Comm comm(MPI_COMM_WORLD);
  const auto rows = dataset(kRows, kDim);
  const auto mine = block_range(kRows, comm.size(), comm.rank());
  std::vector<PcaOptions> cases(3);
  cases[0].components = 5;
  cases[0].whiten = true;
  cases[1].standardise = false;
  cases[1].explained_variance = 0.9;
  for (const auto& options : cases) {
    const PcaModel reference = single_process_fit(rows, kDim, options);
    const PcaModel model =
        sarscale::dist::fit_pca(comm, rows.data() + mine.begin * kDim, mine.size(), kDim, nullptr, options);
    const double worst = max_difference(model, reference);
    EXPECT_LT(worst, 1e-9);
    if (comm.is_root())
      std::printf("[ INFO     ] %d ranks, standardise=%d k=%d: max relative difference %.3g\n", comm.size(),
                  options.standardise, model.n_components(), worst);
    expect_identical_on_all_ranks(comm, model);

    // The fitted model applied to "another archive": same projection as the reference model.
    std::vector<float> test_rows = dataset(7, kDim), out(7 * static_cast<std::size_t>(model.n_components())),
                       expected(out.size());
    model.apply(test_rows.data(), 7, out.data());
    reference.apply(test_rows.data(), 7, expected.data());
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::size_t component = i % static_cast<std::size_t>(model.n_components());
      const bool flipped = model.components[component * kDim] * reference.components[component * kDim] < 0;
      EXPECT_NEAR(out[i], flipped ? -expected[i] : expected[i], 1e-4 * (1 + std::abs(expected[i])));
    }
  }
}

TEST(PcaDist, FlaggedRowsAreExcluded) {
  const Comm comm(MPI_COMM_WORLD);
  auto rows = dataset(kRows, kDim);
  std::vector<std::uint8_t> flags(kRows, 0);
  std::vector<float> kept;
  for (std::size_t r = 0; r < kRows; ++r) {
    if (r % 7 == 3 || r < 5) {
      flags[r] = 1;
      rows[r * kDim] = std::numeric_limits<float>::quiet_NaN();  // bad rows: must not be read
    } else {
      kept.insert(kept.end(), rows.begin() + static_cast<std::ptrdiff_t>(r * kDim),
                  rows.begin() + static_cast<std::ptrdiff_t>((r + 1) * kDim));
    }
  }
  PcaOptions options;
  options.components = 8;
  const PcaModel reference = single_process_fit(kept, kDim, options);
  const auto mine = block_range(kRows, comm.size(), comm.rank());
  const PcaModel model = sarscale::dist::fit_pca(comm, rows.data() + mine.begin * kDim, mine.size(), kDim,
                                                 flags.data() + mine.begin, options);
  EXPECT_EQ(model.n_samples, kept.size() / kDim);
  EXPECT_LT(max_difference(model, reference), 1e-9);
  expect_identical_on_all_ranks(comm, model);
}

TEST(PcaDist, MomentsMatchAndEmptyRanksAreFine) {
  const Comm comm(MPI_COMM_WORLD);
  const auto rows = dataset(3, kDim);  // fewer rows than ranks at 4 ranks
  const auto mine = block_range(3, comm.size(), comm.rank());
  Moments local(kDim);
  local.add_rows(rows.data() + mine.begin * kDim, mine.size(), kDim);
  const Moments combined = sarscale::dist::allreduce_moments(comm, local);
  Moments reference(kDim);
  reference.add_rows(rows.data(), 3, kDim);
  ASSERT_EQ(combined.count(), 3u);
  for (std::size_t i = 0; i < reference.m2().size(); ++i)
    EXPECT_NEAR(combined.m2()[i], reference.m2()[i], 1e-9 * (1 + std::abs(reference.m2()[i])));
  for (int i = 0; i < kDim; ++i)
    EXPECT_NEAR(combined.mean()[i], reference.mean()[i], 1e-9 * (1 + std::abs(reference.mean()[i])));
}

TEST(PcaDist, BadRowOnOneRankFailsEveryRank) {
  const Comm comm(MPI_COMM_WORLD);
  auto rows = dataset(kRows, kDim);
  rows[(kRows - 1) * kDim + 4] = std::numeric_limits<float>::infinity();  // owned by the last rank only
  const auto mine = block_range(kRows, comm.size(), comm.rank());
  EXPECT_THROW(sarscale::dist::fit_pca(comm, rows.data() + mine.begin * kDim, mine.size(), kDim, nullptr, PcaOptions{}),
               sarscale::InputError);
  // Too few rows overall is an error on every rank too (no rank left waiting).
  const auto two = block_range(1, comm.size(), comm.rank());
  EXPECT_THROW(sarscale::dist::fit_pca(comm, rows.data(), two.size(), kDim, nullptr, PcaOptions{}),
               sarscale::InputError);
}
