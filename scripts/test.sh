#!/usr/bin/env bash
# The test command of the README and CI: installs what is missing, builds, runs ctest.
# Extra arguments go to ctest, e.g.  scripts/test.sh -L unit   or   scripts/test.sh -R Phoenix
# SARSCALE_SANITIZE=1 also runs scripts/sanitize.sh (the unit and MPI tests under ASan + UBSan).
set -euo pipefail
source "$(dirname "$0")/env.sh"

"$SARSCALE_ROOT/scripts/install-deps.sh" --with-tools --with-slurm
"$SARSCALE_ROOT/scripts/build.sh"

cd "$SARSCALE_BUILD_DIR"
# MPI tests at N ranks declare PROCESSORS N, so ctest never oversubscribes more than it must.
ctest --output-on-failure --parallel "$(nproc)" --timeout 900 "$@"
# SARSCALE_SANITIZE=1 (CI): then the unit and MPI tests again under ASan + UBSan (build-asan/).
if [[ "${SARSCALE_SANITIZE:-0}" == 1 ]]; then
  "$SARSCALE_ROOT/scripts/sanitize.sh"
fi
