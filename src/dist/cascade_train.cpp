#include "sarscale/dist/cascade_train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include "sarscale/core/error.hpp"
#include "sarscale/core/log.hpp"
#include "sarscale/io/checkpoint_file.hpp"

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

std::uint64_t mix(std::uint64_t h) {  // splitmix64's finaliser
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

std::uint64_t hash_bytes(const void* data, std::size_t n, std::uint64_t h = 0xcbf29ce484222325ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;  // FNV-1a
  return h;
}

// What a checkpoint must match: every row (id, label, weight, values; XOR-combined, so the same
// for any distribution of the rows over any number of ranks) and the training parameters.
std::string training_fingerprint(const Comm& comm, const svm::Dataset& local, const std::vector<std::int64_t>& ids,
                                 const std::vector<double>& weights, const std::string& parameters) {
  std::uint64_t rows = 0;
  for (std::int64_t r = 0; r < local.rows; ++r) {
    std::uint64_t h = hash_bytes(local.row(r), sizeof(double) * static_cast<std::size_t>(local.dim));
    h = hash_bytes(&local.labels[static_cast<std::size_t>(r)], sizeof(std::int32_t), h);
    if (!weights.empty()) h = hash_bytes(&weights[static_cast<std::size_t>(r)], sizeof(double), h);
    rows ^= mix(h ^ mix(static_cast<std::uint64_t>(ids[static_cast<std::size_t>(r)])));
  }
  std::uint64_t all = 0;
  Comm::check(MPI_Allreduce(&rows, &all, 1, MPI_UINT64_T, MPI_BXOR, comm.raw()), "MPI_Allreduce (fingerprint)");
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx-%016llx", static_cast<unsigned long long>(all),
                static_cast<unsigned long long>(hash_bytes(parameters.data(), parameters.size())));
  return std::string(buf) + "-" + std::to_string(comm.sum(local.rows));
}

// A cascade's state as checkpoint arrays, and back.
void save_state(const CascadeResult& r, io::Checkpoint& c) {
  c.arrays["cascade_x"] = r.sv_x;
  c.arrays["cascade_y"] = std::vector<double>(r.sv_y.begin(), r.sv_y.end());
  c.arrays["cascade_c"] = r.sv_c;
  c.arrays["cascade_alpha"] = r.sv_alpha;
  c.arrays["cascade_id"] = std::vector<double>(r.sv_id.begin(), r.sv_id.end());
  c.arrays["cascade_values"] = {static_cast<double>(r.dim), r.rho, r.objective};
  std::vector<double> passes;
  for (const CascadePass& p : r.passes)
    passes.insert(passes.end(), {static_cast<double>(p.pass), p.objective, static_cast<double>(p.n_sv),
                                 static_cast<double>(p.violators), p.seconds, p.leaf_seconds, p.merge_seconds,
                                 p.check_seconds, static_cast<double>(p.bytes_sent), p.flat ? 1.0 : 0.0});
  c.arrays["cascade_passes"] = passes;
}

