# Helpers for black-box tests of the built executables. Source this file; each check prints a
# line on failure and the script exits non-zero at the end if any check failed.
#   SCOREKIT_BIN     directory with the built tools
#   SCOREKIT_SOURCE  source tree (for share/data)
set -u
BIN=${SCOREKIT_BIN:?set SCOREKIT_BIN to the directory with the built tools}
SRC=${SCOREKIT_SOURCE:?set SCOREKIT_SOURCE to the source tree}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/scorekit-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILURES=0
export OPENBLAS_NUM_THREADS=1
# Tests that run inside a SLURM job (a CI job, or an array task) must not inherit its variables:
# the tools log an extra line for them, and ccnet-filter takes its shard from them.
for variable in $(compgen -e | grep '^SLURM_'); do
    [ "$variable" = SLURM_CONF ] || unset "$variable"
done

# torch_layer_built: whether the build has the LibTorch layer (libscorekit_score) beside the core
# library. A build with -DSCOREKIT_WITH_TORCH=OFF has neither it nor score-train.
torch_layer_built() {
    ls "$BIN"/../lib/libscorekit_score.so* > /dev/null 2>&1
}

fail() {
    echo "FAIL: $*" >&2
    FAILURES=$((FAILURES + 1))
}

# run_case NAME EXPECTED_STATUS STDERR_REGEX -- COMMAND...
# Runs COMMAND with stdin from /dev/null, checks the exit status and that stderr matches the
# extended regex (empty regex: no check). Leaves stdout in $WORK/out and stderr in $WORK/err.
run_case() {
    local name=$1 expected=$2 pattern=$3
    shift 4
    "$@" < /dev/null > "$WORK/out" 2> "$WORK/err"
    local status=$?
    if [ "$status" -ne "$expected" ]; then
        fail "$name: exit status $status, expected $expected; stderr: $(head -c 400 "$WORK/err")"
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$WORK/err"; then
        fail "$name: stderr does not match /$pattern/: $(head -c 400 "$WORK/err")"
    fi
}

# Same as run_case, with stdin from a file.
run_case_stdin() {
    local name=$1 expected=$2 pattern=$3 input=$4
    shift 5
    "$@" < "$input" > "$WORK/out" 2> "$WORK/err"
    local status=$?
    if [ "$status" -ne "$expected" ]; then
        fail "$name: exit status $status, expected $expected; stderr: $(head -c 400 "$WORK/err")"
    elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$WORK/err"; then
        fail "$name: stderr does not match /$pattern/: $(head -c 400 "$WORK/err")"
    fi
}

# run_case_full_disk NAME KIB STDERR_REGEX -- COMMAND...
# Runs COMMAND as run_case does, expecting exit status 1, with files limited to KIB KiB
# (RLIMIT_FSIZE). A write beyond the limit then fails with EFBIG the way a write to a full disk
# fails with ENOSPC, without needing root for a small tmpfs. SIGXFSZ keeps its default action
# here, as in a user's shell or a SLURM job with a file size limit. The tool must ignore it
# itself, because otherwise the signal kills it (status 153) without an error line.
run_case_full_disk() {
    local name=$1 limit=$2 pattern=$3
    shift 4
    # shellcheck disable=SC2016
    run_case "$name" 1 "$pattern" -- \
        bash -c 'trap - XFSZ && ulimit -f "$0" || { echo "cannot set ulimit -f $0" >&2; exit 99; }; exec "$@"' \
        "$limit" "$@"
}

# An error run prints exactly one line on stderr.
expect_one_line_error() {
    local name=$1 lines
    lines=$(wc -l < "$WORK/err")
    [ "$lines" -eq 1 ] || fail "$name: expected one stderr line, got $lines: $(head -c 400 "$WORK/err")"
}

# signal_when SIGNAL PID TEST...: runs the test command TEST every 0.05 s, for up to 120 s, until
# it succeeds, then sends SIGNAL to the background job PID and waits for it. Sets `status` to the
# job's exit status. The limit is generous, so that a machine loaded by a parallel ctest and
# other builds does not reach it before the state it waits for.
signal_when() {
    local signal=$1 pid=$2 reached=0
    shift 2
    for _ in $(seq 2400); do "$@" && { reached=1; break; }; sleep 0.05; done
    [ $reached = 1 ] || echo "signal_when: '$*' did not hold within 120 s; sending SIG$signal anyway" >&2
    kill "-$signal" "$pid"
    wait "$pid"
    status=$?
}

expect_no_file() {
    local name=$1 path=$2
    [ ! -e "$path" ] || fail "$name: output $path exists after a failed run"
    # No temporary output may be left behind either.
    local leftovers
    leftovers=$(find "$(dirname "$path")" -maxdepth 1 -name ".$(basename "$path").tmp.*" | head -1)
    [ -z "$leftovers" ] || fail "$name: temporary file $leftovers left behind"
}

expect_file() {
    local name=$1 path=$2
    [ -s "$path" ] || fail "$name: expected output $path"
}

# expect_clean_man_page TOOL: man/TOOL.1 formats without groff warnings. groff reads a text line
# that starts with "." as a request and drops it without output, so a literal dot needs "\&.".
expect_clean_man_page() {
    local warnings
    warnings=$(groff -man -Tutf8 -ww -z "$SRC/man/$1.1" 2>&1) || fail "man/$1.1: groff failed: $warnings"
    [ -z "$warnings" ] || fail "man/$1.1: groff warnings: $warnings"
}

finish() {
    if [ "$FAILURES" -ne 0 ]; then
        echo "$FAILURES check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed"
}
