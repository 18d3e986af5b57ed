# shellcheck shell=bash
# Sourced by every jobs/*.sbatch script: finds sarscale, sets the OpenMP threads and binding from
# the allocation, picks the MPI launcher, and runs one sarscale command with its exit status.
# All the work stays in sarscale; this only translates Slurm's allocation into a launch.
#
# Environment (all optional):
#   SARSCALE_BIN       the sarscale binary (default: $SARSCALE_BUILD_DIR/bin/sarscale, else sarscale on PATH)
#   SARSCALE_LAUNCHER  srun | mpirun (default: srun when Slurm and Open MPI share a PMI plugin, else mpirun)
#   SARSCALE_BIND      auto | none (none: no CPU binding of ranks or threads, e.g. on nodes where
#                      Slurm's CPUs are hardware threads and core binding does not fit)
#   OMP_PROC_BIND, OMP_PLACES  a value set by the user wins over the defaults below

sarscale_job_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# scripts/env.sh sets SARSCALE_BIN from the build directory and the Open MPI root variables; a
# SARSCALE_BIN given by the user wins.
sarscale_job_user_bin="${SARSCALE_BIN:-}"
# shellcheck source-path=SCRIPTDIR/.. source=scripts/env.sh
source "$sarscale_job_root/scripts/env.sh"
if [[ -n "$sarscale_job_user_bin" ]]; then
  SARSCALE_BIN="$sarscale_job_user_bin"
elif [[ ! -x "$SARSCALE_BIN" ]] && command -v sarscale >/dev/null; then
  SARSCALE_BIN="$(command -v sarscale)"  # an installed sarscale (cmake --install)
fi
export SARSCALE_BIN

sarscale_job_log() { echo "sarscale-job[${SLURM_JOB_ID:-local}]: $*" >&2; }

# Tasks and CPUs per task of this allocation (1 and 1 outside Slurm, e.g. `bash jobs/train.sbatch`).
sarscale_ntasks="${SLURM_NTASKS:-1}"
sarscale_cpus_per_task="${SLURM_CPUS_PER_TASK:-1}"

# One OpenMP thread per CPU Slurm gave each task.
export OMP_NUM_THREADS="$sarscale_cpus_per_task"

# sarscale_pmi_plugin: the srun --mpi plugin this Open MPI can use, or nothing. Open MPI 4 talks
# PMIx natively (its pmix components other than "isolated"); PMI-2 only when built with its s2
# component.
sarscale_pmi_plugin() {
  local srun_plugins ompi_pmix
  srun_plugins="$(srun --mpi=list 2>&1)" || return 0
  ompi_pmix="$(ompi_info --parsable 2>/dev/null | grep -E '^mca:pmix:' | cut -d: -f3 | sort -u)"
  if grep -qw pmix <<<"$srun_plugins" && grep -qvE '^(isolated|s1|s2|flux)?$' <<<"$ompi_pmix"; then
    echo pmix
  elif grep -qw pmi2 <<<"$srun_plugins" && grep -qx s2 <<<"$ompi_pmix"; then
    echo pmi2
  fi
}

# Does Slurm bind each task to its own CPUs? Only its affinity and cgroup task plugins do
# (scripts/local-slurm.sh runs task/none).
sarscale_slurm_binds() {
  scontrol show config 2>/dev/null | grep -E '^TaskPlugin ' | grep -qE 'affinity|cgroup'
}

