# score-train --distributed under `srun -n 2` on a real SLURM cluster: two ranks joined through a
# c10d FileStore and Gloo on loopback train the same model as one process with the same global
# batch, and stop together with a checkpoint on SIGTERM. Run through tests/slurm/cluster.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
export GLOO_SOCKET_IFNAME=lo
data="$SRC/share/data/faithful.csv"
train="score-train $data --steps 400 --batch-size 64 --log-every 100 --threads 1"

# compare_models A B TOLERANCE: max |a - b| over every parameter, standardisation and noise level,
# printed; exits 1 when it exceeds TOLERANCE.
compare_models() {
    /usr/bin/python3 - "$@" <<'EOF'
import sys, h5py, numpy
first, second, tolerance = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
names = []
first["/model"].visit(lambda name: names.append(name) if isinstance(first["/model"][name], h5py.Dataset) else None)
assert len(names) >= 6, names
worst = max(float(numpy.max(numpy.abs(first["/model"][n][()] - second["/model"][n][()]))) for n in names)
print(f"max parameter difference {worst:.3g} over {len(names)} datasets")
sys.exit(0 if worst <= tolerance else 1)
EOF
}

$train --seed 3 -o "$WORK/single.h5" 2> "$WORK/single.err" || fail "single-process run: $(cat "$WORK/single.err")"
$train --seed 4 -o "$WORK/other-seed.h5" 2> "$WORK/other.err" || fail "second seed: $(cat "$WORK/other.err")"

(cd "$WORK" && srun --ntasks=2 --kill-on-bad-exit=1 $train --seed 3 -o "$WORK/parallel.h5" --distributed) \
    > "$WORK/srun.out" 2> "$WORK/srun.err" || fail "srun -n 2: $(tail -n 20 "$WORK/srun.err")"
cat "$WORK/srun.err" >&2
grep -q "data-parallel rank 0 of 2: examples \[0, 32) of each batch of 64" "$WORK/srun.err" \
    || fail "rank 0 did not report its slice"
grep -q "data-parallel rank 1 of 2: examples \[32, 64)" "$WORK/srun.err" || fail "rank 1 did not report its slice"
grep -Eq "SLURM job [0-9]+, step 0, rank 1 of 2" "$WORK/srun.err" || fail "rank 1 did not log its SLURM line"
expect_file "rank 0 model" "$WORK/parallel.h5"
leftover=$(ls "$WORK"/parallel.h5.rendezvous.* 2>/dev/null)
[ -z "$leftover" ] || fail "the rendezvous file store was left behind: $leftover"

# Same global batch, same streams: equal up to float32 summation order (see docs/cluster.md).
compare_models "$WORK/single.h5" "$WORK/parallel.h5" 1e-5 >&2 || fail "2-rank model differs from the single run by more than 1e-5"
# Negative control: another seed changes the model far beyond that tolerance.
compare_models "$WORK/single.h5" "$WORK/other-seed.h5" 1e-2 >&2 && fail "negative control: another seed gave the same model"

# SIGTERM to the step, as on preemption: both ranks stop after the same step and rank 0 writes
# the checkpoint. --time bounds the run should the signal not arrive.
long="score-train $data --batch-size 64 --threads 1 --seed 3"
(cd "$WORK" && exec srun --ntasks=2 --time=3 $long --steps 200000 -o "$WORK/long.h5" --distributed) > "$WORK/long.out" 2> "$WORK/long.err" &
srun_pid=$!
for _ in $(seq 120); do
    grep -q "data-parallel rank 0" "$WORK/long.err" 2>/dev/null && break
    sleep 0.5
done
sleep 2
step=$(squeue --noheader --steps --format=%i | grep -E '^[0-9]+\.0$' | head -1)
[ -n "$step" ] || fail "no running srun step found: $(cat "$WORK/long.err")"
scancel --signal=TERM "$step"
wait $srun_pid
status=$?
cat "$WORK/long.err" >&2
[ $status -ne 0 ] || fail "interrupted srun exited 0"
[ "$(grep -c 'training interrupted after step [0-9]*:' "$WORK/long.err")" -eq 2 ] \
    || fail "expected both ranks to report the interruption: $(cat "$WORK/long.err")"
steps=$(grep -o 'training interrupted after step [0-9]*:' "$WORK/long.err" | sort -u | wc -l)
[ "$steps" -eq 1 ] || fail "the ranks stopped after different steps: $(grep interrupted "$WORK/long.err")"
expect_file "checkpoint after SIGTERM" "$WORK/long.h5.ckpt"
[ ! -e "$WORK/long.h5" ] || fail "an interrupted run wrote the model"

# Resuming with two ranks gives the model of an uninterrupted single process. The constant
# learning rate lets the resumed run stop 300 steps after the interruption.
stopped=$(grep -o 'training interrupted after step [0-9]*:' "$WORK/long.err" | head -n 1 | grep -o '[0-9]*:$' | tr -d ':')
total=$((stopped + 300))
(cd "$WORK" && srun --ntasks=2 --kill-on-bad-exit=1 $long --steps $total -o "$WORK/long.h5" --distributed --resume "$WORK/long.h5.ckpt") \
    > "$WORK/resume.out" 2> "$WORK/resume.err" || fail "resumed srun -n 2: $(tail -n 20 "$WORK/resume.err")"
