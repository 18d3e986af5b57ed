// The SVM layer on generated data: warm starts, weights, cache and thread invariance, class
// order and voting, probabilities, cross-validation folds, and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "sarscale/core/error.hpp"
#include "sarscale/svm/predict.hpp"
#include "sarscale/svm/solver.hpp"
#include "sarscale/svm/train.hpp"

using namespace sarscale::svm;

namespace {

// Gaussian blobs, one per class, overlapping enough that some alphas reach C.
Dataset blobs(int n_per_class, const std::vector<std::int32_t>& classes, int dim, unsigned seed, double spread = 1.2) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, spread);
  Dataset d;
  d.dim = dim;
  for (int i = 0; i < n_per_class; ++i)
    for (std::size_t c = 0; c < classes.size(); ++c) {
      for (int k = 0; k < dim; ++k)
        d.x.push_back(normal(rng) + (k % static_cast<int>(classes.size()) == static_cast<int>(c) ? 2.0 : 0.0));
      d.labels.push_back(classes[c]);
      ++d.rows;
    }
  return d;
}

BinaryProblem binary_problem(const Dataset& d, double C) {
  BinaryProblem p;
  p.x = d.x.data();
  p.n = d.rows;
  p.dim = d.dim;
  for (const auto l : d.labels) p.y.push_back(l > 0 ? 1 : -1);
  p.C.assign(static_cast<std::size_t>(d.rows), C);
  p.kernel.gamma = 0.5;
  return p;
}

}  // namespace

TEST(SvmSolver, WarmStartFromTheOptimumConvergesAtOnce) {
  const Dataset d = blobs(150, {1, -1}, 4, 7);
  BinaryProblem p = binary_problem(d, 2.0);
  const BinarySolution cold = solve_c_svc(p, {});
  EXPECT_GT(cold.iterations, 100);
  EXPECT_GT(cold.n_bsv, 0);
  p.initial_alpha = cold.alpha;
  const BinarySolution warm = solve_c_svc(p, {});
  // A few steps: the cold run stopped within eps of the optimum, and the restart recomputes the
  // gradient from scratch (rounding may put a pair just above eps again).
  EXPECT_LE(warm.iterations, std::max<std::int64_t>(5, cold.iterations / 20)) << "cold: " << cold.iterations;
  EXPECT_NEAR(warm.objective, cold.objective, 1e-9 * std::abs(cold.objective));
  EXPECT_NEAR(warm.rho, cold.rho, 1e-3);

  // From a start that is not optimal (half the alphas), the same optimum in fewer steps.
  for (std::size_t i = 0; i < p.initial_alpha.size(); i += 2) p.initial_alpha[i] = 0;
  const BinarySolution partial = solve_c_svc(p, {});
  EXPECT_NEAR(partial.objective, cold.objective, 1e-3 * std::abs(cold.objective));
}

TEST(SvmSolver, TinyCacheAndOneThreadGiveTheSameSolution) {
  const Dataset d = blobs(200, {1, -1}, 6, 8);
  const BinaryProblem p = binary_problem(d, 1.0);
  SolverOptions big;
  big.threads = 2;
  SolverOptions tiny;
  tiny.cache_bytes = 1;  // two columns: every swap and eviction path of the LRU cache runs
  tiny.threads = 1;
  const BinarySolution a = solve_c_svc(p, big), b = solve_c_svc(p, tiny);
  EXPECT_EQ(a.alpha, b.alpha);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.rho, b.rho);
  EXPECT_GT(b.kernel_evaluations, a.kernel_evaluations);

  SolverOptions no_shrink;
  no_shrink.shrinking = false;
  const BinarySolution c = solve_c_svc(p, no_shrink);
  EXPECT_NEAR(c.objective, a.objective, 1e-3 * std::abs(a.objective));
}

