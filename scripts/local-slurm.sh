#!/usr/bin/env bash
# A real single-node Slurm on this machine, for trying the job scripts in jobs/ and for the
# `slurm` ctest: munged, slurmctld and slurmd run as root from one state directory.
#
# Usage: scripts/local-slurm.sh start|stop|status|env
#   start   installs slurm-wlm and munge when missing (scripts/install-deps.sh --with-slurm), writes
#           STATE/slurm.conf, creates a munge key, starts the three daemons and waits until the node
#           is idle. A no-op when they already run. Exit 3: Slurm cannot be installed or run here
#           (not root, or no package manager to install it with).
#   stop    cancels every job still queued or running and waits for them (bounded), then
#           `scontrol shutdown`, waiting for (and if need be killing) the daemons by their pids.
#   status  which daemons run, and sinfo; exit 0 only when all three run.
#   env     prints `export SLURM_CONF=...`: eval "$(scripts/local-slurm.sh env)", then sbatch/squeue/sacct.
# The cluster it makes: one node (this machine, all its cores) in one partition, `local`, the
# default (so sbatch needs no --partition; --partition=local names it).
# Environment: SARSCALE_SLURM_DIR state directory (default /tmp/sarscale-slurm),
#              SARSCALE_SLURM_PORT slurmctld's port (default 6817; slurmd uses the next one).
#
# The choices, and why:
# - Nothing system-wide is touched: the configuration, munge key and socket, spool, state, logs and
#   pid files all live in STATE. Clients find the configuration through SLURM_CONF (`env` above),
#   and reach munge through AuthInfo=socket=..., so a site's own munge/Slurm, if any, is left alone.
# - Everything listens on 127.0.0.1 (NodeAddr, SlurmctldHost address): no traffic leaves the machine.
# - ProctrackType=proctrack/linuxproc, TaskPlugin=task/none: no cgroups, which containers and
#   sandboxes often lack. Hence no CPU binding by Slurm either (jobs/common.sh knows this).
# - CPUs from `nproc`, RealMemory from /proc/meminfo; SlurmdParameters=config_overrides keeps the
#   node in service when the hardware seen by slurmd differs from that (e.g. a CPU-limited container).
# - Accounting: sacct in Slurm 22.05 (Debian 12) reads either slurmdbd (which needs a MySQL/MariaDB
#   server: two more daemons and a database, heavy for a test) or, with `sacct --completion`, the
#   job completion log of JobCompType=jobcomp/filetxt. The old accounting_storage/filetxt is gone
#   (only accounting_storage/none and /slurmdbd ship). So: AccountingStorageType=none plus
#   jobcomp/filetxt in STATE/jobcomp.log, and `sacct -c` gives each job's State and ExitCode.
#   Job steps are not recorded that way; a job's state and exit code are what the tests check.
# - SchedulerParameters=kill_invalid_depend: a job whose afterok dependency can never be met is
#   cancelled (and logged) instead of pending forever.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${SARSCALE_SLURM_DIR:-/tmp/sarscale-slurm}"
port="${SARSCALE_SLURM_PORT:-6817}"
conf="$state/slurm.conf"
export SLURM_CONF="$conf"
node="$(hostname -s)"

say() { echo "local-slurm: $*" >&2; }

# pid_of NAME: the pid in STATE/NAME.pid when that process is alive, else nothing.
pid_of() {
  local pid
  pid="$(cat "$state/$1.pid" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}
running() { [[ -n "$(pid_of "$1")" ]]; }

install_slurm() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null &&
    command -v sbatch >/dev/null && return 0
  if ! "$root/scripts/install-deps.sh" --with-slurm; then
    say "cannot install slurm-wlm and munge here (needs root or sudo and Debian's packages)"
    exit 3
  fi
}

