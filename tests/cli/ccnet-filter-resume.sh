# Black-box tests of `ccnet-filter mine` resuming a shard that a signal stopped: SIGTERM, SIGINT
# and SIGHUP at several input files, with one and two threads, a rerun with other options or
# inputs, a state of another shard, --force, and SIGKILL. Every resumed shard must equal a run
# without interruption byte for byte, and its stats file must count every document once.
#
# The signal lands mid-shard on every machine because one input is a named pipe: mine blocks on
# it until the test has sent the signal. A later run reads the same pipe, fed from the real file.
. "$(dirname "$0")/lib.sh"
exe="$BIN/ccnet-filter"

/usr/bin/python3 "$SRC/bench/ccnet/make_wet.py" --text-dir "$SRC/tests/text/lid" --out "$WORK/wet" \
    --files 5 --mb-per-file 0.3 --seed 3 2> "$WORK/make_wet.log" || fail "make_wet.py: $(cat "$WORK/make_wet.log")"
"$exe" hash "$WORK"/wet/*.gz --batch 8 -o "$WORK/hashes.bin" 2> "$WORK/hash.log" || fail "hash: $(cat "$WORK/hash.log")"
# --batch 8 gives several batches per file. Every run reads the inputs by the same relative
# names from its own directory, because documents record their input path (cc_segment).
options=(--hashes "$WORK/hashes.bin" --batch 8)
inputs=(bench-0000.warc.wet.gz bench-0001.warc.wet.gz bench-0002.warc.wet.gz bench-0003.warc.wet.gz
        bench-0004.warc.wet.gz)
# mine_in DIR [--threads N] [mine options]: mine in DIR with its inputs, into DIR/out.
mine_in() {
    local dir=$1 threads=1
    shift
    if [ "${1:-}" = --threads ]; then threads=$2; shift 2; fi
    (cd "$dir" && exec "$exe" --threads "$threads" mine "${inputs[@]}" "${options[@]}" -o out "$@")
}
mkdir "$WORK/reference"
cp -p "$WORK"/wet/*.gz "$WORK/reference/"
mine_in "$WORK/reference" 2> "$WORK/reference.log" || fail "reference run: $(cat "$WORK/reference.log")"
[ "$(ls "$WORK/reference/out" | wc -l)" -ge 3 ] || fail "reference run: expected several languages: $(ls "$WORK/reference/out")"

# inputs DIR PIPES...: DIR holds the five inputs by the names of the reference run's files, the
# files numbered PIPES (0 to 4) as named pipes.
inputs() {
    local dir=$1 i
    shift
    mkdir -p "$dir"
    for i in 0 1 2 3 4; do
        if [[ " $* " == *" $i "* ]]; then mkfifo "$dir/bench-000$i.warc.wet.gz"
        else cp -p "$WORK/wet/bench-000$i.warc.wet.gz" "$dir/"; fi
    done
}

# hold PIPE: opens the pipe for writing in the background, writing nothing, and waits until mine
# has opened it too, so that mine is blocked on that input. The holder's pid is in $holder.
hold() {
    rm -f "$WORK/opened"
    # exec: the pipe's writing end lives in the process that the test kills.
    (exec 3> "$1"; touch "$WORK/opened"; exec sleep 120) &
    holder=$!
}
wait_opened() {
    for _ in $(seq 2400); do [ -e "$WORK/opened" ] && return 0; sleep 0.05; done
    fail "$1: mine never opened the pipe"
}

# feed DIR PIPES...: writes the real content into the pipes, for a run that reads them.
# stop_feeding ends the writers of pipes that the run did not open (those of the files that a
# resumed run skips).
feeders=()
feed() {
    local dir=$1 i
    shift
    for i in "$@"; do
        cat "$WORK/wet/bench-000$i.warc.wet.gz" > "$dir/bench-000$i.warc.wet.gz" &
        feeders+=($!)
    done
}
stop_feeding() {
    [ ${#feeders[@]} -eq 0 ] || kill "${feeders[@]}" 2> /dev/null
    [ ${#feeders[@]} -eq 0 ] || wait "${feeders[@]}" 2> /dev/null
    feeders=()
}

# interrupt NAME SIGNAL THREADS DIR PIPE [FED...]: runs mine on DIR with PIPE held (after the pipes
# FED are fed), sends SIGNAL once mine is blocked on PIPE, and checks the exit status and the line.
interrupt() {
    local name=$1 signal=$2 threads=$3 dir=$4 pipe=$5 expected
    shift 5
    feed "$dir" "$@"
    hold "$dir/bench-000$pipe.warc.wet.gz"
    # bash -c execs ccnet-filter, so that the signal goes to ccnet-filter itself.
    bash -c 'cd "$0" && exec "$@"' "$dir" "$exe" --threads "$threads" mine "${inputs[@]}" "${options[@]}" -o out \
        2> "$WORK/$name.err" &
    local mine=$!
    wait_opened "$name"
    sleep 0.2
    kill "-$signal" "$mine"
    kill "$holder"
    wait "$mine" 2> /dev/null
    status=$?
    wait "$holder" 2> /dev/null
    stop_feeding
    case $signal in INT) expected=130 ;; TERM) expected=143 ;; HUP) expected=129 ;; KILL) expected=137 ;; esac
    [ "$status" -eq "$expected" ] || fail "$name: exit status $status, expected $expected: $(cat "$WORK/$name.err")"
    [ "$signal" = KILL ] && return
    grep -Eq "^ccnet-filter: mine interrupted after [0-9] of 5 input files of shard 0/1: their output is kept with the resume state \"out\.resume\"; run the same command again to go on from there \(--force starts the shard over\)$" "$WORK/$name.err" ||
        fail "$name: no line saying how to resume: $(cat "$WORK/$name.err")"
    [ "$(tail -n 1 "$WORK/$name.err" | grep -c 'mine interrupted')" -eq 1 ] || fail "$name: the last line is not the interruption: $(tail -n 2 "$WORK/$name.err")"
    [ -s "$dir/out.resume" ] || fail "$name: no resume state"
    [ ! -e "$dir/out.done" ] || fail "$name: a done marker after the signal"
    [ -z "$(find "$dir/out" -name '*.json.gz' ! -name '.*')" ] || fail "$name: final outputs after the signal: $(ls "$dir/out")"
}

# resume NAME THREADS DIR PIPES...: reruns mine with every pipe fed; expects the outputs and the
# stats of the reference run and nothing else in the directory.
resume() {
    local name=$1 threads=$2 dir=$3
    shift 3
    feed "$dir" "$@"
    mine_in "$dir" --threads "$threads" 2> "$WORK/$name.err"
    status=$?
    stop_feeding
    [ "$status" -eq 0 ] || fail "$name: exit status $status: $(cat "$WORK/$name.err")"
    expect_same_as_reference "$name" "$dir"
}

expect_same_as_reference() {
    local name=$1 dir=$2 file
    [ "$(ls -A "$dir/out" | tr '\n' ' ')" = "$(ls -A "$WORK/reference/out" | tr '\n' ' ')" ] ||
        fail "$name: files $(ls -A "$dir/out" | tr '\n' ' '), expected $(ls -A "$WORK/reference/out" | tr '\n' ' ')"
    for file in "$WORK"/reference/out/*; do
        cmp -s "$file" "$dir/out/${file##*/}" || fail "$name: ${file##*/} differs from the run without interruption"
    done
    [ ! -e "$dir/out.resume" ] || fail "$name: the resume state is left after the shard finished"
    [ -e "$dir/out.done" ] || fail "$name: no done marker"
    # Every count but the times and the resume point.
    /usr/bin/python3 - "$WORK/reference/out.stats.json" "$dir/out.stats.json" <<'EOF' || fail "$name: stats differ from the run without interruption"
import json, sys
def counts(path):
    stats = json.load(open(path))
    for key in ("wall_seconds", "cpu_seconds", "peak_rss_bytes", "stage_seconds"):
        stats.pop(key)
    stats["read"].pop("files_done_before_resume")
    return stats
reference, resumed = counts(sys.argv[1]), counts(sys.argv[2])
if reference != resumed:
    for key in reference:
        if reference[key] != resumed.get(key):
            print(key, reference[key], resumed.get(key), file=sys.stderr)
    sys.exit(1)
EOF
}