TEST(SvmSolver, KktConditionsHoldAtTheSolution) {
  const Dataset d = blobs(120, {1, -1}, 3, 9);
  const BinaryProblem p = binary_problem(d, 3.0);
  const BinarySolution s = solve_c_svc(p, {});
  // y_i G_i vs rho: free variables sit at rho, bounded ones on their side (within eps).
  for (std::size_t i = 0; i < s.alpha.size(); ++i) {
    const double yg = p.y[i] * s.gradient[i];
    if (s.alpha[i] > 0 && s.alpha[i] < p.C[i]) EXPECT_NEAR(yg, s.rho, 1e-3) << i;
    if (s.alpha[i] == 0) EXPECT_TRUE(p.y[i] > 0 ? yg >= s.rho - 1e-3 : yg <= s.rho + 1e-3) << i;
  }
  double sum = 0;
  for (std::size_t i = 0; i < s.alpha.size(); ++i) sum += p.y[i] * s.alpha[i];
  EXPECT_NEAR(sum, 0.0, 1e-9);
}

TEST(SvmTrain, ClassWeightsEqualSampleWeights) {
  const Dataset d = blobs(80, {3, 5}, 4, 10);
  TrainParams by_class;
  by_class.kernel.gamma = 0.3;
  by_class.class_weights[5] = 3.0;
  TrainParams by_sample = by_class;
  by_sample.class_weights.clear();
  for (const auto l : d.labels) by_sample.sample_weights.push_back(l == 5 ? 3.0 : 1.0);
  const SvmModel a = train(d, by_class), b = train(d, by_sample);
  EXPECT_EQ(a.sv_coef, b.sv_coef);
  EXPECT_EQ(a.rho, b.rho);
  // Heavier class 5: more of its training rows end up on its side.
  const SvmModel plain = train(d, TrainParams{.kernel = by_class.kernel});
  const auto count5 = [&](const SvmModel& m) {
    const auto pr = predict(m, d.x.data(), d.rows).labels;
    return std::count(pr.begin(), pr.end(), 5);
  };
  EXPECT_GE(count5(a), count5(plain));
}

TEST(SvmTrain, ClassOrderVotingAndThreadInvariance) {
  const Dataset d = blobs(40, {7, 2, 9, 4}, 5, 11);
  TrainParams p;
  p.solver.threads = 1;
  TrainReport report;
  const SvmModel one = train(d, p, &report);
  EXPECT_EQ(one.labels, (std::vector<std::int32_t>{7, 2, 9, 4}));  // order of first appearance
  ASSERT_EQ(report.machines.size(), 6u);
  EXPECT_EQ(report.machines[0].label_i, 7);
  EXPECT_EQ(report.machines[0].label_j, 2);
  EXPECT_NEAR(one.kernel.gamma, 1.0 / 5, 1e-15);  // default gamma: 1 / features
  p.solver.threads = 3;
  const SvmModel three = train(d, p);
  EXPECT_EQ(one.sv_coef, three.sv_coef);
  EXPECT_EQ(one.support_vectors, three.support_vectors);
  const Predictions a = predict(one, d.x.data(), d.rows, false, 1), b = predict(one, d.x.data(), d.rows, false, 3);
  EXPECT_EQ(a.decision_values, b.decision_values);
  EXPECT_GT(accuracy(a.labels, d.labels), 0.8);
  // Votes from the decision values: the label with the most positive votes, ties to the first.
  for (std::int64_t r = 0; r < d.rows; ++r) {
    std::vector<int> votes(4, 0);
    std::size_t q = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = i + 1; j < 4; ++j, ++q) ++votes[a.decision_values[static_cast<std::size_t>(r) * 6 + q] > 0 ? i : j];
    const auto best = std::max_element(votes.begin(), votes.end()) - votes.begin();
    EXPECT_EQ(a.labels[static_cast<std::size_t>(r)], one.labels[static_cast<std::size_t>(best)]);
  }
}

