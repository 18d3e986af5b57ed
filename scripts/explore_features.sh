#!/usr/bin/env bash
# Compares feature chains as users run them: for every config DIR/*.ini (ingest, features and
# train sections, as configs/explore/ holds) runs
#   mpirun -np RANKS sarscale pipeline --config F --train TRAIN [--test TEST] --out OUT/<name>
# and prints one Markdown table row per chain: name, preprocessing, blocks, feature dimension,
# augmentation, the grid point chosen (by the config's select-by), its 5-fold CV accuracy, its
# acquisition-shift validation accuracy (train's --shift-validation, the config's spec), the gap,
# the held-out accuracy when --test is given, and the seconds of the features and train stages.
# The table goes to OUT/results.md and OUT/results.csv; each chain's pipeline output stays in
# OUT/<name>/ (summary.md, the model, logs in OUT/<name>.log). A failing chain gets a "failed"
# row and the others still run; the exit status is then 1.
#
# Usage: scripts/explore_features.sh --train DIR --configs DIR --out OUT [--test DIR]
#          [--ranks N] [--reuse]
#   --reuse  keep OUT/<name>/ (pipeline reuses every stage whose inputs and options are unchanged)
# Environment: SARSCALE_BINARY (default: the build's sarscale), NICE (niceness, default 0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/env.sh
source "$here/env.sh"   # SARSCALE_BIN, OMPI_ALLOW_RUN_AS_ROOT when root, sarscale_mpirun
train="" test="" configs="" out="" reuse=0 ranks=2
sarscale="${SARSCALE_BINARY:-$SARSCALE_BIN}"
nice_level="${NICE:-0}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --train) train="$2"; shift 2 ;;
    --test) test="$2"; shift 2 ;;
    --configs) configs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "explore_features: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$train" && -n "$configs" && -n "$out" ]] \
  || { echo "explore_features: --train, --configs and --out are required (see --help)" >&2; exit 2; }
[[ -d "$train" ]] || { echo "explore_features: no training directory $train" >&2; exit 2; }
[[ -z "$test" || -d "$test" ]] || { echo "explore_features: no test directory $test" >&2; exit 2; }
[[ -d "$configs" ]] || { echo "explore_features: no configs directory $configs" >&2; exit 2; }
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || { echo "explore_features: --ranks takes a positive integer" >&2; exit 2; }
[[ -x "$sarscale" ]] || { echo "explore_features: no sarscale binary at $sarscale (build first)" >&2; exit 2; }
shopt -s nullglob
inis=("$configs"/*.ini)
[[ ${#inis[@]} -gt 0 ]] || { echo "explore_features: no *.ini in $configs" >&2; exit 2; }
mkdir -p "$out"

# One table row from a pipeline's JSON summary (its last line) and the config.
row() {
  /usr/bin/python3 - "$@" <<'EOF'
import configparser, json, sys
name, ini, summary = sys.argv[1:4]
cfg = configparser.ConfigParser(strict=False, interpolation=None)
cfg.read(ini)
f = cfg["features"]
s = json.loads(open(summary).read().strip().splitlines()[-1])
v = s.get("validation", {})
st = {x["stage"]: x["seconds"] for x in s["stages"]}
pct = lambda x: "-" if x is None else "%.2f" % (100 * x)
gap = "-" if v.get("shifted_accuracy") is None else "%.2f" % (100 * (v["cv_accuracy"] - v["shifted_accuracy"]))
dim = f.get("pca-components", "all") if f.getboolean("fit-pca", False) else "raw"
cells = [name, "`%s`" % f.get("preprocess", ""), "`%s`" % f.get("blocks", ""), dim, f.get("augment", "-") or "-",
         "C=%g, gamma=%.4g" % (v.get("C", 0), v.get("gamma", 0)), pct(v.get("cv_accuracy")),
         pct(v.get("shifted_accuracy")), gap, pct(v.get("test_accuracy")),
         "%.1f" % st.get("features-train", 0), "%.1f" % st.get("train", 0)]
print("| " + " | ".join(cells) + " |")
print(",".join(c.replace(",", ";").strip("`") for c in cells), file=sys.stderr)
EOF
}

table="$out/results.md" csv="$out/results.csv"
header="| chain | preprocess | blocks | PCA | augment | chosen | CV % | shifted % | gap | held-out % | features s | train s |"
{ echo "$header"; echo "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"; } > "$table"
echo "chain,preprocess,blocks,pca,augment,chosen,cv,shifted,gap,heldout,features_s,train_s" > "$csv"
failures=0
for ini in "${inis[@]}"; do
  name="$(basename "$ini" .ini)"
  log="$out/$name.log"
  [[ $reuse -eq 1 ]] || rm -rf "${out:?}/$name"
  args=(pipeline --config "$ini" --train "$train" --out "$out/$name")
  [[ -n "$test" ]] && args+=(--test "$test")
  echo "explore_features: $name" >&2
  if nice -n "$nice_level" bash -c 'source "$1/env.sh"; shift; sarscale_mpirun "$@"' _ "$here" "$ranks" "$sarscale" \
       "${args[@]}" > "$out/$name.json" 2> "$log" && row "$name" "$ini" "$out/$name.json" >> "$table" 2>> "$csv"; then
    :
  else
    echo "explore_features: $name failed, see $log" >&2
    echo "| $name | failed (see $name.log) | | | | | | | | | | |" >> "$table"
    failures=$((failures + 1))
  fi
done
cat "$table"
echo "explore_features: ${#inis[@]} chain(s), $failures failed; table in $table" >&2
[[ $failures -eq 0 ]]
