#include "sarscale/dist/cascade_train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "sarscale/core/error.hpp"

namespace sarscale::dist {

namespace {

struct LabelFirst {
  std::int32_t label;
  std::int64_t first_id;
  std::int64_t count;
};

// One binary machine's result: coefficient (alpha * y) per support vector id.
struct PairSolution {
  double rho = 0, objective = 0;
  std::vector<std::int64_t> id;
  std::vector<double> coef;
};

std::vector<double> pack_solution(const PairSolution& s) {
  std::vector<double> out = {s.rho, s.objective, static_cast<double>(s.id.size())};
  for (std::size_t i = 0; i < s.id.size(); ++i) out.insert(out.end(), {static_cast<double>(s.id[i]), s.coef[i]});
  return out;
}

PairSolution unpack_solution(const std::vector<double>& in) {
  PairSolution s;
  s.rho = in.at(0);
  s.objective = in.at(1);
  const auto n = static_cast<std::size_t>(in.at(2));
  for (std::size_t i = 0; i < n; ++i) {
    s.id.push_back(static_cast<std::int64_t>(in.at(3 + 2 * i)));
    s.coef.push_back(in.at(4 + 2 * i));
  }
  return s;
}

// Deals every row to rank hash(id) % size, so that each rank holds about 1/size of every class
// whatever the input order (archives are sorted by class: contiguous shares would give each
// rank one class, and a cascade of one-class leaves degenerates into gathering everything).
// One all-to-all of the rows; the hash keeps it deterministic for a given rank count.
void redistribute(const Comm& comm, const svm::Dataset& in, const std::vector<std::int64_t>& in_ids, int dim,
                  svm::Dataset& out, std::vector<std::int64_t>& out_ids, std::vector<double>& weights) {
  const int size = comm.size();
  const std::size_t width = 3 + static_cast<std::size_t>(dim);  // id, label, weight, x
  std::vector<std::vector<double>> to(static_cast<std::size_t>(size));
  for (std::int64_t r = 0; r < in.rows; ++r) {
    const auto id = in_ids[static_cast<std::size_t>(r)];
    std::uint64_t h = static_cast<std::uint64_t>(id) + 0x9E3779B97F4A7C15ULL;  // splitmix64
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    h ^= h >> 31;
    auto& buf = to[static_cast<std::size_t>(h % static_cast<std::uint64_t>(size))];
    buf.insert(buf.end(), {static_cast<double>(id), static_cast<double>(in.labels[static_cast<std::size_t>(r)]),
                           weights.empty() ? 1.0 : weights[static_cast<std::size_t>(r)]});
    buf.insert(buf.end(), in.row(r), in.row(r) + dim);
  }
  std::vector<long long> send_counts(static_cast<std::size_t>(size)), recv_counts(static_cast<std::size_t>(size));
  for (int q = 0; q < size; ++q)
    send_counts[static_cast<std::size_t>(q)] = static_cast<long long>(to[static_cast<std::size_t>(q)].size());
  Comm::check(MPI_Alltoall(send_counts.data(), 1, MPI_LONG_LONG, recv_counts.data(), 1, MPI_LONG_LONG, comm.raw()),
              "MPI_Alltoall (row counts)");
  std::vector<int> sc(static_cast<std::size_t>(size)), sd(static_cast<std::size_t>(size)),
      rc(static_cast<std::size_t>(size)), rd(static_cast<std::size_t>(size));
  std::vector<double> send, recv;
  long long total_recv = 0;
  for (int q = 0; q < size; ++q) {
    const auto u = static_cast<std::size_t>(q);
    if (send.size() + to[u].size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
        total_recv + recv_counts[u] > std::numeric_limits<int>::max())
      throw ConfigError("train_distributed: a rank's rows exceed 2^31 values; use more ranks");
    sd[u] = static_cast<int>(send.size());
    sc[u] = static_cast<int>(to[u].size());
    send.insert(send.end(), to[u].begin(), to[u].end());
    rd[u] = static_cast<int>(total_recv);
    rc[u] = static_cast<int>(recv_counts[u]);
    total_recv += recv_counts[u];
  }
  recv.resize(static_cast<std::size_t>(total_recv));
  Comm::check(MPI_Alltoallv(send.data(), sc.data(), sd.data(), MPI_DOUBLE, recv.data(), rc.data(), rd.data(),
                            MPI_DOUBLE, comm.raw()),
              "MPI_Alltoallv (rows)");
  const bool weighted = comm.any(!weights.empty());  // then every rank carries weights (1 where none)
  out = svm::Dataset{};
  out.dim = dim;
  out_ids.clear();
  weights.clear();
  for (std::size_t at = 0; at + width <= recv.size(); at += width) {
    out_ids.push_back(static_cast<std::int64_t>(recv[at]));
    out.labels.push_back(static_cast<std::int32_t>(recv[at + 1]));
    if (weighted) weights.push_back(recv[at + 2]);
    out.x.insert(out.x.end(), recv.begin() + static_cast<std::ptrdiff_t>(at + 3),
                 recv.begin() + static_cast<std::ptrdiff_t>(at + width));
    ++out.rows;
  }
}

// Ensemble mode: this rank's own machine for the pair, then the average over the ranks whose rows
// hold both classes (coefficients / leaves, rho averaged). Ids are unique across ranks.
PairSolution averaged_leaves(const Comm& comm, const svm::BinaryProblem& p, const std::vector<std::int64_t>& pid,
                             const svm::SolverOptions& solver, int& leaves) {
  PairSolution own;
  const bool both = std::find(p.y.begin(), p.y.end(), 1) != p.y.end() &&
                    std::find(p.y.begin(), p.y.end(), -1) != p.y.end();
  if (both) {
    const svm::BinarySolution s = svm::solve_c_svc(p, solver);
    own.rho = s.rho;
    own.objective = s.objective;
    for (std::size_t r = 0; r < s.alpha.size(); ++r)
      if (s.alpha[r] > 0) {
        own.id.push_back(pid[r]);
        own.coef.push_back(s.alpha[r] * p.y[r]);
      }
  }
  std::vector<double> packed = pack_solution(own);
  packed.insert(packed.begin(), both ? 1.0 : 0.0);
  const std::vector<std::int64_t> lengths = comm.allgather(static_cast<std::int64_t>(packed.size()));
  const std::vector<double> all = comm.allgatherv(packed);
  PairSolution out;
  leaves = 0;
  std::size_t at = 0;
  std::vector<PairSolution> parts;
  for (const auto len : lengths) {
    const std::vector<double> one(all.begin() + static_cast<std::ptrdiff_t>(at),
                                  all.begin() + static_cast<std::ptrdiff_t>(at + static_cast<std::size_t>(len)));
    at += static_cast<std::size_t>(len);
    if (one.at(0) == 0.0) continue;
    parts.push_back(unpack_solution(std::vector<double>(one.begin() + 1, one.end())));
  }
  leaves = static_cast<int>(parts.size());
  if (leaves == 0) throw InputError("ensemble: no rank holds rows of both classes of a machine; use fewer ranks");
  for (const PairSolution& q : parts) {
    out.rho += q.rho / leaves;
    out.objective += q.objective / leaves;
    for (std::size_t v = 0; v < q.id.size(); ++v) {
      out.id.push_back(q.id[v]);
      out.coef.push_back(q.coef[v] / leaves);
    }
  }
  return out;
}

}  // namespace

svm::SvmModel train_distributed(const Comm& comm, const svm::Dataset& given, const std::vector<std::int64_t>& given_ids,
                                const svm::TrainParams& given_params, const CascadeTrainOptions& options,
                                std::vector<PairReport>* report) {
  given.check();
  if (given_ids.size() != static_cast<std::size_t>(given.rows)) throw ConfigError("train_distributed: one id per row");
  if (given_params.probability)
    throw ConfigError("probability estimates are not available with distributed training yet");
  if (!given_params.sample_weights.empty() &&
      given_params.sample_weights.size() != static_cast<std::size_t>(given.rows))
    throw ConfigError("train_distributed: sample weights: one per local row");
  const int dim = comm.max(given.dim);
  if (comm.min(given.rows > 0 ? given.dim : dim) != dim)
    throw ConfigError("train_distributed: ranks disagree on the dimension");
  svm::TrainParams params = given_params;
  svm::Dataset local;
  std::vector<std::int64_t> ids;
  redistribute(comm, given, given_ids, dim, local, ids, params.sample_weights);
  bool finite = true;
  for (const double v : local.x) finite = finite && std::isfinite(v);
  if (!comm.all(finite)) throw InputError("training data contain NaN or infinite features");

  // Classes by first appearance in global row order, counts summed (LIBSVM's svm_group_classes).
  std::map<std::int32_t, LabelFirst> mine;
  for (std::int64_t r = 0; r < local.rows; ++r) {
    const auto l = local.labels[static_cast<std::size_t>(r)];
    auto [it, added] = mine.try_emplace(l, LabelFirst{l, ids[static_cast<std::size_t>(r)], 0});
    it->second.first_id = std::min(it->second.first_id, ids[static_cast<std::size_t>(r)]);
    ++it->second.count;
  }
  std::vector<LabelFirst> local_list;
  for (const auto& [l, f] : mine) local_list.push_back(f);
  std::map<std::int32_t, LabelFirst> all;
  for (const auto& f : comm.allgatherv(local_list)) {
    auto [it, added] = all.try_emplace(f.label, f);
    if (!added) {
      it->second.first_id = std::min(it->second.first_id, f.first_id);
      it->second.count += f.count;
    }
  }
  std::vector<LabelFirst> classes;
  for (const auto& [l, f] : all) classes.push_back(f);
  std::sort(classes.begin(), classes.end(), [](const auto& a, const auto& b) { return a.first_id < b.first_id; });
  if (classes.size() == 2 && classes[0].label == -1 && classes[1].label == 1) std::swap(classes[0], classes[1]);
  const int k = static_cast<int>(classes.size());
  if (k < 2) throw InputError("training needs at least two classes, the data hold " + std::to_string(k));
  std::unordered_map<std::int32_t, int> class_of;
  for (int c = 0; c < k; ++c) class_of[classes[static_cast<std::size_t>(c)].label] = c;

  svm::SvmModel model;
  model.kernel = params.kernel;
  if (model.kernel.gamma == 0 && dim > 0) model.kernel.gamma = 1.0 / dim;
  svm::validate(model.kernel);
  model.dim = dim;
  for (const auto& c : classes) model.labels.push_back(c.label);
  std::vector<double> weighted_c(static_cast<std::size_t>(k), params.C);
  for (int c = 0; c < k; ++c) {
    const auto it = params.class_weights.find(model.labels[static_cast<std::size_t>(c)]);
    if (it != params.class_weights.end()) weighted_c[static_cast<std::size_t>(c)] *= it->second;
  }
  // This rank's rows of each class, in id order (LIBSVM's order within a class).
  std::vector<std::vector<std::int64_t>> rows_of(static_cast<std::size_t>(k));
  for (std::int64_t r = 0; r < local.rows; ++r)
    rows_of[static_cast<std::size_t>(class_of[local.labels[static_cast<std::size_t>(r)]])].push_back(r);
  for (auto& v : rows_of)
    std::sort(v.begin(), v.end(),
              [&](auto a, auto b) { return ids[static_cast<std::size_t>(a)] < ids[static_cast<std::size_t>(b)]; });
  const auto bound = [&](std::int64_t r, int c) {
    return weighted_c[static_cast<std::size_t>(c)] *
           (params.sample_weights.empty() ? 1.0 : params.sample_weights[static_cast<std::size_t>(r)]);
  };

  std::vector<PairSolution> solutions;
  int pair = 0;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j, ++pair) {
      const auto t0 = std::chrono::steady_clock::now();
      PairReport rep;
      rep.label_i = model.labels[static_cast<std::size_t>(i)];
      rep.label_j = model.labels[static_cast<std::size_t>(j)];
      rep.rows = classes[static_cast<std::size_t>(i)].count + classes[static_cast<std::size_t>(j)].count;
      rep.ensemble = options.mode == DistributedMode::ensemble;
      rep.cascaded = !rep.ensemble && static_cast<double>(rep.rows) * dim >= options.gather_below && comm.size() > 1;
      rep.owner = pair % comm.size();
      PairSolution sol;
      if (rep.ensemble) {
        svm::BinaryProblem p;
        std::vector<double> x;
        std::vector<std::int64_t> pid;
        for (const int c : {i, j})
          for (const auto r : rows_of[static_cast<std::size_t>(c)]) {
            x.insert(x.end(), local.row(r), local.row(r) + dim);
            p.y.push_back(c == i ? 1 : -1);
            p.C.push_back(bound(r, c));
            pid.push_back(ids[static_cast<std::size_t>(r)]);
          }
        p.x = x.data();
        p.n = static_cast<std::int64_t>(p.y.size());
        p.dim = dim;
        p.kernel = model.kernel;
        sol = averaged_leaves(comm, p, pid, params.solver, rep.leaves);
      } else if (rep.cascaded) {
        std::vector<double> x;
        std::vector<signed char> y;
        std::vector<double> cs;
        std::vector<std::int64_t> pid;
        for (const int c : {i, j})
          for (const auto r : rows_of[static_cast<std::size_t>(c)]) {
            x.insert(x.end(), local.row(r), local.row(r) + dim);
            y.push_back(c == i ? 1 : -1);
            cs.push_back(bound(r, c));
            pid.push_back(ids[static_cast<std::size_t>(r)]);
          }
        CascadeOptions co = options.cascade;
        co.solver = params.solver;
        const CascadeResult cr =
            cascade_binary(comm, x.data(), static_cast<std::int64_t>(y.size()), dim, y, cs, pid, model.kernel, co);
        sol.rho = cr.rho;
        sol.objective = cr.objective;
        sol.id = cr.sv_id;
        for (std::size_t s = 0; s < cr.sv_id.size(); ++s) sol.coef.push_back(cr.sv_alpha[s] * cr.sv_y[s]);
        rep.passes = cr.passes;
      } else {
        // Gather the pair to its owner: [id, class side, bound, x...] per row.
        std::vector<double> packed;
        for (const int c : {i, j})
          for (const auto r : rows_of[static_cast<std::size_t>(c)]) {
            packed.insert(packed.end(),
                          {static_cast<double>(ids[static_cast<std::size_t>(r)]), c == i ? 1.0 : -1.0, bound(r, c)});
            packed.insert(packed.end(), local.row(r), local.row(r) + dim);
          }
        const std::vector<double> rows = comm.gatherv(packed, rep.owner);
        std::vector<double> result;
        if (comm.rank() == rep.owner) {
          // Class i rows then class j rows, each in id order: LIBSVM's sub-problem order.
          const std::size_t width = 3 + static_cast<std::size_t>(dim), n = rows.size() / width;
          std::vector<std::size_t> order(n);
          for (std::size_t r = 0; r < n; ++r) order[r] = r;
          std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const double sa = rows[a * width + 1], sb = rows[b * width + 1];
            return sa != sb ? sa > sb : rows[a * width] < rows[b * width];
          });
          svm::BinaryProblem p;
          std::vector<double> x;
          std::vector<std::int64_t> pid;
          for (const auto r : order) {
            pid.push_back(static_cast<std::int64_t>(rows[r * width]));
            p.y.push_back(rows[r * width + 1] > 0 ? 1 : -1);
            p.C.push_back(rows[r * width + 2]);
            x.insert(x.end(), rows.begin() + static_cast<std::ptrdiff_t>(r * width + 3),
                     rows.begin() + static_cast<std::ptrdiff_t>((r + 1) * width));
          }
          p.x = x.data();
          p.n = static_cast<std::int64_t>(n);
          p.dim = dim;
          p.kernel = model.kernel;
          const svm::BinarySolution s = svm::solve_c_svc(p, params.solver);
          PairSolution own;
          own.rho = s.rho;
          own.objective = s.objective;
          for (std::size_t r = 0; r < n; ++r)
            if (s.alpha[r] > 0) {
              own.id.push_back(pid[r]);
              own.coef.push_back(s.alpha[r] * p.y[r]);
            }
          result = pack_solution(own);
        }
        comm.broadcast(result, rep.owner);
        sol = unpack_solution(result);
      }
      rep.objective = sol.objective;
      rep.rho = sol.rho;
      rep.n_sv = static_cast<std::int64_t>(sol.id.size());
      rep.seconds = comm.max(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (report) report->push_back(rep);
      solutions.push_back(std::move(sol));
    }

  // Support vectors: every id with a coefficient in some machine, grouped by class, in id order.
  std::map<std::int64_t, int> sv_class;  // id -> class index
  pair = 0;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j, ++pair)
      for (std::size_t s = 0; s < solutions[static_cast<std::size_t>(pair)].id.size(); ++s)
        sv_class[solutions[static_cast<std::size_t>(pair)].id[s]] =
            solutions[static_cast<std::size_t>(pair)].coef[s] > 0 ? i : j;
  // Their rows, from whichever rank holds them.
  std::vector<double> held;
  for (std::int64_t r = 0; r < local.rows; ++r)
    if (sv_class.count(ids[static_cast<std::size_t>(r)])) {
      held.push_back(static_cast<double>(ids[static_cast<std::size_t>(r)]));
      held.insert(held.end(), local.row(r), local.row(r) + dim);
    }
  const std::vector<double> gathered = comm.allgatherv(held);
  std::unordered_map<std::int64_t, std::size_t> row_at;
  for (std::size_t at = 0; at < gathered.size(); at += 1 + static_cast<std::size_t>(dim))
    row_at[static_cast<std::int64_t>(gathered[at])] = at + 1;
  std::vector<std::vector<std::int64_t>> by_class(static_cast<std::size_t>(k));
  for (const auto& [id, c] : sv_class) by_class[static_cast<std::size_t>(c)].push_back(id);  // map: id order
  std::unordered_map<std::int64_t, std::size_t> position;
  for (int c = 0; c < k; ++c) {
    model.sv_count.push_back(static_cast<std::int32_t>(by_class[static_cast<std::size_t>(c)].size()));
    for (const auto id : by_class[static_cast<std::size_t>(c)]) {
      position[id] = model.sv_indices.size();
      model.sv_indices.push_back(id);
      const double* row = gathered.data() + row_at.at(id);
      model.support_vectors.insert(model.support_vectors.end(), row, row + dim);
    }
  }
  const std::size_t total = model.sv_indices.size();
  model.sv_coef.assign(static_cast<std::size_t>(k - 1) * total, 0.0);
  pair = 0;
  for (int i = 0; i < k; ++i)
    for (int j = i + 1; j < k; ++j, ++pair) {
      const PairSolution& s = solutions[static_cast<std::size_t>(pair)];
      for (std::size_t v = 0; v < s.id.size(); ++v) {
        const int row = s.coef[v] > 0 ? j - 1 : i;  // LIBSVM's layout (svm/model.hpp)
        model.sv_coef[static_cast<std::size_t>(row) * total + position.at(s.id[v])] = s.coef[v];
      }
      model.rho.push_back(s.rho);
    }
  model.check();
  return model;
}

}  // namespace sarscale::dist
