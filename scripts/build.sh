#!/usr/bin/env bash
# Installs what is missing, configures once, builds incrementally (a no-op when nothing changed).
# Usage: scripts/build.sh [extra cmake -D options on first configure]
set -euo pipefail
source "$(dirname "$0")/env.sh"

"$SARSCALE_ROOT/scripts/install-deps.sh"

if [[ ! -f "$SARSCALE_BUILD_DIR/CMakeCache.txt" ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S "$SARSCALE_ROOT" -B "$SARSCALE_BUILD_DIR" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
fi
cmake --build "$SARSCALE_BUILD_DIR" --parallel "$(nproc)"
