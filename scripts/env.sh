# Sourced by the other scripts: build location and the MPI launcher settings.
# SARSCALE_BUILD_DIR overrides where the build goes (default: build/ in the project).
SARSCALE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SARSCALE_BUILD_DIR="${SARSCALE_BUILD_DIR:-$SARSCALE_ROOT/build}"
SARSCALE_BIN="$SARSCALE_BUILD_DIR/bin/sarscale"
export SARSCALE_ROOT SARSCALE_BUILD_DIR SARSCALE_BIN

# Open MPI refuses to run as root unless told; containers and CI run as root.
if [[ $EUID -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# sarscale_mpirun NP ARGS...: mpirun that also works with more ranks than cores.
sarscale_mpirun() {
  local np="$1"; shift
  # --bind-to none: Open MPI binds each rank to one core by default (np <= 2), which would leave a
  # rank's OpenMP threads sharing that core (1 rank x 2 threads measured no faster than 1 x 1).
  mpirun --oversubscribe --bind-to none -np "$np" "$@"
}
