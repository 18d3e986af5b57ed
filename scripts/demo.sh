#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the pipeline as far
# as it exists (synth, ingest, features, train, evaluate) on synthetic data under mpirun, then prints
# where the results are.
# Usage: scripts/demo.sh [OUT_DIR]      (env: SARSCALE_NP ranks, default 2)
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$SARSCALE_ROOT/scripts/build.sh"

out="$(mkdir -p "${1:-$SARSCALE_ROOT/out/demo}" && cd "${1:-$SARSCALE_ROOT/out/demo}" && pwd)"
np="${SARSCALE_NP:-2}"
run() { echo "+ $*" >&2; sarscale_mpirun "$np" "$SARSCALE_BIN" "$@"; }

# 1. Synthetic data: MSTAR-like Phoenix chips of 10 classes, and a scene with embedded targets.
run synth --kind chips --out "$out/chips" --count 600 --classes 10 --seed 42
run synth --kind scene --out "$out/scene.tif" --width 2048 --height 1536 --targets 24 --seed 42

# 2. Ingest both into parallel HDF5 archives (the scene is cut into 128x128 tiles).
run ingest --input "$out/chips" --output "$out/chips.h5"
run ingest --input "$out/scene.tif" --output "$out/scene.h5" --labels none --tiling always

# 3. Look at what was written.
"$SARSCALE_BIN" info "$out/chips.h5"
"$SARSCALE_BIN" info "$out/scene.h5" --json
run convert --input "$out/chips.h5" --output "$out/png" --format png --limit 20

# 4. Features of every chip (the MSTAR chain: dB thumbnail of the centre, standardised), then an
#    SVM with the chain's 5-fold cross-validated grid search, spread over the ranks.
run features --archive "$out/chips.h5" --output "$out/chips.features.h5" --config "$SARSCALE_ROOT/configs/mstar10-soc.ini"
"$SARSCALE_BIN" info "$out/chips.features.h5"
run train --features "$out/chips.features.h5" --model "$out/model.h5" --config "$SARSCALE_ROOT/configs/mstar10-soc.ini"

# 5. A held-out test set (another seed), evaluated with the model's own feature chain.
run synth --kind chips --out "$out/test_chips" --count 300 --classes 10 --seed 43
run ingest --input "$out/test_chips" --output "$out/test.h5"
run evaluate --archive "$out/test.h5" --model "$out/model.h5" --report "$out/report"

cat <<MSG

sarscale demo finished ($np ranks). Results in $out:
  chips/        synthetic MSTAR Phoenix chips, one folder per class
  scene.tif     synthetic scene (GeoTIFF) and scene_targets.csv, its ground truth
  chips.h5      chip archive (sarscale info $out/chips.h5)
  scene.h5      the scene's tiles
  png/          the first archive chips as PNG (dB scaled)
  chips.features.h5  feature vectors of every chip (sarscale info $out/chips.features.h5)
  model.h5      the SVM chosen by cross-validation (its CV table is printed above)
  report/       evaluation on held-out chips: report.md, report.json, predictions.csv, confusion.png
MSG
