#!/usr/bin/env bash
# Installs the Debian 12 packages sarscale needs, only those that are missing.
# Usage: scripts/install-deps.sh [--with-tools] [--with-slurm] [--with-bench] [--with-fuzz]   (any order)
#   --with-tools  reference tools of the cross-check tests (LIBSVM's svm-train, numpy, h5py)
#   --with-slurm  a local single-node Slurm for jobs/ and the `slurm` tests (scripts/local-slurm.sh)
#   --with-bench  the seed Python pipeline the benchmarks compare with (scikit-learn, scikit-image),
#                 and gnuplot for scripts/scaling_study.sh's plots; OpenCV for scripts/bench_cfar.sh
#   --with-fuzz   clang with libFuzzer and its sanitizer runtimes, and LLVM's OpenMP, for the
#                 fuzzing build (scripts/fuzz.sh)
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config make
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libgdal-dev gdal-bin
  libeigen3-dev libboost-program-options-dev libgtest-dev
  libfftw3-dev   # FFT convolution of the Gabor filter bank (features layer)
  zlib1g-dev     # gzipped LIBSVM data files (svm layer)
  libfreetype-dev libfontconfig-dev fonts-dejavu-core  # text in evaluate's confusion-matrix image
  liblapacke-dev libopenblas-dev  # PCA's eigen-decomposition (LAPACK dsyevd: 7x Eigen's solver at 2,148 features)
)
for flag in "$@"; do
  case "$flag" in
    --with-tools) packages+=(libsvm-tools python3-numpy python3-h5py) ;;
    --with-slurm) packages+=(slurm-wlm munge) ;;
    --with-bench) packages+=(python3-sklearn python3-skimage python3-pil gnuplot-nox python3-opencv) ;;
    --with-fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "usage: $0 [--with-tools] [--with-slurm] [--with-bench] [--with-fuzz]" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  # dpkg-query prints "install ok installed" only for a package that is fully installed.
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "sarscale: installing missing packages: ${missing[*]}" >&2
sudo=()
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "sarscale: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