# Fills sarscale_launch (the command before the binary) and sets the OpenMP binding.
sarscale_choose_launcher() {
  local launcher="${SARSCALE_LAUNCHER:-}" plugin="" bound=0
  if [[ -n "${SLURM_JOB_ID:-}" ]]; then plugin="$(sarscale_pmi_plugin)"; fi
  if [[ -z "$launcher" ]]; then
    if [[ -n "$plugin" ]]; then launcher=srun; else launcher=mpirun; fi
  fi
  case "$launcher" in
    srun)
      [[ -n "$plugin" ]] || plugin=pmix
      # srun does not inherit --cpus-per-task from the batch allocation (Slurm >= 22.05): pass it.
      sarscale_launch=(srun --mpi="$plugin" --ntasks="$sarscale_ntasks" --cpus-per-task="$sarscale_cpus_per_task"
                       --kill-on-bad-exit=1)
      if [[ "${SARSCALE_BIND:-auto}" != none ]] && sarscale_slurm_binds; then
        sarscale_launch+=(--cpu-bind=cores)
        bound=1
      fi
      ;;
    mpirun)
      # Inside an allocation Open MPI reads the node list and slots from SLURM_*; -np makes the
      # rank count explicit. Each rank gets its own cores: PE=N cores per rank for N threads.
      sarscale_launch=(mpirun -np "$sarscale_ntasks")
      if [[ "${SARSCALE_BIND:-auto}" == none ]]; then
        sarscale_launch+=(--bind-to none)
      elif ((sarscale_cpus_per_task > 1)); then
        sarscale_launch+=(--map-by "slot:PE=$sarscale_cpus_per_task" --bind-to core)
        bound=1
      else
        sarscale_launch+=(--map-by core --bind-to core)
        bound=1
      fi
      # More ranks than cores happens only outside an allocation (Slurm never grants that).
      if [[ -z "${SLURM_JOB_ID:-}" ]] && ((sarscale_ntasks * sarscale_cpus_per_task > $(nproc))); then
        sarscale_launch=(mpirun -np "$sarscale_ntasks" --oversubscribe --bind-to none)
        bound=0
      fi
      ;;
    *)
      sarscale_job_log "SARSCALE_LAUNCHER=$launcher: expected srun or mpirun"
      return 2
      ;;
  esac
  # Threads stay on their rank's cores, next to each other, only when the rank has cores of its
  # own; unbound ranks would all pin their first thread to the same core.
  if ((bound)); then
    export OMP_PROC_BIND="${OMP_PROC_BIND:-close}" OMP_PLACES="${OMP_PLACES:-cores}"
  fi
  return 0
}

# sarscale_job_run COMMAND ARGS...: runs `sarscale COMMAND ARGS...` on the allocation and returns
# its exit status (the job's status, as each script exits with it).
sarscale_job_run() {
  if [[ ! -x "$SARSCALE_BIN" ]]; then
    sarscale_job_log "sarscale not found at '$SARSCALE_BIN': build it (scripts/build.sh) or set SARSCALE_BIN"
    return 1
  fi
  local sarscale_launch=()
  sarscale_choose_launcher || return $?
  sarscale_job_log "${SLURM_JOB_NAME:-sarscale} on ${SLURM_JOB_NODELIST:-$(hostname -s)}:" \
    "$sarscale_ntasks task(s) x $sarscale_cpus_per_task thread(s)" \
    "(OMP_PROC_BIND=${OMP_PROC_BIND:-unset} OMP_PLACES=${OMP_PLACES:-unset})"
  sarscale_job_log "+ ${sarscale_launch[*]} $SARSCALE_BIN $*"
  local start=$SECONDS status=0
  "${sarscale_launch[@]}" "$SARSCALE_BIN" "$@" || status=$?
  sarscale_job_log "sarscale $1 exited with status $status after $((SECONDS - start)) s"
  return "$status"
}

# sarscale_job_split ARGS...: the job scripts' arguments are "POSITIONAL... [-- SARSCALE_OPTION...]".
# Sets sarscale_positional and sarscale_extra (read by the job scripts).
# shellcheck disable=SC2034
sarscale_job_split() {
  sarscale_positional=()
  sarscale_extra=()
  while (($#)); do
    if [[ "$1" == -- ]]; then
      shift
      sarscale_extra=("$@")
      return 0
    fi
    sarscale_positional+=("$1")
    shift
  done
}

# sarscale_job_usage MIN USAGE: fails the job with USAGE when fewer than MIN positional arguments.
sarscale_job_usage() {
  if ((${#sarscale_positional[@]} < $1)); then
    sarscale_job_log "usage: $2"
    exit 2
  fi
}
