#!/usr/bin/env bash
# Start a real single-node SLURM cluster on localhost (for tests/test_slurm.py and CI).
#
#   tests/slurm/start_cluster.sh STATE_DIR
#
# Installs slurmctld/slurmd/slurm-client/munge with apt-get when they are missing (root only),
# starts munged (unless one already runs), writes STATE_DIR/slurm.conf and starts slurmctld and
# slurmd with their state, logs and pid files under STATE_DIR. Waits until the node is idle.
# On success prints shell assignments (SLURM_CONF=..., ...) on stdout; stop the daemons with
# tests/slurm/stop_cluster.sh STATE_DIR (by the PIDs in the pid files, never by name).
#
# Exit status: 0 up; 3 SLURM cannot be installed here (no apt-get / not root / install failed:
# the caller should skip); 4 the host already has /etc/slurm/slurm.conf (its own SLURM, or a
# test cluster still running: skip); anything else: the daemons did not come up (a failure).
set -euo pipefail

STATE=${1:?usage: start_cluster.sh STATE_DIR}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
say() { echo "start_cluster: $*" >&2; }

# --- packages --------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        say "SLURM is not installed and apt-get is not available"; exit 3
    fi
    if [ "$(id -u)" != 0 ]; then
        say "SLURM is not installed and installing it needs root"; exit 3
    fi
    say "installing slurmctld slurmd slurm-client munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
            slurmctld slurmd slurm-client munge; } >"$STATE/apt.log" 2>&1; then
        say "apt-get install failed (see $STATE/apt.log)"; tail -5 "$STATE/apt.log" >&2; exit 3
    fi
fi
if [ "$(id -u)" != 0 ]; then
    say "starting slurmd needs root"; exit 3
fi

# --- munge -----------------------------------------------------------------------------------
# One munged per host serves every cluster on it: reuse a running one, else start ours and
# record its pid so stop_cluster.sh stops only what we started.
munge_pid_file=/run/munge/munged.pid
if [ -s "$munge_pid_file" ] && kill -0 "$(cat "$munge_pid_file")" 2>/dev/null; then
    say "reusing munged pid $(cat "$munge_pid_file")"
else
    install -d -o munge -g munge -m 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do [ -s "$munge_pid_file" ] && break; sleep 0.1; done
    cp "$munge_pid_file" "$STATE/munged.pid"
    say "started munged pid $(cat "$STATE/munged.pid")"
fi

# --- slurm.conf ------------------------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
node=$(hostname -s)
cpus=$(nproc)
mem=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
ctld_port=$(free_port)
slurmd_port=$(free_port)
mkdir -p "$STATE/spool" "$STATE/state" "$STATE/log"
cat >"$STATE/slurm.conf" <<EOF
# Written by tests/slurm/start_cluster.sh: a single-node test cluster on localhost.
ClusterName=rlnettest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=100
ReturnToService=2
SchedulerParameters=sched_interval=2
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$STATE/slurm.conf

# Inside a job, the SLURM executor plugin strips SLURM_* variables (SLURM_CONF included)
# before its `srun`, which then looks for the default /etc/slurm/slurm.conf. Point that at our
# config, only where the host has none; stop_cluster.sh removes the link again.
sys_conf=/etc/slurm/slurm.conf
# A link left by a test cluster that is gone (its run was killed before stop_cluster.sh):
# dangling, or to a config this script wrote whose slurmctld no longer runs.
if [ -L "$sys_conf" ]; then
    old_state=$(dirname "$(readlink "$sys_conf")")
    if [ ! -e "$sys_conf" ] || { head -1 "$sys_conf" | grep -q "Written by tests/slurm/start_cluster.sh" \
        && ! { [ -s "$old_state/slurmctld.pid" ] && kill -0 "$(cat "$old_state/slurmctld.pid")" 2>/dev/null; }; }; then
        say "removing $sys_conf: a stale link of a test cluster that is gone ($old_state)"
        rm -f "$sys_conf"
    fi
fi
if [ -e "$sys_conf" ]; then
    say "$sys_conf exists: this host has a SLURM set-up of its own (or another test cluster)"
    exit 4
fi
mkdir -p /etc/slurm
ln -s "$SLURM_CONF" "$sys_conf"
echo "$sys_conf" >"$STATE/linked_conf"

# --- daemons ---------------------------------------------------------------------------------
/usr/sbin/slurmctld -i -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 300); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
        say "cluster up: node $node, $cpus CPUs, ${mem} MB, ctld port $ctld_port"
        echo "SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 0.1
done
say "the node did not become idle in 30 s"
tail -20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
exit 1
