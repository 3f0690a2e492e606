# Black-box tests of the tools in a hostile environment. The cases: HDF5 files that are locked,
# linked to missing files or larger than memory, and models and checkpoints given as pipes. Then
# very long output names, closed pipes on standard output with SIGPIPE ignored, and a full disk
# (a small tmpfs, as root). The merge scripts get the same faults.
. "$(dirname "$0")/lib.sh"
L="$BIN/langevin"
ME="$BIN/metric-eval"
CF="$BIN/ccnet-filter"
MERGE="$SRC/share/slurm/merge-shards.py"
CCMERGE="$SRC/share/slurm/ccnet-merge.py"
gauss='gaussian:mean=0,0;cov=1'
FULL="$WORK/full"
# The tmpfs is unmounted on every exit path, before lib.sh's directory removal would fail on it.
trap 'mountpoint -q "$FULL" && umount "$FULL"; rm -rf "$WORK"' EXIT

"$L" -m "$gauss" --chains 50 --steps 3 -q -o "$WORK/points.h5" || fail "setup: langevin -o points.h5 failed"
"$L" -m "$gauss" --chains 50 --steps 3 -q -o "$WORK/points.tsv" || fail "setup: langevin -o points.tsv failed"
# shards NAME CHAINS: the two shards NAME-0.tsv and NAME-1.tsv of a langevin run, which record
# their place, so that the merges print no warning about them.
shards() {
    for shard in 0 1; do
        "$L" -m "$gauss" --chains "$2" --steps 3 -q --shard $shard/2 -o "$WORK/$1-$shard.tsv" ||
            fail "setup: langevin --shard $shard/2 failed"
    done
}
shards small 50
shards big 20000
shards large 400000

# --- HDF5 inputs that are not what they seem ---
# An HDF5 file that another process has open for writing fails as locked, not as damaged, and is
# not replaced as an output. h5py keeps the lock until a line arrives on the FIFO.
cp "$WORK/points.h5" "$WORK/locked.h5"
mkfifo "$WORK/release"
/usr/bin/python3 -c '
import h5py, sys
f = h5py.File(sys.argv[1], "a")
open(sys.argv[2] + ".ready", "w").close()
open(sys.argv[2]).read()
' "$WORK/locked.h5" "$WORK/release" &
writer=$!
# h5py takes seconds to import on a loaded machine, so the wait allows up to 120 s.
for _ in $(seq 2400); do [ -e "$WORK/release.ready" ] && break; sleep 0.05; done
[ -e "$WORK/release.ready" ] || fail "locked input: the h5py writer did not open the file within 120 s"
run_case "locked input" 1 'cannot read HDF5 file ".*locked\.h5": another process has it open for writing' -- \
    "$ME" -m "$gauss" "$WORK/locked.h5:/samples"
expect_one_line_error "locked input"
run_case "locked output" 1 'cannot write output ".*locked\.h5": another process has the file open for writing' -- \
    "$L" -m "$gauss" --chains 4 --steps 2 -o "$WORK/locked.h5"
echo > "$WORK/release"
wait "$writer"
run_case "unlocked input" 0 '' -- "$ME" -m "$gauss" "$WORK/locked.h5:/samples"

# An external link and a virtual dataset whose file is missing name that file. HDF5 itself reads
# the virtual dataset's fill values without an error.
/usr/bin/python3 - "$WORK" <<'EOF'
import h5py, numpy, sys
work = sys.argv[1]
with h5py.File(f"{work}/external.h5", "w") as f:
    f["samples"] = h5py.ExternalLink("missing.h5", "/samples")
layout = h5py.VirtualLayout(shape=(10, 2), dtype="f8")
layout[:] = h5py.VirtualSource("missing.h5", "samples", shape=(10, 2))
with h5py.File(f"{work}/virtual.h5", "w") as f:
    f.create_virtual_dataset("samples", layout, fillvalue=numpy.nan)
