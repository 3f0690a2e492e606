# share/slurm/merge-shards.py: HDF5 and text shards merge only in their recorded order and number,
# datasets keep their type, and a missing shard file is one clear line.
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

# Text shards record their shard in a first comment line. With kept states per chain (--thin),
# shards given in the wrong order would interleave the chains wrongly.
thinned=(-q -m "$normal" --chains 6 --steps 4 --thin 1 --seed 3)
"$BIN/langevin" "${thinned[@]}" -o "$WORK/thin-whole.tsv" || fail "langevin thinned whole run failed"
for shard in 0 1; do
    "$BIN/langevin" "${thinned[@]}" --shard "$shard/2" -o "$WORK/thin-$shard.tsv" || fail "langevin text shard $shard failed"
done
[ "$(head -n 1 "$WORK/thin-1.tsv")" = "# shard 1/2: chains [3, 6) of 6" ] || fail "text shard comment: $(head -n 1 "$WORK/thin-1.tsv")"
run_case "text samples in order" 0 "" -- $merge samples --chains 6 -o "$WORK/thin-merged.tsv" "$WORK"/thin-{0,1}.tsv
cmp -s "$WORK/thin-merged.tsv" "$WORK/thin-whole.tsv" || fail "text samples in order: the merge differs from one run"
run_case "text samples out of order" 1 'thin-1.tsv is shard 1/2, but it is number 0' -- \
    $merge samples --chains 6 -o "$WORK/bad.tsv" "$WORK"/thin-{1,0}.tsv
expect_one_line_error "text samples out of order"
run_case "text samples shard missing" 1 'thin-0.tsv is shard 0/2, but 1 files were given' -- \
    $merge samples --chains 6 -o "$WORK/bad.tsv" "$WORK/thin-0.tsv"
run_case "text samples wrong --chains" 1 'was run with --chains 6, not 9' -- \
    $merge samples --chains 9 -o "$WORK/bad.tsv" "$WORK"/thin-{0,1}.tsv
for shard in 0 1; do
    "$BIN/geodesic" -q -m "$normal" --all-pairs "$WORK/five.txt" --nodes 21 --shard "$shard/2" -o "$WORK/table-$shard.tsv" ||
        fail "geodesic text shard $shard failed"
done
run_case "text distances out of order" 1 'table-1.tsv is shard 1/2, but it is number 0' -- \
    $merge distances -o "$WORK/bad.tsv" "$WORK"/table-{1,0}.tsv
# The comment records the number of points, so a missing last shard is named as such.
run_case "text distances last missing" 1 'table-0.tsv is shard 0/2, but 1 files were given' -- \
    $merge distances -o "$WORK/bad.tsv" "$WORK/table-0.tsv"

# Shards without the comment line (older versions) still merge, with one warning.
for shard in 0 1; do grep -v '^#' "$WORK/thin-$shard.tsv" > "$WORK/plain-$shard.tsv"; done
run_case "text shards without comment" 0 "warning: text shard .*plain-0.tsv has no '# shard I/N' line" -- \
    $merge samples --chains 6 -o "$WORK/plain-merged.tsv" "$WORK"/plain-{0,1}.tsv
[ "$(grep -c warning "$WORK/err")" -eq 1 ] || fail "text shards without comment: expected one warning: $(cat "$WORK/err")"
cmp -s "$WORK/plain-merged.tsv" "$WORK/thin-whole.tsv" || fail "text shards without comment: the merge differs"
# Such shards record no shard number, so a file given twice had its rows merged twice. Any path
# to the same file is now an error that names both arguments. Other datasets of one file are not.
ln -s plain-0.tsv "$WORK/plain-link.tsv"
run_case "text shard given twice" 1 'shards 1 and 2 \(.*plain-0.tsv and .*plain-link.tsv\) name the same file; give each shard once' -- \
    $merge samples --chains 6 -o "$WORK/twice.tsv" "$WORK/plain-0.tsv" "$WORK/plain-link.tsv"
expect_one_line_error "text shard given twice"
expect_no_file "text shard given twice" "$WORK/twice.tsv"
run_case "HDF5 shard given twice" 1 'shards 1 and 2 .* name the same file' -- \
    $merge distances -o "$WORK/twice.tsv" "$WORK/pairs-0.h5" "$WORK/./pairs-0.h5" "$WORK/pairs-2.h5"

