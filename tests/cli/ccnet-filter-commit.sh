# Black-box tests of how `ccnet-filter mine` commits the outputs of a shard and how
# share/slurm/ccnet-merge.py replaces a merge. The cases: a crash or a failed rename among the
# final renames, a crash before the done marker, a done marker that no longer matches its files,
# the periodic resume state after SIGKILL, a signal with standard input among the inputs, a file
# system without flock, and merges that fail or rerun into an existing merged/.
#
# Faults come from tests/cli/fault_shim.c, preloaded into single runs (SCOREKIT_FAULT_SHIM).
. "$(dirname "$0")/lib.sh"
exe="$BIN/ccnet-filter"
shim=${SCOREKIT_FAULT_SHIM:?set SCOREKIT_FAULT_SHIM to the built fault_shim library}
merge="$SRC/share/slurm/ccnet-merge.py"

/usr/bin/python3 "$SRC/bench/ccnet/make_wet.py" --text-dir "$SRC/tests/text/lid" --out "$WORK/wet" \
    --files 4 --mb-per-file 0.2 --seed 5 2> "$WORK/make_wet.log" || fail "make_wet.py: $(cat "$WORK/make_wet.log")"
"$exe" hash "$WORK"/wet/*.gz --batch 8 -o "$WORK/hashes.bin" 2> "$WORK/hash.log" || fail "hash: $(cat "$WORK/hash.log")"
# A fastText identifier, so that the stats count fastText predictions by summation path.
/usr/bin/python3 - "$SRC/tests/text/lid" "$WORK/lid" <<'EOF' || fail "cannot train the fastText identifier"
import pathlib, random, sys
import fasttext
lines = []
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.txt")):
    lines += [f"__label__{path.stem} {line.strip()}" for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
random.Random(1).shuffle(lines)
pathlib.Path(sys.argv[2] + ".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
model = fasttext.train_supervised(sys.argv[2] + ".txt", dim=16, epoch=25, lr=0.5, minn=2, maxn=4, thread=1, verbose=0)
model.save_model(sys.argv[2] + ".bin")
EOF

options=(--hashes "$WORK/hashes.bin" --batch 8 --lid-model "$WORK/lid.bin")
inputs=(bench-0000.warc.wet.gz bench-0001.warc.wet.gz bench-0002.warc.wet.gz bench-0003.warc.wet.gz)
# mine_in DIR [mine options]: mines DIR's inputs into DIR/out with one thread, under the variables
# in run_env (the fault library, say). Documents record their input path, so every run reads
# the inputs by the same relative names.
run_env=()
mine_in() {
    local dir=$1
    shift
    (cd "$dir" && exec env "${run_env[@]}" "$exe" --threads 1 mine "${inputs[@]}" "${options[@]}" -o out "$@")
}
# copy_inputs DIR [PIPE]: DIR with the inputs, input number PIPE (0 to 3) as a named pipe.
copy_inputs() {
    local i
    mkdir -p "$1"
    for i in 0 1 2 3; do
        if [ "$i" = "${2:-}" ]; then mkfifo "$1/bench-000$i.warc.wet.gz"
        else cp -p "$WORK/wet/bench-000$i.warc.wet.gz" "$1/"; fi
    done
}

copy_inputs "$WORK/reference"
mine_in "$WORK/reference" 2> "$WORK/reference.log" || fail "reference run: $(cat "$WORK/reference.log")"
mapfile -t outputs < <(ls "$WORK/reference/out")
[ "${#outputs[@]}" -ge 3 ] || fail "reference run: expected several languages: ${outputs[*]}"
# The done marker lists every output with its length, and nothing else.
/usr/bin/python3 - "$WORK/reference/out" <<'EOF' || fail "reference run: the done marker does not list the outputs"
import json, os, sys
listed = json.load(open(sys.argv[1] + ".done"))["files"]
present = {name: os.path.getsize(os.path.join(sys.argv[1], name)) for name in os.listdir(sys.argv[1])}
if listed != present:
    sys.exit(f"listed {listed}, present {present}")
EOF
grep -Eq '"fasttext_cached_sums": [1-9]' "$WORK/reference/out.stats.json" ||
    fail "reference run: no fastText prediction from cached sums: $(grep -o '"lid": {[^}]*}' "$WORK/reference/out.stats.json")"

# same_as_reference NAME DIR: DIR/out holds the reference outputs, a done marker and no state, and
# its stats count what the reference counts (times and the resume point aside).
same_as_reference() {
    local name=$1 dir=$2 file
    [ "$(ls -A "$dir/out" | tr '\n' ' ')" = "$(ls -A "$WORK/reference/out" | tr '\n' ' ')" ] ||
        fail "$name: files $(ls -A "$dir/out" | tr '\n' ' '), expected $(ls -A "$WORK/reference/out" | tr '\n' ' ')"
    for file in "$WORK"/reference/out/*; do
        cmp -s "$file" "$dir/out/${file##*/}" || fail "$name: ${file##*/} differs from the reference run"
    done
    [ ! -e "$dir/out.resume" ] || fail "$name: the resume state is left after the shard finished"
    cmp -s <(sed 's/"command_line": "[^"]*"//' "$WORK/reference/out.done") <(sed 's/"command_line": "[^"]*"//' "$dir/out.done") ||
        fail "$name: the done marker differs from the reference run's: $(cat "$dir/out.done" 2> /dev/null)"
    /usr/bin/python3 - "$WORK/reference/out.stats.json" "$dir/out.stats.json" <<'EOF' || fail "$name: stats differ from the reference run"
import json, sys
def counts(path):
    stats = json.load(open(path))
    for field in stats["last_run_only"] + ["stage_seconds"]:
        section, _, key = field.rpartition(".")
        (stats[section] if section else stats).pop(key)
    return stats
reference, run = counts(sys.argv[1]), counts(sys.argv[2])
for key in reference:
    if reference[key] != run.get(key):
        print(key, reference[key], run.get(key), file=sys.stderr)
sys.exit(reference != run)
EOF
}

