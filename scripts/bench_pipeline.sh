#!/usr/bin/env bash
# The whole MSTAR pipeline, `sarscale pipeline` (ingest, features, CV grid search + training,
# evaluation) at 2 ranks, against the seed's Python pipeline (../shared/tools/seed_pipeline.py:
# scikit-image HOG, PCA, scikit-learn SVC with GridSearchCV) on the same train/test split, in one run.
#
#   scripts/bench_pipeline.sh [--ranks 2] [--variant seed] [--test-every 4] [--repeats 1]
#                             [--quick] [--out /tmp/bench-pipeline] [--no-build]
#
# Split: the 15 deg test set is held out, so both pipelines see a split of the 17 deg set
# ../shared/data/mstar10-train (2,746 JPEG chips): per class, the files in name order, every
# --test-every-th one (the 4th, 8th, ...) goes to test, the rest to train (2,064 / 682 chips at 4).
# It is built in OUT/data/{train,test}/<CLASS>/ as symbolic links, the layout seed_pipeline.py
# needs (DATA_ROOT/train/<CLASS>/*.jpeg). --quick: the first 40 chips of each class only.
#
# sarscale: mpirun -np RANKS sarscale pipeline --config configs/mstar10-soc.ini
#           --train OUT/data/train --test OUT/data/test --out OUT/sarscale-N
#   with a fresh --out every run (no stage reused), timed end to end (MPI start-up included).
#   Stage times from its JSON summary; accuracy from OUT/sarscale-N/report/report.json.
# seed:     /usr/bin/python3 seed_pipeline.py OUT/data VARIANT, timed end to end (interpreter
#   start-up and imports included). Stage times and accuracy from its output. 'seed' (resize to
#   128x64, HOG 9 orientations / 8x8 cells / 2x2 blocks, PCA 80, GridSearchCV of C x gamma, 3 folds)
#   is the seed's own chain, the one the issue's "about 52 s, 84.5%" refers to; hog88 and pixels
#   are the script's other variants.
# The chips are read once before timing, so both pipelines read them from the page cache. Each
# figure is the median over --repeats (the two pipelines alternate).
#
# Writes OUT/results.md (also printed), OUT/results.csv and OUT/logs/. Nothing inside the repository.
# SARSCALE_BUILD_DIR chooses the build (default build/), SARSCALE_SHARED the data (../shared).
# Needs python3-sklearn, python3-skimage, python3-pil (scripts/install-deps.sh --with-bench).
# Exit status: 0 done, 2 usage error, 77 skipped (data or tools missing).
set -euo pipefail
source "$(dirname "$0")/env.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
ranks=2; variant=seed; every=4; repeats=1; quick=0; out=/tmp/bench-pipeline; build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --variant) variant="$2"; shift 2 ;;
    --test-every) every="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_pipeline: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for v in "$ranks" "$repeats"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "bench_pipeline: --ranks and --repeats take a positive integer" >&2; exit 2; }
