#!/usr/bin/env bash
# Installs the build into a scratch prefix, then configures, builds and runs a consumer project
# that finds it with find_package(sarscale). Usage: check_package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1"; here="$2"
work=$(mktemp -d "${TMPDIR:-/tmp}/sarscale-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/build" >/dev/null
out=$("$work/build/consumer" "$work")
echo "$out"
[[ "$out" == *"boundaries 0 3 4 rows 3 type probe"* ]]
