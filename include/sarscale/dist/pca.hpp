#pragma once
// Standardisation and PCA fitted across all ranks: each rank accumulates the moments of its own
// rows (features::Moments, double precision), the moments are combined over the communicator in
// a fixed order, and every rank fits the same model from the combined moments.
#include <cstddef>
#include <cstdint>

#include "sarscale/dist/comm.hpp"
#include "sarscale/features/pca.hpp"

namespace sarscale::dist {

// The moments of every rank's rows combined, identical (bit for bit) on every rank.
//
// Why not MPI_Allreduce on sums: the order in which MPI adds the ranks' contributions is up to
// the implementation (and may depend on message timing or topology), and floating-point sums
// are not associative, so results would not be reproducible. Why not allgather + merge: every
// rank would hold size() co-moment matrices (dim^2 doubles each). Instead the moments are merged
// along a fixed binomial tree (rank r takes in rank r + 2^s at step s, lower ranks first, so the
// merge order is always rank order) to rank 0, which broadcasts the result. For a given number of
// ranks the result never depends on timing; between rank counts it differs only by rounding.
//
// Collective. Every rank must pass moments of the same dimension (ConfigError on every rank
// otherwise); throws ConfigError when dim^2 is too large to send (above 46340).
features::Moments allreduce_moments(const Comm& comm, const features::Moments& local);

// Fits on the union of every rank's moments: they are merged along the same tree to rank 0
// alone, which fits and broadcasts the model (k x dim numbers, not the dim x dim moments).
// Collective; errors are thrown on every rank alike. The model is identical on every rank and
// equal to fit_pca(allreduce_moments(comm, local), options).
features::PcaModel fit_pca(const Comm& comm, const features::Moments& local, const features::PcaOptions& options);

// Fits on the union of every rank's rows: rank-local `rows` holds n_local x dim floats
// (row-major); rows whose flag is nonzero (flagged_or_null may be null) are excluded. Collective;
// errors (a NaN in an unflagged row, too few rows, bad options) are thrown on every rank alike,
// so no rank is left waiting. The returned model is identical on every rank.
features::PcaModel fit_pca(const Comm& comm, const float* rows, std::size_t n_local, int dim,
                           const std::uint8_t* flagged_or_null, const features::PcaOptions& options);

}  // namespace sarscale::dist