# Never written, so the file stays small: 1.6 TB of declared doubles.
with h5py.File(f"{work}/huge.h5", "w") as f:
    f.create_dataset("samples", shape=(10**9, 200), dtype="f8", chunks=(1000, 2))
EOF
run_case "external link to a missing file" 1 'external\.h5:/samples": it is an external link to "missing\.h5:/samples"' -- \
    "$ME" -m "$gauss" "$WORK/external.h5:/samples"
expect_one_line_error "external link to a missing file"
run_case "virtual dataset without its source" 1 'virtual\.h5:/samples": it is a virtual dataset whose source file "missing\.h5" is missing' -- \
    "$ME" -m "$gauss" "$WORK/virtual.h5:/samples"
run_case "dataset larger than memory" 1 'huge\.h5:/samples": its 200000000000 values take 1\.455 TiB as doubles, more than the .* of memory available' -- \
    "$L" -m "$gauss" --chains 4 --steps 2 --init "$WORK/huge.h5:/samples"
expect_one_line_error "dataset larger than memory"

# --- Pipes where a file is read by seeking ---
# A model or checkpoint given as a pipe fails at once. A FIFO without a writer used to block in open().
mkfifo "$WORK/fifo"
run_case "model from a pipe" 1 'cannot read model "/dev/fd/[0-9]+": it is a pipe or device' -- \
    bash -c '"$0" -m <(cat "$1") --chains 2 --steps 2' "$L" "$WORK/points.h5"
run_case "model from a FIFO" 1 'cannot read model ".*fifo": it is a pipe or device' -- \
    timeout 20 "$L" -m "$WORK/fifo" --chains 2 --steps 2
run_case "fim model from a FIFO" 1 'cannot read model ".*fifo": it is a pipe or device' -- \
    timeout 20 "$BIN/fim" -m "$WORK/fifo" -e exact -i "$WORK/points.tsv"
run_case "checkpoint from a FIFO" 1 'cannot read HDF5 file ".*fifo": it is a pipe or device' -- \
    timeout 20 "$L" -m "$gauss" --chains 2 --steps 2 --resume "$WORK/fifo" -o "$WORK/resumed.tsv"

# --- Long names ---
# A name of 250 bytes is valid, although its temporary name would not be. A name of 256 bytes
# fails before the work, not at the final rename.
long=$(printf 'n%.0s' $(seq 247))
run_case "output name of 250 bytes" 0 '' -- "$L" -m "$gauss" --chains 4 --steps 2 -o "$WORK/$long.h5" --checkpoint "$WORK/c.ckpt"
expect_file "output name of 250 bytes" "$WORK/$long.h5"
run_case "output name of 256 bytes" 1 'its file name has 256 bytes, more than the 255' -- \
    "$L" -m "$gauss" --chains 4 --steps 2 -o "$WORK/${long}nnnnnn.h5"
run_case "merged output name of 250 bytes" 0 '' -- /usr/bin/python3 "$MERGE" samples --chains 50 -o "$WORK/$long.tsv" "$WORK"/small-{0,1}.tsv
cmp -s "$WORK/$long.tsv" "$WORK/points.tsv" || fail "merged output name of 250 bytes: output differs from one run's"

