#!/usr/bin/env bash
# CA-CFAR + connected components: sarscale (bench/cfar_bench) against a reference written on
# OpenCV's boxFilter (scripts/cfar_reference.py), on the same float32 scene with the same
# parameters, in one run: checks that both detect exactly the same pixels, then times them in
# turn (ours, reference, ours, ...) and reports the medians of each one's own compute time (file
# reads not included) at one thread, and their ratio.
# Usage: scripts/bench_cfar.sh [--size 8192] [--reps 5] [--guard 4] [--background 8] [--pfa 1e-6]
#                              [--work DIR]
# Needs: the build (scripts/build.sh builds build/bench/cfar_bench), python3-opencv and
# python3-numpy (scripts/install-deps.sh --with-bench).
set -euo pipefail
source "$(dirname "$0")/env.sh"

size=8192 reps=5 guard=4 background=8 pfa=1e-6 work=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --size) size="$2" ;;
    --reps) reps="$2" ;;
    --guard) guard="$2" ;;
    --background) background="$2" ;;
    --pfa) pfa="$2" ;;
    --work) work="$2" ;;
    *) echo "usage: $0 [--size N] [--reps N] [--guard G] [--background B] [--pfa P] [--work DIR]" >&2; exit 2 ;;
  esac
  shift 2
done

bench="$SARSCALE_BUILD_DIR/bench/cfar_bench"
python=/usr/bin/python3
[[ -x "$bench" ]] || { echo "bench_cfar: $bench not built (scripts/build.sh)" >&2; exit 1; }
"$python" -c "import cv2, numpy" 2>/dev/null ||
  { echo "bench_cfar: $python lacks OpenCV or numpy (scripts/install-deps.sh --with-bench)" >&2; exit 1; }
if [[ -z "$work" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

params=(--guard "$guard" --background "$background" --pfa "$pfa")
echo "scene: ${size}x${size} float32, exponential clutter with targets ($work/scene.npy)"
"$bench" make --size "$size" --seed 1 --output "$work/scene.npy"

ours_log="$work/ours.log" ref_log="$work/reference.log"
: >"$ours_log"
: >"$ref_log"
for ((i = 1; i <= reps; ++i)); do
  "$bench" run --input "$work/scene.npy" "${params[@]}" --threads 1 --detections "$work/ours.npy" | tee -a "$ours_log"
  "$python" "$SARSCALE_ROOT/scripts/cfar_reference.py" --input "$work/scene.npy" "${params[@]}" --threads 1 \
    --detections "$work/reference.npy" | tee -a "$ref_log"
done

"$python" - "$work" "$ours_log" "$ref_log" <<'PY'
import re, sys
import numpy as np
work, ours_log, ref_log = sys.argv[1:]
ours, ref = np.load(f"{work}/ours.npy"), np.load(f"{work}/reference.npy")
same = ours.shape == ref.shape and np.array_equal(ours, ref)
print(f"detections: sarscale {len(ours)}, reference {len(ref)}: {'identical' if same else 'DIFFERENT'}")
if not same:
    print("  only sarscale:", np.setdiff1d(ours, ref)[:10], " only reference:", np.setdiff1d(ref, ours)[:10])

def times(path):
    text = open(path).read()
    wall = [float(v) for v in re.findall(r"([0-9.]+) s wall", text)]
    cpu = [float(v) for v in re.findall(r"([0-9.]+) s CPU", text)]
    return np.median(wall), np.median(cpu), wall
ow, oc, oruns = times(ours_log)
rw, rc, rruns = times(ref_log)
print(f"median wall seconds: sarscale {ow:.4f} {oruns}, reference {rw:.4f} {rruns}")
print(f"median CPU seconds:  sarscale {oc:.4f}, reference {rc:.4f}")
print(f"sarscale is {rw / ow:.2f}x the reference's speed (wall), {rc / oc:.2f}x (CPU)")
sys.exit(0 if same else 1)
PY