resumed_after() {
    grep -q "resuming shard 0/1 after $2 of 5 files" "$WORK/$1.err" || fail "$1: did not resume after $2 files: $(cat "$WORK/$1.err")"
    grep -q "\"files_done_before_resume\": $2," "$WORK/$3/out.stats.json" || fail "$1: stats do not record the resume point"
}

# SIGTERM and SIGINT at the second and the fourth file, with one and two threads; SIGHUP once.
# A shard stopped with two threads resumes with one, and the other way round: the output does not
# depend on the thread count.
n=0
for threads in 1 2; do
    for signal in TERM INT; do
        for pipe in 1 3; do
            n=$((n + 1))
            dir="$WORK/case$n"
            inputs "$dir" "$pipe"
            interrupt "$signal at file $pipe, $threads threads" "$signal" "$threads" "$dir" "$pipe"
            done_files=$(sed -n 's/^files_done\t//p' "$dir/out.resume")
            # The files before the pipe are done unless their last batches were still in flight.
            [ "${done_files:-9}" -le "$pipe" ] || fail "$signal at file $pipe: state records $done_files files done"
            resume "resume $n" $((3 - threads)) "$dir" "$pipe"
            resumed_after "resume $n" "$done_files" "case$n"
        done
    done
done
inputs "$WORK/hup" 2
interrupt "SIGHUP" HUP 2 "$WORK/hup" 2
resume "resume after SIGHUP" 2 "$WORK/hup" 2

