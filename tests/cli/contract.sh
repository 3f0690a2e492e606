# The --help/--version contract every tool keeps: help on stdout with exit 0, version on
# stdout with exit 0, an unknown option is a usage error (exit 2) with one line on stderr.
. "$(dirname "$0")/lib.sh"
tool=${1:?usage: contract.sh TOOL}
exe="$BIN/$tool"

run_case "$tool --help" 0 "" -- "$exe" --help
grep -q "Usage" "$WORK/out" || fail "$tool --help: no usage on stdout"
[ ! -s "$WORK/err" ] || fail "$tool --help: wrote to stderr"

run_case "$tool --version" 0 "" -- "$exe" --version
grep -Eq "^$tool [0-9]+\.[0-9]+\.[0-9]+" "$WORK/out" || fail "$tool --version: got '$(cat "$WORK/out")'"

run_case "$tool unknown option" 2 "^$tool: " -- "$exe" --no-such-option
expect_one_line_error "$tool unknown option"

# A missing required option or argument is named in the error grammar, not as CLI11's
# "--model is required".
run_case "$tool no arguments" 2 "^$tool: (missing (option|argument) \"[^\"]+\"|no subcommand): " -- "$exe" < /dev/null
expect_one_line_error "$tool no arguments"

# An absurd thread count is a usage error, not a crash while starting the threads.
if grep -q -- '--threads' <("$exe" --help); then
    run_case "$tool --threads 40000" 2 "invalid --threads \"40000\": more than 1024" -- "$exe" --threads 40000
    expect_one_line_error "$tool --threads 40000"
fi

[ -f "$SRC/man/$tool.1" ] || fail "$tool: no man page man/$tool.1"
expect_clean_man_page "$tool"

# Every long option in --help appears in the man page (roff writes - as \-).
"$exe" --help > "$WORK/help.txt"
sed 's/\\-/-/g' "$SRC/man/$tool.1" > "$WORK/man.txt"
for option in $(grep -oE -- '--[a-z][a-z0-9-]*' "$WORK/help.txt" | sort -u); do
    grep -q -- "$option" "$WORK/man.txt" || fail "$tool: option $option is in --help but not in man/$tool.1"
done
# An option that the help calls required shows no default: score-train's "-o TEXT=-" beside
# "(HDF5, required)" suggested standard output, where an HDF5 model cannot be written.
for subcommand in "" $(sed -n '/^Subcommands:/,$s/^  \([a-z][a-z-]*\) .*/\1/p' "$WORK/help.txt"); do
    # shellcheck disable=SC2086
    "$exe" $subcommand --help > "$WORK/subhelp.txt"
    if grep -Ei -- '^ +-[^ ]* +[A-Z:]+=[^ ]+ .*\brequired\b' "$WORK/subhelp.txt" > "$WORK/defaults.txt"; then
        fail "$tool${subcommand:+ $subcommand} --help: a required option shows a default: $(cat "$WORK/defaults.txt")"
    fi
done
for section in "EXIT STATUS" "EXAMPLES"; do
    grep -q "^\.SH \"*$section" "$SRC/man/$tool.1" || fail "$tool: man page lacks $section"
done
finish
