#pragma once
// The cascade SVM (Graf, Cosatto, Bottou, Durdanovic & Vapnik, "Parallel Support Vector
// Machines: The Cascade SVM", NIPS 2004) for one binary C-SVC problem over MPI, layered on the
// single-node solver (svm::solve_c_svc), which every rank calls as one process would:
//   1. each rank solves its own rows (plus, after the first pass, the previous top level's
//      support vectors, warm-started with their alphas);
//   2. support vectors (rows, labels, bounds, alphas, global ids) merge pairwise up a binary tree
//      of ranks (cascade_plan: any rank count); each receiver solves the union, warm-started;
//   3. the top level's support vectors go back to every rank (feedback), which counts the KKT
//      violators among its rows; passes repeat until no row violates the top solution's KKT
//      conditions (the global optimum, to eps), or until neither the objective nor the
//      support-vector set changes by more than `tolerance` (relative) between passes, or
//      max_passes. tolerance 0 asks for the KKT proof of optimality.
// Feedback passes (2, 3, ...) solve only what can change the solution: the top level's support
// vectors, warm-started with their alphas, plus the rows violating its KKT conditions (rows that
// satisfy them keep alpha 0). When the violators of all ranks are fewer than the top level's
// support vectors they go straight to rank 0, which solves top + violators once; otherwise each
// rank first solves top + its own violators and the results merge up the tree as in pass 1
// (the leaves filter a large violator set, so no rank receives it whole). The KKT check keeps
// its kernel columns across passes (cascade_check.hpp, bounded by check_cache_bytes: float32,
// n_local x 4 bytes per support vector).
#include <cstdint>
#include <functional>
#include <vector>

#include "sarscale/dist/comm.hpp"
#include "sarscale/svm/solver.hpp"

namespace sarscale::dist {

// One merge: `sender` sends its support vectors to `receiver`, at tree level `level` (0 first).
struct CascadeMerge {
  int level = 0;
  int receiver = 0;
  int sender = 0;
  bool operator==(const CascadeMerge&) const = default;
};

// Pure: the merges of a binary tree over `ranks` ranks, level by level. At level k, rank r with
// r % 2^(k+1) == 0 receives from r + 2^k when that rank exists; a rank without a partner passes
// its set up unchanged. Rank 0 ends with the top level. ceil(log2(ranks)) levels.
std::vector<CascadeMerge> cascade_plan(int ranks);
int cascade_levels(int ranks);

struct CascadeResult;

struct CascadeOptions {
  svm::SolverOptions solver;
  int max_passes = 10;
  double tolerance = 1e-3;  // relative change of objective and SV set between passes counted as "stopped"
  std::size_t check_cache_bytes = std::size_t{256} << 20;  // per rank: kernel columns kept by the KKT check
  // Called on every rank after each pass that did not end the cascade, with the state so far
  // (e.g. to checkpoint it); the same on every rank.
  std::function<void(const CascadeResult&)> after_pass;
  // Continue from a state after_pass gave, for the same rows and parameters (at any rank
  // count: the state is the top level's support vectors, global rows): the ranks check their
  // rows against it and go on with the next pass.
  const CascadeResult* resume = nullptr;
};

struct CascadePass {
  int pass = 0;
  double objective = 0;        // of the top level's problem
  std::int64_t n_sv = 0;       // top level's support vectors
  std::int64_t violators = 0;  // rows (all ranks) violating the top solution's KKT conditions
  double seconds = 0;
  bool flat = false;  // violators went straight to rank 0 (no leaf solves)
  double leaf_seconds = 0, merge_seconds = 0, check_seconds = 0;  // slowest rank's, per phase
  std::uint64_t bytes_sent = 0;                                   // by all ranks, this pass
};

// The top level's solution, identical on every rank (after any pass: the state so far).
struct CascadeResult {
  int dim = 0;
  std::vector<double> sv_x;  // n_sv x dim
  std::vector<signed char> sv_y;
  std::vector<double> sv_c;
  std::vector<double> sv_alpha;
  std::vector<std::int64_t> sv_id;  // global row ids
  double rho = 0;
  double objective = 0;
  bool converged = false;  // stopped by the KKT check or the tolerance (not by max_passes)
  bool optimal = false;    // stopped because no row violates the KKT conditions
  std::vector<CascadePass> passes;
};

// Collective. Each rank passes its own rows: x (n_local x dim), y (+1/-1), C per row, and global
// row ids (distinct across ranks). `kernel.gamma` must be set.
CascadeResult cascade_binary(const Comm& comm, const double* x, std::int64_t n_local, int dim,
                             const std::vector<signed char>& y, const std::vector<double>& C,
                             const std::vector<std::int64_t>& ids, const svm::KernelParams& kernel,
                             const CascadeOptions& options);

// Decision value sum alpha_i y_i K(sv_i, x) - rho of a cascade result at one row.
double cascade_decision(const CascadeResult& r, const svm::KernelParams& kernel, const double* row);

}  // namespace sarscale::dist