# --- Closed pipes with SIGPIPE ignored (as some job runners start their children) ---
# The tools end quietly with 141, as the default SIGPIPE action ends them, and so does the merge.
closed_pipe() {
    local name=$1
    shift
    # shellcheck disable=SC2016
    bash -c 'trap "" PIPE; "$@" 2> "$0" | head -1 > /dev/null; exit "${PIPESTATUS[0]}"' "$WORK/pipe.err" "$@"
    local status=$?
    [ "$status" -eq 141 ] || fail "$name: exit status $status, expected 141: $(head -c 300 "$WORK/pipe.err")"
    grep -v ': done: \|warning\|grams\|estimating\|sampling' "$WORK/pipe.err" | grep -q . &&
        fail "$name: stderr: $(head -c 300 "$WORK/pipe.err")"
}
closed_pipe "langevin into a closed pipe" "$L" -m "$gauss" --chains 20000 --steps 2
# metric-eval with its points from a file and from standard input.
"$L" -m "$gauss" --chains 20000 --steps 2 -q -o "$WORK/many.tsv" || fail "setup: langevin -o many.tsv failed"
closed_pipe "metric-eval into a closed pipe" "$ME" -m "$gauss" --score --logdet "$WORK/many.tsv"
closed_pipe "metric-eval points from a pipe into a closed pipe" bash -c '"$0" -m "$1" --logdet < "$2"' "$ME" "$gauss" "$WORK/many.tsv"
closed_pipe "merge-shards.py into a closed pipe" /usr/bin/python3 "$MERGE" samples --chains 20000 "$WORK"/big-{0,1}.tsv
if [ -x "$CF" ]; then
    # Random words give an ARPA file of several MiB, far more than a pipe's buffer.
    awk 'BEGIN { srand(3); for (s = 0; s < 20000; s++) { l = ""; for (k = 0; k < 12; k++) l = l "w" int(rand() * 2000) " "; print l } }' \
        > "$WORK/corpus.txt"
    closed_pipe "train-lm into a closed pipe" "$CF" train-lm "$WORK/corpus.txt" --order 3 --discount-fallback -o -
fi

# --- The merge scripts: one line per error, and no temporary file left ---
run_case "merge into a missing directory" 1 'merge-shards.py: cannot write .*/nodir/m\.tsv: No such file or directory' -- \
    /usr/bin/python3 "$MERGE" samples --chains 50 -o "$WORK/nodir/m.tsv" "$WORK"/small-{0,1}.tsv
expect_one_line_error "merge into a missing directory"
mkdir "$WORK/adir"
run_case "merge onto a directory" 1 'cannot write .*adir: it is a directory' -- \
    /usr/bin/python3 "$MERGE" samples --chains 50 -o "$WORK/adir" "$WORK"/small-{0,1}.tsv
run_case "merge to a full device" 1 'cannot write standard output: No space left on device' -- \
    bash -c '/usr/bin/python3 "$0" samples --chains 50 "$1" "$2" > /dev/full' "$MERGE" "$WORK"/small-{0,1}.tsv
expect_one_line_error "merge to a full device"
run_case "merge a shard directory" 1 'cannot read shard .*adir: it is a directory' -- \
    /usr/bin/python3 "$MERGE" samples --chains 50 "$WORK/adir"
run_case "merge a shard from a pipe" 0 '' -- \
    bash -c '/usr/bin/python3 "$0" samples --chains 50 <(cat "$1") "$2"' "$MERGE" "$WORK"/small-{0,1}.tsv
cp "$WORK/points.tsv" "$WORK/unreadable.tsv"
chmod 000 "$WORK/unreadable.tsv"
chmod 755 "$WORK"
run_case "merge an unreadable shard" 1 'cannot read .*unreadable\.tsv: Permission denied' -- \
    setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$MERGE" samples --chains 50 "$WORK/unreadable.tsv"
expect_one_line_error "merge an unreadable shard"
# held_merge ARGS... &: merge-shards.py with ARGS, held for 60 s after it writes its temporary
# file, so that the file exists until a signal comes, however slow the machine (polling a fast
# merge can miss the file). It replaces the background subshell, so $! is the merge's process id.
held_merge() {
    exec /usr/bin/python3 -c 'import pathlib, runpy, sys, time
write_text = pathlib.Path.write_text
def write_and_wait(self, *args, **kwargs):
    result = write_text(self, *args, **kwargs)
    time.sleep(60)
    return result
pathlib.Path.write_text = write_and_wait
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' "$MERGE" "$@"
}
# SIGTERM removes the temporary output. The next merge removes the temporary file of a killed
# merge (a process id that no longer runs) and keeps that of a live process.
mkdir "$WORK/term"
held_merge samples --chains 400000 -o "$WORK/term/m.tsv" \
    "$WORK"/large-{0,1}.tsv 2> "$WORK/term.err" &
