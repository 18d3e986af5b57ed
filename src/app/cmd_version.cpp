#include <gdal.h>
#include <hdf5.h>
#include <mpi.h>

#include <Eigen/Core>
#include <boost/version.hpp>
#include <iostream>
#include <sstream>

#include "sarscale/app/commands.hpp"
#include "sarscale/core/version.hpp"

namespace sarscale::app {

std::string version_text() {
  std::ostringstream os;
  os << "sarscale " << kVersion << "\n";
  char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(mpi, &len);
  std::string mpi_s(mpi, static_cast<std::size_t>(len));
  if (auto nl = mpi_s.find_first_of(",\n"); nl != std::string::npos) mpi_s.resize(nl);
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  os << "MPI: " << mpi_s << " (MPI standard " << major << "." << minor << ")\n";
  unsigned hmaj = 0, hmin = 0, hrel = 0;
  H5get_libversion(&hmaj, &hmin, &hrel);
  os << "HDF5: " << hmaj << "." << hmin << "." << hrel
#ifdef H5_HAVE_PARALLEL
     << " (parallel)"
#else
     << " (serial)"
#endif
     << "\n";
  os << "GDAL: " << GDALVersionInfo("RELEASE_NAME") << "\n";
  os << "Eigen: " << EIGEN_WORLD_VERSION << "." << EIGEN_MAJOR_VERSION << "." << EIGEN_MINOR_VERSION << "\n";
  os << "Boost: " << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "." << BOOST_VERSION % 100 << "\n";
  os << "OpenMP: " << _OPENMP << "\n";
  return os.str();
}

po::options_description version_options() { return po::options_description("sarscale version"); }

int cmd_version(const dist::Comm& comm, const CommandLine& cl) {
  po::options_description desc = version_options();
  if (!parse_command(cl, "sarscale version", desc)) return 0;
  if (comm.is_root()) std::cout << version_text() << std::flush;
  return 0;
}

}  // namespace sarscale::app
