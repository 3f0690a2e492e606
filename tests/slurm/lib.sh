# Helpers for tests that run inside tests/slurm/cluster.sh. Source after tests/cli/lib.sh.

# wait_for_jobs SECONDS JOBID...: waits until none of the jobs (or their array tasks) is queued
# or running. After SECONDS it records a failure and returns 1.
wait_for_jobs() {
    local seconds=$1 ids
    shift
    ids=$(IFS=,; echo "$*")
    for _ in $(seq $((seconds * 2))); do
        [ -z "$(squeue --noheader --jobs="$ids" --format=%i 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    fail "jobs $ids still queued after $seconds s: $(squeue --jobs="$ids" 2>&1)"
    return 1
}

# job_state JOBID: the state of a job or array task (for example 123_3) as scontrol reports it.
job_state() {
    scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -1
}

# job_exit_code JOBID: the exit code of a job or array task as scontrol reports it: "2:0" for
# exit status 2, "0:15" for a task ended by signal 15.
job_exit_code() {
    scontrol show job "$1" 2>/dev/null | sed -n 's/.* ExitCode=\([0-9]*:[0-9]*\).*/\1/p' | head -1
}

# job_restarts JOBID: how often SLURM requeued the job or array task.
job_restarts() {
    scontrol show job "$1" 2>/dev/null | sed -n 's/.* Restarts=\([0-9]*\).*/\1/p' | head -1
}

# wait_for_state SECONDS JOBID STATE: waits until the job reaches STATE.
wait_for_state() {
    local seconds=$1 job=$2 state=$3
    for _ in $(seq $((seconds * 2))); do
        [ "$(job_state "$job")" = "$state" ] && return 0
        sleep 0.5
    done
    fail "job $job is '$(job_state "$job")' after $seconds s, expected $state"
    return 1
}

# Every job and step of this cluster must see the built tools.
export PATH="$BIN:$PATH"
command -v sbatch >/dev/null || fail "sbatch not found; run this test through tests/slurm/cluster.sh"
[ -n "${SLURM_CONF:-}" ] || fail "SLURM_CONF is not set; run this test through tests/slurm/cluster.sh"
