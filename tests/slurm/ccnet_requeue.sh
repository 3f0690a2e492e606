# A ccnet hash task that SLURM requeues while it runs (scontrol requeue, as preemption with
# PreemptMode=REQUEUE does): the task stops without a done marker, runs again, and the workflow
# finishes. The task's log keeps the lines of both runs. Run through tests/slurm/cluster.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
workflow="$SRC/share/slurm"

/usr/bin/python3 "$SRC/bench/ccnet/make_wet.py" --text-dir "$SRC/tests/text/lid" --out "$WORK/wet" \
    --files 4 --mb-per-file 0.02 --seed 3 2> "$WORK/make_wet.log" || fail "make_wet.py: $(cat "$WORK/make_wet.log")"
ls "$WORK"/wet/*.warc.wet.gz > "$WORK/paths.txt"
# Shard 1's first input is a FIFO, so its hash task blocks until the test requeues it.
blocked="$WORK/wet/bench-0002.warc.wet.gz"
mv "$blocked" "$WORK/held-back.warc.wet.gz"
mkfifo "$blocked"

"$workflow/ccnet-submit.sh" "$WORK/paths.txt" 2 "$WORK/run" > "$WORK/submit.out" 2>&1 \
    || fail "submit: $(cat "$WORK/submit.out")"
hash_job=$(sed -n 's/^submitted hash array \([0-9]*\) for shards 0-1$/\1/p' "$WORK/submit.out")
[ -n "$hash_job" ] || fail "submit: no hash array for shards 0-1: $(cat "$WORK/submit.out")"
wait_for_state 60 "${hash_job}_1" RUNNING
for _ in $(seq 120); do grep -q "hashing shard 1/2" "$WORK"/run/logs/hash-*_1.log 2>/dev/null && break; sleep 0.5; done
scontrol requeue "${hash_job}_1" || fail "scontrol requeue ${hash_job}_1 failed"
for _ in $(seq 60); do grep -q "interrupted by a signal" "$WORK"/run/logs/hash-*_1.log 2>/dev/null && break; sleep 0.5; done
[ ! -e "$WORK/run/hashes/0001.bin.done" ] || fail "requeued hash shard 1 has a done marker"
rm "$blocked"
mv "$WORK/held-back.warc.wet.gz" "$blocked"

# SLURM keeps a requeued batch job pending for about two minutes before it starts it again.
mapfile -t jobs < "$WORK/run/jobs"
wait_for_jobs 400 "${jobs[@]}"
for job in "${jobs[@]}"; do
    state=$(job_state "$job")
    [ "$state" = COMPLETED ] || fail "job $job is '$state', expected COMPLETED; logs: $(tail -n 5 "$WORK"/run/logs/*.log)"
done
[ "$(job_restarts "${hash_job}_1")" = 1 ] || fail "hash task 1 restarted '$(job_restarts "${hash_job}_1")' times, expected 1"
expect_file "requeued hash shard" "$WORK/run/hashes/0001.bin.done"
expect_file "merged statistics" "$WORK/run/merged/stats.json"
log=$(ls "$WORK"/run/logs/hash-*_1.log)
[ "$(grep -c "^ccnet-filter: SLURM job [0-9]* (array $hash_job task 1 of 2)" "$log")" -eq 2 ] \
    || fail "the log of the requeued task does not show both runs: $(cat "$log")"
grep -q "^ccnet-filter: interrupted by a signal" "$log" || fail "the first run's last line is missing: $(cat "$log")"
grep -q "^ccnet-filter: done: hash" "$log" || fail "the second run's summary is missing: $(cat "$log")"

# The requeued shard's hashes equal those of a hash run without interruption.
ccnet-filter hash --paths "$WORK/paths.txt" --shard 1/2 -o "$WORK/reference.bin" 2> "$WORK/reference.log" \
    || fail "reference hash: $(cat "$WORK/reference.log")"
cmp -s "$WORK/reference.bin" "$WORK/run/hashes/0001.bin" || fail "requeued hash shard differs from an uninterrupted run"
finish