merging() { compgen -G "$WORK/term/.m.tsv.tmp.*" > /dev/null; }
signal_when TERM $! merging
[ "$status" -eq 143 ] || fail "merge SIGTERM: exit status $status, expected 143: $(cat "$WORK/term.err")"
grep -q 'interrupted by SIGTERM' "$WORK/term.err" || fail "merge SIGTERM: stderr: $(cat "$WORK/term.err")"
[ -z "$(ls -A "$WORK/term")" ] || fail "merge SIGTERM: files left behind: $(ls -A "$WORK/term")"
# Temporary names carry the host name with characters other than letters, digits, '-', '_' and
# '.' replaced by '_', cut to 64 characters.
host=$(hostname | sed 's/[^A-Za-z0-9._-]/_/g' | cut -c1-64)
sleep 1000 &
live=$!
touch "$WORK/term/.m.tsv.tmp.$host.999999999.Abc123" "$WORK/term/.m.tsv.tmp.$host.$live.Abc123" \
    "$WORK/term/.m.tsv.tmp.$host.999999998.abcdefgh"
run_case "merge after a killed merge" 0 'removed stale temporary file .*999999999' -- \
    /usr/bin/python3 "$MERGE" samples --chains 50 -o "$WORK/term/m.tsv" "$WORK"/small-{0,1}.tsv
# A suffix of 8 characters is not one of the scheme's 6, so that file is no temporary name.
[ "$(ls -A "$WORK/term" | tr '\n' ' ')" = ".m.tsv.tmp.$host.$live.Abc123 .m.tsv.tmp.$host.999999998.abcdefgh m.tsv " ] ||
    fail "merge after a killed merge: expected the live process's file, the other name and the output: $(ls -A "$WORK/term")"
kill "$live"
# The merge scripts and the C++ tools name temporary files alike, so either removes what the
# other left when SIGKILL ended it. A merge killed while it writes m.tsv leaves its temporary file,
# and langevin, writing the same output, removes it.
mkdir "$WORK/cross"
held_merge samples --chains 50 -o "$WORK/cross/m.tsv" \
    "$WORK"/small-{0,1}.tsv 2> /dev/null &
killed=$!
merge_temporary() { compgen -G "$WORK/cross/.m.tsv.tmp.*" > /dev/null; }
signal_when KILL $killed merge_temporary
ls -A "$WORK/cross" | grep -Eqx "\.m\.tsv\.tmp\.$host\.$killed\.[A-Za-z0-9]{6}" ||
    fail "killed merge: its temporary name does not follow the scheme: $(ls -A "$WORK/cross")"
run_case "langevin after a killed merge" 0 "removed stale temporary file \".*cross/\.m\.tsv\.tmp\.$host\.$killed\.[A-Za-z0-9]{6}\"" -- \
    "$L" -m "$gauss" --chains 50 --steps 3 -o "$WORK/cross/m.tsv"
[ "$(ls -A "$WORK/cross")" = "m.tsv" ] || fail "langevin after a killed merge: left $(ls -A "$WORK/cross")"
# ccnet-filter train-classifier creates its model's temporary file at the start. Killed, it
# leaves that file, which a merge writing the same output removes.
if [ -x "$CF" ]; then
    awk 'BEGIN { for (d = 0; d < 3000; d++) print "history science museum river " d }' > "$WORK/cross-wiki.txt"
    awk 'BEGIN { for (d = 0; d < 3000; d++) print "cheap casino offer cart " d }' > "$WORK/cross-cc.txt"
    "$CF" -q train-classifier --wiki "$WORK/cross-wiki.txt" --cc "$WORK/cross-cc.txt" --dim 4 --epoch 100000 \
        -o "$WORK/cross/model.bin" 2> /dev/null &
    killed=$!
    model_temporary() { compgen -G "$WORK/cross/.model.bin.tmp.*" > /dev/null; }
    signal_when KILL $killed model_temporary
    run_case "merge after a killed train-classifier" 0 "removed stale temporary file .*cross/\.model\.bin\.tmp\.$host\.$killed\.[A-Za-z0-9]{6}: process $killed" -- \
        /usr/bin/python3 "$MERGE" samples --chains 50 -o "$WORK/cross/model.bin" "$WORK"/small-{0,1}.tsv
    [ -z "$(find "$WORK/cross" -name ".model.bin.tmp.*")" ] ||
        fail "merge after a killed train-classifier: left $(ls -A "$WORK/cross")"
