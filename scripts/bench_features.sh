#!/usr/bin/env bash
# Wall time of the whole `sarscale features` stage on one archive, at several rank counts.
#
#   scripts/bench_features.sh --archive A.h5 [--config F.ini] [--ranks "1 2"] [--reps 3] [--dir DIR]
#
# Default archive: ../shared/data/mstar10-train ingested once into DIR (2,746 chips, 128x128);
# default chain: configs/mstar10-soc.ini. Each rank count runs with the default threads
# (cores / ranks, so the machine is always fully used), plus 1 rank x 1 thread for the
# single-core baseline. The archive is read from the page cache (it was just written or read):
# this measures the compute and the parallel HDF5 writes, not the disk. Each figure is the
# median of --reps runs; the JSON summary's per-phase times are printed for the median run.
set -euo pipefail
source "$(dirname "$0")/env.sh"

archive=""; config="$SARSCALE_ROOT/configs/mstar10-soc.ini"; ranks="1 2"; reps=3
dir="$SARSCALE_ROOT/out/bench-features"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --archive) archive="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) echo "usage: $0 [--archive A.h5] [--config F.ini] [--ranks \"1 2\"] [--reps N] [--dir DIR]" >&2; exit 2 ;;
  esac
done
"$SARSCALE_ROOT/scripts/build.sh" >/dev/null
mkdir -p "$dir"
if [[ -z "$archive" ]]; then
  data="$SARSCALE_ROOT/../shared/data/mstar10-train"
  [[ -d "$data" ]] || { echo "no --archive and $data is absent" >&2; exit 2; }
  archive="$dir/mstar10-train.h5"
  [[ -f "$archive" ]] || sarscale_mpirun 2 "$SARSCALE_BIN" ingest --config "$SARSCALE_ROOT/configs/ingest-mstar.ini" \
    --input "$data" --output "$archive" --log-level warn >/dev/null
fi
chips=$("$SARSCALE_BIN" info --json "$archive" | grep -o '"slots": [0-9]*' | grep -o '[0-9]*$')
cat "$archive" >/dev/null  # page cache: every run starts alike

# run LABEL RANKS THREADS -> prints "LABEL median_seconds" and keeps the median run's JSON
run() {
  local label="$1" np="$2" threads="$3" times=() json
  for ((i = 0; i < reps; i++)); do
    json=$(OMP_NUM_THREADS="$threads" sarscale_mpirun "$np" "$SARSCALE_BIN" features --archive "$archive" \
      --config "$config" --output "$dir/features.$np.h5" --log-level warn)
    times+=("$(grep -o '"seconds": [0-9.e+-]*' <<<"$json" | head -1 | awk '{ print $2 }') $i")
    echo "$json" >"$dir/run.$label.$i.json"
  done
  local median_run
  median_run=$(printf '%s\n' "${times[@]}" | sort -g | awk -v n="${#times[@]}" 'NR == int((n + 1) / 2) { print $2 }')
  local secs
  secs=$(grep -o '"seconds": [0-9.e+-]*' "$dir/run.$label.$median_run.json" | head -1 | awk '{ print $2 }')
  printf '%-22s %8.2f s %8.1f chips/s   %s\n' "$label" "$secs" "$(awk -v c="$chips" -v s="$secs" 'BEGIN { print c / s }')" \
    "$(grep -o '"phase_seconds": {[^}]*}' "$dir/run.$label.$median_run.json")"
}

cores=$(nproc)
echo "archive: $archive ($chips chips); chain: $config; median of $reps; $cores cores"
run "1 rank x 1 thread" 1 1
for np in $ranks; do
  threads=$(( cores / np > 0 ? cores / np : 1 ))
  run "$np rank(s) x $threads thread(s)" "$np" "$threads"
done