# A second stop of a resumed run, then a third run.
inputs "$WORK/twice" 1 3
interrupt "first stop" TERM 2 "$WORK/twice" 1
interrupt "second stop" TERM 2 "$WORK/twice" 3 1
resume "after two stops" 2 "$WORK/twice" 1 3

# A rerun with another option, another input or another shard refuses the state in one line and
# leaves it and the files as they are; --force starts over.
dir="$WORK/changed"
inputs "$dir" 3
interrupt "stop before changes" TERM 1 "$dir" 3
before=$(cd "$dir" && ls -lA --time-style=+%s.%N out out.resume | md5sum)
run_case "other --lang" 1 '^ccnet-filter: cannot resume shard "out\.resume": an interrupted run with other settings or inputs wrote it \(--lang:  then, en now\); rerun that run.s command, or give --force to start the shard over$' -- \
    mine_in "$dir" --lang en
expect_one_line_error "other --lang"
grep -q -- '--lang:  then, en now' "$WORK/err" || fail "other --lang: the line does not name the option: $(cat "$WORK/err")"
run_case "other --compression" 1 '\(--compression: 6 then, 5 now\)' -- \
    mine_in "$dir" --compression 5
touch -d '2001-01-01' "$dir/bench-0001.warc.wet.gz"
run_case "changed input" 1 '\(input 2 "bench-0001\.warc\.wet\.gz": size [0-9]+, modified [0-9.]+ then, size [0-9]+, modified 978307200\.0 now\)' -- \
    mine_in "$dir"
touch -r "$WORK/wet/bench-0001.warc.wet.gz" "$dir/bench-0001.warc.wet.gz"
touch -d '2001-01-01' "$WORK/hashes.bin"
run_case "changed hash file" 1 '\(hash file ".*/hashes\.bin": size [0-9]+, modified [0-9.]+ then, size [0-9]+, modified 978307200\.0 now\)' -- \
    mine_in "$dir"