# A text shard whose name contains a colon is that file, not a dataset in x.h5 or a file "notes".
cp "$WORK/thin-0.tsv" "$WORK/x.h5:first"
cp "$WORK/thin-1.tsv" "$WORK/notes:1.tsv"
run_case "text shards named with a colon" 0 "" -- \
    $merge samples --chains 6 -o "$WORK/colon-merged.tsv" "$WORK/x.h5:first" "$WORK/notes:1.tsv"
cmp -s "$WORK/colon-merged.tsv" "$WORK/thin-whole.tsv" || fail "text shards named with a colon: the merge differs"

# Each merged dataset keeps the shards' type: float32 samples stay float32, /converged is int64 as
# in one run.
/usr/bin/python3 - "$WORK" <<'EOF2' || fail "could not write float32 shards"
import sys, h5py
work = sys.argv[1]
for shard in (0, 1):
    with h5py.File(f"{work}/samples-{shard}.h5", "r") as source, h5py.File(f"{work}/f32-{shard}.h5", "w") as target:
        data = target.create_dataset("/samples", data=source["/samples"][()].astype("float32"))
        data.attrs.update(dict(source["/samples"].attrs))
EOF2
run_case "float32 samples" 0 "" -- $merge samples --chains 6 -o "$WORK/f32-merged.h5" "$WORK"/f32-{0,1}.h5
run_case "HDF5 distances" 0 "" -- $merge distances -o "$WORK/merged.h5" "$WORK"/pairs-{0,1,2}.h5
"$BIN/geodesic" -q -m "$normal" --all-pairs "$WORK/five.txt" --nodes 21 -o "$WORK/whole.h5" || fail "geodesic whole HDF5 run failed"
/usr/bin/python3 - "$WORK" <<'EOF2' || fail "merged dataset types differ from the shards or from one run"
import sys, h5py
work = sys.argv[1]
with h5py.File(f"{work}/f32-merged.h5", "r") as merged:
    assert merged["/samples"].dtype == "float32", merged["/samples"].dtype
with h5py.File(f"{work}/merged.h5", "r") as merged, h5py.File(f"{work}/whole.h5", "r") as whole:
    for name in ("/distances", "/converged"):
        assert merged[name].dtype == whole[name].dtype, (name, merged[name].dtype, whole[name].dtype)
EOF2
# A bad value in a shard is one line naming the file and line, and leaves no output, not even a
# half-written HDF5 file. Shards that are not HDF5 or not UTF-8 text are one line as well.
sed '3s/\t[^\t]*$/\tabc/' "$WORK/thin-1.tsv" > "$WORK/word-1.tsv"
run_case "text shard with a word" 1 "invalid value 'abc' in shard .*word-1.tsv line 3: expected a number" -- \
    $merge samples --chains 6 -o "$WORK/word.h5" "$WORK/thin-0.tsv" "$WORK/word-1.tsv"
expect_one_line_error "text shard with a word"
expect_no_file "text shard with a word" "$WORK/word.h5"
cp "$WORK/thin-0.tsv" "$WORK/text-0.h5"
run_case "text shard named .h5" 1 'cannot read shard .*text-0.h5: not an HDF5 file' -- \
    $merge samples --chains 6 -o "$WORK/word.h5" "$WORK/text-0.h5" "$WORK/samples-1.h5"
expect_one_line_error "text shard named .h5"
printf '\377\376\n' > "$WORK/binary-0.tsv"
run_case "binary text shard" 1 'cannot read shard .*binary-0.tsv: not UTF-8 text' -- \
    $merge samples --chains 6 -o "$WORK/word.tsv" "$WORK/binary-0.tsv" "$WORK/thin-1.tsv"
expect_one_line_error "binary text shard"

# Merged files get the usual mode under the umask (the temporary name is created 0600), and no
# temporary file is left next to them.
(umask 022 && $merge samples --chains 6 -o "$WORK/mode.tsv" "$WORK"/thin-{0,1}.tsv) || fail "merge for the mode check failed"
[ "$(stat -c %a "$WORK/mode.tsv")" = 644 ] || fail "merged file mode $(stat -c %a "$WORK/mode.tsv"), expected 644"
[ -z "$(find "$WORK" -name '.*.tmp.*')" ] || fail "temporary files left: $(find "$WORK" -name '.*.tmp.*')"
finish