# --- The outputs of a shard commit as a unit ---
# The process dies among the renames, after an earlier run with one language: the directory then
# holds new files beside an old one, without a done marker. The rerun finishes the commit from the
# resume state and replaces the old file.
last=${outputs[-1]%.json.gz}
second=${outputs[1]}
dir="$WORK/crash"
copy_inputs "$dir"
mine_in "$dir" --lang "$last" 2> "$WORK/crash-first.err" || fail "crash: first run: $(cat "$WORK/crash-first.err")"
run_env=(LD_PRELOAD="$shim" SCOREKIT_SHIM_KILL_AT_RENAME="/$second")
run_case "killed among the renames" 137 "" -- mine_in "$dir" --force
run_env=()
[ ! -e "$dir/out.done" ] || fail "killed among the renames: a done marker beside a partial commit"
grep -qx committing "$dir/out.resume" || fail "killed among the renames: the state does not record the commit"
[ -e "$dir/out/${outputs[0]}" ] || fail "killed among the renames: the first output was not renamed: $(ls -A "$dir/out")"
run_case "rerun after a crash among the renames" 0 "resuming shard 0/1 after 4 of 4 files" -- mine_in "$dir"
same_as_reference "rerun after a crash among the renames" "$dir"

# A rename that fails: one line, no done marker, and a rerun starts over.
dir="$WORK/rename-fails"
copy_inputs "$dir"
run_env=(LD_PRELOAD="$shim" SCOREKIT_SHIM_FAIL_RENAME="/$second")
run_case "failed rename" 1 "^ccnet-filter: cannot write output file \"out/${second//./\\.}\": Permission denied; check the directory permissions$" -- \
    mine_in "$dir"
run_env=()
[ "$(grep -c '^ccnet-filter: cannot' "$WORK/err")" -eq 1 ] || fail "failed rename: expected one error line: $(cat "$WORK/err")"
[ "$(tail -n 1 "$WORK/err" | grep -c '^ccnet-filter: cannot write output file')" -eq 1 ] ||
    fail "failed rename: the error is not the last line: $(tail -n 2 "$WORK/err")"
[ ! -e "$dir/out.done" ] || fail "failed rename: a done marker after the failure"
[ ! -e "$dir/out.resume" ] || fail "failed rename: a resume state after the failure"
run_case "rerun after a failed rename" 0 "" -- mine_in "$dir"
same_as_reference "rerun after a failed rename" "$dir"

# A crash after the stats file, before the done marker: the rerun commits again.
dir="$WORK/no-marker"
copy_inputs "$dir"
run_env=(LD_PRELOAD="$shim" SCOREKIT_SHIM_KILL_AT_RENAME="out.done")
run_case "killed before the done marker" 137 "" -- mine_in "$dir"
run_env=()
[ ! -e "$dir/out.done" ] || fail "killed before the done marker: a done marker"
run_case "rerun after a crash before the done marker" 0 "resuming shard 0/1 after 4 of 4 files" -- mine_in "$dir"
same_as_reference "rerun after a crash before the done marker" "$dir"

