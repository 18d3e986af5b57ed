#!/usr/bin/env bash
# Checks that synthetic chips are separable but not trivially: generates K classes x N chips
# with `sarscale synth --kind chips`, takes simple features (dB of the mean magnitude over 4x4
# blocks of the centre 64x64, i.e. 16x16 = 256 values), scales them to [0, 1] and runs LIBSVM's
# 5-fold cross-validation (RBF, C = 10, gamma = 1/256). Passes when the accuracy lies within
# [MIN, MAX] (default 85..99%).
#
# Needs: svm-scale and svm-train (Debian: apt-get install libsvm-tools), python3 with numpy;
# exits 77 (skipped) without them. scripts/install-deps.sh --with-tools installs both.
# Usage: scripts/check_synth_separability.sh [--sarscale BIN] [--classes 10] [--per-class 60]
#          [--seed 7] [--min 85] [--max 99] [--keep DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sarscale="${SARSCALE_BINARY:-}"
classes=10
per_class=60
seed=7
min_acc=85
max_acc=99
keep=""

while [[ $# -gt 0 ]]; do
  case "$1" in
    --sarscale) sarscale="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    --per-class) per_class="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --min) min_acc="$2"; shift 2 ;;
    --max) max_acc="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "check_synth_separability: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -z "$sarscale" ]]; then
  for candidate in "$here/../build/bin/sarscale" "$(command -v sarscale || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then sarscale="$candidate"; break; fi
  done
fi
[[ -n "$sarscale" && -x "$sarscale" ]] || { echo "check_synth_separability: no sarscale binary (use --sarscale)" >&2; exit 2; }
for tool in svm-scale svm-train; do
  command -v "$tool" >/dev/null || { echo "check_synth_separability: SKIPPED: $tool missing (apt-get install libsvm-tools)" >&2; exit 77; }
done
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3)"
"$python" -c 'import numpy' 2>/dev/null || { echo "check_synth_separability: SKIPPED: python3 with numpy needed (apt-get install python3-numpy)" >&2; exit 77; }

if [[ -n "$keep" ]]; then
  work="$keep"
  mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
rm -rf "$work/chips"

count=$((classes * per_class))
"$sarscale" synth --kind chips --out "$work/chips" --count "$count" --classes "$classes" --seed "$seed" >/dev/null

# Features: Phoenix magnitude plane -> centre 64x64 -> 4x4 block means -> dB; LIBSVM format.
"$python" - "$work/chips" > "$work/features.svm" <<'PY'
import os, sys
import numpy as np

root = sys.argv[1]
classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
for label, cls in enumerate(classes):
    for name in sorted(os.listdir(os.path.join(root, cls))):
        data = open(os.path.join(root, cls, name), "rb").read()
        fields = dict(line.split("=", 1) for line in data[:4096].decode("latin-1").split("\n") if "=" in line)
        length = int(fields["PhoenixHeaderLength"])
        rows, cols = int(fields["NumberOfRows"]), int(fields["NumberOfColumns"])
        mag = np.frombuffer(data, dtype=">f4", count=rows * cols, offset=length).reshape(rows, cols)
        r0, c0 = (rows - 64) // 2, (cols - 64) // 2
        crop = mag[r0:r0 + 64, c0:c0 + 64].astype(np.float64)
        blocks = crop.reshape(16, 4, 16, 4).mean(axis=(1, 3))
        feats = 20.0 * np.log10(blocks + 1e-6).ravel()
        print(label, " ".join(f"{i + 1}:{v:.4f}" for i, v in enumerate(feats)))
PY

svm-scale -l 0 -u 1 "$work/features.svm" > "$work/features.scaled"
out="$(svm-train -q -v 5 -c 10 -g "$("$python" -c 'print(1/256)')" "$work/features.scaled")"
accuracy="$(sed -n 's/^Cross Validation Accuracy = \([0-9.]*\)%.*/\1/p' <<<"$out")"
[[ -n "$accuracy" ]] || { echo "check_synth_separability: no accuracy in svm-train output: $out" >&2; exit 1; }

echo "synthetic chips: $classes classes x $per_class, seed $seed: 5-fold CV accuracy ${accuracy}% (want ${min_acc}..${max_acc})"
if "$python" -c "import sys; sys.exit(0 if $min_acc <= $accuracy <= $max_acc else 1)"; then
  echo "PASS"
else
  echo "FAIL: accuracy outside ${min_acc}..${max_acc}%"
  exit 1
fi
