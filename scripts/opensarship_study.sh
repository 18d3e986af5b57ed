#!/usr/bin/env bash
# Leave-one-scene-out study of OpenSARShip (docs/features-accuracy.md (OpenSARShip)): for every configuration CONFIG
# (an INI file with [ingest], [features] and [train] sections, e.g. configs/opensarship.ini)
#   1. ingests each scene folder of DATA on its own (`sarscale ingest --config CONFIG`) to learn
#      which scenes hold chips under the configuration (a dual-pol configuration rejects the
#      single-pol scenes, with the reason) and their classes;
#   2. for each scene S holding chips: `sarscale pipeline --config CONFIG --train <the other
#      scenes> --test S --out OUT/<config>/loso/S` (train on the others, test on S);
#   3. unless --no-cv: `sarscale pipeline --config CONFIG --train <every scene> --out
#      OUT/<config>/all`, whose train stage reports the random stratified k-fold CV accuracy over
#      all chips (optimistic: patches of one scene land in every fold);
#   4. writes OUT/<config>/results.md (scripts/opensarship_table.py: per split the test chips per
#      class, accuracy and macro-F1 beside the training split's majority-class baseline, the pooled
#      figures, the CV figure) and results.json, and prints the table.
# Stages already done are reused by `pipeline` (its stamps); --force reruns them.
#
# Usage: scripts/opensarship_study.sh [--data DIR] [--out DIR] [--ranks N] [--no-cv] [--force] CONFIG...
#   --data   the OpenSARShip folder (default: ../shared/data/opensarship beside the project)
#   --out    results (default /tmp/opensarship-study); keep it outside the repository
#   --ranks  MPI ranks per command (default 2)
# Needs: a built sarscale (scripts/build.sh), mpirun, python3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"   # SARSCALE_BIN, OMPI_ALLOW_RUN_AS_ROOT when root, sarscale_mpirun
data="${SARSCALE_SHARED_DIR:-$SARSCALE_ROOT/../shared}/data/opensarship"
out=/tmp/opensarship-study
ranks=2 cv=1 force=()
configs=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --no-cv) cv=0; shift ;;
    --force) force=(--force); shift ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "opensarship_study: unknown option $1" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[[ ${#configs[@]} -gt 0 ]] || { echo "opensarship_study: give at least one CONFIG.ini (see --help)" >&2; exit 2; }
[[ -d "$data" ]] || { echo "opensarship_study: no data folder $data (--data DIR)" >&2; exit 2; }
[[ -x "$SARSCALE_BIN" ]] || { echo "opensarship_study: no $SARSCALE_BIN; run scripts/build.sh" >&2; exit 2; }
sarscale() { sarscale_mpirun "$ranks" "$SARSCALE_BIN" "$@"; }

mapfile -t scenes < <(find "$data" -mindepth 1 -maxdepth 1 -type d | sort)
for config in "${configs[@]}"; do
  [[ -f "$config" ]] || { echo "opensarship_study: no configuration $config" >&2; exit 2; }
  name="$(basename "$config" .ini)"
  dir="$out/$name"
  mkdir -p "$dir/scenes" "$dir/loso"
  echo "== $name: per-scene archives" >&2
  usable=()
  for scene in "${scenes[@]}"; do
    s="$(basename "$scene")"
    sarscale ingest --config "$config" --input "$scene" --output "$dir/scenes/$s.h5" --log-level warn \
      > "$dir/scenes/$s.ingest.json" 2> "$dir/scenes/$s.ingest.log"
    sarscale info "$dir/scenes/$s.h5" --json > "$dir/scenes/$s.json"
    chips="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chips"])' "$dir/scenes/$s.json")"
    if [[ "$chips" -gt 0 ]]; then
      usable+=("$scene")
    else
      echo "   $s: no chips under $name (see $dir/scenes/$s.ingest.log); left out of the scheme" >&2
      rm "$dir/scenes/$s.json"
    fi
  done
  echo "== $name: ${#usable[@]} scenes, one split each" >&2
  for test_scene in "${usable[@]}"; do
    s="$(basename "$test_scene")"
    train=()
    for scene in "${usable[@]}"; do [[ "$scene" == "$test_scene" ]] || train+=("$scene"); done
    mkdir -p "$dir/loso/$s"
    sarscale pipeline --config "$config" --train "${train[@]}" --test "$test_scene" --out "$dir/loso/$s" \
      --log-level warn "${force[@]}" > "$dir/loso/$s/pipeline.log" 2>&1 \
      || { echo "opensarship_study: split $s failed, see $dir/loso/$s/pipeline.log" >&2; exit 1; }
  done
  if [[ $cv -eq 1 ]]; then
    echo "== $name: random k-fold CV over every scene (optimistic)" >&2
    mkdir -p "$dir/all"
    # stdout (the stages' JSON lines) apart from the messages, which would split its lines.
    sarscale pipeline --config "$config" --train "${usable[@]}" --out "$dir/all" --log-level warn "${force[@]}" \
      > "$dir/all/pipeline.json" 2> "$dir/all/pipeline.log" \
      || { echo "opensarship_study: the CV run failed, see $dir/all/pipeline.log" >&2; exit 1; }
    # The train stage's JSON line (absent when pipeline reused the stage: the last cv.json stays).
    if grep -q '"cv_accuracy"' "$dir/all/pipeline.json"; then
      grep '"cv_accuracy"' "$dir/all/pipeline.json" | tail -1 > "$dir/cv.json"
    fi
  fi
  python3 "$here/opensarship_table.py" "$dir" --json "$dir/results.json" | tee "$dir/results.md"
done