# A done marker whose files were changed afterwards does not skip the shard.
dir="$WORK/stale-marker"
copy_inputs "$dir"
cp -pr "$WORK/reference/out" "$WORK/reference/out.done" "$WORK/reference/out.stats.json" "$dir/"
printf 'x' >> "$dir/out/${outputs[0]}"
run_case "changed output" 0 "warning: done marker does not match the outputs \"out\.done\": it lists \"out/${outputs[0]//./\\.}\" with [0-9]+ bytes, but the file has [0-9]+; the shard runs again" -- \
    mine_in "$dir"
same_as_reference "rerun after a changed output" "$dir"
rm "$dir/out/${outputs[1]}"
run_case "missing output" 0 "it lists \"out/${outputs[1]//./\\.}\", which is missing; the shard runs again" -- mine_in "$dir"
same_as_reference "rerun after a missing output" "$dir"
run_case "matching marker" 0 "is already done" -- mine_in "$dir"

# --- The periodic resume state, every file with SCOREKIT_TEST_MINE_STATE_SECONDS=0 ---
# Input 3 is a pipe that its writer holds open without writing, so the run blocks there. The
# first batch of input 2 completes inputs 0 and 1, and the state after them is written then.
# SIGKILL gives the run no chance to save another.
dir="$WORK/periodic"
copy_inputs "$dir" 3
(exec 3> "$dir/bench-0003.warc.wet.gz"; exec sleep 120) &
feeder=$!
# exec: the test kills ccnet-filter itself, not a shell around it.
(cd "$dir" && exec env SCOREKIT_TEST_MINE_STATE_SECONDS=0 "$exe" --threads 1 mine "${inputs[@]}" "${options[@]}" -o out) \
    2> "$WORK/periodic.err" &
miner=$!
state_after_two() { grep -q "^files_done"$'\t'"2\$" "$dir/out.resume" 2> /dev/null; }
signal_when KILL $miner state_after_two
kill $feeder 2> /dev/null
wait $feeder 2> /dev/null
[ "$status" -eq 137 ] || fail "SIGKILL after a periodic state: exit status $status: $(cat "$WORK/periodic.err")"
state_after_two || fail "SIGKILL after a periodic state: no state after two files: $(cat "$dir/out.resume" 2> /dev/null)"
cat "$WORK/wet/bench-0003.warc.wet.gz" > "$dir/bench-0003.warc.wet.gz" &
feeder=$!
run_case "resume from a periodic state" 0 "resuming shard 0/1 after 2 of 4 files" -- mine_in "$dir"
wait $feeder
same_as_reference "resume from a periodic state" "$dir"
grep -q '"files_done_before_resume": 2,' "$dir/out.stats.json" || fail "resume from a periodic state: no resume point in the stats"
dir="$WORK/invalid-period"
copy_inputs "$dir"
cp -pr "$WORK/reference/out" "$WORK/reference/out.done" "$WORK/reference/out.stats.json" "$dir/"
run_env=(SCOREKIT_TEST_MINE_STATE_SECONDS=soon)
run_case "invalid state period" 1 '^ccnet-filter: invalid SCOREKIT_TEST_MINE_STATE_SECONDS "soon": must be a number of seconds >= 0; unset it, because it exists for tests only$' -- \
    mine_in "$dir" --force
run_env=()
expect_one_line_error "invalid state period"
[ -e "$dir/out.done" ] || fail "invalid state period: the done marker was removed"

# --- Standard input among the inputs: a signal keeps nothing, and its line tells why ---
# The run blocks on standard input after the two files, past the point where a periodic state
# would be due.
dir="$WORK/stdin"
copy_inputs "$dir"
mkfifo "$dir/stdin"
(exec 3> "$dir/stdin"; exec sleep 120) &
holder=$!
(cd "$dir" && exec env SCOREKIT_TEST_MINE_STATE_SECONDS=0 "$exe" --threads 1 mine bench-0000.warc.wet.gz \
    bench-0001.warc.wet.gz - "${options[@]}" -o out < stdin) 2> "$WORK/stdin.err" &
miner=$!
second_file_open() { grep -q '"bench-0001.warc.wet.gz"' <(find "$dir/out" -name '.*.part' -exec zcat {} + 2> /dev/null); }
signal_when TERM $miner second_file_open
kill $holder 2> /dev/null
wait $holder 2> /dev/null
[ "$status" -eq 143 ] || fail "signal with standard input: exit status $status: $(cat "$WORK/stdin.err")"
[ "$(tail -n 1 "$WORK/stdin.err")" = "ccnet-filter: mine interrupted by a signal: standard input is among the inputs and cannot be read again, so the run cannot be resumed and its unfinished output files were removed; save the input to a file and give its path in place of - to make the run resumable" ] ||
    fail "signal with standard input: last line: $(tail -n 1 "$WORK/stdin.err")"
