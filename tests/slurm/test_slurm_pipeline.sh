#!/usr/bin/env bash
# ctest slurm.pipeline: the job scripts on a real single-node Slurm (scripts/local-slurm.sh).
#  1. jobs/submit_pipeline.sh on small synthetic train/test sets: every job COMPLETED (sacct), the
#     report has an accuracy, predictions exist, each job's log shows its ranks and threads.
#  2. jobs/predict.sbatch submitted by hand with other resources (1 task x 2 CPUs) and the mpirun
#     launcher: 2 OpenMP threads, bound, and the same labels as the srun job's predictions;
#     jobs/detect.sbatch on two scenes at 2 tasks: the same detections as one process.
#  3. The failure path: a missing training input fails ingest-train with a nonzero exit code, its
#     dependents are cancelled and write nothing, the independent ingest-test still completes.
#  4. A submission Slurm rejects (an unknown partition) exits nonzero and leaves no job.
#  5. A submission failing after others (sbatch refusing its third call): those are cancelled.
# Slurm is started if it is not running, and then stopped on exit, pass or fail.
# Exit 77 (skipped) only when Slurm cannot be installed here.
# Usage: test_slurm_pipeline.sh SARSCALE_BINARY
set -euo pipefail

export SARSCALE_BIN="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/sarscale-slurm-test.XXXXXX")"
slurm="$root/scripts/local-slurm.sh"
started=0
jobs_seen=()

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

