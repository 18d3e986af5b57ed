#!/usr/bin/env bash
# Strong and weak scaling of every pipeline stage on synthetic archives, and how each stage's
# cost grows with the archive size; a CSV, a summary with fitted exponents, and gnuplot PNGs.
#
#   scripts/scaling_study.sh [--ranks 1,2,4] [--threads 1,2] [--sizes 500,1000,2000]
#                            [--strong-size N] [--weak-size N] [--stages LIST] [--reps 3]
#                            [--config configs/mstar10-soc.ini] [--out /tmp/sarscale-scaling]
#                            [--no-plots] [--no-build]
#
# Stages (--stages, comma-separated, all by default):
#   ingest         Phoenix chip files -> parallel HDF5 archive
#   features       the config's [features] chain, standardisation/PCA fitted across ranks
#   train          the config's [train] grid search (5-fold CV spread over the ranks), single-node solver
#   train-cascade  `train --cascade --gather-below 0` at C 2, gamma 2^-7.5 (every pair through the cascade)
#   evaluate       the size's model applied to the size's own archive (report, confusion matrix)
# Setup, not measured: `sarscale synth` writes SIZE chips of 10 classes (seed 42) once per size in
# OUT/data, which is then ingested, featurised and trained once as the inputs of the later stages.
# Modes (the CSV's `mode` column):
#   strong  archive of --strong-size chips (default: the largest --sizes), every ranks x threads
#   weak    --weak-size chips per rank (default: the smallest --sizes), i.e. weak-size x ranks chips,
#           every ranks x threads
#   size    1 rank x 1 thread at every --sizes: the stage's cost against the archive size, fitted
#           as seconds = a * size^b (least squares on the logs) per stage
# A run identical to one already measured (same stage, ranks, threads, size) is not repeated.
# Seconds: the stage's own "seconds" from its JSON line (evaluate: the sum of its stage_seconds),
# i.e. without MPI start-up; the median of --reps runs. Throughput: chips/s (train: rows/s).
# Peak memory per rank: the largest rank's, from train's JSON (peak_rss_mb) or /usr/bin/time -f %M
# around every rank; the largest over the repeats.
# Ranks are launched with `mpirun --oversubscribe --bind-to none` (scripts/env.sh), also inside a
# Slurm allocation (jobs/scaling_study.sbatch); ranks x threads above the cores oversubscribe.
#
# Writes into OUT (never inside the repository): results.csv
# (stage,mode,ranks,threads,size,seconds,throughput,peak_rss_mb), exponents.csv, summary.md (also
# printed), plots.gp and *.png (strong_time, strong_speedup, strong_efficiency, weak_time,
# weak_efficiency, size_loglog), runs/ (every run's JSON and messages), data/ (the synthetic sets,
# reused by later runs). Re-draw the plots with `cd OUT && gnuplot plots.gp`.
# SARSCALE_BUILD_DIR chooses the build (default build/).
# Exit status: 0 done, 1 a run failed, 2 usage error, 77 skipped (mpirun, python3 or the build missing).
set -euo pipefail
source "$(dirname "$0")/env.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
ranks="1,2,4"; threads="1,2"; sizes="500,1000,2000"; strong_size=""; weak_size=""
stages="ingest,features,train,train-cascade,evaluate"; reps=3; plots=1; build=1
config="$SARSCALE_ROOT/configs/mstar10-soc.ini"; out=/tmp/sarscale-scaling
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --strong-size) strong_size="$2"; shift 2 ;;
    --weak-size) weak_size="$2"; shift 2 ;;
    --stages) stages="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-plots) plots=0; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "scaling_study: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
fail_usage() { echo "scaling_study: $*" >&2; exit 2; }
IFS=, read -r -a rank_list <<<"$ranks"
IFS=, read -r -a thread_list <<<"$threads"
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a stage_list <<<"$stages"
for v in "${rank_list[@]}" "${thread_list[@]}" "${size_list[@]}" "$reps" ${strong_size:+"$strong_size"} \
  ${weak_size:+"$weak_size"}; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || fail_usage "'$v' is not a positive integer"
done
for s in "${stage_list[@]}"; do
  case "$s" in ingest|features|train|train-cascade|evaluate) ;; *) fail_usage "unknown stage '$s'" ;; esac
