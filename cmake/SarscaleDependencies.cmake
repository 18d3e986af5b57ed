# Finds every third-party dependency and exposes it as an imported target.
# Link order matters: Debian's GDAL pulls in the *serial* HDF5, while sarscale writes
# through the *parallel* (OpenMPI) build. Both load into one process; the parallel
# library must come first on the link line so its symbols win (see DEVELOPERS.md).

find_package(MPI 3.1 REQUIRED COMPONENTS C CXX)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(GDAL 3.0 REQUIRED)
# FreeType + fontconfig: class names and counts in the confusion-matrix image of `evaluate`.
find_package(Freetype REQUIRED)
find_package(Fontconfig REQUIRED)
# zlib: LIBSVM-format data files are often distributed gzipped (read directly).
find_package(ZLIB REQUIRED)
# FFTW (double and single precision) for FFT convolution in the features layer.
find_package(PkgConfig REQUIRED)
pkg_check_modules(FFTW3 REQUIRED IMPORTED_TARGET fftw3 fftw3f)
# LAPACK (through LAPACKE; OpenBLAS on Debian via liblapack.so.3's alternative) for the PCA's
# symmetric eigen-decomposition: divide and conquer (dsyevd) is ~7x Eigen's solver at 2,000
# features and scales to the 8,192 the PCA accepts.
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)

set(HDF5_PREFER_PARALLEL ON)
find_package(HDF5 1.10 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "sarscale needs a *parallel* (MPI) HDF5, but the HDF5 found "
    "(${HDF5_C_LIBRARIES}) is serial. On Debian/Ubuntu install libhdf5-openmpi-dev "
    "(scripts/install-deps.sh does), or point HDF5_ROOT at an MPI build.")
endif()

# FindHDF5 only creates hdf5::hdf5 from CMake 3.19 with a config package; build our
# own imported target from the variables it always sets.
if(NOT TARGET sarscale::hdf5_parallel)
  add_library(sarscale::hdf5_parallel INTERFACE IMPORTED GLOBAL)
  target_include_directories(sarscale::hdf5_parallel SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS})
  target_link_libraries(sarscale::hdf5_parallel INTERFACE ${HDF5_C_LIBRARIES} MPI::MPI_C)
  target_compile_definitions(sarscale::hdf5_parallel INTERFACE ${HDF5_C_DEFINITIONS})
endif()
message(STATUS "sarscale: parallel HDF5 ${HDF5_VERSION}: ${HDF5_C_LIBRARIES}")
message(STATUS "sarscale: MPI ${MPI_CXX_VERSION}, GDAL ${GDAL_VERSION}, Eigen ${Eigen3_VERSION}")
