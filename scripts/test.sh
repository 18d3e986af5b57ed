#!/usr/bin/env bash
# The test command of the README and CI: installs what is missing, builds, runs ctest.
# Extra arguments go to ctest, e.g.  scripts/test.sh -L unit   or   scripts/test.sh -R Phoenix
set -euo pipefail
source "$(dirname "$0")/env.sh"

"$SARSCALE_ROOT/scripts/install-deps.sh" --with-tools --with-slurm
"$SARSCALE_ROOT/scripts/build.sh"

cd "$SARSCALE_BUILD_DIR"
# MPI tests at N ranks declare PROCESSORS N, so ctest never oversubscribes more than it must.
ctest --output-on-failure --parallel "$(nproc)" --timeout 900 "$@"
