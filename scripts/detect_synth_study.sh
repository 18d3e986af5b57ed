#!/usr/bin/env bash
# The detection benchmark of docs/performance.md ("Detection"): a discriminator + classifier
# trained on chips cut from synthetic training scenes (configs/detect-synth.ini), applied by
# `sarscale detect` to synthetic test scenes at seeds no training scene uses, scored by
# `sarscale evaluate --detections` against their ground truth: Pd, precision, false alarms per
# km^2, classification accuracy of the detected vehicles, and the ROC from the one run's log10 Pfa.
# Usage: scripts/detect_synth_study.sh [--out DIR] [--ranks N] [--train-scenes 144] [--test-scenes 10]
#                                      [--size 4096] [--targets 40] [--pfa 1e-6]
# Every step is skipped when its output exists (delete OUT to start again).
# Needs: a built sarscale (scripts/build.sh), mpirun, python3.
set -euo pipefail
source "$(dirname "$0")/env.sh"

out=/tmp/sarscale-detect-study ranks=2 ntrain=144 ntest=10 size=4096 targets=40 pfa=1e-6
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2" ;;
    --ranks) ranks="$2" ;;
    --train-scenes) ntrain="$2" ;;
    --test-scenes) ntest="$2" ;;
    --size) size="$2" ;;
    --targets) targets="$2" ;;
    --pfa) pfa="$2" ;;
    *) echo "usage: $0 [--out DIR] [--ranks N] [--train-scenes N] [--test-scenes N] [--size N] [--targets N] [--pfa P]" >&2
       exit 2 ;;
  esac
  shift 2
done
config="$SARSCALE_ROOT/configs/detect-synth.ini"
run() { echo "+ $*" >&2; sarscale_mpirun "$ranks" "$SARSCALE_BIN" "$@"; }
mkdir -p "$out/train" "$out/test"

# Training scenes (the recipe's: 3072 x 3072, 60 vehicles and 60 distractors, seeds 101...).
for i in $(seq 1 "$ntrain"); do
  s="$out/train/scene_$((100 + i)).tif"
  [[ -e "$s" ]] || run synth --kind scene --out "$s" --width 3072 --height 3072 --targets 60 --seed $((100 + i)) >/dev/null
done
# Test scenes: other seeds (301...), distractors as many as vehicles (synth's default).
for i in $(seq 1 "$ntest"); do
  s="$out/test/scene_$((300 + i)).tif"
  [[ -e "$s" ]] || run synth --kind scene --out "$s" --width "$size" --height "$size" --targets "$targets" \
    --seed $((300 + i)) >/dev/null
done
[[ -e "$out/train_chips.h5" ]] || run cut --config "$config" --scene "$out/train" --truth "$out"/train/*_targets.csv \
  --output "$out/train_chips.h5" >/dev/null
[[ -e "$out/train.features.h5" ]] || run features --config "$config" --archive "$out/train_chips.h5" \
  --output "$out/train.features.h5" >/dev/null
[[ -e "$out/model.h5" ]] || run train --config "$config" --features "$out/train.features.h5" --model "$out/model.h5" \
  | tail -1 > "$out/train.json"
run detect --input "$out/test" --model "$out/model.h5" --output "$out/detect" --pfa "$pfa" --overwrite \
  | tail -1 > "$out/detect.json"
run evaluate --detections "$out/detect" --truth "$out"/test/*_targets.csv --report "$out/report" --overwrite \
  | tail -1 > "$out/evaluate.json"
echo "train:    $(cat "$out/train.json")"
echo "detect:   $(cat "$out/detect.json" | cut -c1-400)"
echo "evaluate: $(cat "$out/evaluate.json")"
echo "ROC: $out/report/roc.csv; per scene: $out/report/scene_report.json"
