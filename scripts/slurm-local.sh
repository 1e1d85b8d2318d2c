#!/usr/bin/env bash
# A real single-node Slurm on localhost, for trying the Slurm executor on a laptop and for the
# tests. Needs root (apt and the daemons). Debian/Ubuntu: installs slurm-wlm and munge.
#
#   scripts/slurm-local.sh start    # install if needed, configure, start munged/slurmctld/slurmd
#   scripts/slurm-local.sh status   # sinfo + squeue
#   scripts/slurm-local.sh stop     # stop the daemons
#
# The config goes to /etc/slurm/slurm.conf (the default path, so no SLURM_CONF is needed) and
# state/logs to $SLURM_LOCAL_DIR (default /tmp/harness-slurm). No accounting (no slurmdbd):
# sacct does not work, which is what `harness status` is built to live with.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/harness-slurm}
CONF=/etc/slurm/slurm.conf

need_root() {
  if [ "$(id -u)" != 0 ]; then echo "slurm-local: run as root (apt and the daemons need it)" >&2; exit 2; fi
}

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    return
  fi
  echo "slurm-local: installing slurm-wlm and munge with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
}

configure() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/run" /etc/slurm
  cat >"$CONF" <<CONF
ClusterName=local
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=30
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/run/slurmctld.log
SlurmdLogFile=$DIR/run/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  if pgrep -x munged >/dev/null; then return; fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown -R munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0400 /etc/munge/munge.key
  chmod 0755 /run/munge
  su -s /bin/sh munge -c munged
}

start() {
  need_root
  install
  configure
  start_munge
  pgrep -x slurmctld >/dev/null || slurmctld
  pgrep -x slurmd >/dev/null || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm-local: up ($(sinfo -h -o '%P %D %T %c CPUs'))" >&2
      return 0
    fi
    sleep 0.5
  done
  scontrol update NodeName="$(hostname -s)" State=RESUME 2>/dev/null || true
  sleep 1
  if sinfo -h -o '%T' | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm-local: up" >&2; return 0
  fi
  echo "slurm-local: the node did not come up; logs in $DIR/run" >&2
  sinfo >&2 || true
  exit 1
}

stop_daemon() {
  # Stop the daemon whose pid file this cluster's slurm.conf names (never another Slurm's
  # daemon of the same name); wait up to 10 s for it to exit.
  local name=$1 pidfile="$DIR/run/$1.pid" pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do
      [ -d "/proc/$pid" ] || break
      sleep 0.5
    done
    if [ -d "/proc/$pid" ]; then
      echo "slurm-local: $name (pid $pid) did not stop within 10 s" >&2
      return 1
    fi
  fi
  rm -f "$pidfile"
}

stop() {
  need_root
  stop_daemon slurmd
  stop_daemon slurmctld
  echo "slurm-local: stopped (munged left running)" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) sinfo; squeue ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
