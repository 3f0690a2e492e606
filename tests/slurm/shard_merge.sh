# langevin and geodesic --all-pairs split over SLURM array tasks (--shard from the array
# variables), merged with share/slurm/merge-shards.py, must equal one run without shards.
# Run through tests/slurm/cluster.sh.
. "$(dirname "$0")/../cli/lib.sh"
. "$(dirname "$0")/lib.sh"
merge="/usr/bin/python3 $SRC/share/slurm/merge-shards.py"
gmm='gmm:weights=0.3,0.7;means=-2,0/2,0;covs=1'

# run_array NAME COMMAND: runs COMMAND as tasks 0-3 of an array and waits; $SLURM_ARRAY_TASK_ID
# in COMMAND is expanded in each task.
run_array() {
    local name=$1 command=$2
    sbatch --array=0-3 --wait --output="$WORK/$name-%a.log" --wrap="$command" > /dev/null 2> "$WORK/sbatch.err" \
        || fail "$name: array failed: $(cat "$WORK/sbatch.err") $(tail -n 3 "$WORK/$name"-*.log)"
}

# Samples: one row per chain (--thin 0), then several kept states per chain, text and HDF5.
# 10 chains over 4 shards gives shards of 2, 3, 2 and 3 chains.
sampler="langevin -m '$gmm' --chains 10 --steps 200 --step-size 0.05 --seed 5"
eval "$sampler -o $WORK/final-single.tsv" 2> "$WORK/err" || fail "langevin single: $(cat "$WORK/err")"
run_array final "$sampler -o $WORK/final-\$SLURM_ARRAY_TASK_ID.tsv"
grep -q "shard 1/4: chains \[2, 5) of 10" "$WORK/final-1.log" || fail "langevin shard 1 log: $(cat "$WORK/final-1.log")"
grep -q "SLURM job [0-9]* (array [0-9]* task 1 of 4)" "$WORK/final-1.log" || fail "langevin SLURM line: $(cat "$WORK/final-1.log")"
$merge samples --chains 10 -o "$WORK/final-merged.tsv" "$WORK"/final-{0,1,2,3}.tsv || fail "merge of final states failed"
[ "$(wc -l < "$WORK/final-single.tsv")" -eq 10 ] || fail "langevin single run: expected 10 rows"
cmp -s "$WORK/final-single.tsv" "$WORK/final-merged.tsv" || fail "merged final states differ from the single run"

thinned="$sampler --burn-in 50 --thin 25"
eval "$thinned -o $WORK/thin-single.tsv" 2> "$WORK/err" || fail "langevin thinned single: $(cat "$WORK/err")"
eval "$thinned -o $WORK/thin-single.h5" 2> "$WORK/err" || fail "langevin thinned single h5: $(cat "$WORK/err")"
run_array thin "$thinned -o $WORK/thin-\$SLURM_ARRAY_TASK_ID.tsv && $thinned -o $WORK/thin-\$SLURM_ARRAY_TASK_ID.h5"
$merge samples --chains 10 -o "$WORK/thin-merged.tsv" "$WORK"/thin-{0,1,2,3}.tsv || fail "merge of thinned text failed"
[ "$(wc -l < "$WORK/thin-single.tsv")" -eq 60 ] || fail "thinned single run: expected 6 kept states x 10 chains"
cmp -s "$WORK/thin-single.tsv" "$WORK/thin-merged.tsv" || fail "merged thinned samples differ from the single run"
grep -hv '^#' "$WORK"/thin-{0,1,2,3}.tsv | cmp -s - "$WORK/thin-single.tsv" \
    && fail "negative control: plain concatenation equals the single run, so the thinned merge is not exercised"