fi

# ccnet-merge.py: a damaged done marker is one line, not a traceback.
mkdir -p "$WORK/flow/mined/0000"
printf '{"shard": 0,' > "$WORK/flow/mined/0000.done"
run_case "ccnet merge with a damaged marker" 1 'ccnet-merge.py: invalid JSON in .*0000\.done' -- \
    /usr/bin/python3 "$CCMERGE" --shards 1 "$WORK/flow"
expect_one_line_error "ccnet merge with a damaged marker"

# --- A full disk: a 64 KiB tmpfs, which only root can mount ---
if [ "$(id -u)" -ne 0 ]; then
    echo "skipping the full-disk cases: mounting a tmpfs needs root"
    finish
    exit
fi
mkdir "$FULL"
mount -t tmpfs -o size=64k tmpfs "$FULL" || { fail "mount -t tmpfs failed"; finish; exit; }
run_case "merge onto a full disk" 1 'merge-shards.py: cannot write .*full/m\.tsv: No space left on device' -- \
    /usr/bin/python3 "$MERGE" samples --chains 20000 -o "$FULL/m.tsv" "$WORK"/big-{0,1}.tsv
expect_one_line_error "merge onto a full disk"
expect_no_file "merge onto a full disk" "$FULL/m.tsv"
if [ -x "$CF" ]; then
    # The hash file's error names the output, not its temporary file.
    dd if=/dev/zero of="$FULL/filler" bs=1k count=62 status=none
    run_case "hash onto a full disk" 1 'cannot write hash file ".*full/0000\.bin": No space left on device' -- \
        "$CF" -q hash --min-len 0 "$SRC/tests/text/corpora/sample.warc.txt" -o "$FULL/0000.bin"
    expect_no_file "hash onto a full disk" "$FULL/0000.bin"
    # mine creates its output directories; on a full disk it removes them with its temporary files.
    run_case "mine onto a full disk" 1 'cannot write ".*full/mined/0000/es\.json\.gz": No space left on device' -- \
        "$CF" -q mine --no-dedup --min-len 0 "$SRC/tests/text/corpora/whirlwind.warc.wet.gz" -o "$FULL/mined/0000"
    expect_one_line_error "mine onto a full disk"
    [ "$(ls -A "$FULL")" = "filler" ] || fail "mine onto a full disk: left $(ls -A "$FULL")"
    rm -f "$FULL/filler"
    # fastText writes its model without checking the writes: a model cut by the full disk must not
    # appear under the output's name. The training text (about 35 KiB) fits, the model with word
    # bigrams and their 10,000 buckets (4 MB) does not.
    awk 'BEGIN { srand(1); for (d = 0; d < 150; d++) { l = ""; for (k = 0; k < 4; k++) l = l "history science museum river "; print l } }' \
        > "$WORK/wiki.txt"
    awk 'BEGIN { srand(2); for (d = 0; d < 150; d++) { l = ""; for (k = 0; k < 4; k++) l = l "cheap casino offer cart "; print l } }' \
        > "$WORK/cc.txt"
    run_case "train-classifier onto a full disk" 1 'cannot write fastText model ".*full/ref\.bin": the saved file is incomplete' -- \
        "$CF" -q train-classifier --wiki "$WORK/wiki.txt" --cc "$WORK/cc.txt" --word-ngrams 2 --bucket 10000 \
        -o "$FULL/ref.bin"
    expect_one_line_error "train-classifier onto a full disk"
    expect_no_file "train-classifier onto a full disk" "$FULL/ref.bin"
fi
umount "$FULL"
finish
