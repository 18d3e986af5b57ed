#include "sarscale/dist/cascade.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "cascade_check.hpp"
#include "sarscale/core/error.hpp"
#include "sarscale/svm/predict.hpp"

namespace sarscale::dist {

namespace {

constexpr int kCascadeTag = 4712;

// A set of rows of a binary problem with their alphas, as it travels between ranks.
struct RowSet {
  int dim = 0;
  std::vector<double> x;
  std::vector<signed char> y;
  std::vector<double> c, alpha;
  std::vector<std::int64_t> id;

  std::size_t size() const { return y.size(); }
  void add(const double* row, signed char label, double bound, double a, std::int64_t gid) {
    x.insert(x.end(), row, row + dim);
    y.push_back(label);
    c.push_back(bound);
    alpha.push_back(a);
    id.push_back(gid);
  }
  // Flat doubles: [n, then per row: y, c, alpha, id, x...]. Ids stay exact below 2^53.
  std::vector<double> pack() const {
    std::vector<double> out;
    out.reserve(1 + size() * (4 + static_cast<std::size_t>(dim)));
    out.push_back(static_cast<double>(size()));
    for (std::size_t i = 0; i < size(); ++i) {
      out.insert(out.end(), {static_cast<double>(y[i]), c[i], alpha[i], static_cast<double>(id[i])});
      out.insert(out.end(), x.begin() + static_cast<std::ptrdiff_t>(i * dim),
                 x.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    }
    return out;
  }
  static RowSet unpack(const std::vector<double>& in, int dim) {
    RowSet s;
    s.dim = dim;
    const auto n = static_cast<std::size_t>(in.at(0));
    std::size_t at = 1;
    for (std::size_t i = 0; i < n; ++i, at += 4 + static_cast<std::size_t>(dim))
      s.add(in.data() + at + 4, static_cast<signed char>(in[at]), in[at + 1], in[at + 2],
            static_cast<std::int64_t>(in[at + 3]));
    return s;
  }
  // Rows of `other` whose id is not here yet (the same row can reach a rank twice after feedback).
  void merge(const RowSet& other) {
    std::unordered_map<std::int64_t, std::size_t> seen;
    for (std::size_t i = 0; i < size(); ++i) seen.emplace(id[i], i);
    for (std::size_t i = 0; i < other.size(); ++i)
      if (!seen.count(other.id[i]))
        add(other.x.data() + i * static_cast<std::size_t>(dim), other.y[i], other.c[i], other.alpha[i], other.id[i]);
  }
};

struct Solved {
  RowSet sv;  // rows with alpha > 0, alphas from the solution
  double rho = 0, objective = 0;
};

Solved solve(const RowSet& rows, const svm::KernelParams& kernel, const svm::SolverOptions& options) {
  Solved out;
  out.sv.dim = rows.dim;
  if (rows.size() == 0) return out;
  svm::BinaryProblem p;
  p.x = rows.x.data();
  p.n = static_cast<std::int64_t>(rows.size());
  p.dim = rows.dim;
  p.y = rows.y;
  p.C = rows.c;
  p.kernel = kernel;
  p.initial_alpha = rows.alpha;
  const bool one_class = std::all_of(rows.y.begin(), rows.y.end(), [&](signed char v) { return v == rows.y[0]; });
  // One class alone has no margin (y^T alpha = 0 keeps every alpha at 0), so it cannot say which
  // of its rows will matter: they all go up, to be solved where the other class is. (A rank
  // holding one class is common: archives are sorted by class.)
  if (one_class) {
    out.sv = rows;
    return out;
  }
  const svm::BinarySolution s = svm::solve_c_svc(p, options);
  out.rho = s.rho;
  out.objective = s.objective;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (s.alpha[i] > 0)
      out.sv.add(rows.x.data() + i * static_cast<std::size_t>(rows.dim), rows.y[i], rows.c[i], s.alpha[i], rows.id[i]);
  return out;
}

void send_set(const Comm& comm, const RowSet& s, int to, std::uint64_t& bytes) {
  const std::vector<double> buf = s.pack();
  const auto n = static_cast<std::uint64_t>(buf.size());
  Comm::check(MPI_Send(&n, 1, MPI_UINT64_T, to, kCascadeTag, comm.raw()), "MPI_Send (cascade size)");
  if (n > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw ConfigError("cascade: a support-vector set above 2^31 doubles cannot be sent in one message");
  Comm::check(MPI_Send(buf.data(), static_cast<int>(n), MPI_DOUBLE, to, kCascadeTag, comm.raw()), "MPI_Send (cascade)");
  bytes += n * sizeof(double);
}

RowSet recv_set(const Comm& comm, int from, int dim) {
  std::uint64_t n = 0;
  Comm::check(MPI_Recv(&n, 1, MPI_UINT64_T, from, kCascadeTag, comm.raw(), MPI_STATUS_IGNORE), "MPI_Recv (cascade)");
  std::vector<double> buf(n);
  Comm::check(MPI_Recv(buf.data(), static_cast<int>(n), MPI_DOUBLE, from, kCascadeTag, comm.raw(), MPI_STATUS_IGNORE),
              "MPI_Recv (cascade)");
  return RowSet::unpack(buf, dim);
}

// Decision values of the top solution at every row of `rows`, batched: the top set as a two-class
// model (positive rows first, LIBSVM's layout), so svm::predict's blocked kernel products do it.
std::vector<double> decisions(const RowSet& top, double rho, const svm::KernelParams& kernel, const RowSet& rows,
                              int threads) {
  std::vector<double> out(rows.size(), -rho);
  if (top.size() == 0 || rows.size() == 0) return out;
  svm::SvmModel m;
  m.kernel = kernel;
  m.dim = top.dim;
  m.labels = {1, -1};
  m.sv_count = {0, 0};
  for (const signed char side : {1, -1})
    for (std::size_t i = 0; i < top.size(); ++i)
      if (top.y[i] == side) {
        m.support_vectors.insert(m.support_vectors.end(), top.x.begin() + static_cast<std::ptrdiff_t>(i * top.dim),
                                 top.x.begin() + static_cast<std::ptrdiff_t>((i + 1) * top.dim));
        m.sv_coef.push_back(top.alpha[i] * side);
        ++m.sv_count[side > 0 ? 0 : 1];
      }
  m.rho = {rho};
  const svm::Predictions p = svm::predict(m, rows.x.data(), static_cast<std::int64_t>(rows.size()), false, threads);
  return p.decision_values;
}

// Ids in one set and not the other.
std::size_t set_changes(const std::vector<std::int64_t>& before, const std::vector<std::int64_t>& after) {
  std::unordered_map<std::int64_t, bool> was;
  for (const auto id : before) was.emplace(id, true);
  std::size_t changes = 0;
  for (const auto id : after) changes += was.erase(id) ? 0 : 1;
  return changes + was.size();
}

}  // namespace

std::vector<CascadeMerge> cascade_plan(int ranks) {
  if (ranks < 1) throw ConfigError("cascade_plan: at least one rank");
  std::vector<CascadeMerge> plan;
  for (int level = 0, step = 1; step < ranks; ++level, step *= 2)
    for (int r = 0; r + step < ranks; r += 2 * step) plan.push_back({level, r, r + step});
  return plan;
}

int cascade_levels(int ranks) {
  int levels = 0;
  for (int step = 1; step < ranks; step *= 2) ++levels;
  return levels;
}

double cascade_decision(const CascadeResult& r, const svm::KernelParams& kernel, const double* row) {
  RowSet sv, one;
  sv.dim = one.dim = r.dim;
  sv.x = r.sv_x;
  sv.y = r.sv_y;
  sv.alpha = r.sv_alpha;
  one.add(row, 1, 0.0, 0.0, 0);
  return decisions(sv, r.rho, kernel, one, 1).front();
}

CascadeResult cascade_binary(const Comm& comm, const double* x, std::int64_t n_local, int dim,
                             const std::vector<signed char>& y, const std::vector<double>& C,
                             const std::vector<std::int64_t>& ids, const svm::KernelParams& kernel,
                             const CascadeOptions& options) {
  const auto n = static_cast<std::size_t>(n_local);
  if (y.size() != n || C.size() != n || ids.size() != n)
    throw ConfigError("cascade: y, C and ids need one value per row");
  if (comm.min(dim) != comm.max(dim)) throw ConfigError("cascade: ranks disagree on the feature dimension");
  RowSet local;
  local.dim = dim;
  for (std::size_t i = 0; i < n; ++i) local.add(x + i * static_cast<std::size_t>(dim), y[i], C[i], 0.0, ids[i]);
  const std::vector<CascadeMerge> plan = cascade_plan(comm.size());

  CascadeResult result;
  result.dim = dim;
  RowSet top;  // the previous pass's top-level support vectors (feedback)
  top.dim = dim;
  double previous_objective = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::size_t> violating;  // own rows violating the last top solution's KKT conditions
  std::int64_t total_violators = 0;
  std::vector<std::int64_t> previous_ids;
  CheckColumns check(local.x.data(), static_cast<std::int64_t>(n), dim, kernel, options.check_cache_bytes,
                     options.solver.threads);
  // KKT check of the top solution on this rank's rows outside it: y f(x) >= 1 - eps for alpha 0.
  const auto check_rows = [&](double rho) {
    std::unordered_map<std::int64_t, bool> in_top;
    for (const auto id : top.id) in_top.emplace(id, true);
    std::vector<double> coef(top.size());
    for (std::size_t j = 0; j < top.size(); ++j) coef[j] = top.alpha[j] * top.y[j];
    const std::vector<double> sums = check.sums(top.id, top.x.data(), coef);
    violating.clear();
    for (std::size_t i = 0; i < local.size(); ++i)
      if (!in_top.count(local.id[i]) && local.y[i] * (sums[i] - rho) < 1.0 - options.solver.eps) violating.push_back(i);
    return comm.sum(static_cast<std::int64_t>(violating.size()));
  };
  const auto finish = [&] {
    result.sv_x = top.x;
    result.sv_y = top.y;
    result.sv_c = top.c;
    result.sv_alpha = top.alpha;
    result.sv_id = top.id;
    return result;
  };
  int first_pass = 1;
  if (options.resume) {
    // Continue after the checkpointed pass: its top level, checked against this rank's rows.
    const CascadeResult& r = *options.resume;
    if (r.dim != dim || r.sv_y.size() != r.sv_id.size() || r.sv_x.size() != r.sv_id.size() * static_cast<std::size_t>(dim))
      throw ConfigError("cascade: the state to resume from does not fit the rows");
    for (std::size_t j = 0; j < r.sv_id.size(); ++j)
      top.add(r.sv_x.data() + j * static_cast<std::size_t>(dim), r.sv_y[j], r.sv_c[j], r.sv_alpha[j], r.sv_id[j]);
    result.passes = r.passes;
    result.rho = r.rho;
    result.objective = r.objective;
    previous_objective = r.objective;
    previous_ids = top.id;
    first_pass = static_cast<int>(r.passes.size()) + 1;
    total_violators = check_rows(r.rho);
    if (total_violators == 0) {
      result.converged = result.optimal = true;
      return finish();
    }
  }
  for (int pass = first_pass; pass <= options.max_passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto since = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    std::uint64_t bytes = 0;
    const bool flat = pass > 1 && total_violators < static_cast<std::int64_t>(top.size());
    RowSet violators_set;
    violators_set.dim = dim;
    for (const std::size_t i : violating)
      violators_set.add(local.x.data() + i * static_cast<std::size_t>(dim), local.y[i], local.c[i], 0.0, local.id[i]);
    Solved mine;
    double t_leaf = 0;
    if (flat) {
      // Few violators: all of them to rank 0, which solves them with the top level, warm-started.
      if (comm.is_root()) {
        RowSet all = top;
        all.merge(violators_set);
        for (int r = 1; r < comm.size(); ++r) all.merge(recv_set(comm, r, dim));
        mine = solve(all, kernel, options.solver);
      } else {
        send_set(comm, violators_set, 0, bytes);
      }
    } else {
      // Leaf. Pass 1: all own rows. Later passes: the top level's support vectors plus this
      // rank's violators; a rank without violators has nothing to add (its leaf optimum is the
      // top solution itself) and skips the solve.
      if (pass == 1) {
        mine = solve(local, kernel, options.solver);
      } else if (violating.empty()) {
        mine.sv = top;
        mine.rho = result.rho;
        mine.objective = result.objective;
      } else {
        RowSet leaf = top;
        leaf.merge(violators_set);
        mine = solve(leaf, kernel, options.solver);
      }
      t_leaf = since();
      // Up the tree: merge, then solve the union warm-started from both sides' alphas.
      for (const CascadeMerge& m : plan) {
        if (comm.rank() == m.sender) send_set(comm, mine.sv, m.receiver, bytes);
        if (comm.rank() == m.receiver) {
          RowSet both = mine.sv;
          both.merge(recv_set(comm, m.sender, dim));
          mine = solve(both, kernel, options.solver);
        }
      }
    }
    // Feedback: the top level to every rank.
    std::vector<double> packed = comm.is_root() ? mine.sv.pack() : std::vector<double>{};
    comm.broadcast(packed, 0);
    double top_values[2] = {mine.rho, mine.objective};
    Comm::check(MPI_Bcast(top_values, 2, MPI_DOUBLE, 0, comm.raw()), "MPI_Bcast (cascade)");
    bytes += packed.size() * sizeof(double) * static_cast<std::uint64_t>(comm.size() - 1);
    top = RowSet::unpack(packed, dim);
    const double t_merge = since() - t_leaf;  // including the wait for the top level
    const double rho = top_values[0], objective = top_values[1];

    total_violators = check_rows(rho);
    const double t_check = since() - t_leaf - t_merge;

    CascadePass record;
    record.pass = pass;
    record.objective = objective;
    record.n_sv = static_cast<std::int64_t>(top.size());
    record.violators = total_violators;
    record.flat = flat;
    record.bytes_sent = comm.sum(bytes);
    record.leaf_seconds = comm.max(t_leaf);
    record.merge_seconds = comm.max(t_merge);
    record.check_seconds = comm.max(t_check);
    record.seconds = comm.max(since());
    result.passes.push_back(record);
    result.rho = rho;
    result.objective = objective;
    // Converged: no violator (the global optimum, to eps), or, with a tolerance, neither the
    // objective nor the support-vector set changed by more than that fraction since the last pass.
    const bool stable = pass > 1 && std::abs(objective - previous_objective) <= options.tolerance * std::abs(objective) &&
                        static_cast<double>(set_changes(previous_ids, top.id)) <= options.tolerance * top.size();
    previous_objective = objective;
    previous_ids = top.id;
    if (total_violators == 0 || stable) {
      result.converged = true;
      result.optimal = total_violators == 0;
      break;
    }
    if (options.after_pass && pass < options.max_passes) options.after_pass(finish());
  }
  return finish();
}

}  // namespace sarscale::dist