TEST(SvmTrain, MinusOneFirstIsSwappedAsLibsvmDoes) {
  Dataset d = blobs(30, {-1, 1}, 3, 12);
  const SvmModel m = train(d, TrainParams{});
  EXPECT_EQ(m.labels, (std::vector<std::int32_t>{1, -1}));
}

TEST(SvmTrain, ProbabilitiesAreDistributions) {
  const Dataset d = blobs(60, {0, 1, 2}, 4, 13);
  TrainParams p;
  p.probability = true;
  const SvmModel m = train(d, p);
  ASSERT_TRUE(m.has_probability());
  const Predictions pr = predict(m, d.x.data(), d.rows, true);
  ASSERT_EQ(pr.probabilities.size(), static_cast<std::size_t>(d.rows) * 3);
  double confident = 0;
  for (std::int64_t r = 0; r < d.rows; ++r) {
    const double* pp = pr.probabilities.data() + r * 3;
    EXPECT_NEAR(pp[0] + pp[1] + pp[2], 1.0, 1e-6);
    for (int c = 0; c < 3; ++c) EXPECT_TRUE(pp[c] >= 0 && pp[c] <= 1);
    confident += *std::max_element(pp, pp + 3);
  }
  EXPECT_GT(confident / d.rows, 0.6);
  EXPECT_GT(accuracy(pr.labels, d.labels), 0.8);
}

TEST(SvmTrain, StratifiedFoldsAndCrossValidation) {
  const Dataset d = blobs(50, {1, 2, 3}, 4, 14, 0.5);
  const auto folds = stratified_folds(d.labels, 5, 42);
  std::map<std::pair<int, int>, int> per;
  for (std::size_t i = 0; i < folds.size(); ++i) ++per[{folds[i], d.labels[i]}];
  for (const auto& [key, n] : per) EXPECT_EQ(n, 10) << "fold " << key.first << " class " << key.second;
  EXPECT_EQ(stratified_folds(d.labels, 5, 42), folds);  // seeded
  const auto predicted = cross_validate(d, TrainParams{}, folds);
  EXPECT_GT(accuracy(predicted, d.labels), 0.9);
}

TEST(SvmTrain, RefusesWhatCannotBeTrained) {
  Dataset one_class = blobs(10, {4}, 3, 15);
  EXPECT_THROW(train(one_class, TrainParams{}), sarscale::InputError);
  Dataset nan = blobs(10, {1, 2}, 3, 16);
  nan.x[5] = std::nan("");
  EXPECT_THROW(train(nan, TrainParams{}), sarscale::InputError);
  TrainParams bad;
  bad.C = 0;
  EXPECT_THROW(train(blobs(10, {1, 2}, 3, 17), bad), sarscale::ConfigError);
  Dataset broken = blobs(10, {1, 2}, 3, 18);
  broken.labels.pop_back();
  EXPECT_THROW(train(broken, TrainParams{}), sarscale::ConfigError);
  EXPECT_THROW(stratified_folds({1, 2}, 1, 0), sarscale::ConfigError);
}

