#!/usr/bin/env bash
# Submits the pipeline as Slurm jobs chained with --dependency=afterok, one per stage, in the
# output layout of `sarscale pipeline`:
#   ingest-train, ingest-test          OUT/train.h5, OUT/test.h5      (no dependency, run side by side)
#   features   after ingest-train      OUT/train.features.h5
#   train      after features          OUT/model.h5
#   evaluate   after train, ingest-test  OUT/report/ (report.json, report.md, ...)
#   predict    after train, ingest-test  OUT/predictions/
# Without --test only the first three run.
#
# Usage: jobs/submit_pipeline.sh CONFIG --train PATH... [--test PATH...] [--out DIR] [SBATCH_OPTION...]
#   CONFIG       INI file with [ingest] [features] [train] sections (e.g. configs/mstar10-soc.ini)
#   --train, --test  inputs as `sarscale ingest --input` takes them (files, directories)
#   --out DIR    output directory, on a file system the compute nodes share (default ./sarscale-out)
#   SBATCH_OPTION  any other option goes to every sbatch call and overrides the scripts' #SBATCH
#                defaults, e.g. --ntasks=4 --cpus-per-task=8 --partition=batch --time=1:00:00
#                (partitions are the cluster's: `sinfo -s`; scripts/local-slurm.sh has one, `local`)
#                (an option without "=" takes the next argument as its value when that does not
#                start with "-", so `-p batch` works too; or put them all after `--`).
# Prints one line per job: "JOBID NAME". Logs: OUT/logs/NAME-JOBID.out and .err.
# A job that fails makes its dependents be cancelled (--kill-on-invalid-dep=yes; pass
# --kill-on-invalid-dep=no to keep them pending instead).
# Exit status: 0 when every job was submitted; 1 when a submission failed (the jobs already
# submitted are cancelled, so nothing half-chained is left behind); 2 on a usage error.
set -euo pipefail

jobs_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

(($# >= 1)) || usage
[[ "$1" == -h || "$1" == --help ]] && usage
config="$1"
shift
train=() test=() sbatch_args=() out="$PWD/sarscale-out" mode=""
while (($#)); do
  case "$1" in
    --train) mode="train" ;;
    --test) mode="test" ;;
    --out) [[ $# -ge 2 ]] || usage; out="$2"; shift; mode="" ;;
    --out=*) out="${1#--out=}"; mode="" ;;
    --)
      shift
      sbatch_args+=("$@")
      break
      ;;
    -*)
      mode=""
      sbatch_args+=("$1")
      if [[ "$1" != *=* && $# -ge 2 && "$2" != -* ]]; then
        sbatch_args+=("$2")
        shift
      fi
      ;;
    *)
      case "$mode" in
        train) train+=("$1") ;;
        test) test+=("$1") ;;
        *) echo "submit_pipeline: unexpected argument '$1'" >&2; usage ;;
      esac
      ;;
  esac
  shift
done
[[ -f "$config" ]] || { echo "submit_pipeline: config file '$config' not found" >&2; exit 2; }
((${#train[@]})) || { echo "submit_pipeline: --train: no training inputs given" >&2; exit 2; }
command -v sbatch >/dev/null || { echo "submit_pipeline: sbatch not found (no Slurm here?)" >&2; exit 1; }

# Absolute paths: the jobs may start in another directory than this one (inputs that do not
# exist here, e.g. globs for the nodes to expand, stay as given).
absolute() { if [[ -e "$1" ]]; then echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; else echo "$1"; fi; }
config="$(absolute "$config")"
for i in "${!train[@]}"; do train[i]="$(absolute "${train[i]}")"; done
for i in "${!test[@]}"; do test[i]="$(absolute "${test[i]}")"; done
mkdir -p "$out/logs"
out="$(cd "$out" && pwd)"
# The jobs find jobs/common.sh and sarscale through these (sbatch exports the environment).
export SARSCALE_ROOT="${jobs_dir%/jobs}"

submitted=()
declare -A job_id
# submit NAME DEPENDENCIES SCRIPT ARGS...: prints the job id; on failure cancels what was submitted.
submit() {
  local name="$1" deps="$2" script="$3"
  shift 3
  local dep_args=()
  [[ -n "$deps" ]] && dep_args=(--dependency="afterok:$deps" --kill-on-invalid-dep=yes)
  local id
  if ! id="$(sbatch --parsable --job-name="sarscale-$name" --output="$out/logs/%x-%j.out" \
    --error="$out/logs/%x-%j.err" "${dep_args[@]}" "${sbatch_args[@]}" "$jobs_dir/$script" "$@")"; then
    echo "submit_pipeline: submitting $name failed" >&2
    if ((${#submitted[@]})); then
      echo "submit_pipeline: cancelling the jobs already submitted: ${submitted[*]}" >&2
      scancel "${submitted[@]}" || true
    fi
    exit 1
  fi
  id="${id%%;*}"  # --parsable prints "ID" or "ID;CLUSTER"
  submitted+=("$id")
  echo "$id sarscale-$name"
  job_id[$name]="$id"
}

submit ingest-train "" ingest.sbatch "$config" "$out" train "${train[@]}"
if ((${#test[@]})); then
  submit ingest-test "" ingest.sbatch "$config" "$out" test "${test[@]}"
fi
submit features "${job_id[ingest-train]}" features.sbatch "$config" "$out"
submit train "${job_id[features]}" train.sbatch "$config" "$out"
if ((${#test[@]})); then
  submit evaluate "${job_id[train]}:${job_id[ingest-test]}" evaluate.sbatch "$config" "$out"
  submit predict "${job_id[train]}:${job_id[ingest-test]}" predict.sbatch "$config" "$out"
fi
echo "submit_pipeline: ${#submitted[@]} jobs; logs in $out/logs; squeue -j $(IFS=,; echo "${submitted[*]}")" >&2
