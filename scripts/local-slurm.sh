#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the cluster test and for trying
# `snakemake --profile workflow/profiles/slurm` (see README, "Running on a SLURM cluster").
#
#   sudo scripts/local-slurm.sh start    # install slurm-wlm + munge if absent, configure,
#                                        # start munged, slurmctld, slurmd; wait for idle
#   sudo scripts/local-slurm.sh stop     # stop only the daemons this script started
#   scripts/local-slurm.sh status        # sinfo
#
# Idempotent: `start` with the daemons already running (pid files under $STATE) only checks
# that the node is idle. Runs as root, without systemd (containers, CI). Debian/Ubuntu only.
# The node is this machine (CPUs and memory from `slurmd -C`); no accounting, no cgroups:
# ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
# AccountingStorageType=accounting_storage/none. Finished jobs stay visible to `squeue` for
# MinJobAge seconds, which the Snakemake profile's `slurm-status-command: squeue` relies on.
# An existing /etc/slurm/slurm.conf that this script did not write is left alone (the
# script then refuses to start, so a real cluster's configuration is never overwritten).
set -euo pipefail

STATE=${LOCAL_SLURM_STATE:-/var/lib/metareview-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by metareview scripts/local-slurm.sh"
WAIT=${LOCAL_SLURM_WAIT:-60}

die() { echo "local-slurm: $*" >&2; exit 1; }

alive() { # alive NAME: the daemon we started (pid file) is running
    local pidfile="$STATE/$1.pid"
    [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sinfo >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurm-wlm/munge missing and no apt-get to install them"
    echo "local-slurm: installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null
    }
}

write_config() {
    if [[ -e $CONF ]] && ! grep -qxF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script: not touching it"
    fi
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/slurmd" "$STATE/log"
    local host node
    host=$(hostname -s)
    # NodeName=<host> CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..
    # RealMemory=..: the machine as slurmd sees it (first line of `slurmd -C`)
    node=$(slurmd -C | head -n 1)
    [[ $node == NodeName=* ]] || die "unexpected 'slurmd -C' output: $node"
    local tmp="$CONF.tmp.$$"
    cat >"$tmp" <<EOF
$MARK
ClusterName=metareview-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.slurm.pid
SlurmdPidFile=$STATE/slurmd.slurm.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
# keep finished jobs visible to squeue (the profile's status command) for 5 minutes
MinJobAge=300
# the daemons poll fast: a one-node test cluster, not a production one
SchedulerParameters=sched_interval=2
MessageTimeout=20
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$tmp" "$CONF"
}

start_munge() {
    alive munged && return
    if [[ ! -s /etc/munge/munge.key ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return # a munged we did not start already serves this machine
    fi
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 50); do
        [[ -s /run/munge/munged.pid ]] && break
        sleep 0.1
    done
    cp /run/munge/munged.pid "$STATE/munged.pid"
}

start_daemon() { # start_daemon NAME: slurmctld or slurmd (they fork; their pid files)
    local name=$1
    alive "$name" && return
    pgrep -x "$name" >/dev/null && die "a $name not started by this script is running"
    "/usr/sbin/$name"
    for _ in $(seq 100); do
        [[ -s $STATE/$name.slurm.pid ]] && kill -0 "$(cat "$STATE/$name.slurm.pid")" 2>/dev/null \
            && break
        sleep 0.1
    done
    cp "$STATE/$name.slurm.pid" "$STATE/$name.pid" \
        || die "$name did not start: see $STATE/log/$name.log"
}

wait_idle() {
    local host state
    host=$(hostname -s)
    for _ in $(seq "$((WAIT * 2))"); do
        state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
        case $state in
        idle | mixed | allocated) echo "local-slurm: node $host $state"; return ;;
        down* | drain*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    die "node $host not idle after ${WAIT}s (state '${state:-}'); see $STATE/log/"
}

stop() {
    local name pid
    for name in slurmd slurmctld munged; do
        if alive "$name"; then
            pid=$(cat "$STATE/$name.pid")
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            echo "local-slurm: stopped $name ($pid)"
        fi
        rm -f "$STATE/$name.pid"
    done
}

[[ ${1:-start} == status ]] && exec sinfo
[[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts daemons)"
case ${1:-start} in
start)
    mkdir -p "$STATE"
    install_packages
    if ! alive slurmctld; then write_config; fi
    start_munge
    start_daemon slurmctld
    start_daemon slurmd
    wait_idle
    ;;
stop) stop ;;
*) die "usage: $0 start|stop|status" ;;
esac
