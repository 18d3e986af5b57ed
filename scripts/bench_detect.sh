#!/usr/bin/env bash
# Whole `sarscale detect` (read, CFAR, components, discriminate, classify, write), timed at 1 and
# 2 ranks in turn (1, 2, 1, 2, ...) on a folder of synthetic scenes, the medians and their ratio;
# and, with --scale, one huge scene at 2 ranks with its time and the peak memory of the largest
# rank (docs/performance.md, "Detection").
# Usage: scripts/bench_detect.sh [--scenes 8] [--size 2048] [--reps 3] [--model M.h5] [--work DIR]
#        scripts/bench_detect.sh --scale [--size 32768] [--work DIR]
#   --model   a chip model with a clutter class (else --prescreen-only)
# Needs: the build (scripts/build.sh), mpirun, python3. Scenes are written once into --work.
set -euo pipefail
source "$(dirname "$0")/env.sh"

scenes=8 size=2048 reps=3 model="" work="" scale=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scenes) scenes="$2"; shift ;;
    --size) size="$2"; shift ;;
    --reps) reps="$2"; shift ;;
    --model) model="$2"; shift ;;
    --work) work="$2"; shift ;;
    --scale) scale=1; [[ $size == 2048 ]] && size=32768 ;;
    *) echo "usage: $0 [--scenes N] [--size N] [--reps N] [--model M] [--work DIR] | --scale [--size N]" >&2; exit 2 ;;
  esac
  shift
done
work="${work:-/tmp/sarscale-bench-detect}"
mkdir -p "$work"
mode=(--prescreen-only)
[[ -n "$model" ]] && mode=(--model "$model")
calc() { /usr/bin/python3 -c "print(round($1, 2))"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

if [[ $scale == 1 ]]; then
  scene="$work/huge-$size.tif"
  [[ -e "$scene" ]] || sarscale_mpirun 2 "$SARSCALE_BIN" synth --kind scene --out "$scene" --width "$size" --height "$size" \
    --targets 400 --seed 77 >/dev/null
  start=$(date +%s.%N)
  json=$(sarscale_mpirun 2 "$SARSCALE_BIN" detect --input "$scene" "${mode[@]}" --output "$work/huge-out" --fresh \
    --overwrite --quicklook-size 2048 2>/dev/null | tail -1)
  end=$(date +%s.%N)
  echo "scale: ${size}x${size} float32 ($(du -h "$scene" | cut -f1)) at 2 ranks: $(calc "$end - $start") s wall," \
       "detect's own $(echo "$json" | field seconds) s, peak RSS of the largest rank $(echo "$json" | field peak_rss_mb) MiB," \
       "$(echo "$json" | field detections) detections"
  exit 0
fi

mkdir -p "$work/scenes"
for i in $(seq 1 "$scenes"); do
  s="$work/scenes/scene$i.tif"
  [[ -e "$s" ]] || "$SARSCALE_BIN" synth --kind scene --out "$s" --width "$size" --height "$size" --targets 16 \
    --seed $((1000 + i)) >/dev/null
done
declare -A times
for rep in $(seq 1 "$reps"); do
  for np in 1 2; do
    json=$(sarscale_mpirun "$np" "$SARSCALE_BIN" detect --input "$work/scenes" "${mode[@]}" --output "$work/out-$np" \
      --fresh --overwrite 2>/dev/null | tail -1)
    times[$np]+=" $(echo "$json" | field seconds)"
  done
done
t1=$(median ${times[1]}) t2=$(median ${times[2]})
echo "detect ${mode[*]} on $scenes scenes of ${size}x${size}: 1 rank ${t1} s (runs:${times[1]}), 2 ranks ${t2} s" \
     "(runs:${times[2]}); speed-up $(calc "$t1 / $t2")"
cmp "$work/out-1/detections.csv" "$work/out-2/detections.csv" && echo "detections identical at 1 and 2 ranks"
