# share/slurm/merge-shards.py: HDF5 shards merge only in their recorded order and number, and a
# missing shard file is one clear line.
. "$(dirname "$0")/lib.sh"
merge="/usr/bin/python3 $SRC/share/slurm/merge-shards.py"
normal='gaussian:mean=0,0;cov=1'
printf '0 0\n1 0\n0 1\n1 1\n2 2\n' > "$WORK/five.txt"
for shard in 0 1 2; do
    "$BIN/geodesic" -q -m "$normal" --all-pairs "$WORK/five.txt" --nodes 21 --shard "$shard/3" -o "$WORK/pairs-$shard.h5" ||
        fail "geodesic shard $shard failed"
done
"$BIN/geodesic" -q -m "$normal" --all-pairs "$WORK/five.txt" --nodes 21 -o "$WORK/whole.tsv" || fail "geodesic whole run failed"
run_case "distances in order" 0 "" -- $merge distances -o "$WORK/merged.tsv" "$WORK"/pairs-{0,1,2}.h5
paste "$WORK/merged.tsv" "$WORK/whole.tsv" | awk -F'\t' '{ for (k = 1; k <= 5; k++) if ($k - $(k + 5) > 1e-12 || $(k + 5) - $k > 1e-12) bad = 1 }
        END { exit bad || NR != 5 }' || fail "distances in order: the merged matrix differs from one run"
run_case "distances out of order" 1 'pairs-2.h5 is shard 2/3, but it is number 1' -- \
    $merge distances -o "$WORK/bad.tsv" "$WORK"/pairs-{0,2,1}.h5
expect_one_line_error "distances out of order"
run_case "distances shard missing" 1 'pairs-0.h5 is shard 0/3, but 2 files were given' -- \
    $merge distances -o "$WORK/bad.tsv" "$WORK"/pairs-{0,1}.h5
run_case "shard file missing" 1 'cannot read shard .*nosuch.h5: no such file' -- \
    $merge distances -o "$WORK/bad.tsv" "$WORK/pairs-0.h5" "$WORK/nosuch.h5" "$WORK/pairs-2.h5"
expect_one_line_error "shard file missing"

for shard in 0 1; do
    "$BIN/langevin" -q -m "$normal" --chains 6 --steps 5 --seed 3 --shard "$shard/2" -o "$WORK/samples-$shard.h5" ||
        fail "langevin shard $shard failed"
done
run_case "samples out of order" 1 'samples-1.h5 is shard 1/2, but it is number 0' -- \
    $merge samples --chains 6 -o "$WORK/bad.h5" "$WORK"/samples-{1,0}.h5
run_case "samples wrong --chains" 1 'was run with --chains 6, not 8' -- \
    $merge samples --chains 8 -o "$WORK/bad.h5" "$WORK"/samples-{0,1}.h5
finish
