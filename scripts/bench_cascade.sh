#!/usr/bin/env bash
# The cascade SVM (`sarscale train --cascade`) at 1..4 ranks against the single-node solver and
# LIBSVM's svm-train, in one run: training time, cascade passes, final objective and its gap to
# the single node's, support vectors, test accuracy.
#
#   scripts/bench_cascade.sh [--sets ijcnn1,w8a,synth200k] [--ranks 1,2,3,4] [--repeats 3]
#                            [--libsvm-repeats N] [--quick] [--out /tmp/bench-cascade] [--no-build]
#
# Sets (same parameters as scripts/bench_svm.sh; eps 1e-3, kernel cache 200 MB everywhere):
#   ijcnn1    ../shared/data/libsvm-benchmarks/ijcnn1{,.t}.gz  49,990 / 91,701 x 22    -c 32 -g 2
#   w8a       ../shared/data/libsvm-benchmarks/w8a{,.t}.gz     49,749 / 14,951 x 300   -c 1 -g 1/300
#   synth200k scripts/make_synth_svm.py (written once into OUT/data, deterministic):
#             200,000 / 50,000 x 16, two overlapping 8-Gaussian mixtures (spread 1.3)  -c 1 -g 1/32
# --quick: the first 5,000 training and 2,000 test rows of ijcnn1 / w8a, synth 20,000 / 5,000,
#          one repeat (a smoke run of the script, not a benchmark).
#
# Runs, each timed as a whole command (reading the text data and MPI start-up included):
#   svm-train        svm-train -s 0 -t 2 -c C -g G -e 0.001 -m 200 (one thread, as LIBSVM is)
#   single node      sarscale train without --cascade, 1 rank x CORES threads, and 1 rank x 1 thread
#   ensemble, N > 1  sarscale train --ensemble (leaf machines averaged, no merge passes), as the cascade
#   cascade, N ranks sarscale train --cascade --gather-below 0, N ranks x max(1, CORES / N) threads
#                    (ranks x threads = cores where N divides the cores; more ranks than cores
#                    run one thread each, oversubscribed). --gather-below 0 makes even these
#                    ~50,000-row sets go through the cascade (the default gathers pairs below
#                    2e6 rows x features onto one rank, i.e. the single-node solver); at 1 rank
#                    there is nothing to cascade and the pair is solved on that rank.
# Every sarscale run goes through the same launcher, `mpirun --oversubscribe --bind-to none`
# (scripts/env.sh), so start-up costs are alike. Within a repeat the runs alternate
# (svm-train, single node, cascade 1..4), so machine noise hits all of them; each time is the
# median over the repeats. Test accuracy: svm-predict / `sarscale predict --data` with the last
# repeat's model.
#
# Writes OUT/results.csv, OUT/results.md (also printed), OUT/logs/ (every run's stdout/stderr),
# OUT/data/ (uncompressed and generated data, reused by later runs). Nothing inside the repository.
# SARSCALE_BUILD_DIR chooses the build (default build/), SARSCALE_SHARED the data (../shared).
# Exit status: 0 done, 2 usage error, 77 skipped (tools or all data missing).
set -euo pipefail
source "$(dirname "$0")/env.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
sets="ijcnn1,w8a,synth200k"; ranks="1,2,3,4"; repeats=""; libsvm_repeats=""; quick=0
out=/tmp/bench-cascade; build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sets) sets="$2"; shift 2 ;;
    --ranks) ranks="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --libsvm-repeats) libsvm_repeats="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_cascade: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$repeats" ]] || repeats=$((quick ? 1 : 3))
[[ -n "$libsvm_repeats" ]] || libsvm_repeats="$repeats"
[[ "$repeats" =~ ^[1-9][0-9]*$ && "$libsvm_repeats" =~ ^[1-9][0-9]*$ ]] \
  || { echo "bench_cascade: --repeats and --libsvm-repeats take a positive integer" >&2; exit 2; }
IFS=, read -r -a set_list <<<"$sets"
IFS=, read -r -a rank_list <<<"$ranks"
for r in "${rank_list[@]}"; do
  [[ "$r" =~ ^[1-9][0-9]*$ ]] || { echo "bench_cascade: --ranks: '$r' is not a positive integer" >&2; exit 2; }