done
[[ "$every" =~ ^[2-9]$|^[1-9][0-9]+$ ]] || { echo "bench_pipeline: --test-every takes an integer >= 2" >&2; exit 2; }
case "$variant" in seed|hog88|pixels) ;; *) echo "bench_pipeline: --variant: seed, hog88 or pixels" >&2; exit 2 ;; esac
out="$(realpath -m "$out")"
[[ "$out" == "$SARSCALE_ROOT" || "$out" == "$SARSCALE_ROOT"/* ]] \
  && { echo "bench_pipeline: --out $out is inside the repository; choose a directory outside it" >&2; exit 2; }

skip() { echo "bench_pipeline: SKIPPED: $*" >&2; exit 77; }
shared="${SARSCALE_SHARED:-$SARSCALE_ROOT/../shared}"
chips="$shared/data/mstar10-train"
seed_py="$shared/tools/seed_pipeline.py"
[[ -d "$chips" ]] || skip "$chips not found (the MSTAR training chips; set SARSCALE_SHARED)"
[[ -f "$seed_py" ]] || skip "$seed_py not found (set SARSCALE_SHARED)"
# Installs the Python packages etc. where it can (root or sudo); what is still missing skips.
"$SARSCALE_ROOT/scripts/install-deps.sh" --with-tools --with-bench >/dev/null 2>&1 || true
command -v mpirun >/dev/null || skip "mpirun not found (Debian: apt-get install openmpi-bin)"
python=/usr/bin/python3  # the seed script's own interpreter: Debian's packages live there
[[ -x "$python" ]] || skip "$python not found"
"$python" -c 'import sklearn, skimage, PIL' 2>/dev/null \
  || skip "$python lacks scikit-learn / scikit-image / PIL (apt-get install python3-sklearn python3-skimage python3-pil)"
if ((build)); then "$SARSCALE_ROOT/scripts/build.sh" >/dev/null; fi
[[ -x "$SARSCALE_BIN" ]] || skip "$SARSCALE_BIN not built (run scripts/build.sh or drop --no-build)"
config="$SARSCALE_ROOT/configs/mstar10-soc.ini"

# The split, rebuilt every run (links only): deterministic, stratified.
data="$out/data"
rm -rf "$data"
mkdir -p "$data/train" "$data/test" "$out/logs"
n_train=0; n_test=0
for dir in "$chips"/*/; do
  class="$(basename "$dir")"
  mkdir -p "$data/train/$class" "$data/test/$class"
  i=0
  while IFS= read -r f; do
    ((quick && i >= 40)) && break
    i=$((i + 1))
    if ((i % every == 0)); then
      ln -s "$f" "$data/test/$class/"; n_test=$((n_test + 1))
    else
      ln -s "$f" "$data/train/$class/"; n_train=$((n_train + 1))
    fi
  done < <(find "$dir" -maxdepth 1 -name '*.jpeg' -type f | LC_ALL=C sort)
done
((n_train > 0 && n_test > 0)) || skip "no *.jpeg chips under $chips"
echo "bench_pipeline: split $n_train train / $n_test test chips (every ${every}th to test) in $data" >&2
cat "$chips"/*/*.jpeg >/dev/null  # page cache: neither pipeline pays the first read

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# sarscale_figures SUMMARY.json REPORT.json -> "stage=seconds ... inside=S accuracy=PERCENT"
sarscale_figures() {
  "$python" - "$1" "$2" <<'PY'
import json, sys
summary = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
report = json.load(open(sys.argv[2]))
def find(v):  # the overall accuracy, wherever the report nests it
    if isinstance(v, dict):
        if isinstance(v.get("accuracy"), (int, float)): return v["accuracy"]
        for x in v.values():
            a = find(x)
            if a is not None: return a
    return None
stages = " ".join(f'{s["stage"]}={s["seconds"]:.2f}' for s in summary["stages"])
print(f'{stages} inside={summary["seconds"]:.2f} accuracy={100 * find(report):.2f}')
PY
}
load_before=$(uptime)
s_wall=(); p_wall=(); s_stages=(); p_stages=()
for ((rep = 1; rep <= repeats; rep++)); do
  run="$out/sarscale-$rep"
  rm -rf "$run"
  t0=$(now)
  if ! sarscale_mpirun "$ranks" "$SARSCALE_BIN" pipeline --config "$config" --train "$data/train" --test "$data/test" \
      --out "$run" --log-level warn >"$out/logs/sarscale-$rep.json" 2>"$out/logs/sarscale-$rep.err"; then
    echo "bench_pipeline: sarscale pipeline failed; its messages:" >&2; tail -n 20 "$out/logs/sarscale-$rep.err" >&2; exit 1
  fi
  t1=$(now); s_wall+=("$(elapsed "$t0" "$t1")")
  s_stages+=("$(sarscale_figures "$out/logs/sarscale-$rep.json" "$run/report/report.json")")
  t0=$(now)
  if ! "$python" "$seed_py" "$data" "$variant" >"$out/logs/seed-$rep.out" 2>"$out/logs/seed-$rep.err"; then
    echo "bench_pipeline: seed_pipeline.py failed; its messages:" >&2; tail -n 20 "$out/logs/seed-$rep.err" >&2; exit 1
  fi
  t1=$(now); p_wall+=("$(elapsed "$t0" "$t1")")
  # load=..s features=..s pca=..s gridsearch=..s predict=..s total=..s / test_accuracy=0.xxxx
  p_stages+=("$(sed -n 's/s / /g; s/s$//; /^load=/p' "$out/logs/seed-$rep.out") accuracy=$(
    grep -o 'test_accuracy=[0-9.]*' "$out/logs/seed-$rep.out" | awk -F= '{ printf "%.2f", 100 * $2 }')")
  echo "bench_pipeline: run $rep: sarscale ${s_wall[-1]} s, seed ${p_wall[-1]} s" >&2
done

# field NAME over the repeats' "k=v" lines -> median
field() { local name="$1"; shift; printf '%s\n' "$@" | tr ' ' '\n' | sed -n "s/^$name=//p" | median; }
S=$(printf '%s\n' "${s_wall[@]}" | median); P=$(printf '%s\n' "${p_wall[@]}" | median)
s_acc=$(field accuracy "${s_stages[@]}"); p_acc=$(field accuracy "${p_stages[@]}")
ratio=$(awk -v p="$P" -v s="$S" 'BEGIN { printf "%.1f", p / s }')
best=$(grep -o "best=.*" "$out/logs/seed-$repeats.out" || true)
{
  echo "# MSTAR pipeline: sarscale at $ranks ranks against seed_pipeline.py ($variant) ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Split of mstar10-train: $n_train train / $n_test test chips (every ${every}th chip of each class to test)$( ((quick)) && echo ", QUICK: 40 chips per class")."
  echo
  echo "| pipeline | stage | seconds (median of $repeats) |"
  echo "|---|---|---|"
  for st in ingest-train features-train train ingest-test evaluate inside; do
    label="$st"; [[ "$st" == inside ]] && label="all stages (inside the process)"
    echo "| sarscale | $label | $(field "$st" "${s_stages[@]}") |"
  done
  echo "| sarscale | **end to end (mpirun included)** | **$S** |"
  for st in load features pca gridsearch predict total; do
    echo "| seed ($variant) | $st | $(field "$st" "${p_stages[@]}") |"
  done
  echo "| seed ($variant) | **end to end (python start-up included)** | **$P** |"
  echo
  echo "| pipeline | end-to-end seconds | runs | test accuracy |"
  echo "|---|---|---|---|"
  echo "| sarscale pipeline, $ranks ranks, configs/mstar10-soc.ini | $S | ${s_wall[*]} | $s_acc% |"
  echo "| seed_pipeline.py $variant | $P | ${p_wall[*]} | $p_acc% |"
  echo
  echo "- speed: sarscale is **${ratio}x** faster end to end (target: >= 10x)"
  echo "- seed's choice: $best"
  echo "- machine: $(nproc) cores; sarscale $(git -C "$SARSCALE_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), build $SARSCALE_BUILD_DIR"
  echo "- load before: $load_before"
  echo "- load after:  $(uptime)"
} | tee "$out/results.md"
{
  echo "pipeline,seconds_median,runs,test_accuracy,stages"
  echo "sarscale,$S,${s_wall[*]// /;},$s_acc,${s_stages[-1]}"
  echo "seed-$variant,$P,${p_wall[*]// /;},$p_acc,${p_stages[-1]}"
} >"$out/results.csv"
echo "bench_pipeline: wrote $out/results.md and $out/results.csv" >&2
