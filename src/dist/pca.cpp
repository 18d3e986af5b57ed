#include "sarscale/dist/pca.hpp"

#include <limits>
#include <map>
#include <string>
#include <vector>

#include "sarscale/core/error.hpp"

namespace sarscale::dist {

namespace {

constexpr int kMomentsTag = 4711;

}  // namespace

namespace {

// The tree merge of allreduce_moments, ending on rank 0: rank 0's result is the combined
// moments (serialized); other ranks' results are meaningless.
std::vector<double> reduce_moments_to_root(const Comm& comm, const features::Moments& local) {
  const int dim = local.dim();
  if (comm.min(dim) != comm.max(dim))
    throw ConfigError("PCA: ranks disagree on the feature dimension (" + std::to_string(comm.min(dim)) + " to " +
                      std::to_string(comm.max(dim)) + ")");
  const std::size_t size = features::Moments::serialized_size(dim);
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw ConfigError("PCA: " + std::to_string(dim) + " features is too many to combine across ranks");
  const int count = static_cast<int>(size);

  // Binomial tree towards rank 0; at every step the receiver holds the lower ranks, so the merge
  // order is rank order and fixed for a given communicator size.
  std::vector<double> mine = local.serialize();
  std::vector<double> theirs(size);
  for (int step = 1; step < comm.size(); step *= 2) {
    if (comm.rank() % (2 * step) == 0) {
      const int partner = comm.rank() + step;
      if (partner >= comm.size()) continue;
      Comm::check(MPI_Recv(theirs.data(), count, MPI_DOUBLE, partner, kMomentsTag, comm.raw(), MPI_STATUS_IGNORE),
                  "MPI_Recv (PCA moments)");
      auto merged = features::Moments::deserialize(mine.data(), mine.size());
      merged.merge(features::Moments::deserialize(theirs.data(), theirs.size()));
      mine = merged.serialize();
    } else {
      Comm::check(MPI_Send(mine.data(), count, MPI_DOUBLE, comm.rank() - step, kMomentsTag, comm.raw()),
                  "MPI_Send (PCA moments)");
      break;
    }
  }
  return mine;
}

}  // namespace

features::Moments allreduce_moments(const Comm& comm, const features::Moments& local) {
  std::vector<double> combined = reduce_moments_to_root(comm, local);
  comm.broadcast(combined, 0);
  return features::Moments::deserialize(combined.data(), combined.size());
}

features::PcaModel fit_pca(const Comm& comm, const features::Moments& local, const features::PcaOptions& options) {
  features::validate(options);  // same options on every rank: fails everywhere or nowhere
  const std::vector<double> combined = reduce_moments_to_root(comm, local);
  // Rank 0 alone decomposes (LAPACK may use every core of its node), then sends the model,
  // which is k x dim numbers rather than the dim x dim moments.
  std::map<std::string, std::vector<double>> arrays;
  comm.agree_on([&] {
    if (comm.is_root())
      arrays = features::pca_to_arrays(
          features::fit_pca(features::Moments::deserialize(combined.data(), combined.size()), options));
  });
  std::vector<std::string> keys;
  for (const auto& [key, values] : arrays) keys.push_back(key);
  comm.broadcast(keys, 0);
  for (const auto& key : keys) comm.broadcast(arrays[key], 0);
  return features::pca_from_arrays(arrays);
}

features::PcaModel fit_pca(const Comm& comm, const float* rows, std::size_t n_local, int dim,
                           const std::uint8_t* flagged_or_null, const features::PcaOptions& options) {
  features::validate(options);  // same options on every rank: fails everywhere or nowhere
  if (comm.min(dim) != comm.max(dim) || dim < 0)
    throw ConfigError("PCA: ranks disagree on the feature dimension or it is negative (" +
                      std::to_string(comm.min(dim)) + " to " + std::to_string(comm.max(dim)) + ")");
  features::Moments local(dim);
  comm.agree_on([&] { local.add_rows(rows, n_local, dim, flagged_or_null); });
  return fit_pca(comm, local, options);
}

}  // namespace sarscale::dist
