#!/bin/bash
# Runs a command against a private one-node SLURM cluster that lives only as long as the command.
#
#   tests/slurm/cluster.sh COMMAND [ARG...]
#
# Starts munged (with a generated key), slurmctld and slurmd from Debian's slurm-wlm and munge
# packages, all as root and in the foreground of this script, with a generated slurm.conf whose
# controller and node listen on 127.0.0.1 only. State, spool, sockets and logs live in a
# temporary directory. When the node shows as idle in `sinfo`, COMMAND runs with SLURM_CONF
# pointing at the private cluster. The daemons are stopped by the process ids this script
# started, also when COMMAND fails or the script is interrupted. The exit status is COMMAND's.
#
# If a daemon cannot start, the script prints the daemon logs and exits 1: the SLURM tests fail
# loudly rather than skip. Environment:
#   SLURM_TEST_CPUS  CPUs the node offers (default 4, more than this machine may have, so that
#                    a 2-task srun and several array tasks fit; slurmd accepts the surplus
#                    through SlurmdParameters=config_overrides)
# The node also claims 64 GiB of memory, so that the --mem defaults of share/slurm's scripts
# schedule on small machines. Nothing enforces memory limits on this cluster.
#   SLURM_TEST_KEEP  when set, keep the temporary directory for inspection
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

cluster_cpus=${SLURM_TEST_CPUS:-4}
cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/scorekit-slurm.XXXXXX") || exit 1
chmod 711 "$cluster_dir"
daemon_pids=()

print_logs() {
    local log
    for log in "$cluster_dir"/log/*.log; do
        [ -f "$log" ] || continue
        echo "----- $log (last 40 lines)" >&2
        tail -n 40 "$log" >&2
    done
}

stop_cluster() {
    local pid index
    # Stop in reverse start order (slurmd, slurmctld, munged), giving each 10 s before SIGKILL.
    for ((index = ${#daemon_pids[@]} - 1; index >= 0; index--)); do
        pid=${daemon_pids[index]}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    daemon_pids=()
    if [ -n "${SLURM_TEST_KEEP:-}" ]; then
        echo "cluster.sh: kept $cluster_dir" >&2
    else
        rm -rf "$cluster_dir"
    fi
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

fail() {
    echo "cluster.sh: $*" >&2
    print_logs
    exit 1
}

for program in munged slurmctld slurmd sinfo; do
    command -v "$program" >/dev/null || PATH=$PATH:/usr/sbin
    command -v "$program" >/dev/null ||
        fail "$program not found; install Debian's slurm-wlm and munge packages (.ci/setup does)"
done
[ "$(id -u)" -eq 0 ] || fail "the daemons must run as root; run the SLURM tests as root"

# Two free loopback ports for slurmctld and slurmd.
read -r controller_port node_port < <(/usr/bin/python3 - <<'EOF'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
EOF
) || fail "cannot find two free TCP ports on 127.0.0.1"

mkdir -p "$cluster_dir"/{munge,state,spool,log,run}
chmod 755 "$cluster_dir"/munge
dd if=/dev/urandom of="$cluster_dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$cluster_dir/munge/munge.key"
munge_socket=$cluster_dir/munge/munge.socket

node_name=scorekit-node
cat > "$cluster_dir/slurm.conf" <<EOF
ClusterName=scorekit-test
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$controller_port
SlurmdPort=$node_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$munge_socket
StateSaveLocation=$cluster_dir/state
SlurmdSpoolDir=$cluster_dir/spool
SlurmctldPidFile=$cluster_dir/run/slurmctld.pid
SlurmdPidFile=$cluster_dir/run/slurmd.pid
SlurmctldLogFile=$cluster_dir/log/slurmctld.log
SlurmdLogFile=$cluster_dir/log/slurmd.log
MailProg=/bin/true
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
DependencyParameters=kill_invalid_depend
KillWait=2
MinJobAge=300
SchedulerParameters=defer_batch=0
NodeName=$node_name NodeAddr=127.0.0.1 NodeHostname=$(hostname -s) CPUs=$cluster_cpus RealMemory=65536 State=UNKNOWN
PartitionName=test Nodes=$node_name Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$cluster_dir/slurm.conf

munged --foreground --force --key-file="$cluster_dir/munge/munge.key" --socket="$munge_socket" \
    --pid-file="$cluster_dir/run/munged.pid" --seed-file="$cluster_dir/munge/seed" \
    --log-file="$cluster_dir/log/munged.log" > "$cluster_dir/log/munged.stderr.log" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do
    [ -S "$munge_socket" ] && break
    kill -0 "${daemon_pids[0]}" 2>/dev/null || fail "munged exited during start"
    sleep 0.1
done
[ -S "$munge_socket" ] || fail "munged did not create its socket $munge_socket within 5 s"

slurmctld -D -i -f "$SLURM_CONF" >> "$cluster_dir/log/slurmctld.stdout.log" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$node_name" -f "$SLURM_CONF" >> "$cluster_dir/log/slurmd.stdout.log" 2>&1 &
daemon_pids+=($!)

# The node registers within a few seconds; 60 s leaves room for a loaded machine.
node_state=""
for _ in $(seq 120); do
    for pid in "${daemon_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "a SLURM daemon (pid $pid) exited during start"
    done
    node_state=$(sinfo --noheader --nodes="$node_name" --format=%t 2>/dev/null)
    [ "$node_state" = idle ] && break
    sleep 0.5
done
[ "$node_state" = idle ] || fail "node $node_name is '${node_state:-unknown}', not idle, 60 s after start"
echo "cluster.sh: node $node_name idle with $cluster_cpus CPUs (SLURM_CONF=$SLURM_CONF)" >&2

"$@"
status=$?
if [ $status -ne 0 ]; then
    echo "cluster.sh: '$*' exited with status $status; daemon logs follow" >&2
    print_logs
fi
exit $status
