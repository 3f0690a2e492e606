# The ccnet workflow of share/slurm on a real SLURM cluster: hash array, dependent mine array and
# merge over 4 shards of 8 WET files. Shard 3's first input is a FIFO, so its hash task blocks
# until the test cancels it with scancel. The re-submitted workflow must run only shard 3's hash
# task, and the merged output must equal a single-process run over the same path list.
# Run through tests/slurm/cluster.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
workflow="$SRC/share/slurm"
shards=4

# Eight small WET files with navigation lines repeated across files, so dedup crosses shards.
/usr/bin/python3 "$SRC/bench/ccnet/make_wet.py" --text-dir "$SRC/tests/text/lid" --out "$WORK/wet" \
    --files 8 --mb-per-file 0.05 --seed 7 2> "$WORK/make_wet.log" || fail "make_wet.py: $(cat "$WORK/make_wet.log")"
ls "$WORK"/wet/*.warc.wet.gz > "$WORK/paths.txt"
blocked="$WORK/wet/bench-0006.warc.wet.gz"
mv "$blocked" "$WORK/held-back.warc.wet.gz"
mkfifo "$blocked"

# First submission: tasks 0-2 finish, task 3 blocks on the FIFO and is cancelled.
"$workflow/ccnet-submit.sh" "$WORK/paths.txt" $shards "$WORK/run" > "$WORK/submit1.out" 2>&1 \
    || fail "first submit: $(cat "$WORK/submit1.out")"
cat "$WORK/submit1.out" >&2
hash_job=$(sed -n 's/^submitted hash array \([0-9]*\) for shards 0-3$/\1/p' "$WORK/submit1.out")
[ -n "$hash_job" ] || fail "first submit: no hash array for shards 0-3: $(cat "$WORK/submit1.out")"
wait_for_state 60 "${hash_job}_3" RUNNING
"$workflow/ccnet-submit.sh" "$WORK/paths.txt" $shards "$WORK/run" > "$WORK/submit-busy.out" 2>&1 \
    && fail "a submission while the previous one is queued succeeded"
grep -q "jobs of the previous submission are still queued" "$WORK/submit-busy.out" \
    || fail "busy submit message: $(cat "$WORK/submit-busy.out")"
for shard in 0 1 2; do
    for _ in $(seq 120); do [ -e "$WORK/run/hashes/000$shard.bin.done" ] && break; sleep 0.5; done
done
scancel "${hash_job}_3"
mapfile -t first_jobs < "$WORK/run/jobs"
wait_for_jobs 60 "${first_jobs[@]}"
[ "$(job_state "${hash_job}_3")" = CANCELLED ] || fail "hash task 3 is '$(job_state "${hash_job}_3")', expected CANCELLED"
for shard in 0 1 2; do expect_file "hash shard $shard" "$WORK/run/hashes/000$shard.bin.done"; done
[ ! -e "$WORK/run/hashes/0003.bin.done" ] || fail "cancelled hash shard 3 has a done marker"
[ ! -e "$WORK/run/mined" ] || fail "mine ran although a hash task was cancelled: $(ls "$WORK/run/mined")"
marker_before=$(stat -c '%i %y' "$WORK/run/hashes/0000.bin.done")

# Second submission after restoring the input: only hash shard 3 runs again, then all of mine.
rm "$blocked"
mv "$WORK/held-back.warc.wet.gz" "$blocked"
"$workflow/ccnet-submit.sh" "$WORK/paths.txt" $shards "$WORK/run" > "$WORK/submit2.out" 2>&1 \
    || fail "second submit: $(cat "$WORK/submit2.out")"
cat "$WORK/submit2.out" >&2
grep -q "^submitted hash array [0-9]* for shards 3$" "$WORK/submit2.out" \
    || fail "second submit did not limit hash to shard 3: $(cat "$WORK/submit2.out")"
grep -q "^submitted mine array [0-9]* for shards 0-3$" "$WORK/submit2.out" \
    || fail "second submit: no mine array for shards 0-3: $(cat "$WORK/submit2.out")"
mapfile -t second_jobs < "$WORK/run/jobs"
wait_for_jobs 240 "${second_jobs[@]}"
for job in "${second_jobs[@]}"; do
    state=$(job_state "$job")
    [ "$state" = COMPLETED ] || fail "job $job is '$state', expected COMPLETED; logs: $(tail -n 5 "$WORK"/run/logs/*.log)"
done
[ "$(stat -c '%i %y' "$WORK/run/hashes/0000.bin.done")" = "$marker_before" ] \
    || fail "finished hash shard 0 ran again on re-submission"
[ "$(ls "$WORK"/run/logs/hash-*.log | wc -l)" -eq 5 ] \
    || fail "expected 4 + 1 hash task logs: $(ls "$WORK"/run/logs)"

# The merged output equals one process over the whole path list.
ccnet-filter hash --paths "$WORK/paths.txt" -o "$WORK/single.bin" 2> "$WORK/single.log" \
    || fail "single hash: $(cat "$WORK/single.log")"
ccnet-filter mine --paths "$WORK/paths.txt" --hashes "$WORK/single.bin" -o "$WORK/single" 2>> "$WORK/single.log" \
    || fail "single mine: $(cat "$WORK/single.log")"
single_files=$(cd "$WORK/single" && ls *.json.gz | paste -sd' ')
merged_files=$(cd "$WORK/run/merged" && ls *.json.gz | paste -sd' ')
[ -n "$single_files" ] || fail "single run wrote no language file"
[ "$merged_files" = "$single_files" ] || fail "merged languages '$merged_files' differ from single run '$single_files'"
for name in $single_files; do
    zcat "$WORK/single/$name" > "$WORK/single.jsonl"
    zcat "$WORK/run/merged/$name" > "$WORK/merged.jsonl"
    [ -s "$WORK/single.jsonl" ] || fail "single run $name is empty"
    cmp -s "$WORK/single.jsonl" "$WORK/merged.jsonl" \
        || fail "merged $name differs from the single run: $(diff "$WORK/single.jsonl" "$WORK/merged.jsonl" | head -c 400)"
done

# Summed statistics: the documents kept match, and dedup removed lines across shards.
json_value() {
    /usr/bin/python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."): v = v[key]
print(v)' "$1" "$2"
}
for key in lang_filter.documents_out dedup.lines_in dedup.lines_out read.records; do
    single=$(json_value "$WORK/single.stats.json" $key)
    merged=$(json_value "$WORK/run/merged/stats.json" $key)
    [ "$merged" = "$single" ] || fail "merged stats $key = $merged, single run $single"
done
[ "$(json_value "$WORK/run/merged/stats.json" dedup.lines_out)" -lt "$(json_value "$WORK/run/merged/stats.json" dedup.lines_in)" ] \
    || fail "dedup removed no line, so the test does not exercise cross-shard dedup"
echo "merged $(json_value "$WORK/run/merged/stats.json" lang_filter.documents_out) documents in $merged_files;" \
    "dedup kept $(json_value "$WORK/run/merged/stats.json" dedup.lines_out) of" \
    "$(json_value "$WORK/run/merged/stats.json" dedup.lines_in) lines" >&2
[ "$(json_value "$WORK/run/merged/stats.json" shards)" = $shards ] || fail "merged stats: shards is not $shards"

# A submission with another shard count into the same directory would skip shards 0 and 1 as
# finished although their markers cover other slices of the path list. It is rejected before
# anything is submitted.
"$workflow/ccnet-submit.sh" "$WORK/paths.txt" 2 "$WORK/run" > "$WORK/submit3.out" 2>&1 \
    && fail "a submission with another shard count succeeded: $(cat "$WORK/submit3.out")"
grep -q "done markers in $WORK/run record another shard count than 2 (.*0000.bin.done" "$WORK/submit3.out" \
    || fail "other shard count: $(cat "$WORK/submit3.out")"
[ "$(wc -l < "$WORK/run/jobs")" -eq "${#second_jobs[@]}" ] || fail "the rejected submission recorded jobs"
finish