done
[[ -f "$config" ]] || fail_usage "--config $config not found"
config="$(realpath "$config")"
[[ -n "$strong_size" ]] || strong_size=$(printf '%s\n' "${size_list[@]}" | sort -n | tail -n 1)
[[ -n "$weak_size" ]] || weak_size=$(printf '%s\n' "${size_list[@]}" | sort -n | head -n 1)
out="$(realpath -m "$out")"
[[ "$out" == "$SARSCALE_ROOT" || "$out" == "$SARSCALE_ROOT"/* ]] \
  && fail_usage "--out $out is inside the repository; choose a directory outside it"

skip() { echo "scaling_study: SKIPPED: $*" >&2; exit 77; }
command -v mpirun >/dev/null || skip "mpirun not found (Debian: apt-get install openmpi-bin)"
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3 || true)"
[[ -n "$python" ]] || skip "python3 not found (reads the JSON lines, fits the exponents)"
if ((build)); then "$SARSCALE_ROOT/scripts/build.sh" >/dev/null; fi
[[ -x "$SARSCALE_BIN" ]] || skip "$SARSCALE_BIN not built (run scripts/build.sh or drop --no-build)"
have_time=0; [[ -x /usr/bin/time ]] && have_time=1

mkdir -p "$out/data" "$out/runs"
csv="$out/results.csv"
log() { echo "scaling_study: $*" >&2; }
setup_run() {  # quiet, unmeasured runs that build the inputs of the measured ones
  local np="$1"; shift
  OMP_NUM_THREADS=1 sarscale_mpirun "$np" "$SARSCALE_BIN" "$@" --log-level warn >/dev/null 2>>"$out/data/setup.log" \
    || { echo "scaling_study: setup failed: sarscale $*; see $out/data/setup.log" >&2; exit 1; }
}
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc alone obeys OMP_NUM_THREADS
setup_np=$(( cores >= 2 ? 2 : 1 ))

# prepare SIZE: chips, archive, features and model of SIZE chips in OUT/data (once).
prepare() {
  local n="$1" d="$out/data"
  if [[ ! -f "$d/chips-$n/.done" ]]; then
    log "setup: $n synthetic chips"
    rm -rf "$d/chips-$n"
    "$SARSCALE_BIN" synth --kind chips --out "$d/chips-$n" --count "$n" --classes 10 --seed 42 \
      --log-level warn >/dev/null
    touch "$d/chips-$n/.done"
  fi
  [[ -f "$d/archive-$n.h5" ]] || setup_run "$setup_np" ingest --input "$d/chips-$n" --output "$d/archive-$n.h5"
  [[ -f "$d/features-$n.h5" ]] || setup_run "$setup_np" features --archive "$d/archive-$n.h5" --config "$config" \
    --output "$d/features-$n.h5"
  [[ -f "$d/model-$n.h5" ]] || setup_run "$setup_np" train --features "$d/features-$n.h5" --config "$config" \
    --model "$d/model-$n.h5"
}

# stage_args STAGE SIZE THREADS: the measured command's arguments (outputs in OUT/runs/work, emptied
# before every run).
stage_args() {
  local d="$out/data" r="$out/runs/work"
  case "$1" in
    ingest) args=(ingest --input "$d/chips-$2" --output "$r/archive.h5") ;;  # no OpenMP: threads change nothing
    features) args=(features --threads "$3" --archive "$d/archive-$2.h5" --config "$config" --output "$r/features.h5") ;;
    train) args=(train --threads "$3" --features "$d/features-$2.h5" --config "$config" --model "$r/model.h5") ;;
    train-cascade) args=(train --threads "$3" --features "$d/features-$2.h5" --C 2 --gamma 0.005524271728019903 --cascade
                         --gather-below 0 --model "$r/model-cascade.h5") ;;
    evaluate) args=(evaluate --threads "$3" --archive "$d/archive-$2.h5" --model "$d/model-$2.h5" --report "$r/report") ;;
  esac
}

# Every rank under /usr/bin/time: its peak RSS (KB) into PREFIX.RANK.
rank_prefix() {
  local prefix="$1"
  ((have_time)) || return 0
  # shellcheck disable=SC2016  # expanded by the rank's own shell
  wrap=(bash -c 'exec /usr/bin/time -f %M -o "$0.${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}" "$@"'
        "$prefix")
}

# measure STAGE RANKS THREADS SIZE: prints "seconds peak_rss_mb" (median seconds, largest RSS).
measure() {
  local stage="$1" np="$2" t="$3" n="$4" rep tag lines=()
  local args=() wrap=()
  stage_args "$stage" "$n" "$t"
  for ((rep = 0; rep < reps; rep++)); do
    tag="$out/runs/$stage.r$np.t$t.n$n.$rep"
    rm -f "$tag".rss.*
    # A fresh output directory: evaluate reuses the features it finds in its report directory.
    rm -rf "$out/runs/work"; mkdir -p "$out/runs/work"
    rank_prefix "$tag.rss"
    if ! OMP_NUM_THREADS="$t" sarscale_mpirun "$np" "${wrap[@]}" "$SARSCALE_BIN" "${args[@]}" --log-level warn \
        >"$tag.json" 2>"$tag.err"; then
      log "$stage at $np rank(s) x $t thread(s), $n chips failed; its messages:"; tail -n 20 "$tag.err" >&2
      exit 1
    fi
    lines+=("$("$python" - "$tag" <<'PY'
import glob, json, sys
tag = sys.argv[1]
d = [json.loads(l) for l in open(tag + ".json") if l.startswith("{")][-1]
secs = d["seconds"] if "seconds" in d else sum(d.get("stage_seconds", {}).values())
if "peak_rss_mb" in d:
    rss = max(d["peak_rss_mb"])
else:
    kb = []
    for f in glob.glob(tag + ".rss.*"):
        kb += [int(x) for x in open(f).read().split() if x.isdigit()]
    rss = round(max(kb) / 1024) if kb else "nan"
print(secs, rss)
PY
)")
  done
  printf '%s\n' "${lines[@]}" | sort -g | awk '{ s[NR] = $1; if ($2 != "nan" && $2 > m) m = $2 }
    END { print s[int((NR + 1) / 2)], (m == "" ? "nan" : m) }'
}

declare -A done_runs=()
# record STAGE MODE RANKS THREADS SIZE: one CSV row (measuring unless already measured).
record() {
  local stage="$1" mode="$2" np="$3" t="$4" n="$5" key="$1|$3|$4|$5" res
  if [[ -z "${done_runs[$key]:-}" ]]; then
    log "$stage ($mode): $np rank(s) x $t thread(s), $n chips"
    done_runs[$key]="$(measure "$stage" "$np" "$t" "$n")"
  fi
  res="${done_runs[$key]}"
  awk -v st="$stage" -v mo="$mode" -v r="$np" -v t="$t" -v n="$n" -v s="${res% *}" -v m="${res#* }" \
    'BEGIN { printf "%s,%s,%d,%d,%d,%.4f,%.1f,%s\n", st, mo, r, t, n, s, (s > 0 ? n / s : 0), m }' >>"$csv"
}

load_before=$(uptime)
start=$SECONDS
all_sizes=("${size_list[@]}" "$strong_size")
for r in "${rank_list[@]}"; do all_sizes+=("$((weak_size * r))"); done
mapfile -t all_sizes < <(printf '%s\n' "${all_sizes[@]}" | sort -nu)
for n in "${all_sizes[@]}"; do prepare "$n"; done

echo "stage,mode,ranks,threads,size,seconds,throughput,peak_rss_mb" >"$csv"
for stage in "${stage_list[@]}"; do
  for t in "${thread_list[@]}"; do
    for r in "${rank_list[@]}"; do record "$stage" strong "$r" "$t" "$strong_size"; done
    for r in "${rank_list[@]}"; do record "$stage" weak "$r" "$t" "$((weak_size * r))"; done
  done
  for n in "${size_list[@]}"; do record "$stage" size 1 1 "$n"; done
done
load_after=$(uptime)

commit=$(git -C "$SARSCALE_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
"$python" "$SARSCALE_ROOT/scripts/scaling_report.py" --out "$out" \
  --note "$cores cores, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, median of $reps, $((SECONDS - start)) s in all" \
  --note "load average (1, 5, 15 min) before: ${load_before##*: }; after: ${load_after##*: }" \
  --note "launcher: mpirun --oversubscribe --bind-to none${SLURM_JOB_ID:+ inside Slurm job $SLURM_JOB_ID}"
cat "$out/summary.md"
if ((plots)); then
  if command -v gnuplot >/dev/null; then
    (cd "$out" && gnuplot plots.gp) && log "plots: $out/*.png"
  else
    log "gnuplot not found (scripts/install-deps.sh --with-bench): no plots; later: cd $out && gnuplot plots.gp"
  fi
fi
log "results: $csv, $out/exponents.csv, $out/summary.md"
