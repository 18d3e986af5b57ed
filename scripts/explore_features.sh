#!/usr/bin/env bash
# Compares feature chains on one archive: for every chain config DIR/*.ini (an INI file with a
# [features] section) runs
#   mpirun -np ${RANKS:-2} sarscale features --archive ARCHIVE --output OUT/<name>.h5 --config F
# then scripts/feature_cv.py --json on the result (RBF-SVM grid search, LIBSVM 5-fold CV), and
# prints one Markdown table row per chain: name, preprocessing and blocks (the `preprocess` and
# `blocks` keys of [features]), the raw dimension, the dimension after PCA ("-" without PCA), best C,
# best gamma, CV accuracy, and the seconds taken by `features` and by the CV grid.
# The table also goes to OUT/results.md; per chain OUT/<name>.log (features output) and
# OUT/<name>.cv.json (feature_cv.py's JSON line) are kept. A failing chain gets a "failed" row
# and the others still run; the exit status is then 1.
#
# Usage: scripts/explore_features.sh --archive A.h5 --configs DIR --out OUT [--sarscale BIN]
#          [--ranks N] [--reuse] [-- feature_cv.py options, e.g. --folds 5 --log2c -1,9,2]
#   --reuse  skip `features` for a chain whose OUT/<name>.h5 already exists
# Environment: RANKS (default 2), NICE (niceness of the CV, default 10), SARSCALE_BINARY.
# Needs: mpirun, /usr/bin/python3 with numpy + h5py, svm-train (Debian libsvm-tools).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"   # SARSCALE_BIN, OMPI_ALLOW_RUN_AS_ROOT when root, sarscale_mpirun
archive="" configs="" out="" reuse=0
sarscale="${SARSCALE_BINARY:-}"
ranks="${RANKS:-2}"
nice_level="${NICE:-10}"
cv_args=()

while [[ $# -gt 0 ]]; do
  case "$1" in
    --archive) archive="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --sarscale) sarscale="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --) shift; cv_args=("$@"); break ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "explore_features: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -n "$archive" && -n "$configs" && -n "$out" ]] \
  || { echo "explore_features: --archive, --configs and --out are required (see --help)" >&2; exit 2; }
[[ -f "$archive" ]] || { echo "explore_features: no archive $archive" >&2; exit 2; }
[[ -d "$configs" ]] || { echo "explore_features: no configs directory $configs" >&2; exit 2; }

if [[ -z "$sarscale" ]]; then
  for candidate in "$SARSCALE_BIN" "$SARSCALE_BUILD_DIR/src/app/sarscale" "$(command -v sarscale || true)"; do
    if [[ -n "$candidate" && -x "$candidate" ]]; then sarscale="$candidate"; break; fi
  done
fi
[[ -n "$sarscale" && -x "$sarscale" ]] || { echo "explore_features: no sarscale binary (use --sarscale)" >&2; exit 2; }
python=/usr/bin/python3
"$python" -c 'import numpy, h5py' 2>/dev/null \
  || { echo "explore_features: $python lacks numpy/h5py (apt-get install python3-numpy python3-h5py)" >&2; exit 2; }
command -v svm-train >/dev/null || { echo "explore_features: svm-train missing (apt-get install libsvm-tools)" >&2; exit 2; }

shopt -s nullglob
inis=("$configs"/*.ini)
[[ ${#inis[@]} -gt 0 ]] || { echo "explore_features: no *.ini in $configs" >&2; exit 2; }
mkdir -p "$out"

# ini_key FILE KEY: the value of KEY in the [features] section ("?" when absent); only #
# starts a comment, as in boost::program_options config files (";" separates steps and blocks).
ini_key() {
  awk -v key="$2" '
    /^[[:space:]]*\[/ { section = $0; gsub(/[][[:space:]]/, "", section); next }
    section == "features" && $0 ~ ("^[[:space:]]*" key "[[:space:]]*=") {
      sub(/^[^=]*=[[:space:]]*/, ""); sub(/[[:space:]]*(#.*)?$/, ""); print; found = 1; exit
    }
    END { if (!found) print "?" }' "$1"
}

table="$out/results.md"
{
  echo "| chain | preprocess | blocks | raw dim | PCA dim | best C | best gamma | CV accuracy % | features s | CV s |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
} | tee "$table"

failures=0
for ini in "${inis[@]}"; do
  name="$(basename "$ini" .ini)"
  blocks="$(ini_key "$ini" blocks)"
  blocks="${blocks//|/\\|}"
  prep="$(ini_key "$ini" preprocess)"
  prep="${prep//|/\\|}"
  features="$out/$name.h5"
  log="$out/$name.log"
  feat_s="reused"
  if [[ $reuse -eq 0 || ! -f "$features" ]]; then
    rm -f "$features"
    start=$(date +%s.%N)
    if ! sarscale_mpirun "$ranks" "$sarscale" features --archive "$archive" --output "$features" \
         --config "$ini" >"$log" 2>&1; then
      echo "explore_features: $name: sarscale features failed, see $log" >&2
      echo "| $name | $prep | $blocks | | | | | failed (features) | | |" | tee -a "$table"
      failures=$((failures + 1)); continue
    fi
    feat_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  fi
  if ! nice -n "$nice_level" "$python" "$here/feature_cv.py" "$features" --json "${cv_args[@]}" \
       >"$out/$name.cv.json" 2>>"$log"; then
    echo "explore_features: $name: feature_cv.py failed, see $log" >&2
    echo "| $name | $prep | $blocks | | | | | failed (CV) | $feat_s | |" | tee -a "$table"
    failures=$((failures + 1)); continue
  fi
  row=$("$python" - "$out/$name.cv.json" "$features" <<'EOF'
import json, sys
import h5py
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
with h5py.File(sys.argv[2], "r") as f:  # PCA files keep the unprojected rows in /raw_features
    raw = f["raw_features"].shape[1] if "raw_features" in f else None
raw, pca = (raw, r["dim"]) if raw is not None else (r["dim"], "-")
print(f"{raw}|{pca}|{r['best_c']:g}|{r['best_gamma']:.4g}|{r['cv_accuracy']:.2f}|{r['seconds']:.1f}")
EOF
  )
  IFS='|' read -r raw_dim pca_dim best_c best_g acc cv_s <<<"$row"
  echo "| $name | $prep | $blocks | $raw_dim | $pca_dim | $best_c | $best_g | $acc | $feat_s | $cv_s |" | tee -a "$table"
done

echo "explore_features: ${#inis[@]} chain(s), $failures failed; table in $table" >&2
[[ $failures -eq 0 ]]