cleanup() {
  local status=$?
  if ((${#jobs_seen[@]})); then scancel "${jobs_seen[@]}" 2>/dev/null || true; fi
  if ((status != 0 && status != 77)); then
    echo "--- job logs ($work):" >&2
    for f in "$work"/*/logs/* "$work"/*.out "$work"/*.err; do
      [[ -s "$f" ]] && { echo "== $f" >&2; tail -n 20 "$f" >&2; }
    done
    echo "--- slurmctld log (tail):" >&2
    tail -n 20 "${SARSCALE_SLURM_DIR:-/tmp/sarscale-slurm}/log/slurmctld.log" >&2 2>/dev/null || true
  fi
  if ((started)); then "$slurm" stop || true; fi
  [[ -n "${SARSCALE_KEEP_TEST_FILES:-}" ]] || rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# --- Slurm: reuse one that runs (and leave it running), else start one and stop it at the end.
if ! "$slurm" status >/dev/null 2>&1; then
  started=1
  rc=0
  "$slurm" start || rc=$?
  if ((rc == 3)); then
    started=0
    echo "SKIPPED: Slurm (slurm-wlm, munge) cannot be installed or started as root on this machine" >&2
    exit 77
  fi
  ((rc == 0)) || fail "scripts/local-slurm.sh start failed (exit $rc)"
fi
eval "$("$slurm" env)"

# wait_jobs SECONDS ID...: until none of the jobs is in the queue any more.
wait_jobs() {
  local deadline=$((SECONDS + $1))
  shift
  local ids
  ids="$(IFS=,; echo "$*")"
  while [[ -n "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ]]; do
    ((SECONDS < deadline)) || { squeue -j "$ids" >&2; fail "jobs $ids still queued after $1 s"; }
    sleep 1
  done
}

# state_of ID: "STATE EXITCODE" of a finished job, from sacct's job completion records.
state_of() {
  local row
  # The completion record is written when the job ends; give slurmctld a moment.
  for _ in $(seq 20); do
    row="$(sacct --completion -n -P -j "$1" --format=State,ExitCode 2>/dev/null | tail -n 1)"
    [[ -n "$row" ]] && { tr '|' ' ' <<<"$row"; return 0; }
    sleep 0.5
  done
  echo "NONE -"
}

# read_ids FILE [ARRAY]: job ids from submit_pipeline.sh's output ("ID sarscale-STAGE" per line)
# into ARRAY[STAGE], and into jobs_seen (cancelled on exit: no job of this test outlives it).
read_ids() {
  local id name
  while read -r id name; do
    if (($# > 1)); then
      local -n ids="$2"
      ids[${name#sarscale-}]="$id"
    fi
    jobs_seen+=("$id")
  done <"$1"
}
stages=(ingest-train ingest-test features train evaluate predict)

# --- Data: tiny synthetic MSTAR-like sets (4 classes), made outside Slurm.
"$SARSCALE_BIN" synth --kind chips --out "$work/train" --count 120 --classes 4 --seed 7 --log-level warn
"$SARSCALE_BIN" synth --kind chips --out "$work/test" --count 60 --classes 4 --seed 8 --log-level warn
# The shipped MSTAR chain, with a strict ingest: a missing input fails the job (step 3).
config="$work/config.ini"
sed '/^\[ingest\]/a strict = true' "$root/configs/mstar10-soc.ini" >"$config"
grep -qx 'strict = true' "$config" || fail "could not write the test configuration"
t0=$SECONDS

# --- 1. The whole pipeline, resources given on the command line (as users override them).
declare -A good bad
"$root/jobs/submit_pipeline.sh" "$config" --train "$work/train" --test "$work/test" --out "$work/good" \
  --ntasks=2 --cpus-per-task=1 >"$work/good.ids"
read_ids "$work/good.ids" good
cat "$work/good.ids"
# --- 3. (submitted now so that it queues behind) A training input that does not exist.
"$root/jobs/submit_pipeline.sh" "$config" --train "$work/no-such-dir" --test "$work/test" --out "$work/bad" \
  >"$work/bad.ids"
read_ids "$work/bad.ids" bad
cat "$work/bad.ids"
for n in "${stages[@]}"; do
  [[ -n "${good[$n]:-}" && -n "${bad[$n]:-}" ]] || fail "no sarscale-$n job submitted"
done

wait_jobs 240 "${good[@]}"
echo "--- sacct --completion, pipeline jobs:"
sacct --completion -j "$(IFS=,; echo "${good[*]}")" --format=JobID,JobName%24,State,ExitCode,NodeList
for n in "${stages[@]}"; do
  st="$(state_of "${good[$n]}")"
  [[ "$st" == "COMPLETED 0:0" ]] || fail "job sarscale-$n (${good[$n]}): $st, expected COMPLETED 0:0"
  log="$work/good/logs/sarscale-$n-${good[$n]}.err"
  [[ -s "$log" ]] || fail "no log $log"
  grep -q "2 task(s) x 1 thread(s)" "$log" || fail "$log does not show 2 tasks x 1 thread"
  grep -q "exited with status 0" "$log" || fail "$log does not show sarscale's exit status"
done
report="$work/good/report/report.json"
[[ -s "$report" ]] || fail "no $report"
accuracy="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["accuracy"])' "$report")"
echo "report: accuracy $accuracy on the synthetic test set"
python3 -c 'import sys; a = float(sys.argv[1]); sys.exit(0 if 0.5 <= a <= 1 else 1)' "$accuracy" ||
  fail "accuracy $accuracy is not within 0.5..1 (chance is 0.25)"
for f in train.h5 test.h5 train.features.h5 model.h5 report/report.md; do
  [[ -s "$work/good/$f" ]] || fail "missing $work/good/$f"
done
# The jobs and `sarscale pipeline` (one process, no Slurm) agree: same accuracy and confusion matrix.
"$SARSCALE_BIN" pipeline --config "$config" --train "$work/train" --test "$work/test" --out "$work/reference" \
  --log-level warn >"$work/reference.log" 2>&1 || fail "sarscale pipeline failed: $(tail -n 5 "$work/reference.log")"
python3 - "$report" "$work/reference/report/report.json" <<'PY' || fail "the jobs' report differs from sarscale pipeline's"
import json, sys
jobs, ref = (json.load(open(p)) for p in sys.argv[1:])
for key in ("accuracy", "evaluated", "confusion_matrix", "class_names"):
    if jobs[key] != ref[key]:
        sys.exit(f"{key}: jobs {jobs[key]} != pipeline {ref[key]}")
print(f"jobs and sarscale pipeline agree: accuracy {jobs['accuracy']:.4f} on {jobs['evaluated']} chips")
PY
[[ -s "$work/good/predictions/predictions.csv" ]] || fail "no predictions.csv in $work/good/predictions"

# --- 2. One stage by hand: other resources, the mpirun launcher.
mpi_id="$(SARSCALE_LAUNCHER=mpirun SARSCALE_ROOT="$root" sbatch --parsable --ntasks=1 --cpus-per-task=2 \
  --output="$work/mpirun-%j.out" --error="$work/mpirun-%j.err" \
  "$root/jobs/predict.sbatch" "$config" "$work/good" "$work/good/test.h5" "$work/good/predictions-mpirun")"
jobs_seen+=("$mpi_id")
wait_jobs 120 "$mpi_id"
st="$(state_of "$mpi_id")"
[[ "$st" == "COMPLETED 0:0" ]] || fail "predict job with mpirun ($mpi_id): $st"
log="$work/mpirun-$mpi_id.err"
grep -q "1 task(s) x 2 thread(s) (OMP_PROC_BIND=close OMP_PLACES=cores)" "$log" ||
  fail "$log: expected 1 task x 2 threads, bound"
grep -q "+ mpirun -np 1 --map-by slot:PE=2 --bind-to core" "$log" || fail "$log: expected the mpirun launch"
cmp "$work/good/predictions/predictions.csv" "$work/good/predictions-mpirun/predictions.csv" ||
  fail "the predictions of 2 ranks (srun) and 1 rank x 2 threads (mpirun) differ"
echo "predict with mpirun, 1 task x 2 threads: same predictions as the srun job"

# --- 2b. jobs/detect.sbatch on two synthetic scenes (prescreen only), at 2 tasks: the same
#     detections as one sarscale process without Slurm.
for seed in 7 8; do
  "$SARSCALE_BIN" synth --kind scene --out "$work/scenes/s$seed.tif" --width 768 --height 640 --targets 2 --seed "$seed" \
    --log-level warn >/dev/null || fail "synth scene $seed"
done
det_id="$(SARSCALE_ROOT="$root" sbatch --parsable --ntasks=2 --output="$work/detect-%j.out" --error="$work/detect-%j.err" \
  "$root/jobs/detect.sbatch" "$root/configs/detect-synth.ini" none "$work/detect" "$work/scenes" -- --tile 256)"
jobs_seen+=("$det_id")
wait_jobs 120 "$det_id"
st="$(state_of "$det_id")"
[[ "$st" == "COMPLETED 0:0" ]] || fail "detect job ($det_id): $st"
"$SARSCALE_BIN" detect --config "$root/configs/detect-synth.ini" --prescreen-only --output "$work/detect-ref" \
  --input "$work/scenes" --tile 256 --log-level warn >/dev/null 2>&1 || fail "sarscale detect without Slurm failed"
cmp "$work/detect/detections.csv" "$work/detect-ref/detections.csv" ||
  fail "the detect job's detections differ from one process's"
echo "detect job at 2 tasks: $(($(wc -l <"$work/detect/detections.csv") - 1)) detections, as one process finds"

# --- 3. The failure path.
wait_jobs 120 "${bad[@]}"
echo "--- sacct --completion, jobs after a missing training input:"
sacct --completion -j "$(IFS=,; echo "${bad[*]}")" --format=JobID,JobName%24,State,ExitCode
st="$(state_of "${bad[ingest-train]}")"
[[ "$st" == FAILED\ * && "$st" != "FAILED 0:0" ]] || fail "ingest-train with a missing input: $st, expected FAILED, nonzero"
grep -q "exited with status [1-9]" "$work/bad/logs/sarscale-ingest-train-${bad[ingest-train]}.err" ||
  fail "the failed job's log does not show sarscale's nonzero status"
st="$(state_of "${bad[ingest-test]}")"
[[ "$st" == "COMPLETED 0:0" ]] || fail "ingest-test (independent of the failure): $st"
for n in features train evaluate predict; do
  st="$(state_of "${bad[$n]}")"
  [[ "$st" == CANCELLED\ * ]] || fail "sarscale-$n after a failed ingest: $st, expected CANCELLED"
  [[ ! -e "$work/bad/logs/sarscale-$n-${bad[$n]}.err" ]] || fail "sarscale-$n ran after a failed dependency"
done
[[ ! -e "$work/bad/model.h5" && ! -e "$work/bad/report" ]] || fail "a dependent job wrote output"

# --- 4. A submission Slurm rejects: nonzero exit, no job left behind.
before="$(squeue -h | wc -l)"
if "$root/jobs/submit_pipeline.sh" "$config" --train "$work/train" --out "$work/rejected" \
  --partition=sarscale-no-such-partition >"$work/rejected.ids" 2>"$work/rejected.err"; then
  fail "submit_pipeline.sh exited 0 although sbatch rejected the job"
fi
read_ids "$work/rejected.ids"
[[ ! -s "$work/rejected.ids" ]] || fail "a rejected submission printed job ids: $(cat "$work/rejected.ids")"
[[ "$(squeue -h | wc -l)" == "$before" ]] || fail "a rejected submission left jobs queued"
echo "rejected submission: $(grep -m1 'sbatch: error' "$work/rejected.err" || head -n1 "$work/rejected.err")"

# --- 5. A submission failing mid-chain (sbatch made to refuse its third call): the jobs already
#     submitted are cancelled, nothing half-chained is left.
mkdir -p "$work/fakebin"
cat >"$work/fakebin/sbatch" <<SH
#!/usr/bin/env bash
n=\$((\$(cat "$work/sbatch.calls" 2>/dev/null || echo 0) + 1))
echo "\$n" >"$work/sbatch.calls"
((n != 3)) || { echo "sbatch: error: refused by the test" >&2; exit 1; }
exec "$(command -v sbatch)" "\$@"
SH
chmod +x "$work/fakebin/sbatch"
if PATH="$work/fakebin:$PATH" "$root/jobs/submit_pipeline.sh" "$config" --train "$work/train" --test "$work/test" \
  --out "$work/midway" >"$work/midway.ids" 2>"$work/midway.err"; then
  fail "submit_pipeline.sh exited 0 although its third sbatch failed"
fi
declare -A midway
read_ids "$work/midway.ids" midway
((${#midway[@]} == 2)) || fail "expected 2 jobs submitted before the refused one, got: ${midway[*]}"
wait_jobs 60 "${midway[@]}"
for n in "${!midway[@]}"; do
  st="$(state_of "${midway[$n]}")"
  [[ "$st" == CANCELLED\ * ]] || fail "sarscale-$n submitted before a failed submission: $st, expected CANCELLED"
done
echo "failed submission mid-chain: the 2 jobs already submitted were cancelled"

echo "slurm pipeline test passed: $((SECONDS - t0)) s of jobs"