$merge samples --chains 10 -o "$WORK/thin-merged.h5" "$WORK"/thin-{0,1,2,3}.h5 || fail "merge of thinned HDF5 failed"
/usr/bin/python3 - "$WORK/thin-single.h5" "$WORK/thin-merged.h5" <<'EOF' || fail "merged HDF5 samples differ"
import sys, h5py, numpy
single, merged = (h5py.File(name, "r")["/samples"] for name in sys.argv[1:])
assert single.shape == merged.shape == (60, 2), (single.shape, merged.shape)
assert numpy.array_equal(single[()], merged[()]), "values differ"
assert merged.attrs["chains"] == 10, dict(merged.attrs)
assert merged.attrs["kept_per_chain"] == 6, dict(merged.attrs)
EOF
# Shards need the total: a wrong --chains is detected.
$merge samples --chains 12 -o "$WORK/bad.tsv" "$WORK"/thin-{0,1,2,3}.tsv 2> "$WORK/err" \
    && fail "merge with a wrong --chains succeeded"

# Distances: 8 points, 28 pairs in shards of 7, text tables and HDF5.
printf '%s\n' "-1 0.5" "0 0" "1.5 -0.5" "2 1" "-2 -1" "0.5 1.5" "3 0" "-0.5 -2" > "$WORK/points.txt"
geodesic="geodesic -m '$gmm' --all-pairs $WORK/points.txt --nodes 41"
eval "$geodesic -o $WORK/dist-single.tsv" 2> "$WORK/err" || fail "geodesic single: $(cat "$WORK/err")"
eval "$geodesic -o $WORK/dist-single.h5" 2> "$WORK/err" || fail "geodesic single h5: $(cat "$WORK/err")"
run_array dist "$geodesic -o $WORK/pairs-\$SLURM_ARRAY_TASK_ID.tsv && $geodesic -o $WORK/pairs-\$SLURM_ARRAY_TASK_ID.h5"
grep -q "shard 2/4: pairs \[14, 21) of 28" "$WORK/dist-2.log" || fail "geodesic shard 2 log: $(cat "$WORK/dist-2.log")"
[ "$(sed -n 1p "$WORK/pairs-2.tsv")" = "# shard 2/4: pairs [14, 21) of 28 pairs of 8 points" ] || fail "shard table comment"
[ "$(sed -n 2p "$WORK/pairs-0.tsv")" = "$(printf 'i\tj\tlength\tconverged')" ] || fail "shard table header"
$merge distances -o "$WORK/dist-merged.tsv" "$WORK"/pairs-{0,1,2,3}.tsv || fail "merge of distance tables failed"
cmp -s "$WORK/dist-single.tsv" "$WORK/dist-merged.tsv" \
    || fail "merged distances differ from the single run: $(diff "$WORK/dist-single.tsv" "$WORK/dist-merged.tsv" | head -c 400)"
$merge distances -o "$WORK/dist-merged.h5" "$WORK"/pairs-{0,1,2,3}.h5 || fail "merge of HDF5 pair tables failed"
/usr/bin/python3 - "$WORK/dist-single.h5" "$WORK/dist-merged.h5" <<'EOF' || fail "merged HDF5 distances differ"
import sys, h5py, numpy
single, merged = (h5py.File(name, "r") for name in sys.argv[1:])
for name in ("/distances", "/converged"):
    assert single[name].shape == merged[name].shape == (8, 8), name
    assert numpy.array_equal(single[name][()], merged[name][()]), name
assert single["/distances"][0, 1] > 0
EOF
$merge distances -o "$WORK/bad.tsv" "$WORK"/pairs-{0,1,3}.tsv 2> "$WORK/err" && fail "merge without shard 2 succeeded"
grep -q "a shard file is missing" "$WORK/err" || fail "missing shard message: $(cat "$WORK/err")"

# --shard splits --all-pairs and --pairs runs; a --from run has one pair.
run_case "shard needs several pairs" 2 "a --from run has one pair, which cannot be split" -- \
    "$BIN/geodesic" -m "$gmm" --from 0,0 --to 1,1 --shard 0/2
finish