touch -r "$WORK/wet/bench-0001.warc.wet.gz" "$WORK/hashes.bin"
run_case "another input list" 1 '\(number of inputs: 5 then, 4 now\)' -- \
    bash -c 'cd "$0" && exec "$@"' "$dir" "$exe" mine "${inputs[@]:0:4}" "${options[@]}" -o out
run_case "state of another shard" 1 '\(shard: 0/1 then, 1/2 now\)' -- \
    mine_in "$dir" --shard 1/2
after=$(cd "$dir" && ls -lA --time-style=+%s.%N out out.resume | md5sum)
[ "$before" = "$after" ] || fail "refused resumes changed the state or the files: $(ls -lA "$dir/out")"
# The thread count is no part of the fingerprint.
touch -r "$WORK/wet/bench-0001.warc.wet.gz" "$dir/bench-0001.warc.wet.gz"
feed "$dir" 3
mine_in "$dir" --threads 2 --force 2> "$WORK/force.err" || fail "--force: $(cat "$WORK/force.err")"
stop_feeding
grep -q "resuming" "$WORK/force.err" && fail "--force resumed: $(cat "$WORK/force.err")"
grep -q '"files_done_before_resume": 0,' "$dir/out.stats.json" || fail "--force: stats record a resume"
expect_same_as_reference "--force" "$dir"

# A damaged state is one line, and --force goes past it.
dir="$WORK/damaged"
inputs "$dir" 2
interrupt "stop before damage" TERM 1 "$dir" 2
head -n 5 "$dir/out.resume" > "$dir/cut" && mv "$dir/cut" "$dir/out.resume"
feed "$dir" 2
run_case "cut state" 1 '^ccnet-filter: invalid resume state "out\.resume": it ends before its "end" line; remove it, or give --force to start the shard over$' -- \
    mine_in "$dir"
expect_one_line_error "cut state"
mine_in "$dir" --force 2> "$WORK/force2.err" || fail "--force past a damaged state: $(cat "$WORK/force2.err")"
stop_feeding
expect_same_as_reference "--force past a damaged state" "$dir"

# SIGKILL leaves no state to trust: the shard starts over, and the half-written files of the
# killed run are replaced. After SIGTERM, a resumed run killed later (its files longer than the
# state says) resumes from the state again.
dir="$WORK/kill"
inputs "$dir" 3
interrupt "SIGKILL" KILL 2 "$dir" 3
[ ! -e "$dir/out.resume" ] || fail "SIGKILL: a resume state without a signal handler"
[ -n "$(find "$dir/out" -name '.*.part')" ] || fail "SIGKILL: expected the killed run's files: $(ls -A "$dir/out")"
resume "after SIGKILL" 1 "$dir" 3
grep -q resuming "$WORK/after SIGKILL.err" && fail "after SIGKILL: resumed without a state"
dir="$WORK/term-kill"
inputs "$dir" 1 3
interrupt "SIGTERM before SIGKILL" TERM 1 "$dir" 1
state=$(cat "$dir/out.resume")
interrupt "SIGKILL after a resume" KILL 2 "$dir" 3 1
[ "$state" = "$(cat "$dir/out.resume")" ] || fail "SIGKILL after a resume: the state changed"
resume "resume after SIGKILL" 2 "$dir" 1 3
resumed_after "resume after SIGKILL" "$(echo "$state" | sed -n 's/^files_done\t//p')" term-kill

# Files that a state records but that are gone: a warning, and the shard starts over.
dir="$WORK/gone"
inputs "$dir" 3
interrupt "stop before removal" TERM 2 "$dir" 3
find "$dir/out" -name '.*.part' -delete
resume "files gone" 2 "$dir" 3
grep -q 'warning: cannot resume shard "out\.resume": its output files are missing or shorter than it records; the shard starts over' \
    "$WORK/files gone.err" || fail "files gone: no warning: $(cat "$WORK/files gone.err")"
finish
