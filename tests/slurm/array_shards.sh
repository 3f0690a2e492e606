# Shards and output names taken from the SLURM array variables, on a real SLURM cluster. Arrays
# numbered 0 to N-1 (also with a % throttle) run. Arrays numbered otherwise fail in every task
# before any work. Per-task names with other numbers in them pass, and a shared name fails.
# Run through tests/slurm/cluster.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
merge="/usr/bin/python3 $SRC/share/slurm/merge-shards.py"
sampler="langevin -m 'gaussian:mean=0;cov=1' --chains 10 --steps 50 --step-size 0.1 --seed 9"

# submit_array NAME ARRAY COMMAND: runs COMMAND as an sbatch array (one log per task in
# $WORK/NAME-<task>.log) and waits for it. Prints the array job id.
submit_array() {
    local name=$1 array=$2 command=$3 job
    job=$(cd "$WORK" && sbatch --parsable --array="$array" --output="$WORK/$name-%a.log" --wrap="$command" 2> "$WORK/sbatch.err") \
        || fail "$name: sbatch failed: $(cat "$WORK/sbatch.err")"
    wait_for_jobs 120 "$job"
    echo "$job"
}

# expect_exit_code JOB TASK CODE: the task's exit code, as SLURM records it, is CODE.
expect_exit_code() {
    local code
    code=$(job_exit_code "$1_$2")
    [ "$code" = "$3:0" ] || fail "array $1 task $2: exit code '$code', expected $3:0; log: $(cat "$WORK"/*-"$2".log)"
}

eval "$sampler -o $WORK/single.tsv" 2> "$WORK/err" || fail "langevin single: $(cat "$WORK/err")"

# --array=1-4: task ids 1..4 with COUNT 4. Before the check, tasks 1-3 ran shards 1-3 of 4 and
# no task ran shard 0.
job=$(submit_array one-based 1-4 "$sampler -o one-based-\$SLURM_ARRAY_TASK_ID.tsv")
for task in 1 2 3 4; do
    expect_exit_code "$job" $task 2
    grep -q 'invalid SLURM array for shards "tasks 1 to 4, 4 tasks"' "$WORK/one-based-$task.log" \
        || fail "--array=1-4 task $task: $(cat "$WORK/one-based-$task.log")"
    expect_no_file "--array=1-4 task $task" "$WORK/one-based-$task.tsv"
done
[ "$(grep -vc '^langevin: SLURM job' "$WORK/one-based-1.log")" -eq 1 ] \
    || fail "--array=1-4: expected one error line: $(cat "$WORK/one-based-1.log")"

# The --shard that the message proposes maps the same array onto shards 0-3.
submit_array one-based-mapped 1-4 \
    "$sampler --shard \$((SLURM_ARRAY_TASK_ID-1))/4 -o one-based-\$SLURM_ARRAY_TASK_ID.tsv" > /dev/null
$merge samples --chains 10 -o "$WORK/one-based.tsv" "$WORK"/one-based-{1,2,3,4}.tsv 2> "$WORK/err" \
    || fail "merge of --array=1-4 with --shard: $(cat "$WORK/err")"
cmp -s "$WORK/single.tsv" "$WORK/one-based.tsv" || fail "--array=1-4 with --shard differs from one run"

# --array=0-6:2: task ids 0, 2, 4, 6 with COUNT 4. Task 0 and 2 passed the old check.
job=$(submit_array stepped 0-6:2 "$sampler -o stepped-\$SLURM_ARRAY_TASK_ID.tsv")
for task in 0 2 4 6; do
    expect_exit_code "$job" $task 2
    grep -q 'give --shard \$((SLURM_ARRAY_TASK_ID/2))/4' "$WORK/stepped-$task.log" \
        || fail "--array=0-6:2 task $task: $(cat "$WORK/stepped-$task.log")"
done

# --array=0-3%2 (throttled) with names that hold other numbers around the task id: a directory
# 2024, the id in a directory, a version suffix. They pass, and the merge equals one run.
mkdir -p "$WORK/2024"
job=$(submit_array named 0-3%2 \
    "mkdir -p 2024/run-\$SLURM_ARRAY_TASK_ID && $sampler -o 2024/run-\$SLURM_ARRAY_TASK_ID/out-v2.h5")
for task in 0 1 2 3; do expect_exit_code "$job" $task 0; done
eval "$sampler -o $WORK/single.h5" 2> "$WORK/err" || fail "langevin single h5: $(cat "$WORK/err")"
$merge samples --chains 10 -o "$WORK/named.h5" "$WORK"/2024/run-{0,1,2,3}/out-v2.h5 2> "$WORK/err" \
    || fail "merge of 2024/run-*/out-v2.h5: $(cat "$WORK/err")"
/usr/bin/python3 - "$WORK/single.h5" "$WORK/named.h5" <<'EOF' || fail "merged 2024/run-*/out-v2.h5 differ from one run"
import sys, h5py, numpy
single, merged = (h5py.File(name, "r")["/samples"][()] for name in sys.argv[1:])
assert single.shape == merged.shape == (10, 1), (single.shape, merged.shape)
assert numpy.array_equal(single, merged)
EOF

# One name for the whole array: every task fails before any work, also with the number 2024 in
# a directory.
job=$(submit_array shared 0-3 "$sampler -o 2024/out.h5")
for task in 0 1 2 3; do
    expect_exit_code "$job" $task 2
    grep -q 'invalid --output "2024/out.h5": every task of the SLURM array would write this same file' \
        "$WORK/shared-$task.log" || fail "shared output, task $task: $(cat "$WORK/shared-$task.log")"
done
expect_no_file "shared output" "$WORK/2024/out.h5"
finish