// Incremental training: the old model's support vectors + new rows, warm-started from the old
// model; then old rows violating the new model's KKT conditions join (feedback) until none
// remains. The result must equal a full retrain on old + new rows.
TEST(SvmTrain, WarmStartWithFeedbackMatchesAFullRetrain) {
  const std::vector<std::int32_t> classes{7, 2, 9, 4};
  const Dataset old_rows = blobs(150, classes, 5, 21), new_rows = blobs(60, classes, 5, 22);
  const Dataset validation = blobs(250, classes, 5, 23);
  TrainParams p;
  p.C = 2;
  p.kernel.gamma = 0.3;
  const SvmModel old_model = train(old_rows, p);

  Dataset all = old_rows;
  all.x.insert(all.x.end(), new_rows.x.begin(), new_rows.x.end());
  all.labels.insert(all.labels.end(), new_rows.labels.begin(), new_rows.labels.end());
  all.rows += new_rows.rows;
  TrainReport full_report;
  const SvmModel full = train(all, p, &full_report);

  // The old model's support vectors, class by class in its order (sv_indices: their old rows).
  Dataset joined;
  joined.dim = old_rows.dim;
  TrainParams warm = p;
  std::vector<char> used(static_cast<std::size_t>(old_rows.rows), 0);
  for (std::int64_t s = 0; s < old_model.total_sv(); ++s) {
    const std::int64_t r = old_model.sv_indices[static_cast<std::size_t>(s)];
    used[static_cast<std::size_t>(r)] = 1;
    joined.x.insert(joined.x.end(), old_rows.row(r), old_rows.row(r) + 5);
    joined.labels.push_back(old_rows.labels[static_cast<std::size_t>(r)]);
    warm.warm_start.rows.push_back(s);
  }
  warm.warm_start.labels = old_model.labels;
  warm.warm_start.coef = old_model.sv_coef;
  joined.rows = static_cast<std::int64_t>(joined.labels.size());
  ASSERT_LT(joined.rows, old_rows.rows);  // some old rows are left out, or the test shows nothing
  {  // alone, the old support vectors start at their optimum: a few iterations, same objective
    TrainReport from_model, from_zero;
    train(joined, warm, &from_model);
    train(joined, p, &from_zero);
    for (std::size_t q = 0; q < from_model.machines.size(); ++q) {
      EXPECT_LT(from_model.machines[q].iterations * 5, from_zero.machines[q].iterations);
      EXPECT_NEAR(from_model.machines[q].objective, from_zero.machines[q].objective,
                  1e-6 * std::abs(from_zero.machines[q].objective));
    }
  }
  joined.x.insert(joined.x.end(), new_rows.x.begin(), new_rows.x.end());
  joined.labels.insert(joined.labels.end(), new_rows.labels.begin(), new_rows.labels.end());
  joined.rows += new_rows.rows;
  TrainReport report;
  SvmModel model = train(joined, warm, &report);

  // Feedback over the old rows that were not support vectors.
  std::vector<std::int64_t> rest_rows;
  for (std::int64_t r = 0; r < old_rows.rows; ++r)
    if (!used[static_cast<std::size_t>(r)]) rest_rows.push_back(r);
  Dataset rest = old_rows.subset(rest_rows);
  int passes = 0;
  std::int64_t first_violators = -1;
  for (; passes < 10; ++passes) {
    const std::vector<std::int64_t> v = kkt_violators(model, rest, p.solver.eps);
    if (first_violators < 0) first_violators = static_cast<std::int64_t>(v.size());
    if (v.empty()) break;
    std::vector<std::int64_t> keep;
    for (std::int64_t r = 0, at = 0; r < rest.rows; ++r) {
      if (at < static_cast<std::int64_t>(v.size()) && v[static_cast<std::size_t>(at)] == r) {
        joined.x.insert(joined.x.end(), rest.row(r), rest.row(r) + 5);
        joined.labels.push_back(rest.labels[static_cast<std::size_t>(r)]);
        ++joined.rows;
        ++at;
      } else {
        keep.push_back(r);
      }
    }
    rest = rest.subset(keep);
    TrainParams next = p;
    next.warm_start = {model.labels, model.sv_indices, model.sv_coef};
    model = train(joined, next, &report);
  }
  EXPECT_GT(first_violators, 0);  // here some old non-support vectors do matter
  EXPECT_LT(passes, 10);
  ASSERT_EQ(report.machines.size(), full_report.machines.size());
  for (std::size_t q = 0; q < full_report.machines.size(); ++q)
    EXPECT_NEAR(report.machines[q].objective, full_report.machines[q].objective,
                1e-3 * std::abs(full_report.machines[q].objective));
  const auto a = predict(model, validation.x.data(), validation.rows).labels;
  const auto b = predict(full, validation.x.data(), validation.rows).labels;
  std::int64_t same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  EXPECT_GE(static_cast<double>(same), 0.995 * static_cast<double>(a.size()));
}

