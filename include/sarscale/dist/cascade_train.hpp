#pragma once
// Multi-class training with the training rows spread over the ranks (no rank holds the whole
// set): LIBSVM's one-vs-one decomposition (svm/train.hpp), each binary machine solved either
//   - on one rank, when the pair is small (rows x features below CascadeTrainOptions::
//     gather_below): the pair's rows are gathered to the rank that owns the pair (pairs are
//     dealt round-robin), which runs the single-node solver; or
//   - by the cascade over all ranks (dist/cascade.hpp), when it is large.
// Small pairs gain nothing from a cascade (its passes cost more than the solve), large ones
// cannot be gathered without holding most of the set on one rank. The model is LIBSVM's layout,
// assembled identically on every rank: class order by first appearance (global row id order),
// support vectors grouped by class in row-id order.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "sarscale/dist/cascade.hpp"
#include "sarscale/dist/comm.hpp"
#include "sarscale/svm/dataset.hpp"
#include "sarscale/svm/model.hpp"
#include "sarscale/svm/train.hpp"

namespace sarscale::dist {

// The fast approximate mode: no merge or feedback at all. Every rank solves every machine on its
// own rows (its leaf of the cascade's first pass) and the machines are averaged: the decision
// value of the ensemble is the mean of the leaves' decision values (score averaging), which is
// itself one model in LIBSVM's layout (the union of the leaves' support vectors, coefficients
// divided by the number of leaves, rho averaged), so predict and evaluate use it unchanged.
// Accuracy drops with the share of rows each leaf sees; the time is one leaf solve.
enum class DistributedMode { cascade, ensemble };

struct CascadeTrainOptions {
  CascadeOptions cascade;
  double gather_below = 2e6;  // rows x features of a pair under which it is solved on one rank
  DistributedMode mode = DistributedMode::cascade;
  // Where rank 0 keeps a checkpoint (empty: none): the machines finished so far and the last
  // pass of the machine being cascaded, rewritten atomically after each. A run given the same
  // path, rows and parameters (the checkpoint holds their fingerprint; any rank count) skips
  // the finished machines and continues the cascade after its last pass; any other checkpoint
  // there is ignored (warned). The caller removes it once the model is written.
  std::filesystem::path checkpoint;
};

struct PairReport {
  std::int32_t label_i = 0, label_j = 0;
  std::int64_t rows = 0;
  bool cascaded = false;
  bool ensemble = false;  // averaged leaf machines (DistributedMode::ensemble)
  int leaves = 0;         // ensemble: leaves that held both classes
  int owner = 0;          // the rank that solved it (gathered pairs)
  bool resumed = false;   // taken from the checkpoint (finished before a restart)
  double objective = 0, rho = 0;    // ensemble: the leaves' mean objective
  std::int64_t n_sv = 0;
  std::vector<CascadePass> passes;  // cascaded pairs
  double seconds = 0;
};

// Collective. `local` holds this rank's rows, `ids` their global row ids (distinct, any order
// across ranks). params.probability is not supported here (ConfigError). params.kernel.gamma 0
// means 1 / features.
svm::SvmModel train_distributed(const Comm& comm, const svm::Dataset& local, const std::vector<std::int64_t>& ids,
                                const svm::TrainParams& params, const CascadeTrainOptions& options,
                                std::vector<PairReport>* report = nullptr);

}  // namespace sarscale::dist