[ -z "$(ls -A "$dir/out" 2> /dev/null)" ] || fail "signal with standard input: files left: $(ls -A "$dir/out")"
[ ! -e "$dir/out.resume" ] || fail "signal with standard input: a resume state that no run can use"
[ ! -e "$dir/out.done" ] || fail "signal with standard input: a done marker"

# --- A file system without flock: one warning, and the run goes on ---
dir="$WORK/no-flock"
copy_inputs "$dir"
for error in 37 38 95; do
    reason=$(/usr/bin/python3 -c 'import os, sys; print(os.strerror(int(sys.argv[1])))' "$error")
    run_env=(LD_PRELOAD="$shim" SCOREKIT_SHIM_FLOCK_ERRNO="$error")
    run_case "flock errno $error" 0 "^ccnet-filter: warning: cannot lock output directory \"out\": flock failed: $reason; make sure that no other ccnet-filter mine process writes this shard$" -- \
        mine_in "$dir" --force
    run_env=()
    [ "$(grep -c 'cannot lock' "$WORK/err")" -eq 1 ] || fail "flock errno $error: expected one warning: $(cat "$WORK/err")"
    same_as_reference "flock errno $error" "$dir"
done

# --- ccnet-merge.py replaces merged/ as a unit ---
flow="$WORK/flow"
for shard in 0 1; do
    copy_inputs "$flow"
    (cd "$flow" && "$exe" -q --threads 1 mine "${inputs[@]}" "${options[@]}" --shard "$shard/2" -o "mined/{shard}") \
        2> "$WORK/flow.err" || fail "mine shard $shard/2: $(cat "$WORK/flow.err")"
done
# A file in a shard directory that its done marker does not list is no part of the shard.
printf 'stray\n' | gzip > "$flow/mined/0000/xx.json.gz"
run_case "merge" 0 "merged 2 shards" -- /usr/bin/python3 "$merge" --shards 2 "$flow"
[ ! -e "$flow/merged/xx.json.gz" ] || fail "merge: merged a file that no done marker lists"
for file in "$flow"/merged/*.json.gz; do
    cmp -s "$file" <(cat "$flow"/mined/000[01]/"${file##*/}" 2> /dev/null) || fail "merge: ${file##*/} is not the shards' concatenation"
done
listing() { (cd "$flow/merged" && ls -A | tr '\n' ' ' && cat -- * | md5sum); }
before=$(listing)
# A rerun that fails leaves merged/ as it was, and no hidden directory.
run_case_full_disk "merge rerun onto a full disk" 1 '^ccnet-merge\.py: cannot write .*: File too large; check free disk space and the directory$' -- \
    /usr/bin/python3 "$merge" --shards 2 "$flow"
expect_one_line_error "merge rerun onto a full disk"
[ "$(listing)" = "$before" ] || fail "merge rerun onto a full disk: merged/ changed: $(ls -A "$flow/merged")"
[ -z "$(find "$flow" -maxdepth 1 -name '.merged*')" ] || fail "merge rerun onto a full disk: left $(ls -A "$flow")"
# A successful rerun replaces merged/ completely.
printf 'old\n' | gzip > "$flow/merged/old.json.gz"
run_case "merge rerun" 0 "merged 2 shards" -- /usr/bin/python3 "$merge" --shards 2 "$flow"
[ "$(listing)" = "$before" ] || fail "merge rerun: merged/ is not the new merge: $(ls -A "$flow/merged")"
[ -z "$(find "$flow" -maxdepth 1 -name '.merged*')" ] || fail "merge rerun: left $(ls -A "$flow")"
# A listed file of another length than its marker records stops the merge before it writes.
printf 'x' >> "$flow/mined/0001/${outputs[0]}"
run_case "merge of a changed shard file" 1 "^ccnet-merge\.py: .*mined/0001/${outputs[0]//./\\.} has [0-9]+ bytes, but 0001\.done records [0-9]+; run mine for shard 1 again with --force$" -- \
    /usr/bin/python3 "$merge" --shards 2 "$flow"
expect_one_line_error "merge of a changed shard file"
[ "$(listing)" = "$before" ] || fail "merge of a changed shard file: merged/ changed"
finish