done
for s in "${set_list[@]}"; do
  case "$s" in ijcnn1|w8a|synth200k) ;; *) echo "bench_cascade: unknown set '$s' (ijcnn1, w8a, synth200k)" >&2; exit 2 ;; esac
done
out="$(realpath -m "$out")"
[[ "$out" == "$SARSCALE_ROOT" || "$out" == "$SARSCALE_ROOT"/* ]] \
  && { echo "bench_cascade: --out $out is inside the repository; choose a directory outside it" >&2; exit 2; }

skip() { echo "bench_cascade: SKIPPED: $*" >&2; exit 77; }
# Installs libsvm-tools etc. where it can (root or sudo); what is still missing afterwards skips.
"$SARSCALE_ROOT/scripts/install-deps.sh" --with-tools >/dev/null 2>&1 || true
for tool in mpirun svm-train svm-predict; do
  command -v "$tool" >/dev/null || skip "$tool not found (Debian: apt-get install openmpi-bin libsvm-tools)"
done
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3 || true)"
[[ -n "$python" ]] || skip "python3 not found (reads sarscale's JSON, writes the synthetic set)"
if ((build)); then "$SARSCALE_ROOT/scripts/build.sh" >/dev/null; fi
[[ -x "$SARSCALE_BIN" ]] || skip "$SARSCALE_BIN not built (run scripts/build.sh or drop --no-build)"
shared="${SARSCALE_SHARED:-$SARSCALE_ROOT/../shared}"

cores=$(nproc)
mkdir -p "$out/data" "$out/logs"
now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
accuracy() { grep -o 'Accuracy = [0-9.]*%' | grep -o '[0-9.]*' || echo nan; }
# The training summary (last JSON line of stdout): objective, SVs, passes, mode, peak RSS, solve time.
summary() {
  "$python" - "$1" <<'PY'
import json, sys
line = [l for l in open(sys.argv[1]) if l.startswith("{")][-1]
d = json.loads(line)
pairs = d.get("pairs", [])
passes = sum(len(p["passes"]) for p in pairs if p["mode"] == "cascade")
mode = ("cascade" if any(p["mode"] == "cascade" for p in pairs) else
        "ensemble" if any(p["mode"].startswith("ensemble") for p in pairs) else ("gathered" if pairs else "single"))
obj = d.get("objective", sum(p["objective"] for p in pairs) if pairs else float("nan"))
print(f'{obj:.6f} {d["total_sv"]} {passes} {mode} {max(d["peak_rss_mb"])} {d["train_seconds"]:.3f}')
PY
}

# prepare SET: sets train, test, C, G (data written once into OUT/data); returns 1 when absent.
prepare() {
  local set="$1" tag="$1"
  ((quick)) && tag="$set-quick"
  train="$out/data/$tag.train"; test="$out/data/$tag.test"
  case "$set" in
    ijcnn1|w8a)
      if [[ "$set" == ijcnn1 ]]; then C=32; G=2; else C=1; G=0.0033333333333333335; fi
      local src="$shared/data/libsvm-benchmarks/$set"
      if [[ ! -f "$src.gz" || ! -f "$src.t.gz" ]]; then
        echo "bench_cascade: skipping $set: $src.gz / $src.t.gz not found (set SARSCALE_SHARED)" >&2; return 1
      fi
      if [[ ! -s "$train" || ! -s "$test" ]]; then
        if ((quick)); then
          # zcat | head ends zcat by SIGPIPE: not an error here.
          { zcat "$src.gz" || true; } | head -n 5000 >"$train.tmp"
          { zcat "$src.t.gz" || true; } | head -n 2000 >"$test.tmp"
        else
          zcat "$src.gz" >"$train.tmp"; zcat "$src.t.gz" >"$test.tmp"
        fi
        mv "$train.tmp" "$train"; mv "$test.tmp" "$test"
      fi ;;
    synth200k)
      C=1; G=0.03125
      if ! "$python" -c 'import numpy' 2>/dev/null; then
        echo "bench_cascade: skipping synth200k: $python lacks numpy (apt-get install python3-numpy)" >&2; return 1
      fi
      if [[ ! -s "$train" || ! -s "$test" ]]; then
        local n=200000 m=50000
        ((quick)) && { n=20000; m=5000; }
        echo "bench_cascade: writing $tag ($n + $m rows) into $out/data" >&2
        "$python" "$SARSCALE_ROOT/scripts/make_synth_svm.py" --train "$n" --test "$m" --spread 1.3 \
          --out-train "$train.tmp" --out-test "$test.tmp"
        mv "$train.tmp" "$train"; mv "$test.tmp" "$test"
      fi ;;
  esac
}

csv="$out/results.csv"; md="$out/results.md"
load_before=$(uptime)
commit=$(git -C "$SARSCALE_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$({ git -C "$SARSCALE_ROOT" status --porcelain --untracked-files=no 2>/dev/null || true; } | wc -l)
echo "set,solver,ranks,threads,seconds_median,seconds_runs,solve_seconds,passes,objective,objective_gap,n_sv,test_accuracy,speedup_vs_single,ratio_vs_svm_train,peak_rss_mb" >"$csv"
rows_md=(); targets=()
done_sets=0

for set in "${set_list[@]}"; do
  prepare "$set" || continue
  rows=$(wc -l <"$train")
  echo "bench_cascade: $set ($rows training rows), -c $C -g $G, $repeats repeat(s)" >&2
  log="$out/logs/$set"
  # Configurations in run order: name|ranks|threads|launch args.
  # single: all cores; single1: one thread (the per-rank resources of the cascade's ranks);
  # ensemble: the fast approximate mode (leaf machines averaged, no merges) beside the cascade.
  configs=("single|1|$cores|")
  ((cores > 1)) && configs+=("single1|1|1|")
  for r in "${rank_list[@]}"; do
    t=$((cores / r)); ((t >= 1)) || t=1
    configs+=("cascade|$r|$t|--cascade --gather-below 0")
    ((r > 1)) && configs+=("ensemble|$r|$t|--ensemble")
  done
  declare -A times=() solve=()
  lib_times=()
  for ((rep = 0; rep < repeats || rep < libsvm_repeats; rep++)); do
    if ((rep < libsvm_repeats)); then
      t0=$(now)
      svm-train -s 0 -t 2 -c "$C" -g "$G" -e 0.001 -m 200 "$train" "$log.libsvm.model" >"$log.libsvm.out"
      t1=$(now); lib_times+=("$(elapsed "$t0" "$t1")")
    fi
    ((rep < repeats)) || continue
    for cfg in "${configs[@]}"; do
      IFS='|' read -r name r t extra <<<"$cfg"
      key="$name-$r"
      t0=$(now)
      # shellcheck disable=SC2086  # $extra is a list of options
      if ! OMP_NUM_THREADS="$t" sarscale_mpirun "$r" "$SARSCALE_BIN" train --data "$train" --model "$log.$key.h5" \
          --C "$C" --gamma "$G" --eps 0.001 --cache-mb 200 --threads "$t" $extra --log-level warn \
          >"$log.$key.json" 2>"$log.$key.err"; then
        echo "bench_cascade: $set $key failed; its messages:" >&2; tail -n 20 "$log.$key.err" >&2; exit 1
      fi
      t1=$(now)
      times[$key]+="$(elapsed "$t0" "$t1") "
      solve[$key]+="$(summary "$log.$key.json" | cut -d' ' -f6) "
    done
  done

  # svm-train's figures: objective and SVs from its output, accuracy from svm-predict.
  lib_s=$(printf '%s\n' "${lib_times[@]}" | median)
  lib_obj=$(grep -o 'obj = [-0-9.e+]*' "$log.libsvm.out" | tail -n 1 | cut -d' ' -f3)
  lib_sv=$(grep -o 'Total nSV = [0-9]*' "$log.libsvm.out" | tail -n 1 | cut -d' ' -f4)
  lib_acc=$(svm-predict "$test" "$log.libsvm.model" "$log.libsvm.pred" | accuracy)
  single_s=""; single_obj=""; single_acc=""
  emit() {  # solver ranks threads median runs solve passes obj nsv acc rss
    local gap speedup ratio
    gap=$(awk -v o="$8" -v s="$single_obj" 'BEGIN { if (s == "" || s == 0) print "nan"; else printf "%.2e", (o - s) / (s < 0 ? -s : s) }')
    speedup=$(awk -v a="$single_s" -v b="$4" 'BEGIN { if (a == "") print "nan"; else printf "%.2f", a / b }')
    ratio=$(awk -v a="$4" -v b="$lib_s" 'BEGIN { printf "%.2f", a / b }')
    local runs="${5% }"
    echo "$set,$1,$2,$3,$4,${runs// /;},$6,$7,$8,$gap,$9,${10},$speedup,$ratio,${11}" >>"$csv"
    rows_md+=("| $set | $1 | $2 x $3 | $4 | $runs | $6 | $7 | $8 | $gap | $9 | ${10}% | ${speedup}x | $ratio | ${11} |")
  }
  for cfg in "${configs[@]}"; do
    IFS='|' read -r name r t extra <<<"$cfg"
    key="$name-$r"
    med=$(tr ' ' '\n' <<<"${times[$key]}" | grep . | median)
    smed=$(tr ' ' '\n' <<<"${solve[$key]}" | grep . | median)
    read -r obj nsv passes mode rss _ < <(summary "$log.$key.json")
    acc=$(OMP_NUM_THREADS="$cores" "$SARSCALE_BIN" predict --data "$test" --model "$log.$key.h5" \
      --output "$log.$key.pred" --threads "$cores" --log-level warn | accuracy)
    if [[ "$name" == single ]]; then
      single_s="$med"; single_obj="$obj"; single_acc="$acc"
      # svm-train first, measured against this single node.
      emit "svm-train" 1 1 "$lib_s" "${lib_times[*]}" "" "" "$lib_obj" "$lib_sv" "$lib_acc" ""
      emit "single node" 1 "$t" "$med" "${times[$key]}" "$smed" "" "$obj" "$nsv" "$acc" "$rss"
    elif [[ "$name" == single1 ]]; then
      emit "single node" 1 "$t" "$med" "${times[$key]}" "$smed" "" "$obj" "$nsv" "$acc" "$rss"
    elif [[ "$name" == ensemble ]]; then
      emit "ensemble (approximate)" "$r" "$t" "$med" "${times[$key]}" "$smed" "0" "$obj" "$nsv" "$acc" "$rss"
    else
      [[ "$mode" == cascade ]] || passes="0 ($mode)"
      emit "cascade" "$r" "$t" "$med" "${times[$key]}" "$smed" "$passes" "$obj" "$nsv" "$acc" "$rss"
      if [[ "$r" == 2 ]]; then
        verdict=$(awk -v sp="$(awk -v a="$single_s" -v b="$med" 'BEGIN { print a / b }')" -v a="$acc" -v s="$single_acc" \
          'BEGIN { d = a - s; if (d < 0) d = -d; printf "%s (speed-up %.2fx, accuracy %+.4f points)", \
          (sp >= 1.6 && d <= 0.2) ? "met" : "NOT met", sp, a - s }')
        targets+=("- $set, 2 ranks: target (>= 1.6x the single node, accuracy within 0.2 points) $verdict")
      fi
    fi
  done
  unset times solve
  done_sets=$((done_sets + 1))
done
((done_sets > 0)) || skip "none of the sets ($sets) has its data"

{
  echo "# Cascade SVM against the single node and svm-train ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "| set | solver | ranks x threads | seconds (median) | runs | solve s (in-process) | passes | objective | gap to single node | nSV | test accuracy | speed-up vs single node | ratio vs svm-train | peak RSS MB (max rank) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows_md[@]}"
  echo
  printf '%s\n' "${targets[@]}"
  echo
  echo "- machine: $cores cores, $(uname -r); sarscale $commit$([[ "$dirty" -gt 0 ]] && echo " with $dirty uncommitted file(s)"), build $SARSCALE_BUILD_DIR"
  echo "- repeats: $repeats (sarscale), $libsvm_repeats (svm-train); seconds = whole command, median; solve s = the JSON's train_seconds"
  echo "- gap = (objective - single node's) / |single node's| (the dual objective is minimised: positive = above the optimum)"
  echo "- load before: $load_before"
  echo "- load after:  $(uptime)"
  if ((quick)); then echo "- QUICK run: small subsets, one repeat; not a benchmark"; fi
} | tee "$md"
echo "bench_cascade: wrote $csv and $md" >&2