write_conf() {
  local cpus mem_mb
  cpus="$(nproc)"
  # RealMemory in MiB, 5% below what the kernel reports so that slurmd never finds less.
  mem_mb="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)"
  mkdir -p "$state"/{ctld,spool,log,munge}
  chmod 700 "$state/munge"
  cat >"$conf" <<CONF
# Written by scripts/local-slurm.sh: a single-node Slurm for tests (see that script's header).
ClusterName=sarscale-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=kill_invalid_depend
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.log
# Finished jobs stay visible to scontrol for 10 minutes.
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  running munged && return 0
  # Our own key: a 1 KiB random key, readable by root only (munged checks that).
  if [[ ! -s "$state/munge/munge.key" ]]; then
    (umask 077 && head -c 1024 /dev/urandom >"$state/munge/munge.key")
  fi
  # --force: munged refuses a leftover socket from a killed run otherwise.
  munged --force --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
    --pid-file="$state/munged.pid" --log-file="$state/log/munged.log" --seed-file="$state/munge/munge.seed"
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every half second until it succeeds.
wait_for() {
  local seconds="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      say "timed out after ${seconds}s waiting for $what (logs in $state/log)"
      return 1
    fi
    sleep 0.5
  done
}

node_idle() { [[ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" == idle ]]; }

start() {
  if [[ $EUID -ne 0 ]]; then
    say "needs root: munged, slurmctld and slurmd run as root here"
    exit 3
  fi
  install_slurm
  if running munged && running slurmctld && running slurmd; then
    say "already running ($state)"
    return 0
  fi
  write_conf
  start_munge
  wait_for 10 "munged" test -S "$state/munge/munge.socket"
  running slurmctld || slurmctld -f "$conf"
  wait_for 30 "slurmctld" scontrol ping
  running slurmd || slurmd -f "$conf"
  # A node left DOWN or DRAINED by an earlier unclean stop comes back with ReturnToService=2 once
  # slurmd registers; resume it explicitly when it does not.
  wait_for 30 "slurmd to register" sinfo -h -n "$node" -o %T
  if ! node_idle; then scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true; fi
  wait_for 30 "node $node to be idle" node_idle
  say "running: $(sinfo -h -o '%P %D node(s) %c CPUs %T'); logs in $state/log"
}

# stop_pid NAME PID: TERM, up to 15 s, then KILL.
stop_pid() {
  [[ -z "$2" ]] && return 0
  kill -TERM "$2" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.5; done
  say "$1 ($2) did not stop; killing it"
  kill -KILL "$2" 2>/dev/null || true
}

queue_empty() { [[ -z "$(squeue -h -o %i 2>/dev/null)" ]]; }

stop() {
  # The pids first: a daemon removes its pid file as soon as it starts shutting down.
  local slurmd_pid slurmctld_pid munged_pid jobs
  slurmd_pid="$(pid_of slurmd)" slurmctld_pid="$(pid_of slurmctld)" munged_pid="$(pid_of munged)"
  if [[ -n "$slurmctld_pid" ]]; then
    # Every job ends first: a job step still running when slurmd goes would keep its slurmstepd
    # waiting for a controller that never answers. Nothing is left queued for the next start.
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
      say "cancelling the jobs still queued or running: $(tr '\n' ' ' <<<"$jobs")"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      wait_for 30 "the cancelled jobs to end" queue_empty || true
    fi
    scontrol shutdown >/dev/null 2>&1 || true
  fi
  stop_pid slurmd "$slurmd_pid"
  stop_pid slurmctld "$slurmctld_pid"
  stop_pid munged "$munged_pid"
  rm -f "$state"/{slurmd,slurmctld,munged}.pid
  say "stopped"
}

status() {
  local ok=0 d
  for d in munged slurmctld slurmd; do
    if running "$d"; then echo "$d: running (pid $(pid_of "$d"))"; else echo "$d: stopped"; ok=1; fi
  done
  echo "SLURM_CONF=$conf"
  ((ok == 0)) && sinfo
  return "$ok"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) echo "export SLURM_CONF=$conf" ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