TEST(SvmTrain, KktViolatorsAreTheRowsThatWouldChangeTheModel) {
  const Dataset d = blobs(60, {1, 2, 3}, 4, 31);
  TrainParams p;
  p.kernel.gamma = 0.4;
  const SvmModel m = train(d, p);
  // At the optimum, no training row with alpha 0 violates the conditions (to the solver's eps).
  std::vector<char> is_sv(static_cast<std::size_t>(d.rows), 0);
  for (const auto r : m.sv_indices) is_sv[static_cast<std::size_t>(r)] = 1;
  std::vector<std::int64_t> others;
  for (std::int64_t r = 0; r < d.rows; ++r)
    if (!is_sv[static_cast<std::size_t>(r)]) others.push_back(r);
  ASSERT_GT(others.size(), 10u);
  Dataset probe = d.subset(others);
  EXPECT_TRUE(kkt_violators(m, probe, 2 * p.solver.eps).empty());
  // A row of class 1 placed on a class-2 support vector violates; an unknown class always does.
  const std::int64_t n = probe.rows;
  const std::int64_t sv2 = m.sv_count[0];  // first support vector of the second class (label 2)
  probe.x.insert(probe.x.end(), m.support_vectors.begin() + sv2 * 4, m.support_vectors.begin() + (sv2 + 1) * 4);
  probe.labels.push_back(1);
  probe.x.insert(probe.x.end(), d.x.begin(), d.x.begin() + 4);
  probe.labels.push_back(99);
  probe.rows += 2;
  const auto v = kkt_violators(m, probe, 2 * p.solver.eps);
  EXPECT_EQ(v, (std::vector<std::int64_t>{n, n + 1}));
}

// A shared Gram matrix (grid searches) gives the model that computing the kernel gives: every
// kernel, class weights, probabilities, a subset of the Gram's rows in another order.
TEST(SvmGram, SameModelAsComputedKernelValues) {
  const Dataset all = blobs(60, {3, 1, 2}, 5, 11);
  const GramMatrix gram = GramMatrix::of(all.x.data(), all.rows, all.dim);
  for (std::int64_t a = 0; a < all.rows; a += 17)
    for (std::int64_t b = 0; b < all.rows; b += 13) {
      EXPECT_EQ(gram.row(a)[b], gram.row(b)[a]);
      double dot = 0;
      for (int k = 0; k < all.dim; ++k) dot += all.row(a)[k] * all.row(b)[k];
      EXPECT_NEAR(gram.row(a)[b], dot, 1e-12 * (1 + std::abs(dot)));
    }
  // Every other row, backwards: training row r is Gram row rows[r].
  std::vector<std::int64_t> rows;
  for (std::int64_t r = all.rows - 1; r >= 0; r -= 2) rows.push_back(r);
  const Dataset d = all.subset(rows);
  for (const KernelType type : {KernelType::rbf, KernelType::linear, KernelType::polynomial}) {
    TrainParams p;
    p.kernel.type = type;
    p.kernel.gamma = 0.2;
    p.kernel.coef0 = 1;
    p.C = 3;
    p.class_weights[2] = 2.5;
    p.probability = type == KernelType::rbf;
    TrainReport plain_report, gram_report;
    const SvmModel plain = train(d, p, &plain_report);
    p.gram = &gram;
    p.gram_rows = rows;
    const SvmModel looked_up = train(d, p, &gram_report);
    ASSERT_EQ(plain.sv_indices, looked_up.sv_indices) << to_string(type);
    ASSERT_EQ(plain_report.machines.size(), gram_report.machines.size());
    for (std::size_t q = 0; q < plain_report.machines.size(); ++q) {
      const auto& a = plain_report.machines[q];
      const auto& b = gram_report.machines[q];
      EXPECT_NEAR(a.objective, b.objective, 1e-9 * std::abs(a.objective)) << to_string(type) << " machine " << q;
      EXPECT_NEAR(a.rho, b.rho, 1e-7 * (1 + std::abs(a.rho))) << to_string(type) << " machine " << q;
    }
    const Predictions pa = predict(plain, all.x.data(), all.rows, p.probability);
    const Predictions pb = predict(looked_up, all.x.data(), all.rows, p.probability);
    EXPECT_EQ(pa.labels, pb.labels) << to_string(type);
    for (std::size_t i = 0; i < pa.probabilities.size(); ++i) EXPECT_NEAR(pa.probabilities[i], pb.probabilities[i], 1e-6);
  }
  // A Gram row outside the matrix is refused.
  TrainParams bad;
  bad.kernel.gamma = 0.2;
  bad.gram = &gram;
  bad.gram_rows = rows;
  bad.gram_rows[3] = all.rows;
  EXPECT_THROW(train(d, bad), sarscale::ConfigError);
}