CascadeResult load_state(const io::Checkpoint& c) {
  const auto at = [&](const char* k) -> const std::vector<double>& {
    const auto it = c.arrays.find(k);
    if (it == c.arrays.end()) throw InputError(std::string("checkpoint: no ") + k);
    return it->second;
  };
  CascadeResult r;
  const auto& values = at("cascade_values");
  if (values.size() != 3) throw InputError("checkpoint: cascade_values is not dim, rho, objective");
  r.dim = static_cast<int>(values[0]);
  r.rho = values[1];
  r.objective = values[2];
  r.sv_x = at("cascade_x");
  for (const double v : at("cascade_y")) r.sv_y.push_back(static_cast<signed char>(v));
  r.sv_c = at("cascade_c");
  r.sv_alpha = at("cascade_alpha");
  for (const double v : at("cascade_id")) r.sv_id.push_back(static_cast<std::int64_t>(v));
  const auto& passes = at("cascade_passes");
  for (std::size_t i = 0; i + 10 <= passes.size(); i += 10) {
    CascadePass p;
    p.pass = static_cast<int>(passes[i]);
    p.objective = passes[i + 1];
    p.n_sv = static_cast<std::int64_t>(passes[i + 2]);
    p.violators = static_cast<std::int64_t>(passes[i + 3]);
    p.seconds = passes[i + 4];
    p.leaf_seconds = passes[i + 5];
    p.merge_seconds = passes[i + 6];
    p.check_seconds = passes[i + 7];
    p.bytes_sent = static_cast<std::uint64_t>(passes[i + 8]);
    p.flat = passes[i + 9] != 0;
    r.passes.push_back(p);
  }
  return r;
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

  // Checkpoint: finished machines and the current cascade's last pass (rank 0 writes it).
  char param_text[256];
  std::snprintf(param_text, sizeof param_text, "C=%.17g kernel=%d,%d,%.17g,%.17g eps=%.17g mode=%d gather=%.17g",
                params.C, static_cast<int>(model.kernel.type), model.kernel.degree, model.kernel.gamma,
                model.kernel.coef0, params.solver.eps, static_cast<int>(options.mode), options.gather_below);
  std::string parameters = param_text;
  for (int c = 0; c < k; ++c)
    parameters += " " + std::to_string(model.labels[static_cast<std::size_t>(c)]) + ":" +
                  std::to_string(weighted_c[static_cast<std::size_t>(c)]);
  const bool checkpointing = !options.checkpoint.empty();
  io::Checkpoint saved, progress;
  int pairs_done = 0, current_pair = -1;
  if (checkpointing) {
    progress.attributes["fingerprint"] = training_fingerprint(comm, local, ids, params.sample_weights, parameters);
    std::string problem;
    std::optional<io::Checkpoint> found;
    try {
      found = io::read_checkpoint(options.checkpoint);
    } catch (const Error& e) {
      problem = e.what();
    }
    bool usable = found && found->attributes["fingerprint"] == progress.attributes["fingerprint"];
    if (found && !usable) problem = "it was written for other rows or parameters";
    // Every rank must see the same checkpoint (a shared file system), or none resumes.
    usable = comm.all(usable);
    if (usable) {
      saved = *found;
      pairs_done = std::stoi(saved.attributes["pairs_done"]);
      current_pair = saved.attributes.count("current_pair") ? std::stoi(saved.attributes["current_pair"]) : -1;
      for (int q = 0; q < pairs_done; ++q) progress.arrays["pair_" + std::to_string(q)] = saved.arrays.at("pair_" + std::to_string(q));
      if (comm.is_root())
        log::info("resuming from ", options.checkpoint.string(), ": ", pairs_done, " machine(s) done",
                  current_pair >= 0 ? ", the cascade of the next after its pass " +
                                          std::to_string(load_state(saved).passes.size())
                                    : std::string());
    } else if (comm.is_root() && !problem.empty()) {
      log::warn("ignoring the checkpoint ", options.checkpoint.string(), ": ", problem, "; starting over");
    }
  }
  const auto write_progress_on_root = [&](int done, const CascadeResult* state) {
    if (!comm.is_root()) return;
    progress.attributes["pairs_done"] = std::to_string(done);
    progress.attributes.erase("current_pair");
    for (const char* key : {"cascade_x", "cascade_y", "cascade_c", "cascade_alpha", "cascade_id", "cascade_values",
                            "cascade_passes"})
      progress.arrays.erase(key);
    if (state) {
      progress.attributes["current_pair"] = std::to_string(done);
      save_state(*state, progress);
    }
    io::write_checkpoint(options.checkpoint, progress);
  };
  // Called by every rank at the same point; rank 0 writes, and a failure there (a full disk)
  // reaches every rank before the next collective.
  const auto write_progress = [&](int done, const CascadeResult* state) {
    if (!checkpointing) return;
    comm.agree_on([&] { write_progress_on_root(done, state); });
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
      if (pair < pairs_done) {
        sol = unpack_solution(saved.arrays.at("pair_" + std::to_string(pair)));
        rep.resumed = true;
      } else if (rep.ensemble) {
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
        CascadeResult state;
        if (pair == current_pair) {
          state = load_state(saved);
          co.resume = &state;
        }
        co.after_pass = [&, pair](const CascadeResult& now) {
          write_progress(pair, &now);
          if (options.cascade.after_pass) options.cascade.after_pass(now);
        };
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
      if (!rep.resumed) {
        progress.arrays["pair_" + std::to_string(pair)] = pack_solution(sol);
        write_progress(pair + 1, nullptr);
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
