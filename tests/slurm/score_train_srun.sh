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
finish