// Sparse rows (below a quarter nonzero) take prediction's sparse path: decision values equal the
// kernel sums computed one support vector at a time, for every kernel.
TEST(SvmPredict, SparseRowsGiveTheKernelSumsOfEverySupportVector) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Dataset d;
  d.dim = 40;
  for (int i = 0; i < 300; ++i) {
    const int label = i % 3;
    for (int k = 0; k < d.dim; ++k)
      d.x.push_back(u(rng) < 0.08 || (k % 3 == label && u(rng) < 0.1) ? u(rng) + (k % 3 == label ? 0.5 : 0.0) : 0.0);
    d.labels.push_back(label);
    ++d.rows;
  }
  for (const KernelType type : {KernelType::rbf, KernelType::linear, KernelType::polynomial, KernelType::sigmoid}) {
    TrainParams p;
    p.kernel.type = type;
    p.kernel.gamma = 0.3;
    p.kernel.coef0 = 0.1;
    p.C = 2;
    const SvmModel m = train(d, p);
    const Predictions pr = predict(m, d.x.data(), d.rows);
    const std::int64_t l = m.total_sv();
    std::vector<std::int64_t> start{0};
    for (int c = 0; c + 1 < m.classes(); ++c) start.push_back(start.back() + m.sv_count[static_cast<std::size_t>(c)]);
    const std::size_t pairs = static_cast<std::size_t>(m.classes() * (m.classes() - 1) / 2);
    for (std::int64_t r = 0; r < d.rows; r += 7) {
      const double* x = d.row(r);
      std::vector<double> kv(static_cast<std::size_t>(l));
      for (std::int64_t s = 0; s < l; ++s) {
        const double* sv = m.support_vectors.data() + s * d.dim;
        double xx = 0, ss = 0;
        for (int k = 0; k < d.dim; ++k) {
          xx += x[k] * x[k];
          ss += sv[k] * sv[k];
        }
        kv[static_cast<std::size_t>(s)] = kernel_value(m.kernel, sv, x, d.dim, ss, xx);
      }
      std::size_t q = 0;
      for (int i = 0; i < m.classes(); ++i)
        for (int j = i + 1; j < m.classes(); ++j, ++q) {
          double sum = 0;
          for (const int c : {i, j})
            for (std::int64_t s = start[static_cast<std::size_t>(c)];
                 s < start[static_cast<std::size_t>(c)] + m.sv_count[static_cast<std::size_t>(c)]; ++s)
              sum += m.sv_coef[static_cast<std::size_t>(c == i ? j - 1 : i) * static_cast<std::size_t>(l) +
                               static_cast<std::size_t>(s)] *
                     kv[static_cast<std::size_t>(s)];
          EXPECT_NEAR(pr.decision_values[static_cast<std::size_t>(r) * pairs + q], sum - m.rho[q], 1e-9)
              << to_string(type) << " row " << r << " pair " << q;
        }
    }
  }
}