grep -q "resuming from .* at step $stopped of $total" "$WORK/resume.err" || fail "resume log: $(cat "$WORK/resume.err")"
$long --steps $total -o "$WORK/reference.h5" 2> "$WORK/reference.err" || fail "reference run: $(cat "$WORK/reference.err")"
compare_models "$WORK/reference.h5" "$WORK/long.h5" 1e-5 >&2 \
    || fail "interrupted and resumed 2-rank model differs from the single run by more than 1e-5"

# Ranks started with other options or other data (srun --multi-prog, or a node-local input that
# differs) stop before training, each with one line naming the difference. Before this check, a
# seed that differed trained a model that no single run gives, and another --width aborted a
# rank inside Gloo.
# mismatched_ranks NAME RANK1_ARGS...: runs rank 0 with the faithful data and seed 3, and rank 1
# with the arguments given. Both ranks must fail with one error line that names rank 1.
mismatched_ranks() {
    local name=$1
    shift
    printf '0 %s\n1 %s\n' "$BIN/score-train $data --seed 3 $common" "$BIN/score-train $* $common" > "$WORK/$name.conf"
    (cd "$WORK" && srun --ntasks=2 --multi-prog "$WORK/$name.conf") > "$WORK/$name.out" 2> "$WORK/$name.err" \
        && fail "$name: srun succeeded: $(cat "$WORK/$name.err")"
    [ "$(grep -c 'options or data differ between data-parallel ranks "rank 1"' "$WORK/$name.err")" -eq 2 ] \
        || fail "$name: expected the message from both ranks: $(cat "$WORK/$name.err")"
    expect_no_file "$name model" "$WORK/mismatch.h5"
}
common="--steps 200 --batch-size 64 --threads 1 -o $WORK/mismatch.h5 --distributed"
mismatched_ranks seed $data --seed 4
grep -q '"rank 1": seed is 4 where rank 0 has 3; start every rank with the same command line' "$WORK/seed.err" \
    || fail "other seed: $(cat "$WORK/seed.err")"
head -n 150 "$data" > "$WORK/part.csv"
mismatched_ranks data "$WORK/part.csv" --seed 3
grep -q '"rank 1": data_checksum is [0-9]* where rank 0 has [0-9]*;' "$WORK/data.err" \
    || fail "other data: $(cat "$WORK/data.err")"
mismatched_ranks width $data --seed 3 --width 64
grep -q '"rank 1": width is 64 where rank 0 has 128;' "$WORK/width.err" || fail "other width: $(cat "$WORK/width.err")"

# A rank killed with SIGKILL (a node lost, the OOM killer) without --kill-on-bad-exit: the other
# rank fails at its next allreduce with one error line, and the last periodic checkpoint resumes
# to the model of an uninterrupted single process.
(cd "$WORK" && exec srun --ntasks=2 --time=3 $long --steps 200000 --checkpoint-every 200 -o "$WORK/killed.h5" --distributed) \
    > "$WORK/killed.out" 2> "$WORK/killed.err" &
srun_pid=$!
for _ in $(seq 120); do [ -e "$WORK/killed.h5.ckpt" ] && break; sleep 0.5; done
expect_file "periodic checkpoint" "$WORK/killed.h5.ckpt"
victim=$(pgrep -f "^[^ ]*score-train .*-o $WORK/killed.h5" | tail -n 1)
[ -n "$victim" ] || fail "no score-train rank found to kill"
kill -KILL "$victim"
wait $srun_pid
[ $? -ne 0 ] || fail "srun with a killed rank exited 0"
cat "$WORK/killed.err" >&2
grep -q 'score-train: allreduce failed "rank [01] of 2": .*; check the logs of the other ranks$' "$WORK/killed.err" \
    || fail "surviving rank: expected an allreduce error line: $(cat "$WORK/killed.err")"
grep -q "internal error" "$WORK/killed.err" && fail "a lost rank was reported as an internal error"
stopped=$(/usr/bin/python3 -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r")["/checkpoint"].attrs["step"]))' \
    "$WORK/killed.h5.ckpt") || fail "cannot read the step of the periodic checkpoint"
[ $((stopped % 200)) -eq 0 ] && [ "$stopped" -gt 0 ] || fail "periodic checkpoint at step $stopped, not a multiple of 200"
total=$((stopped + 100))
(cd "$WORK" && srun --ntasks=2 --kill-on-bad-exit=1 $long --steps $total -o "$WORK/killed.h5" --distributed \
    --resume "$WORK/killed.h5.ckpt") > "$WORK/killed-resume.out" 2> "$WORK/killed-resume.err" \
    || fail "resume after a killed rank: $(tail -n 20 "$WORK/killed-resume.err")"
$long --steps $total -o "$WORK/killed-reference.h5" 2> "$WORK/reference.err" || fail "reference run: $(cat "$WORK/reference.err")"
compare_models "$WORK/killed-reference.h5" "$WORK/killed.h5" 1e-5 >&2 \
    || fail "resumed after a killed rank, the model differs from the single run by more than 1e-5"
finish
