#!/usr/bin/env bash
# Installs the Debian 12 packages sarscale needs, only those that are missing.
# Usage: scripts/install-deps.sh [--with-tools]   (--with-tools adds the reference tools
# used by benchmarks and cross-check tests, e.g. LIBSVM's svm-train)
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
if [[ "${1:-}" == "--with-tools" ]]; then
  packages+=(libsvm-tools python3-numpy python3-h5py)
fi

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
